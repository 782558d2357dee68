"""Mirrors, in process: a city registry following the province's change feed.

The province is the ``service``/``api`` fixture; the city has its own SQLite database and no keys
of its own. Bad feeds are made by altering the province's real answers on the way; each must be
refused with nothing already mirrored lost. (tests/test_mirror_processes.py runs two real servers.)
"""

from __future__ import annotations

import base64
import copy
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from elicence.app.mirror import pull
from elicence.app.service import Elicence
from elicence.bootstrap import assemble
from elicence.errors import LogIntegrityError, MirrorError
from elicence.formats.eventlog import event_hash, parse_instant, sign_checkpoint
from elicence.formats.seal import decode_seal
from elicence.keys.store import KeyStore
from elicence.registry import Registry
from tests.conftest import GZ_AMR, PASSPHRASE, ApiKeys, Clock, food_permit

Tamper = Callable[[dict[str, Any]], dict[str, Any]]


class InProcessUpstream:
    """The province's API through its TestClient, with an optional tamperer of feed pages."""

    url = "http://province.test"

    def __init__(self, api: TestClient, key: str) -> None:
        self.api = api
        self.headers = {"Authorization": f"Bearer {key}"}
        self.tamper: Tamper | None = None

    def feed(self, *, after: int, limit: int) -> Mapping[str, Any]:
        r = self.api.get(
            "/api/v1/feed", params={"after": after, "limit": limit}, headers=self.headers
        )
        if r.status_code != 200:
            raise MirrorError(r.text)
        body: dict[str, Any] = r.json()
        return self.tamper(copy.deepcopy(body)) if self.tamper else body

    def trust_list(self) -> bytes:
        return self.api.get("/api/v1/trust-list.cose").content

    def catalogue(self) -> dict[str, Any]:
        return {
            "format": "elicence-catalogue/1",
            "licence_types": self.api.get("/api/v1/catalogue/licence-types").json(),
            "departments": self.api.get("/api/v1/catalogue/departments").json(),
        }


@pytest.fixture
def city(tmp_path: Path, clock: Clock) -> Iterator[Elicence]:
    registry = Registry.from_url(f"sqlite:///{tmp_path / 'city.db'}")
    registry.upgrade()
    yield assemble(
        registry=registry,
        keystore=KeyStore(tmp_path / "city-keys"),  # none: a mirror signs nothing
        passphrase=PASSPHRASE,
        public_base_url="https://city.example.gov.cn",
        clock=clock,
    )
    registry.dispose()


@pytest.fixture
def upstream(api: TestClient, api_keys: ApiKeys) -> InProcessUpstream:
    return InProcessUpstream(api, api_keys.hall)


def issue_some(api: TestClient, keys: ApiKeys, n: int, prefix: str = "M") -> list[dict[str, Any]]:
    items = [food_permit(f"{prefix}-{i}", licence_number=f"JY{i:06d}") for i in range(n)]
    r = api.post("/api/v1/licences/batch", json={"items": items}, headers=keys.h("gz_amr"))
    assert r.status_code == 200, r.text
    return list(r.json()["results"])


def do_pull(city: Elicence, up: InProcessUpstream, service: Elicence, **kw: Any) -> Any:
    return pull(city.registry, up, root=service.keystore.root_certificate(), clock=city.clock, **kw)


