"""elicence.formats.seal: the EL1 text form, decoding, limits, and interoperability with pycose."""

from __future__ import annotations

import base64
import datetime as dt
import re
import zlib

import cbor2
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pycose.keys import CoseKey
from pycose.keys.curves import P256
from pycose.keys.keyparam import EC2KpCurve, EC2KpX, EC2KpY, KpKty
from pycose.keys.keytype import KtyEC2
from pycose.messages import Sign1Message

from elicence.domain.codes import LicenceIdentifier
from elicence.domain.licence import CHINA_TZ
from elicence.errors import SealError
from elicence.formats.seal import (
    MAX_SEAL_TEXT,
    PREFIX,
    SealClaims,
    SealedLicence,
    b32decode,
    b32encode,
    cose_bytes,
    decode_seal,
    expiry_instant,
    seal_licence,
    seal_text_from,
)
from elicence.keys.signer import SoftwareSigner
from tests.conftest import FOOD, GZ_AMR, NOW
from tests.pki import OutsidePki

QR_ALPHANUMERIC = set("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ $%*+-./:")
IDENT = str(LicenceIdentifier(FOOD, GZ_AMR, "0123456789ABCDEF", 1))


@pytest.fixture(scope="module")
def signer() -> SoftwareSigner:
    return OutsidePki.make("test root").signer()


def _claims(**over: object) -> SealClaims:
    lic = SealedLicence(
        identifier=IDENT,
        type_code=FOOD,
        licence_number="JY14401060000123",
        holder_name="广州市天河区某某餐饮管理有限公司",
        holder_id="91350100M000100Y43",
        holder_id_type="001",
        valid_from=dt.date(2026, 11, 28),
        valid_until=dt.date(2031, 11, 27),
        version=1,
        data={1: "张三", 2: "餐饮服务经营者"},
    )
    values: dict[str, object] = {
        "issuer": GZ_AMR,
        "issued_at": int(NOW.timestamp()),
        "expires_at": expiry_instant(lic.valid_until),
        "licence": lic,
    }
    values.update(over)
    return SealClaims(**values)  # type: ignore[arg-type]


def _text_of(cose: bytes) -> str:
    return PREFIX + base64.b32encode(zlib.compress(cose)).decode().rstrip("=")


# -- round trip and text form -----------------------------------------------------------------


def test_seal_decode_round_trip(signer: SoftwareSigner) -> None:
    claims = _claims()
    text = seal_licence(claims, signer)
    decoded = decode_seal(text)
    assert decoded.claims == claims
    assert decoded.kid == signer.kid
    assert decoded.alg == -7
    assert decoded.text == text
    assert decoded.signature_valid(signer.certificate.public_key())  # type: ignore[arg-type]


def test_long_term_licence_has_no_exp_and_no_valid_until(signer: SoftwareSigner) -> None:
    lic = _claims().licence
    long_term = SealedLicence(
        **{**{f: getattr(lic, f) for f in lic.__slots__}, "valid_until": None}
    )  # type: ignore[attr-defined]
    claims = _claims(licence=long_term, expires_at=None)
    decoded = decode_seal(seal_licence(claims, signer))
    assert decoded.claims.expires_at is None
    assert decoded.claims.licence.valid_until is None
    assert 4 not in cbor2.loads(decoded.payload)


def test_exp_is_the_end_of_the_last_day_in_beijing() -> None:
    exp = expiry_instant(dt.date(2031, 11, 27))
    assert exp is not None
    assert dt.datetime.fromtimestamp(exp, CHINA_TZ) == dt.datetime(2031, 11, 28, tzinfo=CHINA_TZ)
    assert dt.datetime.fromtimestamp(exp, dt.UTC) == dt.datetime(2031, 11, 27, 16, tzinfo=dt.UTC)
    assert expiry_instant(None) is None


def test_seal_text_is_el1_and_base32_only(signer: SoftwareSigner) -> None:
    text = seal_licence(_claims(), signer)
    assert text.startswith("EL1:")
    assert re.fullmatch(r"EL1:[A-Z2-7]+", text)
    assert set(text) <= QR_ALPHANUMERIC
    assert "=" not in text


