"""Key custody behind a protocol: whoever seals asks a :class:`Signer`, never for a key.

``SoftwareSigner`` holds a P-256 key in memory; ``Pkcs11Signer`` asks a token; the issuer never
notices which. Invariant: ``sign`` returns a signature of the signer's ``algorithm`` in the raw
``r || s`` form of RFC 9053 (64 bytes): ES256 for ``SoftwareSigner`` and ``Pkcs11Signer``, SM2
with SM3 for :class:`~elicence.keys.sm2cert.Sm2Signer`; ``sign_der`` an ECDSA P-256 signature in
DER for CMS and X.509 (an SM2 signer has none: PAdES stays ES256).
"""

from __future__ import annotations

import hashlib
from typing import Protocol, runtime_checkable

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import (
    decode_dss_signature,
)

from elicence.errors import KeyCustodyError

# ECDSA with SHA-256, made once (immutable): making it took 2.5 us beside a 58 us signature on
# the shared build machine, 2026-12-05, on every seal made and verified (issue 20)
ECDSA_SHA256 = ec.ECDSA(hashes.SHA256())


def kid_of(certificate: x509.Certificate) -> bytes:
    """The key id of a certificate: the first 8 bytes of SHA-256 over its DER."""
    return hashlib.sha256(certificate.public_bytes(serialization.Encoding.DER)).digest()[:8]


ES256, SM2 = "ES256", "SM2"  # a signer's algorithm; SM2 means SM2 with SM3 (GM/T 0009)
ALGORITHMS = (ES256, SM2)


def signer_key(department: str, algorithm: str) -> str:
    """Where a keyring holds a department's signer of ``algorithm``: its USCC for ES256 (as
    always), ``USCC:SM2`` for SM2."""
    return department if algorithm == ES256 else f"{department}:{algorithm}"


@runtime_checkable
class Signer(Protocol):
    """Something that signs with one department's (or the service's) key."""

    @property
    def kid(self) -> bytes: ...

    @property
    def algorithm(self) -> str:
        """What ``sign`` makes: :data:`ES256` or :data:`SM2`."""
        ...

    @property
    def certificate(self) -> x509.Certificate: ...

    def sign(self, message: bytes) -> bytes:
        """The signer's algorithm over ``message``: raw ``r || s``, 64 bytes."""
        ...

    def sign_der(self, message: bytes) -> bytes:
        """ECDSA P-256 with SHA-256 over ``message``, DER-encoded."""
        ...


class Certified:
    """What every signer holds alike: its certificate, and the kid that names it."""

    __slots__ = ("_certificate", "_kid")

    def __init__(self, certificate: x509.Certificate) -> None:
        self._certificate = certificate
        self._kid = kid_of(certificate)

    @property
    def kid(self) -> bytes:
        return self._kid

    @property
    def certificate(self) -> x509.Certificate:
        return self._certificate


class SoftwareSigner(Certified):
    """A :class:`Signer` backed by a private key held in this process's memory."""

    __slots__ = ("_key",)

    def __init__(self, key: ec.EllipticCurvePrivateKey, certificate: x509.Certificate) -> None:
        if not isinstance(key.curve, ec.SECP256R1):
            raise KeyCustodyError("only ECDSA P-256 keys are supported")
        if key.public_key().public_numbers() != certificate.public_key().public_numbers():  # type: ignore[union-attr]
            raise KeyCustodyError("the private key does not match the certificate")
        super().__init__(certificate)
        self._key = key

    algorithm = ES256

    @property
    def private_key(self) -> ec.EllipticCurvePrivateKey:
        """The key itself, for libraries (pyHanko) that must hold it; HSM signers have none."""
        return self._key

    def sign_der(self, message: bytes) -> bytes:
        return self._key.sign(message, ECDSA_SHA256)

    def sign(self, message: bytes) -> bytes:
        return der_to_raw(self._key.sign(message, ECDSA_SHA256))


# DER of an ECDSA P-256 signature, SEQUENCE { INTEGER r, INTEGER s } with r, s below the group
# order: every length fits in one byte. Written and read with byte slices, at a third of the cost
# of going through Python integers, on every seal made and verified (issue 20).


def der_to_raw(der: bytes) -> bytes:
    """Turn a DER P-256 signature (as OpenSSL makes it) into raw ``r || s``, 64 bytes."""
    r_len = der[3] if len(der) > 8 else 0
    s_at = 4 + r_len
    if (
        r_len
        and der[0] == 0x30
        and der[1] == len(der) - 2
        and der[2] == 0x02
        and r_len <= 33
        and der[s_at] == 0x02
        and 0 < der[s_at + 1] <= 33
        and s_at + 2 + der[s_at + 1] == len(der)
    ):
        r, s = der[4:s_at], der[s_at + 2 :]
        if (r_len < 33 or r[0] == 0) and (len(s) < 33 or s[0] == 0):
            return r[-32:].rjust(32, b"\x00") + s[-32:].rjust(32, b"\x00")
    r_int, s_int = decode_dss_signature(der)  # anything else: the full parser decides
    return r_int.to_bytes(32, "big") + s_int.to_bytes(32, "big")


def _der_integer(value: bytes) -> bytes:
    """A DER INTEGER of the unsigned big-endian ``value``: leading zeros dropped, one zero put
    back when the first bit is set (it would read as negative)."""
    value = value.lstrip(b"\x00")
    if not value or value[0] & 0x80:
        value = b"\x00" + value
    return b"\x02" + bytes((len(value),)) + value


def raw_to_der(signature: bytes) -> bytes:
    """Turn a raw ``r || s`` P-256 signature into DER (raises on a wrong length)."""
    if len(signature) != 64:
        raise ValueError("an ES256 signature is 64 bytes")
    body = _der_integer(signature[:32]) + _der_integer(signature[32:])
    return b"\x30" + bytes((len(body),)) + body
