"""A key store on disk: PEM certificates and passphrase-encrypted PKCS#8 keys, and a manifest.

Layout under the store directory::

    root.crt.pem   root.key          the root CA (its key is used only by init and rotate)
    service/<kid>.crt.pem .key       the trust-list and checkpoint signer
    departments/<uscc>/<kid>.crt.pem .key
    manifest.json                        every certificate's kid, role, department and status
    crl.der                              the root's CRL (DER), re-signed by init and rotate

Invariants: a private key never touches the disk unencrypted (:mod:`elicence.keys.envelope`);
the manifest is replaced atomically (write, fsync, rename); each department has at most one
``active`` key.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass, replace
from enum import StrEnum
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from elicence.errors import KeyCustodyError
from elicence.keys import pki
from elicence.keys.envelope import SCRYPT_LOG2_N, seal_key, unseal_key
from elicence.keys.pkcs11 import KeyUri, Pkcs11Signer, Tokens, is_token_uri, make_csr
from elicence.keys.root import ROOT_KEY, RootSource
from elicence.keys.signer import Signer, SoftwareSigner, kid_of

CRL_FILE = "crl.der"  # the root's CRL, made with the root key by init and rotate


class KeyStatus(StrEnum):
    ACTIVE = "active"  # signs new seals
    RETIRED = "retired"  # no longer signs; what it signed stays valid
    REVOKED = "revoked"  # compromised since ``status_since``: every seal of it is untrusted


class KeyRole(StrEnum):
    DEPARTMENT = "department"
    SERVICE = "service"


@dataclass(frozen=True, slots=True)
class KeyEntry:
    """One certificate in the store."""

    kid: str  # hex
    role: KeyRole
    department: str | None
    name: str
    certificate_path: str
    key_path: str
    status: KeyStatus
    status_since: dt.datetime
    created_at: dt.datetime

    def to_json(self) -> dict[str, Any]:
        return {
            "kid": self.kid,
            "role": str(self.role),
            "department": self.department,
            "name": self.name,
            "certificate": self.certificate_path,
            "key": self.key_path,
            "status": str(self.status),
            "status_since": self.status_since.isoformat(),
            "created_at": self.created_at.isoformat(),
        }

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> KeyEntry:
        return cls(
            kid=d["kid"],
            role=KeyRole(d["role"]),
            department=d["department"],
            name=d["name"],
            certificate_path=d["certificate"],
            key_path=d["key"],
            status=KeyStatus(d["status"]),
            status_since=dt.datetime.fromisoformat(d["status_since"]),
            created_at=dt.datetime.fromisoformat(d["created_at"]),
        )


@dataclass(frozen=True, slots=True)
class DepartmentName:
    uscc: str
    name: str


class KeyStore:
    """The key store directory. Cheap to construct; reads files on demand."""

    ROOT_NAME = "elicence Root CA"

    def __init__(
        self, directory: Path, *, scrypt_log2_n: int = SCRYPT_LOG2_N, tokens: Tokens | None = None
    ) -> None:
        self.directory = directory
        self.tokens = tokens  # where keys whose manifest entry is a PKCS#11 URI are reached
        # the offline root, given to one ceremony command (keys/root.py); and whether init may
        # make a root inside the store (development) or must be given one (production)
        self.root: RootSource | None = None
        self.root_in_store_allowed = True
        self._scrypt_log2_n = scrypt_log2_n
        self._manifest = os.fspath(directory / "manifest.json")  # stat on every signature

    # -- reading ---------------------------------------------------------------------------

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

    def active_entry(self, department: str) -> KeyEntry | None:
        for e in self.entries():
            if (
                e.role is KeyRole.DEPARTMENT
                and e.department == department
                and e.status is KeyStatus.ACTIVE
            ):
                return e
        return None

    def department_signers(self, passphrase: str) -> dict[str, Signer]:
        """A signer for every department with an active key."""
        return {
            e.department: self._signer(e, passphrase)
            for e in self.entries()
            if e.role is KeyRole.DEPARTMENT
            and e.status is KeyStatus.ACTIVE
            and e.department is not None
        }

    def service_signer(self, passphrase: str) -> Signer:
        for e in self.entries():
            if e.role is KeyRole.SERVICE and e.status is KeyStatus.ACTIVE:
                return self._signer(e, passphrase)
        raise KeyCustodyError("the key store has no active service key: run `elicence keys init`")

    def unopenable(self, passphrase: str) -> list[str]:
        """Who holds an active key that does not open with ``passphrase`` (a wrong passphrase,
        a damaged or missing key file): department USCCs, ``"service"``, ``"root"``. Names no
        file. Costs one scrypt per active key; empty before ``init`` (nothing to open)."""
        if not self.initialised:
            return []
        try:
            entries = self.entries()
        except KeyCustodyError:
            return ["key store"]  # its manifest is unreadable: nobody can sign
        # the root is asked only where it is kept in the store (an offline root is not here,
        # by design); a key on a token is asked by Keyring.unavailable, not here
        holders: list[tuple[str, str]] = (
            [("root", ROOT_KEY)] if (self.directory / ROOT_KEY).exists() else []
        )
        holders += [
            (
                e.department if e.role is KeyRole.DEPARTMENT and e.department else "service",
                e.key_path,
            )
            for e in entries
            if e.status is KeyStatus.ACTIVE and not is_token_uri(e.key_path)
        ]
        failed = []
        for who, rel in holders:
            try:
                self._read_key(rel, passphrase)
            except KeyCustodyError:
                failed.append(who)
        return sorted(set(failed))

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

    # -- changing --------------------------------------------------------------------------

    def init(
        self,
        *,
        passphrase: str,
        departments: Iterable[DepartmentName],
        now: dt.datetime,
        crl_url: str | None,
    ) -> list[KeyEntry]:
        """Create the root and service keys if missing, and a key for each department without one.

        Idempotent: running it again creates only what is missing. Returns what it created.
        """
        self.directory.mkdir(parents=True, exist_ok=True)
        os.chmod(self.directory, 0o700)
        created: list[KeyEntry] = []
        if not (self.directory / "root.crt.pem").is_file():
            if self.root is not None:  # the root is offline: the store gets its certificate only
                self._write_cert("root.crt.pem", self.root.certificate())
            elif not self.root_in_store_allowed:
                raise KeyCustodyError(
                    "outside development the root is kept offline: make it with `elicence keys "
                    "root-create --dir DIR` and give `--root-dir DIR` to this command",
                    field="root_dir",
                )
            else:
                root_key = pki.new_key()
                root = pki.make_root(root_key, name=self.ROOT_NAME, now=now)
                self._write_key("root.key", root_key, passphrase)
                self._write_cert("root.crt.pem", root)
            entries: list[KeyEntry] = []
        else:
            entries = self.entries()
        active = {e.department for e in entries if e.status is KeyStatus.ACTIVE}
        needs_service = not any(
            e.role is KeyRole.SERVICE and e.status is KeyStatus.ACTIVE for e in entries
        )
        missing = [d for d in departments if d.uscc not in active]
        if not needs_service and not missing and self._crl_fresh(now):
            return created  # nothing to do: the root key stays untouched
        root_key = self._read_key("root.key", passphrase)
        root = self.root_certificate()
        if needs_service:
            created.append(
                self._new_entry(
                    root_key,
                    root,
                    role=KeyRole.SERVICE,
                    department=None,
                    name="elicence trust list signer",
                    passphrase=passphrase,
                    now=now,
                    crl_url=crl_url,
                )
            )
        for d in missing:
            created.append(
                self._new_entry(
                    root_key,
                    root,
                    role=KeyRole.DEPARTMENT,
                    department=d.uscc,
                    name=d.name,
                    passphrase=passphrase,
                    now=now,
                    crl_url=crl_url,
                )
            )
        self._write_manifest(entries + created)
        self._write_crl(root_key, root, entries + created, now)
        return created

    def rotate(
        self,
        department: str,
        *,
        passphrase: str,
        now: dt.datetime,
        crl_url: str | None,
        on_token: bool | None = None,
    ) -> tuple[KeyEntry | None, KeyEntry]:
        """Give ``department`` a new key; its active one is retired. Returns (retired, new).

        The new key is made where the active one is (a key file or the token) unless
        ``on_token`` says where: ``True`` is the key ceremony that moves a department to a token.
        """
        entries = self.entries()
        old = next(
            (
                e
                for e in entries
                if e.role is KeyRole.DEPARTMENT
                and e.department == department
                and e.status is KeyStatus.ACTIVE
            ),
            None,
        )
        if old is None and not any(e.department == department for e in entries):
            raise KeyCustodyError(
                f"department {department} has no key to rotate", field="department"
            )
        if on_token is None:
            on_token = old is not None and is_token_uri(old.key_path)
        root_key = self._read_key("root.key", passphrase)
        name = old.name if old else next(e.name for e in entries if e.department == department)
        new = self._new_entry(
            root_key,
            self.root_certificate(),
            role=KeyRole.DEPARTMENT,
            department=department,
            name=name,
            passphrase=passphrase,
            now=now,
            crl_url=crl_url,
            on_token=on_token,
        )
        retired = replace(old, status=KeyStatus.RETIRED, status_since=now) if old else None
        updated = [retired if (old and e.kid == old.kid and retired) else e for e in entries]
        self._write_manifest([*updated, new])
        self._write_crl(root_key, self.root_certificate(), [*updated, new], now)
        return retired, new

    def enrol_on_token(
        self, department: str | None, *, passphrase: str, now: dt.datetime, crl_url: str | None
    ) -> tuple[KeyEntry | None, KeyEntry]:
        """The key ceremony that moves a department (``None``: the service key) to the token.

        A new key pair is made on the token and certified by the root; the key it replaces is
        retired, not revoked, so what it signed before the move keeps verifying.
        Returns (retired, new).
        """
        self._require_tokens()
        if department is not None:
            return self.rotate(
                department, passphrase=passphrase, now=now, crl_url=crl_url, on_token=True
            )
        entries = self.entries()
        old = next(
            (e for e in entries if e.role is KeyRole.SERVICE and e.status is KeyStatus.ACTIVE),
            None,
        )
        root_key = self._read_key("root.key", passphrase)
        root = self.root_certificate()
        new = self._new_token_entry(
            root_key,
            root,
            role=KeyRole.SERVICE,
            department=None,
            name=old.name if old else "elicence trust list signer",
            now=now,
            crl_url=crl_url,
        )
        retired = replace(old, status=KeyStatus.RETIRED, status_since=now) if old else None
        updated = [retired if (retired and e.kid == retired.kid) else e for e in entries]
        self._write_manifest([*updated, new])
        self._write_crl(root_key, root, [*updated, new], now)
        return retired, new

    def compromise(
        self,
        department: str,
        *,
        since: dt.datetime,
        passphrase: str,
        now: dt.datetime,
        crl_url: str | None,
        kid: str | None = None,
    ) -> tuple[KeyEntry, KeyEntry | None]:
        """Mark a department key compromised since ``since``: it is revoked, and verifiers
        trust none of its seals, whatever their date (the service re-seals the licences it sealed,
        ADR 0011). Its active key (or ``kid``) is revoked; an active key is first replaced by a
        new one. Returns (revoked, new or None).

        A retired key keeps the earlier of its retirement and ``since``: revoking it must not make
        seals dated after its retirement trusted again.
        """
        if since.tzinfo is None:
            raise KeyCustodyError("must carry a time zone", field="since")
        if since > now:
            raise KeyCustodyError("must not be in the future", field="since")
        entries = self.entries()
        target = next(
            (
                e
                for e in entries
                if e.role is KeyRole.DEPARTMENT
                and e.department == department
                and (e.kid == kid if kid else e.status is KeyStatus.ACTIVE)
            ),
            None,
        )
        if target is None:
            which = f"key {kid}" if kid else "active key"
            raise KeyCustodyError(f"department {department} has no {which}", field="department")
        new = None
        if target.status is KeyStatus.ACTIVE:
            _retired, new = self.rotate(department, passphrase=passphrase, now=now, crl_url=crl_url)
            entries = self.entries()
        current = next(e for e in entries if e.kid == target.kid)
        start = since if target.status is KeyStatus.ACTIVE else min(since, target.status_since)
        revoked = replace(current, status=KeyStatus.REVOKED, status_since=start)
        updated = [revoked if e.kid == revoked.kid else e for e in entries]
        self._write_manifest(updated)
        root_key = self._read_key("root.key", passphrase)
        self._write_crl(root_key, self.root_certificate(), updated, now)
        return revoked, new

    # -- files -----------------------------------------------------------------------------

    def _new_entry(
        self,
        root_key: ec.EllipticCurvePrivateKey,
        root: x509.Certificate,
        *,
        role: KeyRole,
        department: str | None,
        name: str,
        passphrase: str,
        now: dt.datetime,
        crl_url: str | None,
        on_token: bool = False,
    ) -> KeyEntry:
        if on_token:
            return self._new_token_entry(
                root_key,
                root,
                role=role,
                department=department,
                name=name,
                now=now,
                crl_url=crl_url,
            )
        key = pki.new_key()
        cert = _certify(
            root_key,
            root,
            key.public_key(),
            role=role,
            department=department,
            name=name,
            now=now,
            crl_url=crl_url,
        )
        entry = _active_entry(cert, role=role, department=department, name=name, now=now)
        self._write_key(entry.key_path, key, passphrase)
        self._write_cert(entry.certificate_path, cert)
        return entry

    def _new_token_entry(
        self,
        root_key: ec.EllipticCurvePrivateKey,
        root: x509.Certificate,
        *,
        role: KeyRole,
        department: str | None,
        name: str,
        now: dt.datetime,
        crl_url: str | None,
    ) -> KeyEntry:
        """The key ceremony on a token: the key pair is made on the token, which signs a CSR;
        the root checks the CSR (proof of possession) and certifies its key; the certificate goes
        onto the token beside the key and into the store (hence the trust list)."""
        tokens = self._require_tokens()
        label = f"elicence-{department or 'service'}-{now:%Y%m%dT%H%M%S}"
        uri, public_key = tokens.generate(label)
        request = make_csr(tokens, uri, public_key, pki.subject_name(name, uscc=department))
        if not request.is_signature_valid:
            raise KeyCustodyError("the token's certificate request does not verify")
        cert = _certify(
            root_key,
            root,
            request.public_key(),  # type: ignore[arg-type]
            role=role,
            department=department,
            name=name,
            now=now,
            crl_url=crl_url,
        )
        tokens.store_certificate(uri, cert)
        entry = _active_entry(
            cert, role=role, department=department, name=name, now=now, key_path=str(uri)
        )
        self._write_cert(entry.certificate_path, cert)
        return entry

    def _require_tokens(self) -> Tokens:
        if self.tokens is None:
            raise KeyCustodyError(
                "no PKCS#11 token is configured: set ELICENCE_PKCS11_MODULE, "
                "ELICENCE_PKCS11_TOKEN and the PIN"
            )
        return self.tokens

    def _signer(self, entry: KeyEntry, passphrase: str) -> Signer:
        if is_token_uri(entry.key_path):
            return Pkcs11Signer(
                self._require_tokens(), KeyUri.parse(entry.key_path), self.certificate(entry)
            )
        return SoftwareSigner(self._read_key(entry.key_path, passphrase), self.certificate(entry))

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

    def _read_key(self, rel: str, passphrase: str) -> ec.EllipticCurvePrivateKey:
        if rel == ROOT_KEY:
            return self._root_key(passphrase)
        path = self.directory / rel
        try:
            return unseal_key(path.read_bytes(), passphrase)
        except FileNotFoundError:
            raise KeyCustodyError(f"key {path} is missing") from None
        except KeyCustodyError as e:
            raise KeyCustodyError(f"key {path}: {e.message}") from e

    def _root_key(self, passphrase: str) -> ec.EllipticCurvePrivateKey:
        """The root key: from the offline root given to this ceremony, else from the store."""
        if self.root is not None:
            if self.root.certificate() != self.root_certificate():
                raise KeyCustodyError(
                    "the root given is not this key store's root", field="root_dir"
                )
            return self.root.key()
        path = self.directory / ROOT_KEY
        try:
            return unseal_key(path.read_bytes(), passphrase)
        except FileNotFoundError:
            raise KeyCustodyError(
                "the root is offline: run this as a key ceremony with `--root-dir DIR` "
                "(and ELICENCE_ROOT_PASSPHRASE)",
                field="root_dir",
            ) from None
        except KeyCustodyError as e:
            raise KeyCustodyError(f"key {path}: {e.message}") from e

    def root_available(self) -> bool:
        """Whether this command can sign with the root (given offline, or a key in the store)."""
        if self.root is not None or (self.directory / ROOT_KEY).is_file():
            return True
        return self.root_in_store_allowed and not (self.directory / "root.crt.pem").is_file()

    def resign_crl(self, *, passphrase: str, now: dt.datetime) -> None:
        """Sign the CRL anew (a ceremony when the root is offline: before it runs out)."""
        self._write_crl(self._root_key(passphrase), self.root_certificate(), self.entries(), now)

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


def _certify(
    root_key: ec.EllipticCurvePrivateKey,
    root: x509.Certificate,
    public_key: ec.EllipticCurvePublicKey,
    *,
    role: KeyRole,
    department: str | None,
    name: str,
    now: dt.datetime,
    crl_url: str | None,
) -> x509.Certificate:
    """The root's certificate for a new service or department key (on a token or in a file)."""
    return pki.make_end_entity(
        root_key=root_key,
        root=root,
        public_key=public_key,
        common_name=name,
        uscc=department,
        now=now,
        validity=pki.SERVICE_VALIDITY if role is KeyRole.SERVICE else pki.DEPARTMENT_VALIDITY,
        crl_url=crl_url,
        trust_list_signer=role is KeyRole.SERVICE,
    )


def _active_entry(
    cert: x509.Certificate,
    *,
    role: KeyRole,
    department: str | None,
    name: str,
    now: dt.datetime,
    key_path: str | None = None,
) -> KeyEntry:
    """The manifest entry of a new active key: its files under the role's folder, named by kid
    (``key_path``: where a token keeps the key instead of a key file)."""
    kid = kid_of(cert).hex()
    folder = "service" if role is KeyRole.SERVICE else f"departments/{department}"
    return KeyEntry(
        kid=kid,
        role=role,
        department=department,
        name=name,
        certificate_path=f"{folder}/{kid}.crt.pem",
        key_path=key_path or f"{folder}/{kid}.key",
        status=KeyStatus.ACTIVE,
        status_since=now,
        created_at=now,
    )