def test_seal_text_is_rfc4648_base32_of_zlib_of_a_tagged_cose_sign1(
    signer: SoftwareSigner,
) -> None:
    text = seal_licence(_claims(), signer)
    body = text[len(PREFIX) :]
    raw = zlib.decompress(base64.b32decode(body + "=" * (-len(body) % 8)))
    assert raw == cose_bytes(text)
    obj = cbor2.loads(raw)
    assert obj.tag == 18
    protected, unprotected, payload, signature = obj.value
    assert cbor2.loads(protected) == {1: -7, 4: signer.kid}
    assert unprotected == {}
    assert len(signature) == 64
    claims = cbor2.loads(payload)
    assert claims[1] == GZ_AMR
    assert claims[6] == int(NOW.timestamp())
    assert claims[-65537][1] == IDENT


def test_two_seals_of_the_same_claims_differ_but_both_decode(signer: SoftwareSigner) -> None:
    a, b = seal_licence(_claims(), signer), seal_licence(_claims(), signer)
    assert a != b  # ECDSA is randomised
    assert decode_seal(a).claims == decode_seal(b).claims


def test_qr_url_is_accepted(signer: SoftwareSigner) -> None:
    text = seal_licence(_claims(), signer)
    assert seal_text_from(f"https://x/v#{text}") == text
    assert seal_text_from(f"  https://hall.example.gov.cn/v#{text}\n") == text
    assert decode_seal(f"https://x/v#{text}").claims == _claims()


@pytest.mark.parametrize(
    "value",
    [
        pytest.param("", id="empty"),
        pytest.param("HC1:6BFOXN", id="covid-certificate"),
        pytest.param("https://x/v", id="url-without-fragment"),
        pytest.param("https://x/v#", id="empty-fragment"),
        pytest.param("https://x/v#EL2:ABC", id="other-version"),
        pytest.param("EL1ABC", id="no-colon"),
        pytest.param("1.2.156.3005.2.11100000000013338W011", id="identifier"),
    ],
)
def test_seal_text_from_rejects_non_el1(value: str) -> None:
    with pytest.raises(SealError) as e:
        seal_text_from(value)
    assert e.value.field == "seal"
    assert "not an EL1 seal" in e.value.message


def test_oversized_text_is_refused() -> None:
    with pytest.raises(SealError, match=f"longer than {MAX_SEAL_TEXT}"):
        seal_text_from("EL1:" + "A" * MAX_SEAL_TEXT)


def test_zlib_bomb_is_refused() -> None:
    bomb = _text_of(cbor2.dumps(cbor2.CBORTag(18, [b"", {}, b"\0" * 2_000_000, b""])))
    assert len(bomb) <= MAX_SEAL_TEXT  # small enough to pass the length limit
    with pytest.raises(SealError, match="does not inflate to a complete COSE message"):
        decode_seal(bomb)


@pytest.mark.parametrize(
    ("text", "rule"),
    [
        pytest.param("EL1:AB1C", "not valid base32", id="digit-1"),
        pytest.param("EL1:abcd", "not valid base32", id="lower-case"),
        pytest.param("EL1:AAAAAAAA", "not valid zlib", id="not-zlib"),
        pytest.param(_text_of(b"\xff\xff"), "not valid CBOR", id="not-cbor"),
        pytest.param(
            _text_of(cbor2.dumps([b"", {}, b"", b""])), "not a tagged COSE_Sign1", id="untagged"
        ),
        pytest.param(
            _text_of(cbor2.dumps(cbor2.CBORTag(98, [b"", {}, b"", b""]))),
            "not a tagged COSE_Sign1",
            id="cose-sign-tag",
        ),
        pytest.param(
            _text_of(cbor2.dumps(cbor2.CBORTag(18, [b"", {}, b""]))),
            "must be [protected",
            id="three-elements",
        ),
        pytest.param(
            _text_of(
                cbor2.dumps(
                    cbor2.CBORTag(18, [cbor2.dumps({1: -7}), {}, cbor2.dumps({}), b"x" * 64])
                )
            ),
            "alg and kid",
            id="no-kid",
        ),
        pytest.param(
            _text_of(
                cbor2.dumps(
                    cbor2.CBORTag(
                        18, [cbor2.dumps({1: -7, 4: b"k"}), {}, cbor2.dumps({1: "x"}), b"x" * 64]
                    )
                )
            ),
            "iss, iat",
            id="no-iat",
        ),
    ],
)
def test_malformed_seals_are_seal_errors(text: str, rule: str) -> None:
    with pytest.raises(SealError) as e:
        decode_seal(text)
    assert rule in e.value.message


