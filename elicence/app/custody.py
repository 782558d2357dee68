"""Application layer: key custody and the trust material, ``Elicence.keys`` — the ceremonies
(initial keys, rotation, a token enrolment, a compromise with its re-sealing, the root's CRL),
each recorded in the audit trail, and what halls fetch to verify offline (the trust list, status
lists, the root and its CRL)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping

from cryptography import x509

from elicence.app.catalogue import CatalogueSource
from elicence.app.eventlog import EventLog
from elicence.app.publishing import Publisher
from elicence.app.trail import Trail, TrailAction
from elicence.domain.catalogue import Catalogue
from elicence.domain.codes import check_uscc
from elicence.errors import KeyCustodyError
from elicence.formats.trustlist import TrustList
from elicence.issuer.reseal import reseal_licences
from elicence.keys.entry import departments_of
from elicence.keys.keyring import Keyring
from elicence.keys.pki import CRL_VALIDITY
from elicence.keys.signer import Signer
from elicence.keys.store import KeyEntry
from elicence.registry import Registry
from elicence.verifier.status import StatusList


class Keys:
    """The keys and the trust material as the API and the command line use them."""

    def __init__(
        self,
        *,
        keyring: Keyring,
        publisher: Publisher,
        registry: Registry,
        catalogue: CatalogueSource,
        trail: Trail,
        log: EventLog,
        public_base_url: str,
        clock: Callable[[], dt.datetime],
    ) -> None:
        self._keyring = keyring
        self._publisher = publisher
        self._registry = registry
        self._catalogue = catalogue
        self._trail = trail
        self._log = log
        self._public_base_url = public_base_url
        self._clock = clock

    def check_root_for(self, catalogue: Catalogue) -> None:
        """Refuse, before storing it, a catalogue whose new departments need the root when the
        root is offline and was not given to this command."""
        if self._keyring.root_available():
            return
        if self._keyring.lacks_keys(departments_of(catalogue)):
            raise KeyCustodyError(
                "new departments need keys certified by the root, which is offline: give "
                "`--root-dir DIR` (and ELICENCE_ROOT_PASSPHRASE) to this command",
                field="root_dir",
            )

    def init(self, catalogue: Catalogue | None = None) -> list[KeyEntry]:
        with self._trail.action(TrailAction.KEYS_INIT, client=None) as rec:
            catalogue = catalogue or self._catalogue()
            created = self._keyring.init(
                departments_of(catalogue),
                now=self._clock(),
                crl_url=self.crl_url,
            )
            rec["created"] = [e.kid for e in created]
        return created

    def rotate(
        self, department: str, *, algorithm: str = "ES256"
    ) -> tuple[KeyEntry | None, KeyEntry]:
        with self._trail.action(TrailAction.KEYS_ROTATE, client=None, target=department) as rec:
            check_uscc(department, field="department")
            old, new = self._keyring.rotate(
                department, now=self._clock(), crl_url=self.crl_url, algorithm=algorithm
            )
            rec.update(retired=old.kid if old else None, active=new.kid)
        self.trust_list()  # numbered now, not first inside some worker's write transaction
        return old, new

    def resign_crl(self) -> dt.datetime:
        """Sign the root's CRL anew; returns its next update (a ceremony with the root offline)."""
        now = self._clock()
        with self._trail.action(TrailAction.KEYS_CRL, client=None):
            self._keyring.resign_crl(now=now)
        return now + CRL_VALIDITY

    def enrol_token(self, department: str | None) -> tuple[KeyEntry | None, KeyEntry]:
        """The key ceremony that moves ``department``'s signing key (None: the service key) to
        the configured PKCS#11 token; the key it replaces is retired, so what it signed stays
        valid."""
        with self._trail.action(
            TrailAction.KEYS_ENROL_TOKEN, client=None, target=department or "service"
        ) as rec:
            if department is not None:
                check_uscc(department, field="department")
            old, new = self._keyring.enrol_on_token(
                department, now=self._clock(), crl_url=self.crl_url
            )
            rec.update(retired=old.kid if old else None, active=new.kid)
        return old, new

    def compromise(
        self, department: str, *, since: dt.datetime, kid: str | None = None, actor: str = "cli"
    ) -> tuple[KeyEntry, KeyEntry | None, int]:
        """A department key was compromised at ``since``: it becomes untrusted for every seal,
        whatever its ``iat`` (the trust list lists it ``revoked``), and every licence it sealed
        is re-sealed under the department's active key (a new one if it was the active key),
        with a ``resealed`` event each (ADR 0011). Running it again for the same ``kid``
        finishes an interrupted re-sealing. Returns (revoked, new or None, licences re-sealed)."""
        with self._trail.action(
            TrailAction.KEYS_COMPROMISE, client=None, target=department, since=since, kid=kid
        ) as rec:
            check_uscc(department, field="department")
            revoked, new = self._keyring.compromise(
                department, since=since, kid=kid, now=self._clock(), crl_url=self.crl_url
            )
            rec.update(revoked=revoked.kid, active=new.kid if new else None)
            resealed = reseal_licences(
                self._registry,
                self._keyring,
                department=department,
                kid=revoked.kid,
                actor=actor,
                clock=self._clock,
                algorithm=revoked.algorithm,
            )
            rec.update(resealed=resealed)
        self._log.checkpoint()
        self.trust_list()  # numbered now, not first inside some worker's write transaction
        return revoked, new, resealed

    def certificates(self) -> list[tuple[KeyEntry, x509.Certificate]]:
        """Every certificate of the key store with its entry."""
        return [(e, self._keyring.certificate(e)) for e in self._keyring.entries()]

    def root_certificate(self) -> x509.Certificate:
        return self._keyring.root_certificate()

    @property
    def crl_url(self) -> str:
        return f"{self._public_base_url}/api/v1/crl"

    def crl(self) -> bytes:
        return self._publisher.crl()

    def signers(self) -> Mapping[str, Signer]:
        return self._keyring

    def trust_list(self) -> TrustList:
        return self._publisher.trust_list()

    def status_list(self, department: str, purpose: str) -> StatusList:
        return self._publisher.status_list(department, purpose)

    def status_lists(self) -> list[StatusList]:
        return self._publisher.status_lists()

    def unusable(self) -> list[str]:
        """Who has an active key that does not open (empty without a key store: a mirror)."""
        return self._keyring.unusable()