def test_the_city_follows_the_province(
    api: TestClient,
    api_keys: ApiKeys,
    service: Elicence,
    city: Elicence,
    upstream: InProcessUpstream,
) -> None:
    issued = issue_some(api, api_keys, 4)
    result = do_pull(city, upstream, service)
    assert (result.applied, result.head, result.upstream_size) == (4, 4, 4)
    seal, ident = issued[0]["seal"], issued[0]["identifier"]
    assert city.verification.verify(seal=seal, client=None).verdict == "valid"
    assert city.verification.verify(identifier=ident, client=None).verdict == "valid"

    r = api.post(
        f"/api/v1/licences/{ident}/revoke", json={"reason": "注销"}, headers=api_keys.h("gz_amr")
    )
    assert r.status_code == 200
    amended = api.post(
        f"/api/v1/licences/{issued[1]['identifier']}/amend",
        json={"reason": "变更", "changes": {"licence_number": "JY999999"}},
        headers=api_keys.h("gz_amr"),
    ).json()["new_version"]
    assert city.verification.verify(seal=seal, client=None).verdict == "valid"  # not pulled yet
    assert do_pull(city, upstream, service).applied == 2
    assert city.verification.verify(seal=seal, client=None).verdict == "revoked"
    assert city.verification.verify(seal=issued[1]["seal"], client=None).verdict == "superseded"
    assert city.verification.verify(seal=amended["seal"], client=None).verdict == "valid"
    assert city.registry.events(limit=100) == service.registry.events(limit=100)
    assert city.log.audit().ok, city.log.audit().problems
    assert do_pull(city, upstream, service).applied == 0


def test_a_pull_resumes_where_it_stopped(
    api: TestClient,
    api_keys: ApiKeys,
    service: Elicence,
    city: Elicence,
    upstream: InProcessUpstream,
) -> None:
    issue_some(api, api_keys, 7)
    assert do_pull(city, upstream, service, page_size=3, max_pages=1).head == 3
    assert do_pull(city, upstream, service, page_size=3, max_pages=1).head == 6
    assert do_pull(city, upstream, service, page_size=3).head == 7
    assert [e.seq for e in city.registry.events(limit=100)] == list(range(1, 8))
    assert city.registry.count_licences() == 7


def _rehash(body: dict[str, Any], start_prev: str) -> None:
    """Make the altered events self-consistent again (a forger who recomputes hashes)."""
    prev = start_prev
    for e in body["events"]:
        e["prev_hash"] = prev
        e["hash"] = event_hash(
            prev,
            seq=e["seq"],
            at=parse_instant(e["at"]),
            kind=e["kind"],
            identifier=e["identifier"],
            department=e["department"],
            actor=e["actor"],
            detail=e["detail"],
        )
        prev = e["hash"]


def gap(body: dict[str, Any]) -> dict[str, Any]:
    body["events"] = body["events"][1:]
    return body


def reorder(body: dict[str, Any]) -> dict[str, Any]:
    body["events"][0], body["events"][1] = body["events"][1], body["events"][0]
    return body


def alter(body: dict[str, Any]) -> dict[str, Any]:
    body["events"][1]["detail"]["reason"] = "改过的"
    return body


def fork(body: dict[str, Any]) -> dict[str, Any]:
    """Another history after the mirror's head: self-consistent, but not linked to it."""
    body["events"][0]["actor"] = "another-history"
    _rehash(body, "11" * 32)
    return body


def bad_signature(body: dict[str, Any]) -> dict[str, Any]:
    signed = bytearray(base64.b64decode(body["checkpoint"]["signed"]))
    signed[-1] ^= 1
    body["checkpoint"]["signed"] = base64.b64encode(bytes(signed)).decode()
    return body


def lying_fields(body: dict[str, Any]) -> dict[str, Any]:
    body["checkpoint"]["size"] += 1
    return body


def no_checkpoint(body: dict[str, Any]) -> dict[str, Any]:
    body["checkpoint"] = None
    return body


def shorter(body: dict[str, Any]) -> dict[str, Any]:
    body["size"] = 1
    body["events"] = []
    return body


def not_json_events(body: dict[str, Any]) -> dict[str, Any]:
    body["events"] = [{"seq": "three"}]
    return body


BAD_FEEDS: list[tuple[str, Tamper, str]] = [
    ("gap", gap, "is missing"),
    ("reorder", reorder, "out of order"),
    ("altered-event", alter, "was altered"),
    ("fork", fork, "does not link"),
    ("forged-checkpoint-signature", bad_signature, "signature does not verify"),
    ("checkpoint-fields-lie", lying_fields, "differ from what it signs"),
    ("no-checkpoint", no_checkpoint, "no signed checkpoint"),
    ("upstream-shorter", shorter, "rolled back or forked"),
    ("malformed-event", not_json_events, "malformed"),
]


