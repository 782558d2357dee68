"""Sequence numbers of the trust list and the status lists (issue 16 §2): they grow with the
content, never go back across a restart or a second worker, on SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text

from elicence.app.service import Elicence
from elicence.domain.clients import Role
from elicence.issuer.lifecycle import Action
from elicence.registry import Registry
from tests.cli import cli
from tests.conftest import GZ_AMR, PASSPHRASE, Clock, food_permit, make_service


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def any_service(request: pytest.FixtureRequest) -> Elicence:
    return request.getfixturevalue("service" if request.param == "sqlite" else "pg_service")  # type: ignore[no-any-return]


def _second_worker(service: Elicence, keys_dir: Path, clock: Clock, catalogue: Any) -> Elicence:
    """Another process on the same database and key store (or this one restarted)."""
    url = service.registry.engine.url.render_as_string(hide_password=False)
    return make_service(Registry.from_url(url), keys_dir, clock, catalogue)


def test_the_trust_list_keeps_its_number_until_its_content_changes(
    any_service: Elicence, clock: Clock, keys_dir: Path, demo_catalogue: Any
) -> None:
    first = any_service.keys.trust_list()
    clock.advance(hours=13)  # past half its validity: re-signed, same content
    again = any_service.keys.trust_list()
    assert again.issued_at > first.issued_at and again.sequence == first.sequence
    other = _second_worker(any_service, keys_dir, clock, demo_catalogue)
    try:
        assert other.keys.trust_list().sequence == first.sequence  # the workers agree
        any_service.keys.compromise(GZ_AMR, since=clock.now - dt.timedelta(minutes=5))
        newer = any_service.keys.trust_list()
        assert newer.sequence > first.sequence
        assert other.keys.trust_list().sequence == newer.sequence  # the other worker follows
        clock.advance(hours=13)
        assert other.keys.trust_list().sequence == newer.sequence  # and never goes back
    finally:
        other.registry.dispose()
    restarted = _second_worker(any_service, keys_dir, clock, demo_catalogue)
    try:
        assert restarted.keys.trust_list().sequence == newer.sequence
    finally:
        restarted.registry.dispose()


def test_a_status_list_number_grows_only_when_its_bits_change(
    any_service: Elicence, clock: Clock
) -> None:
    svc = any_service
    client = svc.clients.authenticate(
        svc.clients.add(name="gz", role=Role.DEPARTMENT, department=GZ_AMR).api_key
    )
    lic = svc.licences.issue(client, food_permit("SEQ-1")).licence

    def numbers() -> dict[str, int]:
        return {p: svc.keys.status_list(GZ_AMR, p).sequence for p in ("revocation", "suspension")}

    start = numbers()
    svc.licences.issue(client, food_permit("SEQ-2"))  # the log grew: lists rebuilt, no bit changed
    assert numbers() == start
    svc.licences.change_status(client, lic.identifier, Action.REVOKE, reason="注销")
    after = numbers()
    assert after["revocation"] > start["revocation"]
    assert after["suspension"] == start["suspension"]


def _export(service: Elicence, directory: Path) -> Path:
    directory.mkdir()
    (directory / "trust-list.cose").write_bytes(service.keys.trust_list().signed)
    for sl in service.keys.status_lists():
        (directory / f"{sl.department}.{sl.purpose}.cose").write_bytes(sl.signed)
    return directory


def test_a_verifier_with_a_state_file_refuses_older_lists(
    service: Elicence, clock: Clock, tmp_path: Path
) -> None:
    from cryptography.hazmat.primitives import serialization

    from elicence.issuer.reseal import resealed

    clock.now = dt.datetime.now(dt.UTC) - dt.timedelta(hours=1)  # the CLI verifies at the real now
    root = tmp_path / "root.pem"
    root.write_bytes(service.keystore.root_certificate().public_bytes(serialization.Encoding.PEM))
    client = service.clients.authenticate(
        service.clients.add(name="gz", role=Role.DEPARTMENT, department=GZ_AMR).api_key
    )
    genuine = service.licences.issue(client, food_permit("STATE-1")).licence
    stolen = service.keystore.department_signers(PASSPHRASE)[GZ_AMR]
    before = _export(service, tmp_path / "before")  # what a replaying attacker keeps
    clock.advance(hours=1)
    service.keys.compromise(GZ_AMR, since=clock.now - dt.timedelta(minutes=30))
    forged = resealed(genuine.seal, stolen, now=clock.now - dt.timedelta(minutes=31))
    current = service.registry.licence(genuine.identifier)
    assert current is not None
    after = _export(service, tmp_path / "after")
    service.licences.change_status(client, genuine.identifier, Action.REVOKE, reason="注销")
    revoked = _export(service, tmp_path / "revoked")
    state = tmp_path / "hall" / "state.json"

    def verify(seal: str, lists: Path, *, keep: bool) -> Any:
        args = ["verify", seal, "--trust-list", str(lists / "trust-list.cose")]
        args += ["--root", str(root), "--status-lists", str(lists), "--json"]
        return cli(None, *args + (["--state", str(state)] if keep else []))

    # without state, the replayed older list (still current) accepts the forgery: the window
    # that ELICENCE_TRUST_LIST_VALIDITY_HOURS bounds (docs/formats.md §4.2)
    assert verify(forged, before, keep=False).exit_code == 0
    # a hall that keeps state has seen the newer lists, and refuses the older ones
    seen = verify(current.seal, revoked, keep=True)
    assert seen.exit_code == 1 and '"revoked"' in seen.stdout
    replayed = verify(forged, before, keep=True)
    assert replayed.exit_code == 2
    assert "older list, replayed" in replayed.stderr
    # an older status list with the current trust list: refused, named, and not used
    older_lists = verify(current.seal, after, keep=True)
    assert older_lists.exit_code == 1 and '"indeterminate"' in older_lists.stdout
    assert "revocation.cose is refused" in older_lists.stderr and "replayed" in older_lists.stderr
    assert verify(current.seal, after, keep=False).exit_code == 0  # without state: the window
    names = json.loads(state.read_text())["lists"]
    assert len(names) == 1 + 3 * len(service.catalogue().departments)


def test_a_restored_backup_numbers_past_what_was_published_after_it(
    any_service: Elicence, clock: Clock
) -> None:
    """The sequence numbers live in the database: a restore takes them back, and the next
    change of content must still number past every list published since (the time floor)."""
    published = any_service.keys.trust_list().sequence
    with any_service.registry.write() as c:  # as if restored from a backup taken before
        c.execute(text("UPDATE list_sequences SET sequence = 1, digest = 'restored'"))
    clock.advance(minutes=1)
    any_service.keys.rotate(GZ_AMR)  # the next change of content
    assert any_service.keys.trust_list().sequence > published


def test_the_json_views_show_the_sequence(service: Elicence, api: Any) -> None:
    tl = api.get("/api/v1/trust-list").json()
    assert tl["sequence"] == service.keys.trust_list().sequence >= 1
    sl = api.get(f"/api/v1/status-lists/{GZ_AMR}/revocation.json").json()
    assert sl["sequence"] == service.keys.status_list(GZ_AMR, "revocation").sequence >= 1


@pytest.mark.parametrize(
    "args",
    [
        pytest.param(["verify", "EL1:AAAA"], id="verify"),
        pytest.param(["presentation", "verify", "EP1:AAAA"], id="presentation-verify"),
    ],
)
def test_state_is_for_offline_verification_only(args: list[str], tmp_path: Path) -> None:
    out = cli(None, *args, "--state", str(tmp_path / "state.json"))
    assert out.exit_code == 2 and "--state" in out.stderr and "--trust-list" in out.stderr
    assert not (tmp_path / "state.json").exists()


def test_an_unreadable_state_file_is_an_error_not_an_empty_state(
    service: Elicence, tmp_path: Path
) -> None:
    from cryptography.hazmat.primitives import serialization

    (tmp_path / "tl.cose").write_bytes(service.keys.trust_list().signed)
    root = service.keystore.root_certificate().public_bytes(serialization.Encoding.PEM)
    (tmp_path / "root.pem").write_bytes(root)
    state = tmp_path / "state.json"
    state.write_text('{"format": "something else"}')
    args = ["verify", "EL1:AAAA", "--trust-list", str(tmp_path / "tl.cose")]
    out = cli(None, *args, "--root", str(tmp_path / "root.pem"), "--state", str(state))
    assert out.exit_code == 2 and "state file" in out.stderr


def test_a_worker_signs_the_trust_list_inside_a_write_transaction_after_a_key_change(
    service: Elicence, clock: Clock, keys_dir: Path, demo_catalogue: Any
) -> None:
    """The hall approves a case (a write transaction on SQLite) and verifies its citations in it:
    the trust list it signs first there must need no write (the custody command numbered it)."""
    service.keys.rotate(GZ_AMR)
    worker = _second_worker(service, keys_dir, clock, demo_catalogue)
    try:
        with worker.registry.unit_of_work():  # holds SQLite's write lock on another connection
            assert worker.keys.trust_list().sequence == service.keys.trust_list().sequence
    finally:
        worker.registry.dispose()
