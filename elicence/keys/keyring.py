"""The keys a running service signs with, kept loaded and reloaded when the key store changes.

A :class:`Keyring` is a live ``Mapping[str, Signer]`` from department USCC to that department's
active ES256 signer, and from ``USCC:SM2`` to its SM2 signer (``signer_key``): the issuer holds
it and asks it for a signer, never for a key or a file. It also holds the passphrase, so the
custody operations that need the root key (``init``, ``rotate``, ``compromise``) go through it
and nothing above ``keys/`` ever sees the passphrase.

Invariants: the mapping is never empty while it is being replaced (a reload swaps in a complete
new dict in one assignment); signers are reloaded only when :meth:`KeyStore.version` changed.
"""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from cryptography import x509

from elicence.errors import KeyCustodyError
from elicence.keys.pkcs11 import TokenConfig, signer_usable
from elicence.keys.signer import Signer
from elicence.keys.store import DepartmentName, KeyEntry, KeyStore


@dataclass(frozen=True, slots=True)
class KeyringRecipe:
    """What reopens a keyring in a worker process that this one starts (a process pool's).

    It carries the passphrase: hand it only to processes you start, never write or log it.
    """

    directory: Path
    passphrase: str = field(repr=False)
    tokens: TokenConfig | None = None  # carries the token PIN: as secret as the passphrase

    def open(self) -> Keyring:
        tokens = self.tokens.tokens() if self.tokens is not None else None
        return Keyring(KeyStore(self.directory, tokens=tokens), passphrase=self.passphrase)


