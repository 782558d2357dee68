"""The key store's files: the manifest, certificates, encrypted key files and the CRL.

Layout under the store directory::

    root.crt.pem   root.key          the root CA (its key is used only by the ceremonies)
    service/<kid>.crt.pem .key       the trust-list and checkpoint signer
    departments/<uscc>/<kid>.crt.pem .key
    manifest.json                        every certificate's kid, role, department and status
    crl.der                              the root's CRL (DER), re-signed by init and rotate

Invariants: a private key never touches the disk unencrypted (:mod:`elicence.keys.envelope`);
every file, the manifest included, is replaced atomically (write, fsync, rename). What the files
mean and how keys are made is :class:`elicence.keys.store.KeyStore`'s business.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import tempfile
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from elicence.errors import KeyCustodyError
from elicence.keys import pki
from elicence.keys.entry import KeyEntry, KeyStatus
from elicence.keys.envelope import SCRYPT_LOG2_N, seal_key

CRL_FILE = "crl.der"  # the root's CRL, made with the root key by init and rotate


class KeyFiles:
    """Reading and atomically writing the store's files. Cheap to construct."""

    def __init__(self, directory: Path, *, scrypt_log2_n: int = SCRYPT_LOG2_N) -> None:
        self.directory = directory
        self._scrypt_log2_n = scrypt_log2_n
        self._manifest = os.fspath(directory / "manifest.json")  # stat on every signature

    @property
    def initialised(self) -> bool:
        return (self.directory / "manifest.json").is_file() and (
            self.directory / "root.crt.pem"
        ).is_file()

    def entries(self) -> list[KeyEntry]:
        path = self.directory / "manifest.json"
        try:
            raw = json.loads(path.read_text(encoding="utf-8"))
            return [KeyEntry.from_json(e) for e in raw["certificates"]]
        except FileNotFoundError:
            raise KeyCustodyError(
                f"no key store at {self.directory}: run `elicence keys init`"
            ) from None
        except (OSError, ValueError, KeyError, TypeError) as e:
            raise KeyCustodyError(f"key store manifest {path} is unreadable: {e}") from e

    def version(self) -> tuple[int, int] | None:
        """A token that changes whenever the manifest is replaced (None before ``init``).

        Every change of the store (init, rotate, compromise) ends by replacing the manifest, so
        a process holding loaded signers reloads them exactly when this differs.
        """
        try:
            st = os.stat(self._manifest)  # a plain string: no Path objects per call
        except OSError:
            return None
        return (st.st_mtime_ns, st.st_ino)

    def root_certificate(self) -> x509.Certificate:
        return self._read_cert("root.crt.pem")

    def certificate(self, entry: KeyEntry) -> x509.Certificate:
        return self._read_cert(entry.certificate_path)

    def crl(self) -> bytes | None:
        """The root's CRL (DER) over the store's certificates, or None if none was made yet."""
        try:
            return (self.directory / CRL_FILE).read_bytes()
        except FileNotFoundError:
            return None
        except OSError as e:
            raise KeyCustodyError(f"CRL {self.directory / CRL_FILE} is unreadable: {e}") from e

    def current_crl(self, now: dt.datetime) -> bytes | None:
        """The stored CRL if it is readable and ``now`` lies within its update period."""
        der = self.crl()
        if der is None:
            return None
        try:
            crl = x509.load_der_x509_crl(der)
        except ValueError:
            return None
        next_update = crl.next_update_utc
        if next_update is None or not (crl.last_update_utc <= now < next_update):
            return None
        return der

    def _crl_fresh(self, now: dt.datetime) -> bool:
        """Whether the stored CRL exists and has more than half its period left."""
        der = self.crl()
        if der is None:
            return False
        try:
            crl = x509.load_der_x509_crl(der)
        except ValueError:
            return False
        next_update = crl.next_update_utc
        if next_update is None:
            return False
        return now < next_update - (next_update - crl.last_update_utc) / 2

    def _read_cert(self, rel: str) -> x509.Certificate:
        path = self.directory / rel
        try:
            return x509.load_pem_x509_certificate(path.read_bytes())
        except FileNotFoundError:
            raise KeyCustodyError(
                f"certificate {path} is missing: run `elicence keys init`"
            ) from None
        except (OSError, ValueError) as e:
            raise KeyCustodyError(f"certificate {path} is unreadable: {e}") from e

    def _write_key(self, rel: str, key: ec.EllipticCurvePrivateKey, passphrase: str) -> None:
        self._atomic_write(rel, seal_key(key, passphrase, log2_n=self._scrypt_log2_n), mode=0o600)

    def _write_cert(self, rel: str, cert: x509.Certificate) -> None:
        self._atomic_write(rel, cert.public_bytes(serialization.Encoding.PEM), mode=0o644)

    def _write_crl(
        self,
        root_key: ec.EllipticCurvePrivateKey,
        root: x509.Certificate,
        entries: list[KeyEntry],
        now: dt.datetime,
    ) -> None:
        """Sign and store the CRL: every revoked certificate, valid for CRL_VALIDITY."""
        revoked = [
            (self.certificate(e).serial_number, e.status_since)
            for e in entries
            if e.status is KeyStatus.REVOKED
        ]
        crl = pki.make_crl(root_key=root_key, root=root, revoked=revoked, now=now)
        self._atomic_write(CRL_FILE, crl.public_bytes(serialization.Encoding.DER), mode=0o644)

    def _write_manifest(self, entries: list[KeyEntry]) -> None:
        body = json.dumps(
            {"format": "elicence-keystore/1", "certificates": [e.to_json() for e in entries]},
            indent=2,
            ensure_ascii=False,
        )
        self._atomic_write("manifest.json", body.encode("utf-8"), mode=0o644)

    def _atomic_write(self, rel: str, data: bytes, *, mode: int) -> None:
        path = self.directory / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(data)
                f.flush()
                os.fsync(f.fileno())
            os.chmod(tmp, mode)
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
