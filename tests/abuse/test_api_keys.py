"""API keys with expiry and rotation: the old key works through the overlap and then stops,
an expired key stops at its expiry, each with a 401 that says why; the client cache never keeps
a key alive past its deadline; the command line rotates and sets expiry; migration 0006 keeps
every existing key working."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text

from elicence.app.access import Access
from elicence.app.service import Elicence
from elicence.domain.clients import Role, hash_api_key, new_api_key
from elicence.errors import AuthenticationError, ConflictError, InputError, NotFoundError
from elicence.registry import Registry
from tests.cli import cli
from tests.conftest import GZ_AMR, NOW, Clock
from tests.test_cli import API_KEY

READ = "/api/v1/licences"


def _h(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def test_a_rotated_key_works_through_the_overlap_then_stops_saying_why(
    service: Elicence, api: TestClient, clock: Clock
) -> None:
    old = service.clients.add(name="gz", role=Role.DEPARTMENT, department=GZ_AMR)
    assert api.get(READ, headers=_h(old.api_key)).status_code == 200  # cached from here on
    rotation = service.clients.rotate(old.client.id, overlap=dt.timedelta(hours=1))
    new = rotation.new.api_key
    assert new != old.api_key
    assert rotation.old_keys == 1
    assert rotation.retires_at == NOW + dt.timedelta(hours=1)
    assert api.get(READ, headers=_h(new)).status_code == 200
    clock.advance(minutes=59, seconds=59)
    assert api.get(READ, headers=_h(old.api_key)).status_code == 200
    clock.advance(seconds=1)
    r = api.get(READ, headers=_h(old.api_key))
    assert r.status_code == 401
    err = r.json()["error"]
    assert err["code"] == "api_key_rotated"
    assert "replaced by a rotation" in err["message"] and "2026-11-28 03:00:00Z" in err["message"]
    assert err["field"] == "Authorization"
    assert api.get(READ, headers=_h(new)).status_code == 200


def test_an_expired_key_stops_at_its_expiry_even_when_cached(
    service: Elicence, api: TestClient, clock: Clock
) -> None:
    made = service.clients.add(
        name="hall", role=Role.HALL, department=None, expires_at=NOW + dt.timedelta(days=90)
    )
    assert made.expires_at == NOW + dt.timedelta(days=90)
    seal_free = {"seal": "EL1:AAAA"}
    assert api.post("/api/v1/verify", json=seal_free, headers=_h(made.api_key)).status_code == 200
    clock.advance(days=90)  # well inside the cache time of the monotonic clock: still refused
    r = api.post("/api/v1/verify", json=seal_free, headers=_h(made.api_key))
    assert r.status_code == 401
    assert r.json()["error"]["code"] == "api_key_expired"
    assert "expired at 2027-02-26 02:00:00Z" in r.json()["error"]["message"]
    # a rotation gives it a working key again, with its own expiry
    rotation = service.clients.rotate(
        made.client.id, overlap=dt.timedelta(hours=1), expires_at=clock() + dt.timedelta(days=30)
    )
    assert rotation.old_keys == 0  # the expired key was not live
    r = api.post("/api/v1/verify", json=seal_free, headers=_h(rotation.new.api_key))
    assert r.status_code == 200 and r.json()["verdict"] == "invalid"


def test_the_client_cache_learns_a_rotation_made_by_another_worker(
    service: Elicence, clock: Clock
) -> None:
    """Two workers (two Access objects on one registry): the one that did not rotate keeps
    its cached entry at most CLIENT_CACHE_SECONDS, which is below the least overlap."""
    made = service.clients.add(name="gz", role=Role.DEPARTMENT, department=GZ_AMR)
    other = Access(service.registry, catalogue=service.catalogue, clock=clock)
    assert other.authenticate(made.api_key).id == made.client.id  # cached, no deadline
    overlap = dt.timedelta(seconds=Access.CLIENT_CACHE_SECONDS)
    service.clients.rotate(made.client.id, overlap=overlap)
    other._cache.clear()
    clock.advance(seconds=Access.CLIENT_CACHE_SECONDS)
    with pytest.raises(AuthenticationError) as e:
        other.authenticate(made.api_key)
    assert e.value.code == "api_key_rotated"


@pytest.mark.parametrize(
    ("overlap", "expires", "error", "field"),
    [
        pytest.param(
            dt.timedelta(seconds=29), None, InputError, "overlap", id="overlap-below-cache-time"
        ),
        pytest.param(dt.timedelta(hours=1), NOW, InputError, "expires", id="expiry-not-in-future"),
        pytest.param(
            dt.timedelta(hours=1),
            dt.datetime(2027, 1, 1),
            InputError,
            "expires",
            id="expiry-without-zone",
        ),
    ],
)
def test_bad_rotations_are_refused(
    service: Elicence, overlap: dt.timedelta, expires: dt.datetime | None, error: type, field: str
) -> None:
    made = service.clients.add(name="gz", role=Role.DEPARTMENT, department=GZ_AMR)
    with pytest.raises(error) as e:
        service.clients.rotate(made.client.id, overlap=overlap, expires_at=expires)
    assert e.value.field == field
    assert service.clients.authenticate(made.api_key).id == made.client.id  # nothing changed


def test_rotating_an_unknown_or_disabled_client_is_refused(service: Elicence) -> None:
    with pytest.raises(NotFoundError):
        service.clients.rotate("c_0000000000000000", overlap=dt.timedelta(hours=1))
    made = service.clients.add(name="gz", role=Role.DEPARTMENT, department=GZ_AMR)
    service.clients.disable(made.client.id)
    with pytest.raises(ConflictError, match="disabled"):
        service.clients.rotate(made.client.id, overlap=dt.timedelta(hours=1))
    assert len(service.clients.keys()[made.client.id]) == 1  # no key was added


def test_rotating_twice_never_extends_an_old_key(service: Elicence, clock: Clock) -> None:
    made = service.clients.add(name="gz", role=Role.DEPARTMENT, department=GZ_AMR)
    service.clients.rotate(made.client.id, overlap=dt.timedelta(hours=1))
    second = service.clients.rotate(made.client.id, overlap=dt.timedelta(days=7))
    assert second.old_keys == 1  # the first rotation's new key; the original keeps its hour
    keys = {k.key_hash: k for k in service.clients.keys()[made.client.id]}
    assert keys[hash_api_key(made.api_key)].retires_at == NOW + dt.timedelta(hours=1)
    clock.advance(hours=2)
    with pytest.raises(AuthenticationError):
        service.clients.authenticate(made.api_key)
    assert service.clients.authenticate(second.new.api_key).id == made.client.id


def test_migration_0006_keeps_existing_keys_working(tmp_path: Path, service: Elicence) -> None:
    """A client made under schema 0004 (key only in api_clients) still authenticates."""
    from elicence.registry.migrate import upgrade

    registry = Registry.from_url(f"sqlite:///{tmp_path / 'old.db'}")
    upgrade(registry.engine, "0004")
    key = new_api_key()
    with registry.engine.begin() as c:
        c.execute(
            text(
                "INSERT INTO api_clients (id, name, role, department, key_hash, created_at) "
                "VALUES ('c_old', 'old hall', 'hall', NULL, :h, '2026-01-01 00:00:00')"
            ),
            {"h": hash_api_key(key)},
        )
    registry.upgrade()
    access = Access(registry, catalogue=service.catalogue, clock=lambda: NOW)
    assert access.authenticate(key).id == "c_old"
    registry.dispose()


# -- the command line -------------------------------------------------------------------------


def test_cli_rotates_a_key_and_sets_expiry(tmp_path: Path) -> None:
    data = tmp_path / "data"
    assert cli(data, "init").exit_code == 0
    r = cli(data, "clients", "add", "--name", "hall", "--role", "hall", "--expires", "90d")
    assert r.exit_code == 0, r.stderr
    assert "it expires at" in r.stdout
    old_key = API_KEY.search(r.stdout).group(0)  # type: ignore[union-attr]
    client_id = r.stdout.split()[1]
    r = cli(
        data,
        "clients",
        "rotate",
        client_id,
        "--overlap",
        "2h",
        "--expires",
        "2099-01-01T00:00:00+08:00",
    )
    assert r.exit_code == 0, r.stderr
    new_key = API_KEY.search(r.stdout).group(0)  # type: ignore[union-attr]
    assert new_key != old_key
    assert "1 old key(s) keep working until" in r.stdout
    assert "the new key expires at 2098-12-31 16:00:00Z" in r.stdout
    r = cli(data, "clients", "keys")
    lines = [ln for ln in r.stdout.splitlines() if ln.startswith(client_id)]
    assert len(lines) == 2 and all("active" in ln for ln in lines)
    assert any("(rotated out)" in ln for ln in lines)
    r = cli(data, "clients", "rotate", client_id, "--overlap", "10s")
    assert r.exit_code == 2 and "at least 30 s" in r.stderr
    r = cli(data, "clients", "rotate", client_id, "--overlap", "soon")
    assert r.exit_code == 2 and "not a duration" in r.stderr
    r = cli(data, "clients", "add", "--name", "x", "--role", "hall", "--expires", "2020-01-01")
    assert r.exit_code == 2 and "time zone" in r.stderr
