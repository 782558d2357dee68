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
from tests.conftest import GZ_AMR, Clock, make_service


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