@pytest.mark.parametrize(
    ("tamper", "why"), [(t, w) for _, t, w in BAD_FEEDS], ids=[i for i, _, _ in BAD_FEEDS]
)
def test_a_bad_feed_is_refused_and_nothing_held_is_lost(
    api: TestClient,
    api_keys: ApiKeys,
    service: Elicence,
    city: Elicence,
    upstream: InProcessUpstream,
    tamper: Tamper,
    why: str,
) -> None:
    first = issue_some(api, api_keys, 3, "A")
    do_pull(city, upstream, service)
    issue_some(api, api_keys, 3, "B")
    r = api.post(
        f"/api/v1/licences/{first[0]['identifier']}/suspend",
        json={"reason": "检查"},
        headers=api_keys.h("gz_amr"),
    )
    assert r.status_code == 200
    held = city.registry.events(limit=100)

    upstream.tamper = tamper
    with pytest.raises(LogIntegrityError, match=why):
        do_pull(city, upstream, service)
    assert city.registry.events(limit=100) == held
    assert city.registry.count_licences() == 3
    assert city.verification.verify(seal=first[0]["seal"], client=None).verdict == "valid"

    upstream.tamper = None  # the honest feed is still taken afterwards
    assert do_pull(city, upstream, service).head == 7
    assert city.verification.verify(seal=first[0]["seal"], client=None).verdict == "suspended"


def test_a_signed_checkpoint_that_contradicts_the_mirror_is_a_fork(
    api: TestClient,
    api_keys: ApiKeys,
    service: Elicence,
    city: Elicence,
    upstream: InProcessUpstream,
) -> None:
    issue_some(api, api_keys, 3)
    do_pull(city, upstream, service)
    forged = sign_checkpoint(
        signer=service.keystore.service_signer(PASSPHRASE),
        size=2,
        head_hash="ab" * 32,
        issued_at=service.clock(),
    )

    def contradict(body: dict[str, Any]) -> dict[str, Any]:
        body["checkpoint"].update(
            size=2, head_hash=forged.head_hash, signed=base64.b64encode(forged.signed).decode()
        )
        return body

    upstream.tamper = contradict
    with pytest.raises(LogIntegrityError, match="forked"):
        do_pull(city, upstream, service)
    assert len(city.registry.events(limit=100)) == 3


def test_a_registry_is_made_a_mirror_only_when_safe(
    api: TestClient,
    api_keys: ApiKeys,
    service: Elicence,
    city: Elicence,
    upstream: InProcessUpstream,
    tmp_path: Path,
) -> None:
    issue_some(api, api_keys, 1)
    with pytest.raises(MirrorError, match="holds events of its own"):
        pull(service.registry, upstream, root=service.keystore.root_certificate(), clock=city.clock)
    with pytest.raises(MirrorError, match="needs the upstream's root"):
        pull(city.registry, upstream, root=None, clock=city.clock)
    do_pull(city, upstream, service)
    upstream.url = "http://elsewhere.test"
    with pytest.raises(MirrorError, match=r"mirrors http://province\.test"):
        do_pull(city, upstream, service)


def test_a_trust_list_from_another_root_is_refused(
    api: TestClient, api_keys: ApiKeys, city: Elicence, upstream: InProcessUpstream, tmp_path: Path
) -> None:
    other = KeyStore(tmp_path / "other", scrypt_log2_n=10)
    other.init(passphrase=PASSPHRASE, departments=[], now=city.clock(), crl_url=None)
    with pytest.raises(LogIntegrityError, match="trust list is refused"):
        pull(city.registry, upstream, root=other.root_certificate(), clock=city.clock)
    assert city.registry.events(limit=10) == []


