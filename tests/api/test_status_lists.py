"""GET /api/v1/status-lists/{department}/{purpose}[.json]: signed status lists for offline halls."""

from __future__ import annotations

import base64

import pytest
from cryptography import x509
from fastapi.testclient import TestClient

from elicence.app.service import Elicence
from elicence.formats.statuslist import MIN_BITS, Purpose
from elicence.formats.trustlist import verify_trust_list
from elicence.verifier import OfflineStatus, Verdict, verify_seal, verify_status_list
from tests.conftest import GZ_AMR, NOW, SZ_AMR, ApiKeys, Clock, food_permit

LISTS = "/api/v1/status-lists"
NOT_IN_CATALOGUE = "11440300MB2F00009T"  # a valid USCC that is not in the demo catalogue


def _issue(api: TestClient, keys: ApiKeys, ref: str) -> dict[str, str]:
    r = api.post("/api/v1/licences", json=food_permit(ref), headers=keys.h("gz_amr"))
    assert r.status_code == 201, r.text
    body: dict[str, str] = r.json()
    return body


def _revoke(api: TestClient, keys: ApiKeys, identifier: str) -> None:
    r = api.post(
        f"/api/v1/licences/{identifier}/revoke", json={"reason": "注销"}, headers=keys.h("gz_amr")
    )
    assert r.status_code == 200, r.text


def test_an_offline_hall_finds_a_revocation_from_what_it_downloaded(
    api: TestClient, api_keys: ApiKeys
) -> None:
    kept = _issue(api, api_keys, "API-SL-1")
    gone = _issue(api, api_keys, "API-SL-2")
    assert (kept["status_index"], gone["status_index"]) == (0, 1)
    _revoke(api, api_keys, gone["identifier"])
    # what a hall downloads (anonymously), then checks with its pinned root alone
    root = x509.load_pem_x509_certificate(api.get("/api/v1/root.crt").content)
    trust_list = verify_trust_list(api.get("/api/v1/trust-list.cose").content, root=root)
    lists = []
    for purpose in Purpose:
        r = api.get(f"{LISTS}/{GZ_AMR}/{purpose}")
        assert r.status_code == 200, r.text
        assert r.headers["content-type"] == "application/cose"
        lists.append(verify_status_list(r.content, trust_list))
    status = OfflineStatus(lists)
    assert verify_seal(gone["seal"], trust_list=trust_list, status=status, now=NOW).verdict is (
        Verdict.REVOKED
    )
    assert verify_seal(kept["seal"], trust_list=trust_list, status=status, now=NOW).valid


def test_the_json_view_decodes_the_signed_list(api: TestClient, api_keys: ApiKeys) -> None:
    gone = _issue(api, api_keys, "API-SL-3")
    _revoke(api, api_keys, gone["identifier"])
    r = api.get(f"{LISTS}/{GZ_AMR}/revocation.json")
    assert r.status_code == 200, r.text
    body = r.json()
    assert {k: body[k] for k in ("format", "department", "purpose", "size")} == {
        "format": "EL-SL1",
        "department": GZ_AMR,
        "purpose": "revocation",
        "size": MIN_BITS,
    }
    assert body["set_indices"] == [gone["status_index"]] and body["set_count"] == 1
    assert body["issued_at"].startswith("2026-11-28T02:00:00")
    assert body["valid_until"].startswith("2026-11-29T02:00:00")
    signed = base64.b64decode(body["signed"])
    assert signed == api.get(f"{LISTS}/{GZ_AMR}/revocation").content
    assert 0 < body["compressed_size"] < 200  # 16 KB of nearly all zero bits
    suspension = api.get(f"{LISTS}/{GZ_AMR}/suspension.json").json()
    assert suspension["set_indices"] == [] and suspension["purpose"] == "suspension"


def test_lists_are_cacheable_with_an_etag(api: TestClient, api_keys: ApiKeys, clock: Clock) -> None:
    first = api.get(f"{LISTS}/{GZ_AMR}/revocation")
    etag = first.headers["etag"]
    assert first.headers["cache-control"].startswith("public")
    again = api.get(f"{LISTS}/{GZ_AMR}/revocation", headers={"If-None-Match": etag})
    assert again.status_code == 304 and again.content == b""
    # the same list is served (not re-signed) until the log grows
    clock.advance(minutes=30)
    assert api.get(f"{LISTS}/{GZ_AMR}/revocation").content == first.content
    _issue(api, api_keys, "API-SL-4")
    changed = api.get(f"{LISTS}/{GZ_AMR}/revocation", headers={"If-None-Match": etag})
    assert changed.status_code == 200 and changed.headers["etag"] != etag
    # and re-signed at half its validity even when nothing changed
    stable = changed.content
    clock.advance(hours=11)
    assert api.get(f"{LISTS}/{GZ_AMR}/revocation").content == stable
    clock.advance(hours=1, seconds=1)
    assert api.get(f"{LISTS}/{GZ_AMR}/revocation").content != stable


def test_departments_have_their_own_lists(api: TestClient, api_keys: ApiKeys) -> None:
    gone = _issue(api, api_keys, "API-SL-5")
    _revoke(api, api_keys, gone["identifier"])
    gz = api.get(f"{LISTS}/{GZ_AMR}/revocation.json").json()
    sz = api.get(f"{LISTS}/{SZ_AMR}/revocation.json").json()
    assert gz["set_indices"] == [0] and sz["set_indices"] == []
    assert sz["department"] == SZ_AMR
    # a USCC in lower case names the same department
    assert api.get(f"{LISTS}/{GZ_AMR.lower()}/revocation.json").json()["department"] == GZ_AMR


@pytest.mark.parametrize(
    ("path", "status", "field"),
    [
        pytest.param(f"{NOT_IN_CATALOGUE}/revocation", 404, "department", id="unknown-dept"),
        pytest.param(f"{NOT_IN_CATALOGUE}/revocation.json", 404, "department", id="unknown-json"),
        pytest.param(f"{GZ_AMR}/expiry", 404, "purpose", id="unknown-purpose"),
        pytest.param(f"{GZ_AMR}/expiry.json", 404, "purpose", id="unknown-purpose-json"),
        pytest.param(f"{GZ_AMR}/Revocation", 404, "purpose", id="purpose-case"),
        pytest.param("11440100MB2D00002X/revocation", 422, "department", id="bad-check-char"),
        pytest.param("GZ-AMR/revocation", 422, "department", id="not-a-uscc"),
        pytest.param("GZ-AMR/revocation.json", 422, "department", id="not-a-uscc-json"),
    ],
)
def test_bad_requests(api: TestClient, path: str, status: int, field: str) -> None:
    r = api.get(f"{LISTS}/{path}")
    assert r.status_code == status, r.text
    assert r.json()["error"]["field"] == field


def test_a_mirror_does_not_sign_status_lists(service: Elicence, api: TestClient) -> None:
    from elicence.registry import MirrorRecord

    root = service.keystore.root_certificate()
    from cryptography.hazmat.primitives import serialization

    signed = (
        service.keys.trust_list().signed
    )  # signing numbers it in the registry: not inside a UoW
    with service.registry.unit_of_work() as uow:
        uow.save_mirror(
            MirrorRecord(
                upstream="https://upstream.example",
                root=root.public_bytes(serialization.Encoding.DER),
                trust_list=signed,
                checkpoint=None,
                catalogue_digest=None,
                pulled_at=NOW,
            )
        )
        uow.commit()
    r = api.get(f"{LISTS}/{GZ_AMR}/revocation")
    assert r.status_code == 404
    assert "upstream" in r.json()["error"]["message"]
