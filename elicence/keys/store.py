"""Keys: the key store: the custody operations on the store's files (:mod:`elicence.keys.keyfiles`).

``init`` makes the root (in development; otherwise it is given offline, :mod:`elicence.keys.root`),
the service key and a key for each department; ``rotate``, ``enrol_on_token`` and ``compromise``
are the ceremonies that change them. The manifest's entries are :mod:`elicence.keys.entry`.

Invariants: a private key never touches the disk unencrypted (:mod:`elicence.keys.envelope`);
the manifest is replaced atomically (write, fsync, rename); each department has at most one
``active`` key per algorithm (ES256, and SM2 where one of its licence types signs with SM2).
"""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Container, Iterable
from dataclasses import replace
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric import ec

from elicence.errors import InputError, KeyCustodyError
from elicence.keys import pki, sm2cert
from elicence.keys.entry import (
    DepartmentName,
    KeyEntry,
    KeyRole,
    KeyStatus,
    NewKey,
)
from elicence.keys.envelope import SCRYPT_LOG2_N, unseal_key
from elicence.keys.keyfiles import CRL_FILE, KeyFiles
from elicence.keys.pkcs11 import KeyUri, Pkcs11Signer, Tokens, is_token_uri, make_csr
from elicence.keys.root import ROOT_KEY, RootSource
from elicence.keys.signer import ES256, SM2, Signer, SoftwareSigner, signer_key
from elicence.keys.sm2 import Sm2Key
from elicence.keys.sm2cert import Sm2Signer, seal_sm2_key, unseal_sm2_key
from elicence.keys.sm2cert import make_csr as make_sm2_csr

# what callers have always imported from here
__all__ = ["CRL_FILE", "DepartmentName", "KeyEntry", "KeyRole", "KeyStatus", "KeyStore"]


