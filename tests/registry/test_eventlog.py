"""The event log's hash chain, its signed checkpoints, and the audit that finds tampering.

The chain is recomputed here from docs/formats.md §7 alone (hashlib + json), and tampering is
done with plain SQL on the database file, as an intruder with database access would.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Callable
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import text

from elicence.app.service import Elicence
from elicence.formats.eventlog import (
    GENESIS,
    event_body_prefix,
    event_hash,
    seq_suffix,
    verify_checkpoint,
)
from tests.cli import cli
from tests.conftest import ApiKeys, food_permit


def independent_hash(prev: str, event: dict[str, object]) -> str:
    body = {
        k: event[k] for k in ("seq", "at", "kind", "identifier", "department", "actor", "detail")
    }
    blob = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(bytes.fromhex(prev) + blob.encode("utf-8")).hexdigest()


@settings(max_examples=200, deadline=None)
@given(
    seq=st.integers(min_value=1, max_value=2**62),
    actor=st.text(max_size=20),
    detail=st.dictionaries(st.text(max_size=8), st.one_of(st.text(max_size=8), st.integers())),
)
def test_an_event_body_is_its_prefix_then_its_seq(
    seq: int, actor: str, detail: dict[str, object]
) -> None:
    """What PostgreSQL's group commit hashes (prefix, then "<seq>}") is the event's canonical
    JSON, for any detail and seq."""
    at = dt.datetime(2026, 12, 3, 8, 0, 0, 123456, tzinfo=dt.UTC)
    fields = {"kind": "issued", "identifier": "x", "department": "d", "actor": actor}
    prefix = event_body_prefix(at=at, detail=detail, **fields)
    event = {"seq": seq, "at": "2026-12-03T08:00:00.123456Z", "detail": detail, **fields}
    assert json.loads(prefix + seq_suffix(seq)) == event
    assert event_hash(GENESIS, seq=seq, at=at, detail=detail, **fields) == independent_hash(
        GENESIS, event
    )


def busy_log(api: TestClient, keys: ApiKeys) -> list[str]:
    """Five licences issued (one batch), one suspended and one revoked: 7 events."""
    items = [food_permit(f"LOG-{n}", licence_number=f"JY{n:06d}") for n in range(5)]
    r = api.post("/api/v1/licences/batch", json={"items": items}, headers=keys.h("gz_amr"))
    assert r.status_code == 200, r.text
    idents = [x["identifier"] for x in r.json()["results"]]
    for ident, action in ((idents[1], "suspend"), (idents[2], "revoke")):
        r = api.post(
            f"/api/v1/licences/{ident}/{action}", json={"reason": "检查"}, headers=keys.h("gz_amr")
        )
        assert r.status_code == 200, r.text
    return idents


def test_events_chain_as_formats_md_says(
    api: TestClient, api_keys: ApiKeys, service: Elicence
) -> None:
    busy_log(api, api_keys)
    r = api.get("/api/v1/feed", params={"after": 0, "limit": 1000}, headers=api_keys.h("hall"))
    assert r.status_code == 200, r.text
    events = r.json()["events"]
    assert [e["seq"] for e in events] == list(range(1, 8))
    prev = GENESIS
    for e in events:
        assert e["prev_hash"] == prev
        assert e["hash"] == independent_hash(prev, e)
        prev = e["hash"]
    assert events[0]["at"].endswith("Z") and len(events[0]["at"]) == 27
    cp = r.json()["checkpoint"]
    assert (cp["size"], cp["head_hash"]) == (7, prev)
    signed = verify_checkpoint(
        __import__("base64").b64decode(cp["signed"]), root=service.keystore.root_certificate()
    )
    assert (signed.size, signed.head_hash) == (7, prev)


def test_a_checkpoint_is_signed_after_every_batch(
    api: TestClient, api_keys: ApiKeys, service: Elicence
) -> None:
    busy_log(api, api_keys)
    cps = service.registry.checkpoints()
    assert 5 in [c.size for c in cps]  # right after the batch of five
    items = [food_permit(f"LOG-B-{n}", licence_number=f"JY9{n:05d}") for n in range(3)]
    api.post("/api/v1/licences/batch", json={"items": items}, headers=api_keys.h("gz_amr"))
    latest = service.registry.latest_checkpoint()
    assert latest is not None
    assert (latest.size, latest.head_hash) == service.registry.log_head()


def test_a_clean_log_audits_clean(api: TestClient, api_keys: ApiKeys, service: Elicence) -> None:
    busy_log(api, api_keys)
    service.log.checkpoint()
    report = service.log.audit()
    assert report.ok, report.problems
    assert (report.events, report.checkpoints) == (7, 2)


def _sql(service: Elicence, *statements: str) -> None:
    with service.registry.engine.begin() as c:
        for s in statements:
            c.execute(text(s))


TAMPERING: list[tuple[str, Callable[[Elicence, list[str]], None], str]] = [
    (
        "edit-detail",
        lambda s, ids: _sql(
            s,
            """UPDATE events SET detail = '{"reason":"x","from":"valid","to":"valid"}' WHERE seq = 7""",
        ),
        "event 7 was altered",
    ),
    (
        "edit-actor",
        lambda s, ids: _sql(s, "UPDATE events SET actor = 'someone-else' WHERE seq = 3"),
        "event 3 was altered",
    ),
    (
        "delete-middle",
        lambda s, ids: _sql(s, "DELETE FROM events WHERE seq = 4"),
        "event 4 is missing",
    ),
    (
        "delete-tail",
        lambda s, ids: _sql(s, "DELETE FROM events WHERE seq = 7"),
        "events were deleted",
    ),
    (
        "reorder",
        lambda s, ids: _sql(
            s,
            "UPDATE events SET seq = 100 WHERE seq = 2",
            "UPDATE events SET seq = 2 WHERE seq = 3",
            "UPDATE events SET seq = 3 WHERE seq = 100",
        ),
        "does not link",
    ),
    (
        "unrevoke-licence",
        lambda s, ids: _sql(
            s, f"UPDATE licences SET status = 'valid' WHERE identifier = '{ids[2]}'"
        ),
        "is valid but the log says revoked",
    ),
    (
        "forge-checkpoint",
        lambda s, ids: _sql(s, "UPDATE checkpoints SET head_hash = '" + "ab" * 32 + "'"),
        "differs from the signed one",
    ),
]


@pytest.mark.parametrize(
    ("tamper", "finding"), [(t, f) for _, t, f in TAMPERING], ids=[i for i, _, _ in TAMPERING]
)
def test_tampering_is_found_by_the_audit(
    api: TestClient,
    api_keys: ApiKeys,
    service: Elicence,
    tamper: Callable[[Elicence, list[str]], None],
    finding: str,
) -> None:
    idents = busy_log(api, api_keys)
    assert service.log.checkpoint() is not None  # a checkpoint over all 7 events
    tamper(service, idents)
    report = service.log.audit()
    assert not report.ok
    assert any(finding in p for p in report.problems), report.problems


def test_registry_audit_command_exits_non_zero_on_tampering(
    api: TestClient, api_keys: ApiKeys, service: Elicence, tmp_path: Path, keys_dir: Path
) -> None:
    busy_log(api, api_keys)
    service.log.checkpoint()
    db = service.registry.engine.url.database
    env = {
        "ELICENCE_DATA_DIR": str(keys_dir.parent),
        "ELICENCE_DATABASE_URL": f"sqlite:///{db}",
        "ELICENCE_KEY_PASSPHRASE": "test-passphrase-not-secret",
    }
    ok = cli(None, "registry", "audit", **env)
    assert ok.exit_code == 0, ok.output
    assert "7 events" in ok.stdout and "ok:" in ok.stdout
    _sql(service, "UPDATE events SET actor = 'intruder' WHERE seq = 5")
    bad = cli(None, "registry", "audit", **env)
    assert bad.exit_code == 1
    assert "TAMPERED: event 5 was altered" in bad.stdout


def _migration_0003():  # type: ignore[no-untyped-def]
    import importlib.util

    from elicence.registry.migrate import MIGRATIONS

    path = MIGRATIONS / "versions" / "0003_event_chain.py"
    spec = importlib.util.spec_from_file_location("migration_0003", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@settings(max_examples=200, deadline=None)
@given(
    seq=st.integers(min_value=1, max_value=2**40),
    at=st.datetimes(
        min_value=dt.datetime(2000, 1, 1),
        max_value=dt.datetime(2100, 1, 1),
        timezones=st.just(dt.UTC),
    ),
    kind=st.sampled_from(["issued", "revoked", "suspended", "reinstated", "amended", "renewed"]),
    text=st.text(max_size=30),
    detail=st.dictionaries(
        st.text(max_size=10), st.one_of(st.text(max_size=20), st.integers(), st.none()), max_size=5
    ),
    prev=st.binary(min_size=32, max_size=32),
)
def test_migration_0003_hashes_events_as_the_log_does(  # type: ignore[no-untyped-def]
    seq, at, kind, text, detail, prev
) -> None:
    """0003 keeps a frozen copy of the event hash; today the two must agree on every event."""
    from elicence.formats.eventlog import event_hash

    frozen = _migration_0003()
    fields = {
        "seq": seq,
        "at": at,
        "kind": kind,
        "identifier": "1.2.156.3005.2." + text,
        "department": "11440100MB2D00002M",
        "actor": text,
        "detail": detail,
    }
    assert frozen.GENESIS == GENESIS
    assert frozen.event_hash(prev.hex(), **fields) == event_hash(prev.hex(), **fields)
