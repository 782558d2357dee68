"""Disabling a client stops its keys at once in every process: two service instances on one
database (SQLite and PostgreSQL), one disables, the other's cached key is refused on its very
next request (issue 16: the per-process cache kept a disabled key working for ~27 s)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from elicence.api.app import create_app
from elicence.app.service import Elicence
from elicence.domain.clients import Role
from elicence.errors import AuthenticationError
from elicence.registry import Registry
from tests.conftest import GZ_AMR, Clock, food_permit, make_service


@pytest.fixture(params=["sqlite", "postgresql"])
def two_services(
    request: pytest.FixtureRequest, tmp_path: Path, keys_dir: Path, clock: Clock, demo_catalogue
) -> Iterator[tuple[Elicence, Elicence]]:  # type: ignore[no-untyped-def]
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'registry.db'}"
        first = make_service(Registry.from_url(url), keys_dir, clock, demo_catalogue)
    else:
        first = request.getfixturevalue("pg_service")
        url = str(first.registry.engine.url.render_as_string(hide_password=False))
    second = make_service(Registry.from_url(url), keys_dir, clock, demo_catalogue)
    yield first, second
    second.close()
    if request.param == "sqlite":
        first.close()


def test_a_disabled_key_is_refused_at_once_by_another_instance(
    two_services: tuple[Elicence, Elicence],
) -> None:
    serving, operator = two_services
    made = operator.clients.add(name="gz", role=Role.DEPARTMENT, department=GZ_AMR)
    other = operator.clients.add(name="hall", role=Role.HALL, department=None)
    with TestClient(create_app(serving), raise_server_exceptions=False) as api:
        headers = {"Authorization": f"Bearer {made.api_key}"}
        assert api.get("/api/v1/licences", headers=headers).status_code == 200  # now cached
        assert serving.clients.authenticate(other.api_key).id == other.client.id
        operator.clients.disable(made.client.id)  # the other instance: the cache is not told
        r = api.get("/api/v1/licences", headers=headers)
        assert r.status_code == 401
        assert "disabled" in r.json()["error"]["message"]
        with pytest.raises(AuthenticationError, match="disabled"):
            serving.clients.authenticate(made.api_key)
        # the client that was not disabled keeps working, from the cache
        assert serving.clients.authenticate(other.api_key).id == other.client.id


def test_a_disabled_hall_key_is_refused_by_the_next_verification_in_another_instance(
    two_services: tuple[Elicence, Elicence],
) -> None:
    """The verify route takes a cached key on the event loop and re-checks its client in the
    verification's own registry read (issue 20): still refused at once, nothing recorded."""
    serving, operator = two_services
    dept = operator.clients.add(name="gz", role=Role.DEPARTMENT, department=GZ_AMR)
    hall = operator.clients.add(name="hall", role=Role.HALL, department=None)
    other = operator.clients.add(name="hall 2", role=Role.HALL, department=None)
    with TestClient(create_app(serving), raise_server_exceptions=False) as api:
        issued = api.post(
            "/api/v1/licences",
            json=food_permit("DISABLE-VERIFY-1"),
            headers={"Authorization": f"Bearer {dept.api_key}"},
        )
        assert issued.status_code == 201, issued.text
        seal, ident = issued.json()["seal"], issued.json()["identifier"]
        headers = {"Authorization": f"Bearer {hall.api_key}"}
        kept = {"Authorization": f"Bearer {other.api_key}"}
        for h in (headers, kept):  # both keys now cached by the serving instance
            r = api.post("/api/v1/verify", json={"seal": seal}, headers=h)
            assert r.status_code == 200 and r.json()["verdict"] == "valid", r.text
        assert serving.clients.cached(hall.api_key) is not None  # the fast path will be taken
        before = len(operator.registry.usage(identifier=ident, limit=1000))
        operator.clients.disable(hall.client.id)  # the other instance: the cache is not told
        for body in ({"seal": seal}, {"identifier": ident}, {"seal": "EL1:NOT-A-SEAL"}):
            r = api.post("/api/v1/verify", json=body, headers=headers)
            assert r.status_code == 401, (body, r.text)
            assert "disabled" in r.json()["error"]["message"]
        # an input error of a disabled client's request is a 401 too, not the error
        r = api.post("/api/v1/verify", json={}, headers=headers)
        assert r.status_code == 401, r.text
        assert len(operator.registry.usage(identifier=ident, limit=1000)) == before  # nothing
        r = api.post("/api/v1/verify", json={"seal": seal}, headers=kept)  # still cached, works
        assert r.status_code == 200 and r.json()["verdict"] == "valid", r.text
