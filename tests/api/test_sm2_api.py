"""An SM2 licence type over HTTP (ADR 0016): issued, verified, its trust list, status lists and
catalogue entry served, its PDF verified — the answers as for ES256, the algorithm named."""

from __future__ import annotations

import base64
import dataclasses
from collections.abc import Iterator

import cbor2
import pytest
from cryptography import x509
from fastapi.testclient import TestClient

from elicence.api.app import create_app
from elicence.app.service import Elicence
from elicence.domain.catalogue import SignatureAlgorithm
from elicence.keys.sm2cert import sm2_public_key
from tests.conftest import FOOD, GZ_AMR, ApiKeys, food_permit

VERIFY = "/api/v1/verify"


@pytest.fixture
def sm2_api(service: Elicence, api_keys: ApiKeys) -> Iterator[TestClient]:
    catalogue = service.catalogue()
    food = dataclasses.replace(catalogue.licence_types[FOOD], algorithm=SignatureAlgorithm.SM2)
    service.import_catalogue(
        dataclasses.replace(catalogue, licence_types={**catalogue.licence_types, FOOD: food})
    )
    with TestClient(create_app(service), raise_server_exceptions=False) as client:
        yield client


def test_an_sm2_licence_over_http(sm2_api: TestClient, api_keys: ApiKeys) -> None:
    issued = sm2_api.post("/api/v1/licences", json=food_permit(), headers=api_keys.h("gz_amr"))
    assert issued.status_code == 201, issued.text
    body = issued.json()
    verified = sm2_api.post(VERIFY, json={"seal": body["verification_url"]})
    assert verified.status_code == 200, verified.text
    out = verified.json()
    assert out["verdict"] == "valid", out["checks"]
    signature = next(c for c in out["checks"] if c["name"] == "signature")
    assert signature["detail"] == "SM2-with-SM3 signature verifies"
    # the catalogue says which algorithm
    entry = sm2_api.get(f"/api/v1/catalogue/licence-types/{FOOD}")
    assert entry.status_code == 200 and entry.json()["algorithm"] == "SM2"
    # the trust list carries the department's SM2 certificate
    tl = sm2_api.get("/api/v1/trust-list")
    assert tl.status_code == 200, tl.text
    sm2_entries = [
        e
        for e in tl.json()["entries"]
        if sm2_public_key(x509.load_der_x509_certificate(base64.b64decode(e["certificate"])))
    ]
    # every department that may issue the food permit has an SM2 key, which seals only it
    assert GZ_AMR in {e["department"] for e in sm2_entries}
    assert all(e["licence_types"] == [FOOD] for e in sm2_entries)
    # its status lists are served, signed with the SM2 key
    listed = sm2_api.get(f"/api/v1/status-lists/{GZ_AMR}/revocation.json")
    assert listed.status_code == 200, listed.text
    cose = sm2_api.get(f"/api/v1/status-lists/{GZ_AMR}/revocation")
    assert cose.status_code == 200
    assert cbor2.loads(cbor2.loads(cose.content).value[0])[1] == -65537
    # the PDF: PAdES by the department's ES256 key, the seal SM2; both pass
    pdf = sm2_api.get(f"/api/v1/licences/{body['identifier']}/pdf", headers=api_keys.h("gz_amr"))
    assert pdf.status_code == 200, pdf.text
    checked = sm2_api.post(
        "/api/v1/verify/pdf", files={"file": ("licence.pdf", pdf.content, "application/pdf")}
    )
    assert checked.status_code == 200, checked.text
    assert checked.json()["verdict"] == "valid", checked.json()["checks"]
