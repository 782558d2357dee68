"""Group commit: the leader/follower primitive, and single issuances sharing transactions."""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor

import pytest
from sqlalchemy import text

from elicence.app.service import Elicence
from elicence.domain.clients import Client, Role
from elicence.domain.groupcommit import GroupCommit
from elicence.errors import ConflictError, Error, RegistryError
from elicence.issuer import IssuanceResult
from tests.conftest import GZ_AMR, SZ_AMR, food_permit


class Gate:
    """A write function that holds the first group until the test lets it go."""

    def __init__(self) -> None:
        self.groups: list[list[int]] = []
        self.entered = threading.Event()
        self.release = threading.Event()

    def write(self, items: Sequence[int]) -> list[int | BaseException]:
        self.groups.append(list(items))
        if len(self.groups) == 1:
            self.entered.set()
            assert self.release.wait(10)
        return [RegistryError(f"item {i} refused") if i < 0 else i * 10 for i in items]


def _queue_behind_first(committer: GroupCommit[int, int], gate: Gate, later: list[int]):  # type: ignore[no-untyped-def]
    """Submit 0 (which leads and blocks), then ``later`` while it blocks; the outcomes."""
    pool = ThreadPoolExecutor(len(later) + 1)
    first = pool.submit(committer.submit, 0)
    assert gate.entered.wait(10)
    rest = [pool.submit(committer.submit, i) for i in later]
    while len(committer._queue) < len(later):  # all of them queued behind the leader
        threading.Event().wait(0.001)
    gate.release.set()
    outcomes = []
    for f in [first, *rest]:
        try:
            outcomes.append(f.result(10))
        except Error as e:
            outcomes.append(e)
    pool.shutdown()
    return outcomes


def test_callers_that_queue_during_a_write_share_the_next_one() -> None:
    gate = Gate()
    committer: GroupCommit[int, int] = GroupCommit(gate.write)
    outcomes = _queue_behind_first(committer, gate, [1, 2, 3, 4, 5])
    assert outcomes == [0, 10, 20, 30, 40, 50]
    assert gate.groups[0] == [0]
    assert sorted(gate.groups[1]) == [1, 2, 3, 4, 5]  # one write for the five that waited
    assert (committer.groups, committer.items) == (2, 6)


def test_a_lone_caller_writes_at_once_as_a_group_of_one() -> None:
    groups: list[list[int]] = []

    def write(items: Sequence[int]) -> list[int | BaseException]:
        groups.append(list(items))
        return [i + 1 for i in items]

    committer: GroupCommit[int, int] = GroupCommit(write)
    assert [committer.submit(i) for i in range(3)] == [1, 2, 3]
    assert groups == [[0], [1], [2]]


def test_each_item_gets_its_own_outcome_and_a_failed_write_fails_only_its_group() -> None:
    gate = Gate()
    committer: GroupCommit[int, int] = GroupCommit(gate.write)
    outcomes = _queue_behind_first(committer, gate, [1, -2, 3])
    assert outcomes[:2] == [0, 10] and outcomes[3] == 30
    assert isinstance(outcomes[2], RegistryError) and "item -2" in str(outcomes[2])

    def broken(items: Sequence[int]) -> list[int | BaseException]:
        raise RegistryError("the database went away")

    failing: GroupCommit[int, int] = GroupCommit(broken)
    with pytest.raises(RegistryError, match="went away"):
        failing.submit(1)
    with pytest.raises(RegistryError, match="went away"):  # the committer is not stuck
        failing.submit(2)


def test_groups_are_capped() -> None:
    gate = Gate()
    committer: GroupCommit[int, int] = GroupCommit(gate.write, max_group=2)
    outcomes = _queue_behind_first(committer, gate, [1, 2, 3, 4, 5])
    assert outcomes == [0, 10, 20, 30, 40, 50]
    assert all(len(g) <= 2 for g in gate.groups) and len(gate.groups) == 4


# -- single issuances in groups, on SQLite and PostgreSQL ------------------------------------------


def _client(svc: Elicence, dept: str = GZ_AMR) -> Client:
    svc.keys.signers()  # keys loaded before the threads race
    return Client(f"c-{dept}", "test", Role.DEPARTMENT, dept)


def _issue_concurrently(svc: Elicence, bodies: list[tuple[str, dict[str, object]]], threads: int):  # type: ignore[no-untyped-def]
    def one(pair: tuple[str, dict[str, object]]) -> IssuanceResult | Error:
        try:
            return svc.licences.issue(_client(svc, pair[0]), pair[1])
        except Error as e:
            return e

    with ThreadPoolExecutor(threads) as pool:
        return list(pool.map(one, bodies))


