"""PostgreSQL's group-commit writer: a group is written whole or not at all, its events chained
by the database exactly as the log format says, its status indices from the process's block
(given back when the group surely did not commit), and the leader's connection keeps working
after a refused group."""

from __future__ import annotations

import hashlib
import json
from dataclasses import replace

import pytest
from sqlalchemy import text

from elicence.app.service import Elicence
from elicence.domain.clients import Client, Role
from elicence.domain.codes import LicenceIdentifier, new_serial
from elicence.domain.licence import EventKind, Licence
from elicence.errors import DuplicateSourceRefError, RegistryError
from elicence.formats.eventlog import GENESIS, check_chain
from elicence.issuer.service import new_licence_event
from elicence.registry.uow import LOG_LOCK
from tests.conftest import FOOD, GZ_AMR, food_permit

pytestmark = pytest.mark.postgres

TRY_LOCK = text("SELECT pg_try_advisory_xact_lock(:k)")


def _client(svc: Elicence) -> Client:
    return Client("c-pg-group", "test", Role.DEPARTMENT, GZ_AMR)


def _another(lic: Licence, source_ref: str, status_index: int) -> Licence:
    """A licence like ``lic`` under a new identifier and source_ref."""
    ident = str(LicenceIdentifier(FOOD, GZ_AMR, new_serial(), 1))
    return replace(lic, identifier=ident, source_ref=source_ref, status_index=status_index)


def _state(svc: Elicence) -> tuple[int, int]:
    """(events, licences) of the registry."""
    with svc.registry.engine.connect() as c:
        licences = c.execute(text("SELECT count(*) FROM licences")).scalar_one()
    return svc.registry.log_head()[0], licences


def test_a_refused_group_stores_nothing_and_gives_its_indices_back(pg_service: Elicence) -> None:
    first = pg_service.licences.issue(_client(pg_service), food_permit("PG-GROUP-1")).licence
    assert first.status_index == 0
    before = _state(pg_service)
    fresh = _another(first, "PG-GROUP-2", 1)
    taken = _another(first, "PG-GROUP-1", 2)
    events = [new_licence_event(lic, EventKind.ISSUED, "test") for lic in (fresh, taken)]
    with (
        pytest.raises(DuplicateSourceRefError, match="source_ref"),
        pg_service.registry.writer_unit_of_work() as uow,
    ):
        assert uow.reserve_indices({GZ_AMR: 2}) == {GZ_AMR: 1}
        uow.add_licences([fresh, taken], events)
        uow.commit()
    assert _state(pg_service) == before  # no licence, no event
    assert pg_service.registry.licence(fresh.identifier) is None
    # the leader's connection was rolled back, not left in an aborted transaction, and the
    # refused group's indices are handed out again
    second = pg_service.licences.issue(_client(pg_service), food_permit("PG-GROUP-3")).licence
    assert second.status_index == 1
    # the rows (bound as JSON) read back as exactly the licences issued
    assert pg_service.registry.licence(second.identifier) == second
    assert pg_service.registry.licence(first.identifier) == first
    pg_service.log.checkpoint()
    assert pg_service.log.audit().ok


def test_sealing_holds_no_lock_and_a_failed_group_gives_its_indices_back(
    pg_service: Elicence,
) -> None:
    pg_service.licences.issue(_client(pg_service), food_permit("PG-GROUP-4"))
    before = _state(pg_service)
    with (
        pytest.raises(RuntimeError, match="sealing failed"),
        pg_service.registry.writer_unit_of_work() as uow,
    ):
        assert uow.reserve_indices({GZ_AMR: 3}) == {GZ_AMR: 1}
        with pg_service.registry.engine.connect() as other:  # others append meanwhile
            assert other.execute(TRY_LOCK, {"k": LOG_LOCK}).scalar() is True
            other.rollback()
        raise RuntimeError("sealing failed")
    assert _state(pg_service) == before
    again = pg_service.licences.issue(_client(pg_service), food_permit("PG-GROUP-5")).licence
    assert again.status_index == 1


def test_indices_of_a_group_whose_commit_may_have_happened_are_never_handed_out_again(
    pg_service: Elicence,
) -> None:
    """The connection dies while the group commits: whether it committed is unknown, so its
    indices are given up (clear bits), never given to another licence."""
    first = pg_service.licences.issue(_client(pg_service), food_permit("PG-GROUP-6")).licence
    fresh = _another(first, "PG-GROUP-7", 1)
    with (
        pytest.raises(RegistryError),
        pg_service.registry.writer_unit_of_work() as uow,
    ):
        assert uow.reserve_indices({GZ_AMR: 1}) == {GZ_AMR: 1}
        with pg_service.registry.engine.connect() as other:  # the server ends the leader's
            other.execute(
                text(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                    "WHERE datname = current_database() AND pid <> pg_backend_pid() "
                    "AND application_name = '' AND state = 'idle'"
                )
            )
            other.commit()
        uow.add_licences([fresh], [new_licence_event(fresh, EventKind.ISSUED, "test")])
        uow.commit()
    # a new connection for the next group; index 1 stays unused
    again = pg_service.licences.issue(_client(pg_service), food_permit("PG-GROUP-8")).licence
    assert again.status_index == 2
    assert pg_service.registry.licence(fresh.identifier) is None
    pg_service.log.checkpoint()
    assert pg_service.log.audit().ok


