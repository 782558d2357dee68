"""Licence PDFs over HTTP: download (who may), made once and kept, verification of an upload,
the upload limit, and the root's CRL.
"""

from __future__ import annotations

import datetime as dt

import pytest
from cryptography import x509
from fastapi.testclient import TestClient

from elicence.app.service import Elicence
from elicence.verifier.pdf import MAX_PDF_BYTES
from tests.conftest import ApiKeys, food_permit

LICENCES = "/api/v1/licences"


def issued(api: TestClient, api_keys: ApiKeys, ref: str = "DOC-1") -> str:
    r = api.post(LICENCES, json=food_permit(ref), headers=api_keys.h("gz_amr"))
    assert r.status_code == 201, r.text
    return str(r.json()["identifier"])


def test_the_owner_downloads_a_signed_pdf_made_once(
    api: TestClient, api_keys: ApiKeys, service: Elicence
) -> None:
    identifier = issued(api, api_keys)
    r = api.get(f"{LICENCES}/{identifier}/pdf", headers=api_keys.h("gz_amr"))
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == "application/pdf"
    assert f'filename="{identifier}.pdf"' in r.headers["content-disposition"]
    assert r.content.startswith(b"%PDF-")
    assert service.registry.document(identifier) == r.content
    again = api.get(f"{LICENCES}/{identifier}/pdf", headers=api_keys.h("admin"))
    assert again.status_code == 200
    assert again.content == r.content  # served from what was kept, not signed again


@pytest.mark.parametrize(
    ("who", "status"),
    [("sz_amr", 404), ("hall", 403), (None, 401)],
    ids=["other department", "hall", "anonymous"],
)
def test_others_may_not_download(
    api: TestClient, api_keys: ApiKeys, service: Elicence, who: str | None, status: int
) -> None:
    identifier = issued(api, api_keys)
    headers = api_keys.h(who) if who else {}
    r = api.get(f"{LICENCES}/{identifier}/pdf", headers=headers)
    assert r.status_code == status, r.text
    assert service.registry.document(identifier) is None


def test_an_unknown_or_malformed_identifier(api: TestClient, api_keys: ApiKeys) -> None:
    r = api.get(f"{LICENCES}/not-an-identifier/pdf", headers=api_keys.h("admin"))
    assert r.status_code == 422
    good = issued(api, api_keys)
    missing = good.rsplit(".", 3)[0] + ".ZZZZZZZZZZZZZZZZ.001.0"
    r = api.get(f"{LICENCES}/{missing}/pdf", headers=api_keys.h("admin"))
    assert r.status_code in (404, 422)


@pytest.mark.parametrize("path", ["/api/v1/verify", "/api/v1/verify/pdf"])
def test_a_pdf_upload_verifies(api: TestClient, api_keys: ApiKeys, path: str) -> None:
    identifier = issued(api, api_keys)
    pdf = api.get(f"{LICENCES}/{identifier}/pdf", headers=api_keys.h("gz_amr")).content
    r = api.post(
        path, files={"file": ("licence.pdf", pdf, "application/pdf")}, headers=api_keys.h("hall")
    )
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["verdict"] == "valid"
    assert body["licence"]["identifier"] == identifier
    assert body["checks"][0]["name"] == "pdf_signature"
    assert body["masked"]  # a hall without a grant of this licence: the public answer
    r = api.post(
        path, files={"file": ("licence.pdf", pdf, "application/pdf")}, headers=api_keys.h("gz_amr")
    )
    assert r.status_code == 200, r.text
    assert not r.json()["masked"]  # the issuing department sees it in full
    # anonymous: masked, as for seals; a raw application/pdf body works too
    r = api.post(path, content=pdf, headers={"Content-Type": "application/pdf"})
    assert r.status_code == 200, r.text
    assert r.json()["verdict"] == "valid" and r.json()["masked"]


def test_the_json_verify_path_still_works(api: TestClient, api_keys: ApiKeys) -> None:
    r = api.post(LICENCES, json=food_permit("DOC-J"), headers=api_keys.h("gz_amr"))
    seal = r.json()["seal"]
    r = api.post("/api/v1/verify", json={"seal": seal})
    assert r.status_code == 200 and r.json()["verdict"] == "valid"


def test_a_tampered_upload_is_invalid(api: TestClient, api_keys: ApiKeys) -> None:
    identifier = issued(api, api_keys)
    pdf = api.get(f"{LICENCES}/{identifier}/pdf", headers=api_keys.h("gz_amr")).content
    at = pdf.index(b"/Author") + 8
    bad = pdf[:at] + bytes([pdf[at] ^ 1]) + pdf[at + 1 :]
    r = api.post("/api/v1/verify", files={"file": ("x.pdf", bad, "application/pdf")})
    assert r.status_code == 200 and r.json()["verdict"] == "invalid"


@pytest.mark.parametrize(
    ("files", "status", "field"),
    [
        ({"file": ("x.pdf", b"not a pdf at all", "application/pdf")}, 422, "file"),
        ({"file": ("x.pdf", b"%PDF-1.7\n%%EOF", "application/pdf")}, 422, "file"),
        ({"other": ("x.pdf", b"%PDF-1.7", "application/pdf")}, 422, "file"),
    ],
    ids=["not a pdf", "unreadable pdf", "no file field"],
)
def test_bad_uploads_are_4xx(
    api: TestClient, files: dict[str, tuple[str, bytes, str]], status: int, field: str
) -> None:
    r = api.post("/api/v1/verify", files=files)
    assert r.status_code == status, r.text
    assert r.json()["error"]["field"] == field


def test_an_upload_past_the_limit_is_413(api: TestClient) -> None:
    big = b"%PDF-1.7\n" + b"0" * (MAX_PDF_BYTES + 1)
    r = api.post("/api/v1/verify", files={"file": ("big.pdf", big, "application/pdf")})
    assert r.status_code == 413, r.text
    assert r.json()["error"]["code"] == "payload_too_large"
    r = api.post("/api/v1/verify/pdf", content=big, headers={"Content-Type": "application/pdf"})
    assert r.status_code == 413


def test_the_crl_is_signed_by_the_root(api: TestClient, service: Elicence) -> None:
    service.keys.init()  # re-signs the CRL at the service's clock
    r = api.get("/api/v1/crl")
    assert r.status_code == 200
    assert r.headers["content-type"] == "application/pkix-crl"
    crl = x509.load_der_x509_crl(r.content)
    root = service.keystore.root_certificate()
    assert crl.issuer == root.subject
    assert crl.is_signature_valid(root.public_key())  # type: ignore[arg-type]
    assert crl.next_update_utc is not None
    assert crl.next_update_utc - crl.last_update_utc == dt.timedelta(days=30)
    assert crl.last_update_utc == service.clock().replace(microsecond=0)
    # department certificates point to it
    dept = next(iter(service.keys.signers().values())).certificate
    points = dept.extensions.get_extension_for_class(x509.CRLDistributionPoints).value
    assert points[0].full_name[0].value.endswith("/api/v1/crl")  # type: ignore[index, union-attr]
