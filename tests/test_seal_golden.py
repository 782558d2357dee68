"""A golden seal (issue 20): the same claims and signature give the same seal text, byte for
byte, whatever is done to make sealing faster (CBOR, COSE, zlib, base32). ECDSA signatures are
randomised, so the signer here signs with a fixed function of the message: the text then
depends on the claims, the key id and the Sig_structure only."""

from __future__ import annotations

import datetime as dt
import hashlib

from elicence.formats.seal import (
    SealClaims,
    SealedLicence,
    cose_bytes,
    decode_seal,
    encode_claims,
    seal_licence,
)
from elicence.keys.signer import ES256

CLAIMS = SealClaims(
    issuer="11440100MB2D00002M",
    issued_at=1_796_000_000,
    expires_at=1_953_993_600,
    licence=SealedLicence(
        identifier="1.2.156.3005.2.11100000000013338W011.11440100MB2D00002M.ABCDEFGHJK123456.001.0",
        type_code="11100000000013338W011",
        licence_number="JY14401060000123",
        holder_name="广州市天河区某某餐饮管理有限公司",
        holder_id="91350100M000100Y43",
        holder_id_type="001",
        valid_from=dt.date(2026, 11, 28),
        valid_until=dt.date(2031, 11, 27),
        version=1,
        data={1: "张三", 4: "餐饮服务经营者"},
        status_index=4242,
    ),
)


class FixedSigner:
    """Signs with SHA-512 of the message (64 bytes, like an ES256 r || s): deterministic."""

    kid = bytes.fromhex("a1b2c3d4e5f60718")
    algorithm = ES256

    def sign(self, message: bytes) -> bytes:
        return hashlib.sha512(message).digest()

    def sign_der(self, message: bytes) -> bytes:  # pragma: no cover - not used by sealing
        raise NotImplementedError


GOLDEN_PAYLOAD_SHA256 = "9320057a65dc6e7212266f1093ab1fa6ce032ec0362c04c886d4c5af1e521b85"
GOLDEN_SEAL = (
    "EL1:FDH3XVHCXOEFDDOFMPQ2NQ2XTZ7GHF2YCDE2RM4EWHENBUGEYTANBQGA27E4RRIABCGHZWNEWJ4U4MVQJCKZ"
    "IT3OWBRGAZDALDGVRYLHVBT2IZ3INKTGO3DAMAFGEGQ2DLAIBINRWGYULOEBUGQR5JSZPKHE5TROVZXO4HS632DE"
    "NRRGIABYB2XVBSMEVMI2YBOOAFIJGHBAYLDOMTGFEYPQOTT75J6344653UPUOTE4UZ43GY763WPVNT7AIID2XFSM"
    "FS5F5OPK6W7YPRBNXMZZTUXWOTTY3K5OM2P7B3LCES2DMNJ3AM2AMYMBQRE2DCZSKA2Z5RMUMBSGM25INBV2IYLJ"
    "ZDC4RMMNHHXOLHYGIRZHJMU4JKDHON5J65RNPS7LX76FQSSS6GS2XESQKJTRAC2RQG4CWWMEOOCUOMFL3MSYYWZS"
    "ITD7YHQQ2HNXD7YMRXPHFHHI3GHR54KHHDQA4OZD6PUHSX3ZZ2UYVG27LKSN33FZVBNMBUDGM2Z66V3LJ2TRBBGG"
    "MOHSIMKAA2AQRRUA"
)


def test_the_golden_seal_is_byte_identical() -> None:
    payload = encode_claims(CLAIMS)
    assert hashlib.sha256(payload).hexdigest() == GOLDEN_PAYLOAD_SHA256
    text = seal_licence(CLAIMS, FixedSigner())  # type: ignore[arg-type]
    assert text == GOLDEN_SEAL
    decoded = decode_seal(text)
    assert decoded.claims == CLAIMS and decoded.kid == FixedSigner.kid
    assert decoded.signature == FixedSigner().sign(decoded.signed_message())
    assert cose_bytes(text) == decoded.cose