def test_another_process_takes_another_block(
    pg_service: Elicence, pg_other_service: Elicence
) -> None:
    from elicence.registry.pggroup import BLOCK

    other = pg_other_service
    a = pg_service.licences.issue(_client(pg_service), food_permit("PG-GROUP-9")).licence
    b = other.licences.issue(_client(other), food_permit("PG-GROUP-10")).licence
    c = pg_service.licences.issue(_client(pg_service), food_permit("PG-GROUP-11")).licence
    assert (a.status_index, b.status_index, c.status_index) == (0, BLOCK, 1)
    # the status list covers every reserved index; the unused ones are clear bits
    assert pg_service.registry.status_entries(GZ_AMR)[0] == 2 * BLOCK
    pg_service.log.checkpoint()
    assert pg_service.log.audit().ok


def test_the_database_chains_events_as_the_log_format_says(pg_service: Elicence) -> None:
    """The hashes PostgreSQL computed are formats.eventlog's: the chain checks from genesis,
    with Chinese text and nested detail in the hashed JSON."""
    lic = None
    for n in range(2):
        lic = pg_service.licences.issue(_client(pg_service), food_permit(f"PG-GROUP-C{n}")).licence
    assert lic is not None
    fresh = _another(lic, "PG-GROUP-C2", 2)
    event = replace(
        new_licence_event(fresh, EventKind.ISSUED, "窗口人员"), detail={"备注": "首次", "n": [1]}
    )
    with pg_service.registry.writer_unit_of_work() as uow:
        assert uow.reserve_indices({GZ_AMR: 1}) == {GZ_AMR: 2}
        uow.add_licences([fresh], [event])
        uow.commit()
    events = list(pg_service.registry.iter_events(page=100))
    assert [e.seq for e in events] == [1, 2, 3]
    assert (events[2].actor, events[2].detail) == ("窗口人员", {"备注": "首次", "n": [1]})
    assert check_chain(events, head_seq=0, head_hash=GENESIS) == (3, events[-1].hash)
    prev = GENESIS
    for e in events:  # recomputed independently of formats.eventlog
        wire = e.to_json()
        body = {k: wire[k] for k in ("seq", "at", "kind", "identifier", "department", "actor")}
        blob = json.dumps(
            {**body, "detail": wire["detail"]},
            sort_keys=True,
            separators=(",", ":"),
            ensure_ascii=False,
        )
        assert e.prev_hash == prev
        assert e.hash == hashlib.sha256(bytes.fromhex(prev) + blob.encode()).hexdigest()
        prev = e.hash


def test_a_group_cannot_commit_licences_before_it_has_their_indices(
    pg_service: Elicence,
) -> None:
    lic = pg_service.licences.issue(_client(pg_service), food_permit("PG-GROUP-12")).licence
    before = _state(pg_service)
    with (
        pytest.raises(RegistryError, match="reserve_indices"),
        pg_service.registry.writer_unit_of_work() as uow,
    ):
        fresh = _another(lic, "PG-GROUP-13", 99)
        uow.add_licences([fresh], [new_licence_event(fresh, EventKind.ISSUED, "test")])
        uow.commit()
    assert _state(pg_service) == before


def test_a_group_goes_on_when_its_prepared_statement_is_missing(pg_service: Elicence) -> None:
    """Behind a pooler in transaction mode (pgbouncer) a group's transaction may run on a server
    connection where the statement was never prepared: it is sent whole, and nothing fails."""
    first = pg_service.licences.issue(_client(pg_service), food_permit("PG-GROUP-P1")).licence
    writer = pg_service.registry._group
    assert writer is not None and writer.prepared
    with pg_service.registry.writer_unit_of_work():  # the leader's connection, between groups
        pass
    pg = writer._pg
    assert pg is not None
    pg.execute("DEALLOCATE elicence_group")
    second = pg_service.licences.issue(_client(pg_service), food_permit("PG-GROUP-P2")).licence
    third = pg_service.licences.issue(_client(pg_service), food_permit("PG-GROUP-P3")).licence
    assert not writer.prepared
    assert [lic.status_index for lic in (first, second, third)] == [0, 1, 2]
    assert pg_service.registry.licence(third.identifier) == third
    pg_service.log.checkpoint()
    assert pg_service.log.audit().ok
