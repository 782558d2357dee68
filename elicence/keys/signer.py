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
    encode_dss_signature,
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
        r, s = decode_dss_signature(self.sign_der(message))
        return r.to_bytes(32, "big") + s.to_bytes(32, "big")


def raw_to_der(signature: bytes) -> bytes:
    """Turn a raw ``r || s`` P-256 signature into DER (raises on a wrong length)."""
    if len(signature) != 64:
        raise ValueError("an ES256 signature is 64 bytes")
    return encode_dss_signature(
        int.from_bytes(signature[:32], "big"), int.from_bytes(signature[32:], "big")
    )
