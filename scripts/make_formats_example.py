"""Regenerate docs/examples/ (the worked example of docs/formats.md §6) and print its figures.

Run: ``.venv/bin/python scripts/make_formats_example.py``. The recipe of formats.md §6: a
throw-away key store created 2026-10-29 02:00 UTC (as ``tests/conftest.py`` makes it), the demo
catalogue, the request ``food_permit()`` issued by 广州市市场监督管理局 on 2026-11-28 at 02:00 UTC,
and the trust list and status lists signed at the same moment. Keys and the serial are random:
every run gives new bytes, so formats.md §6 must be updated from what this prints.
"""

from __future__ import annotations

import hashlib
import shutil
import sys
import tempfile
from pathlib import Path

import cbor2
from cryptography.hazmat.primitives import serialization

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from elicence.domain.clients import Client, Role  # noqa: E402
from elicence.formats.seal import b32decode, cose_bytes  # noqa: E402
from elicence.keys.store import DepartmentName, KeyStore  # noqa: E402
from elicence.registry import Registry  # noqa: E402
from tests.conftest import (  # noqa: E402
    GZ_AMR,
    NOW,
    PASSPHRASE,
    Clock,
    food_permit,
    make_service,
)

EXAMPLES = REPO / "docs" / "examples"


def main() -> None:
    from elicence.formats.catalogue_file import DEMO_CATALOGUE, load_catalogue

    catalogue = load_catalogue(DEMO_CATALOGUE)
    work = Path(tempfile.mkdtemp(prefix="elicence-example-"))
    try:
        keys = work / "keys"
        KeyStore(keys, scrypt_log2_n=10).init(
            passphrase=PASSPHRASE,
            departments=[DepartmentName(d.uscc, d.name_zh) for d in catalogue.departments.values()],
            now=NOW.replace(month=10, day=29),
            crl_url="http://127.0.0.1:8000/api/v1/crl",
        )
        registry = Registry.from_url(f"sqlite:///{work / 'registry.db'}")
        svc = make_service(registry, keys, Clock(NOW), catalogue)
        lic = svc.issue(Client("c", "example", Role.DEPARTMENT, GZ_AMR), food_permit()).licence
        trust_list = svc.trust_list()
        revocation = svc.status_list(GZ_AMR, "revocation")
        signer = svc.signers()[GZ_AMR]
        pem = serialization.Encoding.PEM
        EXAMPLES.mkdir(parents=True, exist_ok=True)
        (EXAMPLES / "seal.txt").write_text(lic.seal + "\n")
        (EXAMPLES / "signer.pem").write_bytes(signer.certificate.public_bytes(pem))
        (EXAMPLES / "root.pem").write_bytes(svc.keystore.root_certificate().public_bytes(pem))
        (EXAMPLES / "trust-list.cose").write_bytes(trust_list.signed)
        (EXAMPLES / "status-list-revocation.cose").write_bytes(revocation.signed)
        registry.dispose()
        _report(lic.seal, signer.certificate, trust_list.signed, revocation.signed)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _report(seal: str, certificate: object, trust_list: bytes, status_list: bytes) -> None:
    cose = cose_bytes(seal)
    compressed = b32decode(seal[4:])
    message = cbor2.loads(cose)
    protected, _unprotected, payload, signature = message.value
    der = certificate.public_bytes(serialization.Encoding.DER)  # type: ignore[attr-defined]
    public = certificate.public_key()  # type: ignore[attr-defined]
    point = public.public_bytes(
        serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
    )
    spki = public.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    print(f"seal text: {len(seal)} characters; zlib {len(compressed)} bytes; COSE {len(cose)}")
    print(seal)
    print(f"COSE: {cose.hex()}")
    print(f"protected ({len(protected)}): {protected.hex()}")
    print(f"payload ({len(payload)}): {payload.hex()}")
    print(f"signature: {signature.hex()}")
    print(f"claims: {cbor2.loads(payload)}")
    print(f"SHA-256(signer DER) = {hashlib.sha256(der).hexdigest()}")
    print(f"public point: {point.hex()}")
    print(spki.decode())
    tl = cbor2.loads(trust_list).value
    print(f"trust list kid: {cbor2.loads(tl[0])[4].hex()}, {len(trust_list)} bytes")
    sl = cbor2.loads(status_list).value
    body = cbor2.loads(sl[2])
    print(
        f"status list: {len(status_list)} bytes, kid {cbor2.loads(sl[0])[4].hex()}, "
        f"payload keys 1-6 {[body[k] for k in range(1, 7)]}, zlib {len(body[7])} bytes "
        f"({body[7].hex()})"
    )


if __name__ == "__main__":
    main()
