"""Private keys at rest: PKCS#8 DER sealed with AES-256-GCM under a scrypt-derived key.

Why not encrypted PKCS#8 or PKCS#12 from ``cryptography``: their PBKDF2 work factor is fixed at
2,048 rounds (PKCS#8) or leaves the PKCS#12 MAC at 2,048 rounds, either of which makes guessing
the passphrase of a stolen file cheap. scrypt with N = 2^15 costs an attacker memory as well.

File format (ASCII armour around binary)::

    -----BEGIN ELICENCE ENCRYPTED KEY-----
    base64( b"ELK1" || log2_n (1 byte) || r (1) || p (1) || salt (16) || nonce (12)
            || AES-256-GCM(key, nonce, pkcs8_der, aad=header) )

The PKCS#8 is an ECDSA P-256 key, or an SM2 key (:mod:`elicence.keys.sm2cert`).
    -----END ELICENCE ENCRYPTED KEY-----

Invariant: a wrong passphrase or any changed byte is refused (GCM tag), never half-read.
"""

from __future__ import annotations

import base64
import binascii
import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

from elicence.errors import KeyCustodyError

MAGIC = b"ELK1"
SCRYPT_LOG2_N = 15
SCRYPT_R, SCRYPT_P = 8, 1
_BEGIN, _END = b"-----BEGIN ELICENCE ENCRYPTED KEY-----", b"-----END ELICENCE ENCRYPTED KEY-----"


def _kek(passphrase: str, salt: bytes, log2_n: int, r: int, p: int) -> bytes:
    return Scrypt(salt=salt, length=32, n=2**log2_n, r=r, p=p).derive(passphrase.encode("utf-8"))


def seal_key(
    key: ec.EllipticCurvePrivateKey, passphrase: str, *, log2_n: int = SCRYPT_LOG2_N
) -> bytes:
    """Encrypt ``key`` under ``passphrase``; returns the armoured file content."""
    der = key.private_bytes(
        serialization.Encoding.DER,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    return seal_der(der, passphrase, log2_n=log2_n)


def seal_der(der: bytes, passphrase: str, *, log2_n: int = SCRYPT_LOG2_N) -> bytes:
    """Encrypt a PKCS#8 key's DER (one ``cryptography`` cannot hold: SM2) under ``passphrase``."""
    if not passphrase:
        raise KeyCustodyError("a passphrase is required to store keys")
    if not 10 <= log2_n <= 20:
        raise KeyCustodyError("scrypt work factor must be 2^10 to 2^20")
    salt, nonce = os.urandom(16), os.urandom(12)
    header = MAGIC + bytes([log2_n, SCRYPT_R, SCRYPT_P]) + salt + nonce
    body = AESGCM(_kek(passphrase, salt, log2_n, SCRYPT_R, SCRYPT_P)).encrypt(nonce, der, header)
    return b"\n".join([_BEGIN, base64.encodebytes(header + body).strip(), _END, b""])


def unseal_key(blob: bytes, passphrase: str) -> ec.EllipticCurvePrivateKey:
    """Decrypt a key written by :func:`seal_key`."""
    der = unseal_der(blob, passphrase)
    try:
        key = serialization.load_der_private_key(der, password=None)
    except (ValueError, TypeError) as e:  # an SM2 key (or another) cryptography cannot load
        raise KeyCustodyError("is not an ECDSA P-256 private key") from e
    if not isinstance(key, ec.EllipticCurvePrivateKey):
        raise KeyCustodyError("is not an EC private key")
    return key


def unseal_der(blob: bytes, passphrase: str) -> bytes:
    """Decrypt the DER a key file written by :func:`seal_der` or :func:`seal_key` holds."""
    text = blob.strip()
    if not (text.startswith(_BEGIN) and text.endswith(_END)):
        raise KeyCustodyError("is not an elicence encrypted key file")
    try:
        raw = base64.b64decode(b"".join(text[len(_BEGIN) : -len(_END)].split()), validate=True)
    except binascii.Error as e:
        raise KeyCustodyError("is damaged (bad base64)") from e
    if len(raw) < 35 or raw[:4] != MAGIC:
        raise KeyCustodyError("is damaged or of an unknown version")
    log2_n, r, p = raw[4], raw[5], raw[6]
    if not 10 <= log2_n <= 20 or not 1 <= r <= 32 or not 1 <= p <= 16:
        raise KeyCustodyError("has unsupported scrypt parameters")
    salt, nonce, header = raw[7:23], raw[23:35], raw[:35]
    try:
        return AESGCM(_kek(passphrase, salt, log2_n, r, p)).decrypt(nonce, raw[35:], header)
    except InvalidTag:
        raise KeyCustodyError("cannot be decrypted: wrong passphrase or damaged file") from None