def _check_concurrent_issuance(svc: Elicence) -> None:
    svc.licences.issue(
        _client(svc), food_permit("GC-WARM")
    )  # the first checkpoint, out of the race
    bodies: list[tuple[str, dict[str, object]]] = [
        (GZ_AMR if n % 3 else SZ_AMR, food_permit(f"GC-{n}", licence_number=f"JY{n:06d}"))
        for n in range(240)
    ]
    bodies += [(GZ_AMR, food_permit("GC-5", licence_number="JY000005"))] * 4  # retries
    before = svc.licences._issuer.group_commit.groups
    results = _issue_concurrently(svc, bodies, threads=8)

    assert all(isinstance(r, IssuanceResult) for r in results), results
    issued = [r for r in results if isinstance(r, IssuanceResult)]
    assert sum(r.created for r in issued) == 240
    retries = {r.licence.identifier for r in issued if r.licence.source_ref == "GC-5"}
    assert len(retries) == 1  # the retries answered the one licence
    groups = svc.licences._issuer.group_commit.groups - before
    assert groups < 244  # issuances shared transactions
    with svc.registry.engine.connect() as c:
        assert c.execute(text("SELECT count(*) FROM licences")).scalar() == 241
        assert c.execute(text("SELECT count(*) FROM events")).scalar() == 241
        per_dept = c.execute(
            text(
                "SELECT department, count(*), count(DISTINCT status_index), min(status_index), "
                "max(status_index) FROM licences GROUP BY department"
            )
        ).all()
    # every department's status indices are unique and dense: no index was lost to a group
    assert {(d, n, distinct, lo, hi) for d, n, distinct, lo, hi in per_dept} == {
        (GZ_AMR, 161, 161, 0, 160),
        (SZ_AMR, 80, 80, 0, 79),
    }
    svc.log.checkpoint()
    report = svc.log.audit()
    assert report.ok, report.problems
    assert report.events == 241


def test_concurrent_single_issuances_share_commits_on_sqlite(service: Elicence) -> None:
    _check_concurrent_issuance(service)


@pytest.mark.postgres
def test_concurrent_single_issuances_share_commits_on_postgresql(pg_service: Elicence) -> None:
    _check_concurrent_issuance(pg_service)


@pytest.mark.postgres
def test_two_processes_racing_one_source_ref_each_store_it_once(
    pg_service: Elicence, pg_other_service: Elicence
) -> None:
    """Two services on one database (as two API workers): their groups race on the same
    source_refs; each is stored once, the losers' groups are retried item by item."""
    other = pg_other_service
    shared = [food_permit(f"GC-X-{n}", licence_number=f"JY{n:06d}") for n in range(40)]
    own = [food_permit(f"GC-Y-{n}", licence_number=f"JY{n:06d}") for n in range(40)]
    barrier = threading.Barrier(8)

    def run(k: int) -> list[IssuanceResult | Error]:
        svc = pg_service if k % 2 else other
        barrier.wait(30)
        out: list[IssuanceResult | Error] = []
        for body in shared[k::4] + shared[(k + 1) % 4 :: 4] + own[k::8]:
            try:
                out.append(svc.licences.issue(_client(svc), body))
            except Error as e:
                out.append(e)
        return out

    with ThreadPoolExecutor(8) as pool:
        results = [r for part in pool.map(run, range(8)) for r in part]
    assert not [r for r in results if isinstance(r, Error)], results
    by_ref: dict[str, set[str]] = {}
    for r in results:
        assert isinstance(r, IssuanceResult)
        by_ref.setdefault(r.licence.source_ref or "", set()).add(r.licence.identifier)
    assert len(by_ref) == 80 and all(len(v) == 1 for v in by_ref.values())
    with pg_service.registry.engine.connect() as c:
        assert c.execute(text("SELECT count(*) FROM licences")).scalar() == 80
        assert c.execute(text("SELECT count(*) FROM events")).scalar() == 80
        assert c.execute(text("SELECT count(DISTINCT status_index) FROM licences")).scalar() == 80
    pg_service.log.checkpoint()
    assert pg_service.log.audit().ok


def test_a_twin_with_another_body_is_refused_after_its_first_is_stored(
    service: Elicence,
) -> None:
    bodies: list[tuple[str, dict[str, object]]] = [
        (GZ_AMR, food_permit("GC-TWIN", licence_number=f"JY{n:06d}")) for n in range(8)
    ]
    results = _issue_concurrently(service, bodies, threads=8)
    created = [r for r in results if isinstance(r, IssuanceResult)]
    refused = [r for r in results if isinstance(r, ConflictError)]
    assert len(created) == 1 and created[0].created
    assert len(refused) == 7 and {e.code for e in refused} == {"source_ref_conflict"}


OTHERS = (
    "SELECT count(*) FROM pg_stat_activity "
    "WHERE datname = current_database() AND pid <> pg_backend_pid()"
)


@pytest.mark.postgres
def test_the_leaders_connection_dropped_by_the_database_is_replaced(pg_service: Elicence) -> None:
    client = _client(pg_service)
    first = pg_service.licences.issue(client, food_permit("GC-CONN-1")).licence
    with pg_service.registry.engine.connect() as c:  # what an operator or a failover does
        killed = c.execute(
            text(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                "WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )
        ).scalar()
        c.commit()
        assert killed
        deadline = time.monotonic() + 30  # termination is asynchronous: wait until they are gone
        while c.execute(text(OTHERS)).scalar() and time.monotonic() < deadline:
            time.sleep(0.01)
    second = pg_service.licences.issue(client, food_permit("GC-CONN-2")).licence  # no error
    assert second.status_index == first.status_index + 1
    assert pg_service.log.audit().ok
