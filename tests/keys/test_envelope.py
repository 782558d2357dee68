"""elicence.keys.envelope: keys at rest under scrypt + AES-256-GCM."""

from __future__ import annotations

import base64

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from elicence.errors import KeyCustodyError
from elicence.keys.envelope import MAGIC, seal_key, unseal_key
from tests.conftest import PASSPHRASE

LOG2_N = 10
BEGIN = b"-----BEGIN ELICENCE ENCRYPTED KEY-----"
END = b"-----END ELICENCE ENCRYPTED KEY-----"


@pytest.fixture(scope="module")
def key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


@pytest.fixture(scope="module")
def blob(key: ec.EllipticCurvePrivateKey) -> bytes:
    return seal_key(key, PASSPHRASE, log2_n=LOG2_N)


def _raw(blob: bytes) -> bytes:
    return base64.b64decode(b"".join(blob.strip()[len(BEGIN) : -len(END)].split()))


def _armour(raw: bytes) -> bytes:
    return b"\n".join([BEGIN, base64.encodebytes(raw).strip(), END, b""])


def _same_key(a: ec.EllipticCurvePrivateKey, b: ec.EllipticCurvePrivateKey) -> bool:
    return a.private_numbers() == b.private_numbers()


def test_round_trip(key: ec.EllipticCurvePrivateKey, blob: bytes) -> None:
    assert _same_key(unseal_key(blob, PASSPHRASE), key)


def test_file_format(blob: bytes) -> None:
    assert blob.startswith(BEGIN + b"\n")
    assert blob.endswith(END + b"\n")
    raw = _raw(blob)
    assert raw[:4] == MAGIC
    assert (raw[4], raw[5], raw[6]) == (LOG2_N, 8, 1)


def test_non_ascii_passphrase_round_trips(key: ec.EllipticCurvePrivateKey) -> None:
    blob = seal_key(key, "口令：电子证照", log2_n=LOG2_N)
    assert _same_key(unseal_key(blob, "口令：电子证照"), key)
    with pytest.raises(KeyCustodyError):
        unseal_key(blob, "口令:电子证照")


def test_each_seal_uses_fresh_salt_and_nonce(key: ec.EllipticCurvePrivateKey, blob: bytes) -> None:
    again = seal_key(key, PASSPHRASE, log2_n=LOG2_N)
    assert again != blob
    assert _raw(again)[7:35] != _raw(blob)[7:35]


@pytest.mark.parametrize(
    "passphrase",
    [
        pytest.param("wrong", id="wrong"),
        pytest.param("", id="empty"),
        pytest.param(PASSPHRASE + " ", id="trailing-space"),
        pytest.param(PASSPHRASE.upper(), id="upper-case"),
    ],
)
def test_wrong_passphrase_is_refused(blob: bytes, passphrase: str) -> None:
    with pytest.raises(KeyCustodyError, match="wrong passphrase or damaged file"):
        unseal_key(blob, passphrase)


def test_any_flipped_byte_of_the_content_is_refused(blob: bytes) -> None:
    raw = _raw(blob)
    for i in range(len(raw)):
        for mask in (0x01, 0x80):
            damaged = raw[:i] + bytes([raw[i] ^ mask]) + raw[i + 1 :]
            with pytest.raises(KeyCustodyError):
                unseal_key(_armour(damaged), PASSPHRASE)


def test_any_flipped_character_of_the_file_is_refused(blob: bytes) -> None:
    """Every non-whitespace byte of the file, armour included (the base64 wraps the content)."""
    for i, byte in enumerate(blob):
        if chr(byte).isspace():
            continue
        damaged = blob[:i] + bytes([byte ^ 0x01]) + blob[i + 1 :]
        with pytest.raises(KeyCustodyError):
            unseal_key(damaged, PASSPHRASE)


@pytest.mark.parametrize(
    ("mutate", "rule"),
    [
        pytest.param(lambda raw: raw[:-1], "wrong passphrase or damaged", id="truncated-tag"),
        pytest.param(lambda raw: raw[:34], "damaged or of an unknown version", id="header-only"),
        pytest.param(lambda raw: b"ELK2" + raw[4:], "unknown version", id="other-magic"),
        pytest.param(lambda raw: raw[:4] + bytes([9]) + raw[5:], "scrypt parameters", id="log2n-9"),
        pytest.param(
            lambda raw: raw[:4] + bytes([21]) + raw[5:], "scrypt parameters", id="log2n-21"
        ),
        pytest.param(lambda raw: raw[:5] + bytes([0]) + raw[6:], "scrypt parameters", id="r-0"),
        pytest.param(lambda raw: raw[:6] + bytes([17]) + raw[7:], "scrypt parameters", id="p-17"),
        pytest.param(lambda raw: raw + b"\0", "wrong passphrase or damaged", id="appended-byte"),
    ],
)
def test_damaged_content_is_refused_with_a_reason(blob: bytes, mutate, rule: str) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(KeyCustodyError, match=rule):
        unseal_key(_armour(mutate(_raw(blob))), PASSPHRASE)


@pytest.mark.parametrize(
    ("content", "rule"),
    [
        pytest.param(b"", "not an elicence encrypted key file", id="empty"),
        pytest.param(
            b"-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n",
            "not an elicence",
            id="plain-pkcs8-pem",
        ),
        pytest.param(BEGIN + b"\n!!!!\n" + END, "bad base64", id="bad-base64"),
    ],
)
def test_other_files_are_refused(content: bytes, rule: str) -> None:
    with pytest.raises(KeyCustodyError, match=rule):
        unseal_key(content, PASSPHRASE)


def test_file_never_holds_the_key_in_clear(key: ec.EllipticCurvePrivateKey, blob: bytes) -> None:
    der = key.private_bytes(
        serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    scalar = key.private_numbers().private_value.to_bytes(32, "big")
    raw = _raw(blob)
    for secret in (der, scalar, der[:16], base64.b64encode(der)[:24]):
        assert secret not in blob
        assert secret not in raw
    assert b"PRIVATE KEY" not in blob


@pytest.mark.parametrize(
    ("kwargs", "rule"),
    [
        pytest.param({"passphrase": ""}, "passphrase is required", id="empty-passphrase"),
        pytest.param({"log2_n": 9}, "work factor", id="log2n-too-small"),
        pytest.param({"log2_n": 21}, "work factor", id="log2n-too-large"),
    ],
)
def test_seal_refuses_unsafe_parameters(key: ec.EllipticCurvePrivateKey, kwargs, rule: str) -> None:  # type: ignore[no-untyped-def]
    args = {"passphrase": PASSPHRASE, "log2_n": LOG2_N} | kwargs
    with pytest.raises(KeyCustodyError, match=rule):
        seal_key(key, args.pop("passphrase"), **args)
