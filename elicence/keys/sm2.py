"""SM2 signatures with SM3 (GB/T 32918, GB/T 35276, GM/T 0009), on gmssl-pyx (GmSSL in C).

Only the primitive, not yet wired into seals, the catalogue or the trust list (issue 19's last
part; ADR 0013 chose the library, measured). Conventions, those of GM/T 0009:

- the user id is ``1234567812345678`` unless given; the signed digest is
  ``e = SM3(Z || M)`` with ``Z = SM3(ENTL || ID || a || b || xG || yG || xA || yA)``;
- a public key is the 64 bytes ``x || y`` (the uncompressed point without its 0x04);
- a signature is ``r || s``, 32 bytes each (GM/T 0009 and COSE's convention for EC signatures);
  :func:`rs_to_der` / :func:`der_to_rs` convert for X.509 and CMS.

Z is computed here and the digest signed with ``sm2_sign_sm3_digest``: gmssl-pyx's own
message-level ``sm2_sign`` was about a tenth as fast (measured in bench/bench.py).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field

import gmssl_pyx
from asn1crypto.algos import DSASignature

from elicence.errors import KeyCustodyError

DEFAULT_USER_ID = b"1234567812345678"  # GM/T 0009-2012 §10 / GB/T 35276: the default signer id
OID_SM2 = "1.2.156.10197.1.301"
OID_SM3_WITH_SM2 = "1.2.156.10197.1.501"

# the curve of GB/T 32918.5 (sm2p256v1)
_A = bytes.fromhex("FFFFFFFEFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF00000000FFFFFFFFFFFFFFFC")
_B = bytes.fromhex("28E9FA9E9D9F5E344D5A9E4BCF6509A7F39789F515AB8F92DDBCBD414D940E93")
_GX = bytes.fromhex("32C4AE2C1F1981195F9904466A39C9948FE30BBFF2660BE1715A4589334C74C7")
_GY = bytes.fromhex("BC3736A2F4F6779C59BDCEE36B692153D0A9877CC62A474002DF32E52139F0A0")
N = int("FFFFFFFEFFFFFFFFFFFFFFFFFFFFFFFF7203DF6B21C6052B53BBF40939D54123", 16)


@functools.lru_cache(maxsize=256)  # one Z per key and id: two SM3 runs saved per signature
def z_value(public_key: bytes, user_id: bytes = DEFAULT_USER_ID) -> bytes:
    """Z of GB/T 32918.2 §5.5: SM3 over the id's bit length, the id, the curve and the key."""
    if len(public_key) != 64:
        raise KeyCustodyError("an SM2 public key is 64 bytes (x || y)")
    if len(user_id) >= 8192:
        raise KeyCustodyError("an SM2 user id is shorter than 8,192 bytes")
    entl = (len(user_id) * 8).to_bytes(2, "big")
    return bytes(gmssl_pyx.sm3_hash(entl + user_id + _A + _B + _GX + _GY + public_key))


def digest(public_key: bytes, message: bytes, user_id: bytes = DEFAULT_USER_ID) -> bytes:
    """e = SM3(Z || M): what an SM2 signature signs."""
    return bytes(gmssl_pyx.sm3_hash(z_value(public_key, user_id) + message))


def der_to_rs(der: bytes) -> bytes:
    sig = DSASignature.load(der)
    r, s = int(sig["r"].native), int(sig["s"].native)
    return r.to_bytes(32, "big") + s.to_bytes(32, "big")


def rs_to_der(rs: bytes) -> bytes:
    if len(rs) != 64:
        raise ValueError("an SM2 signature is 64 bytes (r || s)")
    return bytes(
        DSASignature(
            {"r": int.from_bytes(rs[:32], "big"), "s": int.from_bytes(rs[32:], "big")}
        ).dump()
    )


def verify(
    public_key: bytes, message: bytes, signature: bytes, user_id: bytes = DEFAULT_USER_ID
) -> bool:
    """Whether ``signature`` (r || s) is an SM2 signature of ``message`` by ``public_key``.

    Fails closed: a malformed key or signature is ``False``, never an exception.
    """
    if len(signature) != 64 or len(public_key) != 64:
        return False
    r, s = int.from_bytes(signature[:32], "big"), int.from_bytes(signature[32:], "big")
    if not (0 < r < N and 0 < s < N):
        return False
    try:
        return bool(
            gmssl_pyx.sm2_verify_sm3_digest(
                public_key, digest(public_key, message, user_id), rs_to_der(signature)
            )
        )
    except (gmssl_pyx.GmsslInnerError, KeyCustodyError, ValueError):
        return False


@dataclass(frozen=True, slots=True)
class Sm2Key:
    """An SM2 key pair held in memory (as :class:`~elicence.keys.signer.SoftwareSigner` holds a
    P-256 key); ``sign`` answers ``r || s``."""

    public_key: bytes
    private_key: bytes = field(repr=False)

    @classmethod
    def generate(cls) -> Sm2Key:
        public, private = gmssl_pyx.sm2_key_generate()
        return cls(bytes(public), bytes(private))

    def sign(self, message: bytes, user_id: bytes = DEFAULT_USER_ID) -> bytes:
        e = digest(self.public_key, message, user_id)
        try:
            raw = der_to_rs(bytes(gmssl_pyx.sm2_sign_sm3_digest(self.private_key, e)))
        except gmssl_pyx.GmsslInnerError as err:
            raise KeyCustodyError("the SM2 key could not sign") from err
        if not verify(self.public_key, message, raw, user_id):  # fail closed, as Pkcs11Signer
            raise KeyCustodyError("the SM2 signature does not verify with its public key")
        return raw
