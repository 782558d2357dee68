"""PostgreSQL's group-commit writer: a group is written whole or not at all, its locks end with
its transaction, and the leader's connection keeps working after a refused group."""

from __future__ import annotations

from dataclasses import replace

import pytest
from sqlalchemy import text

from elicence.app.service import Elicence
from elicence.domain.clients import Client, Role
from elicence.domain.codes import LicenceIdentifier, new_serial
from elicence.domain.licence import EventKind, Licence
from elicence.errors import DuplicateSourceRefError, RegistryError
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


def _state(svc: Elicence) -> tuple[int, int, int]:
    """(status indices handed out, events, licences) of the registry."""
    with svc.registry.engine.connect() as c:
        licences = c.execute(text("SELECT count(*) FROM licences")).scalar_one()
    return svc.registry.status_entries(GZ_AMR)[0], svc.registry.log_head()[0], licences


def test_a_refused_group_stores_nothing_and_the_next_group_goes_on(pg_service: Elicence) -> None:
    first = pg_service.issue(_client(pg_service), food_permit("PG-GROUP-1")).licence
    before = _state(pg_service)
    fresh = _another(first, "PG-GROUP-2", first.status_index + 1)  # type: ignore[operator]
    taken = _another(first, "PG-GROUP-1", first.status_index + 2)  # type: ignore[operator]
    events = [new_licence_event(lic, EventKind.ISSUED, "test") for lic in (fresh, taken)]
    with (
        pytest.raises(DuplicateSourceRefError, match="source_ref"),
        pg_service.registry.writer_unit_of_work() as uow,
    ):
        assert uow.reserve_and_lock_log({GZ_AMR: 2}) == {GZ_AMR: before[0]}
        uow.add_licences([fresh, taken], events)
        uow.commit()
    assert _state(pg_service) == before  # no licence, no event, the indices given back
    assert pg_service.registry.licence(fresh.identifier) is None
    # the leader's connection was rolled back, not left in an aborted transaction
    second = pg_service.issue(_client(pg_service), food_permit("PG-GROUP-3")).licence
    assert second.status_index == first.status_index + 1  # type: ignore[operator]
    # the rows (bound as JSON) read back as exactly the licences issued
    assert pg_service.registry.licence(second.identifier) == second
    assert pg_service.registry.licence(first.identifier) == first
    pg_service.checkpoint()
    assert pg_service.audit().ok


def test_a_group_that_fails_before_its_commit_releases_the_log_and_the_indices(
    pg_service: Elicence,
) -> None:
    pg_service.issue(_client(pg_service), food_permit("PG-GROUP-4"))
    before = _state(pg_service)
    with (
        pytest.raises(RuntimeError, match="sealing failed"),
        pg_service.registry.writer_unit_of_work() as uow,
    ):
        uow.reserve_and_lock_log({GZ_AMR: 3})
        with pg_service.registry.engine.connect() as other:  # while held, nobody else appends
            assert other.execute(TRY_LOCK, {"k": LOG_LOCK}).scalar() is False
            other.rollback()
        raise RuntimeError("sealing failed")
    with pg_service.registry.engine.connect() as other:
        assert other.execute(TRY_LOCK, {"k": LOG_LOCK}).scalar() is True
        other.rollback()
    assert _state(pg_service) == before


def test_a_group_cannot_commit_before_it_holds_the_log(pg_service: Elicence) -> None:
    lic = pg_service.issue(_client(pg_service), food_permit("PG-GROUP-5")).licence
    before = _state(pg_service)
    with (
        pytest.raises(RegistryError, match="reserve_and_lock_log"),
        pg_service.registry.writer_unit_of_work() as uow,
    ):
        fresh = _another(lic, "PG-GROUP-6", 99)
        uow.add_licences([fresh], [new_licence_event(fresh, EventKind.ISSUED, "test")])
        uow.commit()
    assert _state(pg_service) == before
