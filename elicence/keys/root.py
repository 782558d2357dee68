"""The root CA kept offline: its key in a directory of its own (removable media in a safe),
given to a key ceremony command for that command alone, never copied into the key store.

Layout of a root directory (made once by :func:`create_offline_root`)::

    root.key       the root's private key, sealed under the root's own passphrase (envelope.py)
    root.crt.pem   the root certificate (the serving host's key store holds a copy)

Invariants: the root key is read only while a ceremony runs (init of new keys, rotate,
compromise, enrolment on a token, re-signing the CRL); a root directory whose certificate is not
the key store's root is refused.
"""

from __future__ import annotations

import datetime as dt
import os
from dataclasses import dataclass, field
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from elicence.errors import KeyCustodyError
from elicence.keys import pki
from elicence.keys.envelope import SCRYPT_LOG2_N, seal_key, unseal_key

ROOT_KEY = "root.key"
ROOT_CERT = "root.crt.pem"
ROOT_NAME = "elicence Root CA"


@dataclass(frozen=True, slots=True)
class RootSource:
    """Where a ceremony finds the offline root: its directory and its passphrase."""

    directory: Path
    passphrase: str = field(repr=False)

    def certificate(self) -> x509.Certificate:
        path = self.directory / ROOT_CERT
        try:
            return x509.load_pem_x509_certificate(path.read_bytes())
        except FileNotFoundError:
            raise KeyCustodyError(
                "the root directory has no root certificate", field="root_dir"
            ) from None
        except (OSError, ValueError) as e:
            raise KeyCustodyError(
                f"the root certificate is unreadable: {e}", field="root_dir"
            ) from e

    def key(self) -> ec.EllipticCurvePrivateKey:
        path = self.directory / ROOT_KEY
        try:
            key = unseal_key(path.read_bytes(), self.passphrase)
        except FileNotFoundError:
            raise KeyCustodyError("the root directory has no root key", field="root_dir") from None
        except KeyCustodyError as e:
            raise KeyCustodyError(f"the offline root key: {e.message}", field="root_dir") from e
        public = self.certificate().public_key()
        if not isinstance(public, ec.EllipticCurvePublicKey) or (
            public.public_numbers() != key.public_key().public_numbers()
        ):
            raise KeyCustodyError(
                "the root key does not match the root certificate", field="root_dir"
            )
        return key


def create_offline_root(
    directory: Path, *, passphrase: str, now: dt.datetime, scrypt_log2_n: int = SCRYPT_LOG2_N
) -> x509.Certificate:
    """The root ceremony: a new root key and self-signed certificate in ``directory``.

    Refuses a directory that already holds a root (a root is made once).
    """
    if len(passphrase) < 12:
        raise KeyCustodyError("must be at least 12 characters", field="root_passphrase")
    if (directory / ROOT_KEY).exists() or (directory / ROOT_CERT).exists():
        raise KeyCustodyError("this directory already holds a root", field="root_dir")
    directory.mkdir(parents=True, exist_ok=True)
    os.chmod(directory, 0o700)
    key = pki.new_key()
    cert = pki.make_root(key, name=ROOT_NAME, now=now)
    _write(directory / ROOT_KEY, seal_key(key, passphrase, log2_n=scrypt_log2_n), 0o600)
    _write(directory / ROOT_CERT, cert.public_bytes(serialization.Encoding.PEM), 0o644)
    return cert


def _write(path: Path, data: bytes, mode: int) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    with os.fdopen(fd, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