class KeyStore(KeyFiles):
    """The key store directory. Cheap to construct; reads files on demand."""

    ROOT_NAME = "elicence Root CA"

    def __init__(
        self, directory: Path, *, scrypt_log2_n: int = SCRYPT_LOG2_N, tokens: Tokens | None = None
    ) -> None:
        super().__init__(directory, scrypt_log2_n=scrypt_log2_n)
        self.tokens = tokens  # where keys whose manifest entry is a PKCS#11 URI are reached
        # the offline root, given to one ceremony command (keys/root.py); and whether init may
        # make a root inside the store (development) or must be given one (production)
        self.root: RootSource | None = None
        self.root_in_store_allowed = True

    # -- reading ---------------------------------------------------------------------------

    def active_entry(self, department: str, algorithm: str = ES256) -> KeyEntry | None:
        return _active(self.entries(), department, algorithm)

    def department_signers_keys(self) -> list[str]:
        """The keys :meth:`department_signers` answers under, without opening any key."""
        return [
            signer_key(e.department, e.algorithm)
            for e in self.entries()
            if e.role is KeyRole.DEPARTMENT
            and e.status is KeyStatus.ACTIVE
            and e.department is not None
        ]

    def department_signers(
        self, passphrase: str, *, only: Container[str] | None = None
    ) -> dict[str, Signer]:
        """A signer for every department's active key: under its USCC for ES256 keys, under
        :func:`~elicence.keys.signer.signer_key` (``USCC:SM2``) for SM2 keys; with ``only``,
        for those of these names alone (the other keys are not opened)."""
        signers: dict[str, Signer] = {}
        for e in self.entries():
            if e.role is not KeyRole.DEPARTMENT or e.status is not KeyStatus.ACTIVE:
                continue
            if e.department is None:
                continue
            name = signer_key(e.department, e.algorithm)
            if only is None or name in only:
                signers[name] = self._signer(e, passphrase)
        return signers

    def service_signer(self, passphrase: str) -> Signer:
        for e in self.entries():
            if e.role is KeyRole.SERVICE and e.status is KeyStatus.ACTIVE:
                return self._signer(e, passphrase)
        raise KeyCustodyError("the key store has no active service key: run `elicence keys init`")

    def unopenable(self, passphrase: str, opened: dict[str, Signer] | None = None) -> list[str]:
        """Who holds an active key that does not open with ``passphrase`` (a wrong passphrase,
        a damaged or missing key file): department USCCs, ``"service"``, ``"root"``. Names no
        file. Costs one scrypt per active key; empty before ``init`` (nothing to open).

        ``opened``, if given, receives a signer for each active key file that opened, under
        its :func:`signer_key` (``"service"`` for the service key): what was opened once is
        not opened again to sign (``Keyring.unusable``)."""
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
        failed = []
        for who, rel in holders:
            try:
                self._read_key(rel, passphrase)
            except KeyCustodyError:
                failed.append(who)
        for e in entries:
            if e.status is KeyStatus.ACTIVE and not is_token_uri(e.key_path):
                try:
                    key = self._open_key_file(e, passphrase)
                except KeyCustodyError:
                    failed.append(
                        e.department if e.role is KeyRole.DEPARTMENT and e.department else "service"
                    )
                    continue
                if opened is not None and e.role is KeyRole.SERVICE:
                    opened["service"] = self._signer(e, passphrase, key)
                elif opened is not None and e.department is not None:
                    opened[signer_key(e.department, e.algorithm)] = self._signer(e, passphrase, key)
        return sorted(set(failed))

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
        active = {(e.department, e.algorithm) for e in entries if e.status is KeyStatus.ACTIVE}
        needs_service = not any(
            e.role is KeyRole.SERVICE and e.status is KeyStatus.ACTIVE for e in entries
        )
        missing = _missing(departments, active)
        if not needs_service and not missing and self._crl_fresh(now):
            return created  # nothing to do: the root key stays untouched
        root_key = self._read_key("root.key", passphrase)
        root = self.root_certificate()
        if needs_service:
            service = NewKey(
                root_key, root, KeyRole.SERVICE, None, "elicence trust list signer", now, crl_url
            )
            created.append(self._new_entry(service, passphrase=passphrase))
        for d, algorithm in missing:
            department = NewKey(root_key, root, KeyRole.DEPARTMENT, d.uscc, d.name, now, crl_url)
            created.append(self._new_entry(department, passphrase=passphrase, algorithm=algorithm))
        self._write_manifest(entries + created)
        self._write_crl(root_key, root, entries + created, now)
        return created

    def lacks_keys(self, departments: Iterable[DepartmentName]) -> bool:
        """Whether ``init`` would make a department key for ``departments`` (so needs the root)."""
        try:
            entries = self.entries()
        except KeyCustodyError:
            return True
        active = {(e.department, e.algorithm) for e in entries if e.status is KeyStatus.ACTIVE}
        return not active or bool(_missing(departments, active))

    def rotate(
        self,
        department: str,
        *,
        passphrase: str,
        now: dt.datetime,
        crl_url: str | None,
        on_token: bool | None = None,
        algorithm: str = ES256,
    ) -> tuple[KeyEntry | None, KeyEntry]:
        """Give ``department`` a new key of ``algorithm``; its active one is retired. Returns
        (retired, new).

        The new key is made where the active one is (a key file or the token) unless
        ``on_token`` says where: ``True`` is the key ceremony that moves a department to a token.
        """
        if algorithm not in (ES256, SM2):
            raise InputError("must be ES256 or SM2", field="algorithm")
        entries = self.entries()
        old = _active(entries, department, algorithm)
        if old is None and not any(
            e.department == department and e.algorithm == algorithm for e in entries
        ):
            raise KeyCustodyError(
                f"department {department} has no {algorithm} key to rotate", field="department"
            )
        if on_token is None:
            on_token = old is not None and is_token_uri(old.key_path)
        root_key = self._read_key("root.key", passphrase)
        name = old.name if old else next(e.name for e in entries if e.department == department)
        new = self._new_entry(
            NewKey(
                root_key,
                self.root_certificate(),
                KeyRole.DEPARTMENT,
                department,
                name,
                now,
                crl_url,
            ),
            passphrase=passphrase,
            on_token=on_token,
            algorithm=algorithm,
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
        name = old.name if old else "elicence trust list signer"
        new = self._new_token_entry(
            NewKey(root_key, root, KeyRole.SERVICE, None, name, now, crl_url)
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
            _retired, new = self.rotate(
                department,
                passphrase=passphrase,
                now=now,
                crl_url=crl_url,
                algorithm=target.algorithm,
            )
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
        self, new: NewKey, *, passphrase: str, on_token: bool = False, algorithm: str = ES256
    ) -> KeyEntry:
        if algorithm == SM2:
            if on_token:
                raise KeyCustodyError(
                    "SM2 keys are key files: PKCS#11 has no SM2 mechanism SoftHSM offers "
                    "(ADR 0016)",
                    field="algorithm",
                )
            return self._new_sm2_entry(new, passphrase=passphrase)
        if on_token:
            return self._new_token_entry(new)
        key = pki.new_key()
        cert = new.certify(key.public_key())
        entry = new.entry(cert)
        self._write_key(entry.key_path, key, passphrase)
        self._write_cert(entry.certificate_path, cert)
        return entry

    def _new_token_entry(self, new: NewKey) -> KeyEntry:
        """The key ceremony on a token: the key pair is made on the token, which signs a CSR;
        the root checks the CSR (proof of possession) and certifies its key; the certificate goes
        onto the token beside the key and into the store (hence the trust list)."""
        tokens = self._require_tokens()
        label = f"elicence-{new.department or 'service'}-{new.now:%Y%m%dT%H%M%S}"
        uri, public_key = tokens.generate(label)
        request = make_csr(tokens, uri, public_key, pki.subject_name(new.name, uscc=new.department))
        if not request.is_signature_valid:
            raise KeyCustodyError("the token's certificate request does not verify")
        cert = new.certify(request.public_key())  # type: ignore[arg-type]
        tokens.store_certificate(uri, cert)
        entry = new.entry(cert, key_path=str(uri))
        self._write_cert(entry.certificate_path, cert)
        return entry

    def _new_sm2_entry(self, new: NewKey, *, passphrase: str) -> KeyEntry:
        """A department's SM2 key: made, its request signed SM3withSM2 and checked, certified by
        the root (:mod:`elicence.keys.sm2cert`), sealed into a key file."""
        key = Sm2Key.generate()
        cert = sm2cert.certify(
            root_key=new.root_key,
            root=new.root,
            request=make_sm2_csr(key, pki.subject_name(new.name, uscc=new.department)),
            common_name=new.name,
            uscc=new.department,
            now=new.now,
            crl_url=new.crl_url,
        )
        entry = new.entry(cert, algorithm=SM2)
        self._atomic_write(
            entry.key_path, seal_sm2_key(key, passphrase, log2_n=self._scrypt_log2_n), mode=0o600
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

    def _signer(
        self,
        entry: KeyEntry,
        passphrase: str,
        key: ec.EllipticCurvePrivateKey | Sm2Key | None = None,
    ) -> Signer:
        """The entry's signer; ``key``: its key file already opened."""
        if is_token_uri(entry.key_path):
            return Pkcs11Signer(
                self._require_tokens(), KeyUri.parse(entry.key_path), self.certificate(entry)
            )
        if key is None:
            key = self._open_key_file(entry, passphrase)
        if isinstance(key, Sm2Key):
            return Sm2Signer(key, self.certificate(entry))
        return SoftwareSigner(key, self.certificate(entry))

    def _open_key_file(
        self, entry: KeyEntry, passphrase: str
    ) -> ec.EllipticCurvePrivateKey | Sm2Key:
        if entry.algorithm != SM2:
            return self._read_key(entry.key_path, passphrase)
        path = self.directory / entry.key_path
        try:
            return unseal_sm2_key(path.read_bytes(), passphrase)
        except FileNotFoundError:
            raise KeyCustodyError(f"key {path} is missing") from None
        except KeyCustodyError as e:
            raise KeyCustodyError(f"key {path}: {e.message}") from e

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


def _active(entries: list[KeyEntry], department: str, algorithm: str) -> KeyEntry | None:
    """The department's active key of ``algorithm`` (at most one)."""
    return next(
        (
            e
            for e in entries
            if e.role is KeyRole.DEPARTMENT
            and e.department == department
            and e.algorithm == algorithm
            and e.status is KeyStatus.ACTIVE
        ),
        None,
    )


def _missing(
    departments: Iterable[DepartmentName], active: set[tuple[str | None, str]]
) -> list[tuple[DepartmentName, str]]:
    """The (department, algorithm) pairs among ``departments`` with no active key."""
    return [
        (d, algorithm)
        for d in departments
        for algorithm in dict.fromkeys((ES256, *d.algorithms))
        if (d.uscc, algorithm) not in active
    ]
