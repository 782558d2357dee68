"""Lifecycle and the event chain under real concurrency on PostgreSQL (threads, one database).

Rows are locked with SELECT … FOR UPDATE and appends serialised by pg_advisory_xact_lock: racing
calls on one licence end in one state that the log replays to, and the chain stays unbroken
while issuance and lifecycle changes interleave.
"""

from __future__ import annotations

import functools
from collections.abc import Callable

import pytest

from elicence.app.audit import replay
from elicence.app.service import Elicence
from elicence.domain.clients import Client, Role
from elicence.errors import Error, IllegalTransitionError
from elicence.issuer.lifecycle import Action, Change
from tests.conftest import GZ_AMR, food_permit, race

pytestmark = pytest.mark.postgres


def _department(svc: Elicence) -> Client:
    svc.keys.signers()
    return svc.clients.authenticate(
        svc.clients.add(name="gz", role=Role.DEPARTMENT, department=GZ_AMR).api_key
    )


def test_racing_lifecycle_calls_end_in_one_consistent_state(pg_service: Elicence) -> None:
    client = _department(pg_service)
    ident = pg_service.licences.issue(client, food_permit("PG-LC-1")).licence.identifier
    actions = [Action.SUSPEND, Action.REVOKE, Action.REINSTATE, Action.SUSPEND] * 2
    calls: list[Callable[[], Change]] = [
        functools.partial(pg_service.licences.change_status, client, ident, a, reason=f"race {n}")
        for n, a in enumerate(actions)
    ]
    calls += [
        functools.partial(
            pg_service.licences.amend,
            client,
            ident,
            {"licence_number": f"JY77{n:04d}"},
            reason="race",
        )
        for n in range(4)
    ]
    results = race(calls)

    assert all(isinstance(r, Change | IllegalTransitionError) for r in results), results
    succeeded = [r for r in results if isinstance(r, Change)]
    events = [e for e in pg_service.registry.events(limit=1000) if e.kind != "issued"]
    assert len(events) == len(succeeded)  # one event per call that took effect, none for refusals
    assert sum(r.new_version is not None for r in succeeded) <= 1  # one amendment at most
    state = replay(pg_service.registry.events(limit=1000))
    stored = pg_service.registry.licence(ident)
    assert stored is not None
    assert (str(stored.status), stored.superseded_by) == state[ident]
    report = pg_service.log.audit()
    assert report.ok, report.problems


def test_the_chain_holds_while_issuance_and_lifecycle_interleave(pg_service: Elicence) -> None:
    client = _department(pg_service)
    idents = [
        pg_service.licences.issue(
            client, food_permit(f"PG-MIX-{n}", licence_number=f"JY{n:06d}")
        ).licence.identifier
        for n in range(6)
    ]
    pg_service.licences.issue(
        client, food_permit("PG-MIX-KEEP", licence_number="JY999999")
    )  # for bulk
    calls: list[Callable[[], object]] = []
    for n, ident in enumerate(idents):
        calls.append(
            functools.partial(
                pg_service.licences.change_status, client, ident, Action.REVOKE, reason="x"
            )
        )
        items = [
            food_permit(f"PG-MIX-B{n}-{i}", licence_number=f"JY8{n}{i:04d}") for i in range(20)
        ]
        calls.append(functools.partial(pg_service.licences.issue_batch, client, items))
    calls.append(
        functools.partial(
            pg_service.licences.bulk_change,
            client,
            Action.SUSPEND,
            reason="bulk",
            holder=("001", "91350100M000100Y43"),
        )
    )
    results = race(calls)
    assert not [
        r for r in results if isinstance(r, Error) and not isinstance(r, IllegalTransitionError)
    ]
    size, head = pg_service.registry.log_head()
    events = pg_service.registry.events(limit=10_000)
    assert [e.seq for e in events] == list(range(1, size + 1))
    assert events[-1].hash == head
    assert pg_service.registry.count_licences() == 7 + 6 * 20
    report = pg_service.log.audit()
    assert report.ok, report.problems