def test_licence_claim_with_missing_field_is_refused(signer: SoftwareSigner) -> None:
    raw = cbor2.loads(cose_bytes(seal_licence(_claims(), signer)))
    protected, unprotected, payload, signature = raw.value
    claims = cbor2.loads(payload)
    del claims[-65537][7]  # valid_from
    text = _text_of(
        cbor2.dumps(cbor2.CBORTag(18, [protected, unprotected, cbor2.dumps(claims), signature]))
    )
    with pytest.raises(SealError, match="incomplete or malformed"):
        decode_seal(text)


@given(st.binary(max_size=300))
def test_b32_matches_the_standard_library(data: bytes) -> None:
    text = b32encode(data)
    assert text == base64.b32encode(data).decode("ascii").rstrip("=")
    assert b32decode(text) == data


@given(st.binary(min_size=1, max_size=50))
def test_b32decode_refuses_non_canonical_trailing_bits(data: bytes) -> None:
    text = b32encode(data)
    extra = (5 * len(text)) % 8
    if extra == 0:
        return
    last = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567".index(text[-1])
    tweaked = text[:-1] + "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"[last ^ 1]
    with pytest.raises(ValueError, match="padding bits"):
        b32decode(tweaked)


# -- interoperability: an independent COSE implementation -------------------------------------


def _cose_key(signer: SoftwareSigner) -> CoseKey:
    numbers = signer.certificate.public_key().public_numbers()  # type: ignore[union-attr]
    return CoseKey.from_dict(
        {
            KpKty: KtyEC2,
            EC2KpCurve: P256,
            EC2KpX: numbers.x.to_bytes(32, "big"),
            EC2KpY: numbers.y.to_bytes(32, "big"),
        }
    )


def _pycose_decode(cose: bytes) -> Sign1Message:
    """``Sign1Message.decode``, with a work-around: pycose 1.1 wants a list and a dict inside the
    tag, but cbor2 6 decodes what is under a tag immutably (a tuple holding a frozendict), so
    pycose's own ``decode`` refuses every message. The rest (headers, Sig_structure, ES256) is
    pycose's."""
    assert cose[:1] == b"\xd2"  # CBOR tag 18: COSE_Sign1
    try:
        return Sign1Message.decode(cose)
    except TypeError:
        protected, unprotected, payload, signature = cbor2.loads(cose).value
        return Sign1Message.from_cose_obj([protected, dict(unprotected), payload, signature], True)


def test_pycose_verifies_our_seal(signer: SoftwareSigner) -> None:
    text = seal_licence(_claims(), signer)
    msg = _pycose_decode(cose_bytes(text))
    assert msg.phdr  # the protected header decodes in pycose's view too
    msg.key = _cose_key(signer)
    assert msg.verify_signature() is True
    assert cbor2.loads(msg.payload)[1] == GZ_AMR


def test_pycose_refuses_a_flipped_payload_byte(signer: SoftwareSigner) -> None:
    cose = cose_bytes(seal_licence(_claims(), signer))
    obj = cbor2.loads(cose)
    protected, unprotected, payload, signature = obj.value
    i = payload.index(b"JY14401060000123")
    tampered = payload[:i] + bytes([payload[i] ^ 0x01]) + payload[i + 1 :]
    forged = cbor2.dumps(cbor2.CBORTag(18, [protected, unprotected, tampered, signature]))
    msg = _pycose_decode(forged)
    msg.key = _cose_key(signer)
    assert msg.verify_signature() is False
    # and our own check agrees
    decoded = decode_seal(_text_of(forged))
    assert decoded.claims.licence.licence_number == "KY14401060000123"
    assert not decoded.signature_valid(signer.certificate.public_key())  # type: ignore[arg-type]


def test_pycose_key_of_another_signer_does_not_verify(signer: SoftwareSigner) -> None:
    outside = OutsidePki.make("other", now=NOW)
    other = SoftwareSigner(outside.key, outside.root)
    msg = _pycose_decode(cose_bytes(seal_licence(_claims(), signer)))
    msg.key = _cose_key(other)
    assert msg.verify_signature() is False