class Keyring(Mapping[str, Signer]):
    """Department signers and the service signer of one key store (software keys)."""

    def __init__(self, store: KeyStore, *, passphrase: str) -> None:
        self._store = store
        self._passphrase = passphrase
        self._signers: dict[str, Signer] = {}
        self._service: Signer | None = None
        self._service_version: object = None  # the key store's version it was loaded under
        self._version: object = None
        self._loaded = False
        self._some: dict[str, Signer] = {}  # signers opened one by one (signers())
        self._some_version: object = None
        self._lock = threading.Lock()
        self._unusable: tuple[object, list[str]] | None = None  # (store version, holders)

    # -- the mapping (refreshed on read) ------------------------------------------------------

    def __getitem__(self, department: str) -> Signer:
        self.refresh()
        return self._signers[department]

    def __iter__(self) -> Iterator[str]:
        self.refresh()
        return iter(dict(self._signers))

    def __len__(self) -> int:
        self.refresh()
        return len(self._signers)

    def refresh(self) -> bool:
        """Reload the signers if the key store changed since they were loaded; True if it did."""
        version = self._store.version()
        if self._loaded and version == self._version:
            return False
        with self._lock:
            if self._loaded and version == self._version:  # another thread reloaded meanwhile
                return False
            signers: dict[str, Signer] = dict(self._store.department_signers(self._passphrase))
            self._signers = signers  # one assignment: readers see the old or the new dict
            self._version = version
            self._loaded = True
            return True

    def signers(self, names: Iterable[str]) -> dict[str, Signer]:
        """The signers of these names (department USCCs, ``USCC:SM2``) that the store holds,
        opening only their keys (one scrypt each, once per version of the key store): a
        process that signs for a few departments (a stock conversion's worker) does not open
        every department's key. Names without an active key are left out."""
        version = self._store.version()
        with self._lock:
            if self._loaded and version == self._version:
                every = self._signers
                return {n: every[n] for n in names if n in every}
            if version != self._some_version:
                self._some, self._some_version = {}, version
            some = self._some
            wanted = [n for n in names if n not in some]
            if wanted:
                some.update(self._store.department_signers(self._passphrase, only=set(wanted)))
            return {n: some[n] for n in names if n in some}

    @property
    def version(self) -> object:
        """What the loaded signers were read under (changes whenever the key store does)."""
        self.refresh()
        return self._version

    def service(self) -> Signer:
        """The service signer (trust lists, status lists, checkpoints), loaded once per
        version of the key store, by itself: a process that only checkpoints (the stock
        conversion's main process) does not open every department's key for it."""
        version = self._store.version()
        signer = self._service
        if signer is None or version != self._service_version:
            with self._lock:
                signer = self._store.service_signer(self._passphrase)
                self._service, self._service_version = signer, version
        return signer

    def unusable(self) -> list[str]:
        """Who cannot sign because their active key does not open (a wrong passphrase, a
        damaged key file): department USCCs, ``"service"``, ``"root"``; empty when every key
        opens. Checked once per version of the key store (one scrypt per key), then cached."""
        version = self._store.version()
        cached = self._unusable
        if cached is not None and cached[0] == version:
            return list(cached[1])
        opened: dict[str, Signer] = {}
        holders = self._store.unopenable(self._passphrase, opened)
        self._unusable = (version, holders)
        self._adopt(version, opened)
        return list(holders)

    def _adopt(self, version: object, opened: dict[str, Signer]) -> None:
        """Keep the signers :meth:`unusable` opened, when they are the whole of this version's
        (every active key is a file, and every one opened): a worker that checks its keys at
        start then signs its first licence or trust list without opening them again (scrypt)."""
        if not opened:  # nothing opened (no key store yet, or nothing opens)
            return
        service = opened.pop("service", None)
        wanted = set(self._store.department_signers_keys())
        with self._lock:
            if service is not None and self._service_version != version:
                self._service, self._service_version = service, version
            if set(opened) == wanted and not (self._loaded and self._version == version):
                self._signers, self._version, self._loaded = dict(opened), version, True

    def recipe(self) -> KeyringRecipe:
        """How a worker process reopens this keyring (see :class:`KeyringRecipe`)."""
        tokens = self._store.tokens
        return KeyringRecipe(
            self._store.directory,
            self._passphrase,
            tokens.config if tokens is not None else None,
        )

    def unavailable(self) -> list[str]:
        """Who cannot sign now: department USCCs (and ``"service"``) whose key does not answer.

        A key file loaded in memory always answers; a token key is asked for one signature.
        Without a token configured nothing is asked (and nothing is read).
        """
        if self._store.tokens is None or not self._store.initialised:
            return []  # no token, or no keys yet: nothing to ask (as before tokens existed)
        self.refresh()
        down = [d for d, signer in dict(self._signers).items() if not signer_usable(signer)]
        try:
            if not signer_usable(self.service()):
                down.append("service")
        except KeyCustodyError:
            down.append("service")
        return sorted(down)

    # -- reading the store --------------------------------------------------------------------

    def entries(self) -> list[KeyEntry]:
        return self._store.entries()

    def certificate(self, entry: KeyEntry) -> x509.Certificate:
        return self._store.certificate(entry)

    def root_certificate(self) -> x509.Certificate:
        return self._store.root_certificate()

    def crl(self) -> bytes | None:
        return self._store.crl()

    def current_crl(self, now: dt.datetime) -> bytes | None:
        return self._store.current_crl(now)

    # -- custody operations (need the root key) -----------------------------------------------

    def init(
        self, departments: Iterable[DepartmentName], *, now: dt.datetime, crl_url: str | None
    ) -> list[KeyEntry]:
        return self._store.init(
            passphrase=self._passphrase, departments=departments, now=now, crl_url=crl_url
        )

    def rotate(
        self, department: str, *, now: dt.datetime, crl_url: str | None, algorithm: str = "ES256"
    ) -> tuple[KeyEntry | None, KeyEntry]:
        return self._store.rotate(
            department, passphrase=self._passphrase, now=now, crl_url=crl_url, algorithm=algorithm
        )

    def lacks_keys(self, departments: Iterable[DepartmentName]) -> bool:
        return self._store.lacks_keys(departments)

    def root_available(self) -> bool:
        return self._store.root_available()

    def resign_crl(self, *, now: dt.datetime) -> None:
        self._store.resign_crl(passphrase=self._passphrase, now=now)

    def enrol_on_token(
        self, department: str | None, *, now: dt.datetime, crl_url: str | None
    ) -> tuple[KeyEntry | None, KeyEntry]:
        """The key ceremony: a new key for ``department`` (None: the service) on the token."""
        return self._store.enrol_on_token(
            department, passphrase=self._passphrase, now=now, crl_url=crl_url
        )

    def compromise(
        self,
        department: str,
        *,
        since: dt.datetime,
        kid: str | None,
        now: dt.datetime,
        crl_url: str | None,
    ) -> tuple[KeyEntry, KeyEntry | None]:
        return self._store.compromise(
            department,
            since=since,
            kid=kid,
            passphrase=self._passphrase,
            now=now,
            crl_url=crl_url,
        )
