"""The hall's store as its steps use it, on SQLite and PostgreSQL: a step on a stale version
writes nothing (on PostgreSQL the case and its event are one statement), and the usage records
of a step's citations are committed with the step or not at all, their observers told only
after the commit."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import replace
from typing import Any

from elicence.domain.licence import Verdict
from elicence.hall.cases import CaseEvent
from elicence.hall.ports import CitationCheck
from elicence.hall.workflow import CaseAction, CaseStatus
from elicence.registry.hall.store import HallStore
from tests.hall.conftest import World

NOW = dt.datetime(2026, 12, 6, 2, 0, tzinfo=dt.UTC)


def test_a_step_on_a_stale_version_writes_neither_the_case_nor_its_event(
    any_world: World,
) -> None:
    w = any_world
    number = w.open_restaurant_case()
    store = HallStore(w.svc.registry)
    case = store.case(number)
    assert case is not None
    events = store.events(number)
    moved = replace(case, status=CaseStatus.ACCEPTED, version=case.version + 1)
    event = CaseEvent(number, NOW, CaseAction.ACCEPT, case.status, CaseStatus.ACCEPTED, "t")
    with store.unit_of_work() as uow:
        assert not uow.save_case(moved, [event], expected_version=case.version + 1)
        uow.commit()
    assert store.case(number) == case and store.events(number) == events
    with store.unit_of_work() as uow:
        assert uow.save_case(moved, [event], expected_version=case.version)
        uow.commit()
    assert store.case(number) == moved
    assert store.events(number) == [*events, event]


def test_usage_records_are_committed_with_the_step_and_observed_after_it(
    any_world: World,
) -> None:
    w = any_world
    number = w.open_restaurant_case()
    seen: list[list[dict[str, Any]]] = []

    def observe(rows: Sequence[dict[str, Any]], outcomes: Sequence[Any]) -> None:
        assert list(outcomes) == [None] * len(rows)  # each written
        seen.append(list(rows))

    store = HallStore(w.svc.registry, usage_observers=[observe])
    before = w.svc.registry.usage(case_number=number)
    identifier = before[0]["identifier"]
    check = CitationCheck(Verdict.VALID, identifier, None, "identifier")
    clerk = w.clients["th_amr"].id
    with store.unit_of_work() as uow:  # not committed: rolled back, nobody told
        uow.add_usage([check, check], at=NOW, client_id=clerk, case_number=number)
    assert w.svc.registry.usage(case_number=number) == before and seen == []
    with store.unit_of_work() as uow:
        uow.add_usage([check, check], at=NOW, client_id=clerk, case_number=number)
        uow.commit()
    after = w.svc.registry.usage(case_number=number)
    assert len(after) == len(before) + 2
    assert [len(rows) for rows in seen] == [2] and seen[0][0]["client_id"] == clerk


def test_a_client_the_registry_does_not_hold_leaves_no_record_and_fails_no_step(
    any_world: World,
) -> None:
    """As ``Registry.record_usage`` drops a record its foreign key refuses: a web sign-in
    never enrolled has no ``api_clients`` row; the step commits, without the record."""
    w = any_world
    number = w.open_restaurant_case()
    store = HallStore(w.svc.registry)
    before = w.svc.registry.usage(case_number=number)
    case = store.case(number)
    assert case is not None
    check = CitationCheck(Verdict.VALID, before[0]["identifier"], None, "identifier")
    moved = replace(case, status=CaseStatus.ACCEPTED, version=case.version + 1)
    event = CaseEvent(number, NOW, CaseAction.ACCEPT, case.status, CaseStatus.ACCEPTED, "t")
    with store.unit_of_work() as uow:
        uow.save_case(moved, [event])
        uow.add_usage([check], at=NOW, client_id="h_not_enrolled", case_number=number)
        uow.commit()
    assert store.case(number) == moved
    assert w.svc.registry.usage(case_number=number) == before