def test_a_seal_made_by_pycose_decodes_and_verifies_here(signer: SoftwareSigner) -> None:
    """The other direction: pycose signs, our decoder reads and our check verifies."""
    from pycose.algorithms import Es256
    from pycose.headers import KID, Algorithm
    from pycose.keys.keyparam import EC2KpD

    from elicence.formats.seal import encode_claims

    numbers = signer.private_key.private_numbers()
    key = CoseKey.from_dict(
        {
            KpKty: KtyEC2,
            EC2KpCurve: P256,
            EC2KpX: numbers.public_numbers.x.to_bytes(32, "big"),
            EC2KpY: numbers.public_numbers.y.to_bytes(32, "big"),
            EC2KpD: numbers.private_value.to_bytes(32, "big"),
        }
    )
    msg = Sign1Message(phdr={Algorithm: Es256, KID: signer.kid}, payload=encode_claims(_claims()))
    msg.key = key
    decoded = decode_seal(_text_of(msg.encode()))
    assert decoded.claims == _claims()
    assert decoded.signature_valid(signer.certificate.public_key())  # type: ignore[arg-type]


def test_licence_data_keyed_by_names_is_refused(signer: SoftwareSigner) -> None:
    raw = cbor2.loads(cose_bytes(seal_licence(_claims(), signer)))
    protected, unprotected, payload, signature = raw.value
    claims = dict(cbor2.loads(payload))
    body = dict(claims[-65537])
    body[10] = {"legal_representative": "张三"}
    claims[-65537] = body
    text = _text_of(
        cbor2.dumps(
            cbor2.CBORTag(18, [protected, dict(unprotected), cbor2.dumps(claims), signature])
        )
    )
    with pytest.raises(SealError, match="seal keys"):
        decode_seal(text)


# -- licence key 11: the status index ---------------------------------------------------------


def _with_licence_key(signer: SoftwareSigner, key: int, value: object) -> str:
    raw = cbor2.loads(cose_bytes(seal_licence(_claims(), signer)))
    protected, unprotected, payload, signature = raw.value
    claims = dict(cbor2.loads(payload))
    claims[-65537] = {**claims[-65537], key: value}
    return _text_of(
        cbor2.dumps(
            cbor2.CBORTag(18, [protected, dict(unprotected), cbor2.dumps(claims), signature])
        )
    )


def test_status_index_round_trips_as_licence_key_11(signer: SoftwareSigner) -> None:
    lic = _claims().licence
    fields = {f: getattr(lic, f) for f in lic.__slots__}  # type: ignore[attr-defined]
    indexed = SealedLicence(**{**fields, "status_index": 7})
    text = seal_licence(_claims(licence=indexed), signer)
    decoded = decode_seal(text)
    assert decoded.claims.licence.status_index == 7
    assert cbor2.loads(decoded.payload)[-65537][11] == 7


def test_a_seal_without_key_11_decodes_with_no_status_index(signer: SoftwareSigner) -> None:
    text = seal_licence(_claims(), signer)  # an older seal: no index
    assert 11 not in cbor2.loads(decode_seal(text).payload)[-65537]
    assert decode_seal(text).claims.licence.status_index is None


@pytest.mark.parametrize(
    "value",
    [
        pytest.param(-1, id="negative"),
        pytest.param(2**31, id="beyond-32-bit"),
        pytest.param("7", id="text"),
        pytest.param(True, id="boolean"),
        pytest.param(7.0, id="float"),
        pytest.param(None, id="null"),
    ],
)
def test_a_malformed_status_index_is_refused(signer: SoftwareSigner, value: object) -> None:
    text = _with_licence_key(signer, 11, value)
    with pytest.raises(SealError, match="status index"):
        decode_seal(text)


@given(protected=st.binary(max_size=300), payload=st.binary(max_size=70_000))
@settings(max_examples=60, deadline=None)
def test_hand_written_cbor_is_what_cbor2_writes(protected: bytes, payload: bytes) -> None:
    """The Sig_structure and COSE_Sign1 bytes are written out by hand on the hot path."""
    from elicence.formats.seal import _COSE_HEAD, _EMPTY_MAP, _bstr, _sig_structure

    assert _sig_structure(protected, payload) == cbor2.dumps(
        ["Signature1", protected, b"", payload]
    )
    signature = bytes(range(64))
    written = _COSE_HEAD + _bstr(protected) + _EMPTY_MAP + _bstr(payload) + _bstr(signature)
    assert written == cbor2.dumps(cbor2.CBORTag(18, [protected, {}, payload, signature]))