@pytest.mark.parametrize(
    ("params", "who", "status", "field"),
    [
        ({"after": "abc"}, "hall", 422, "after"),
        ({"after": "-1"}, "hall", 422, "after"),
        ({"after": "1.5"}, "hall", 422, "after"),
        ({"limit": "0"}, "hall", 422, "limit"),
        ({"limit": "1001"}, "hall", 422, "limit"),
        ({}, None, 401, "Authorization"),
        ({}, "gz_amr", 403, None),
    ],
    ids=[
        "after-text",
        "after-negative",
        "after-fraction",
        "limit-0",
        "limit-oversized",
        "anonymous",
        "department",
    ],
)
def test_feed_bad_input(
    api: TestClient,
    api_keys: ApiKeys,
    params: dict[str, str],
    who: str | None,
    status: int,
    field: str | None,
) -> None:
    r = api.get("/api/v1/feed", params=params, headers=api_keys.h(who) if who else {})
    assert r.status_code == status, r.text
    assert r.json()["error"].get("field") == field


def test_feed_pages_in_order_past_the_end(api: TestClient, api_keys: ApiKeys) -> None:
    issue_some(api, api_keys, 5)
    h = api_keys.h("admin")
    page = api.get("/api/v1/feed", params={"after": 1, "limit": 2}, headers=h).json()
    assert [e["seq"] for e in page["events"]] == [2, 3]
    assert (page["next_after"], page["size"]) == (3, 5)
    past = api.get("/api/v1/feed", params={"after": 99}, headers=h).json()
    assert (past["events"], past["next_after"], past["size"]) == ([], 99, 5)


# -- key compromise and replayed trust lists (issue 16 §2) ---------------------------------------


class ReplayingUpstream(InProcessUpstream):
    """A proxy in front of the province that can serve a trust list it recorded earlier."""

    def __init__(self, api: TestClient, key: str) -> None:
        super().__init__(api, key)
        self.recorded: list[bytes] = []
        self.replay: bytes | None = None

    def trust_list(self) -> bytes:
        current = super().trust_list()
        self.recorded.append(current)
        return self.replay if self.replay is not None else current


def test_the_city_follows_a_resealing_and_refuses_a_replayed_older_trust_list(
    api: TestClient,
    api_keys: ApiKeys,
    service: Elicence,
    city: Elicence,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from elicence.app.mirror import MirroredTrust
    from elicence.formats.trustlist import verify_trust_list

    monkeypatch.setattr(MirroredTrust, "RECHECK_SECONDS", 0.0)  # read what the city holds now
    proxy = ReplayingUpstream(api, api_keys.hall)
    issued = issue_some(api, api_keys, 2)
    do_pull(city, proxy, service)
    before = city.keys.trust_list()
    clock_now = service.clock()
    service.keys.compromise(GZ_AMR, since=clock_now)
    pulled = do_pull(city, proxy, service)
    assert pulled.applied == 2  # two resealed events
    after = city.keys.trust_list()
    assert after.sequence > before.sequence
    old_seal, ident = issued[0]["seal"], issued[0]["identifier"]
    new_seal = service.registry.licence(ident).seal  # type: ignore[union-attr]
    assert city.registry.licence(ident).seal == new_seal  # type: ignore[union-attr]
    assert city.verification.verify(seal=new_seal, client=None).verdict == "valid"
    assert city.verification.verify(seal=old_seal, client=None).verdict == "untrusted"
    assert city.log.audit().ok, city.log.audit().problems

    # the proxy replays the older list, still current, which shows the stolen key active
    old = verify_trust_list(proxy.recorded[0], root=service.keystore.root_certificate())
    assert old.sequence == before.sequence and not old.stale(city.clock())
    kid = bytes.fromhex(decode_seal(old_seal).kid.hex())
    assert old.entry(kid).status == "active"  # type: ignore[union-attr]
    proxy.replay = proxy.recorded[0]
    with pytest.raises(LogIntegrityError, match=r"sequence \d+ .* holds sequence \d+"):
        do_pull(city, proxy, service)
    city_list = city.registry.mirror().trust_list  # type: ignore[union-attr]
    assert city_list == after.signed  # the newer one is kept
    assert city.keys.trust_list().entry(kid).status == "revoked"  # type: ignore[union-attr]
    proxy.replay = None
    assert do_pull(city, proxy, service).applied == 0  # the genuine current list is taken again
