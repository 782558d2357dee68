"""Application layer: verification against the registry, ``Elicence.verification`` — a seal, an
identifier or a signed PDF, each answered only after its usage record (用证记录) is committed.

The registry is asked once per verification (:class:`_OneTrip`): the licence's record, whether a
hall asking holds a grant of it in force, and, for a client taken from the key cache without its
re-check, whether it is still enabled — one statement, one round trip."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass

from elicence.app.publishing import Publisher
from elicence.domain.clients import Client, Role
from elicence.domain.codes import parse_identifier
from elicence.domain.licence import RegistryRecord
from elicence.errors import AuthenticationError, InputError
from elicence.registry import Registry, VerificationLookup
from elicence.verifier import VerificationReport, verify_seal
from elicence.verifier.pdf import verify_pdf


@dataclass(frozen=True, slots=True)
class Verified:
    """A verification's report, and whether the hall that asked holds a grant of the licence in
    force (None: the client is not a hall, or the registry was not asked)."""

    report: VerificationReport
    hall_granted: bool | None


class _OneTrip:
    """The registry as the :class:`StatusSource` of one verification: each identifier looked up
    once, with the hall's grant and the client's re-check in the same statement."""

    def __init__(
        self, registry: Registry, *, hall: str | None, client: str | None, at: dt.datetime
    ) -> None:
        self._registry, self._hall, self._client, self._at = registry, hall, client, at
        self._found: dict[str, VerificationLookup] = {}

    def lookup(self, identifier: str) -> RegistryRecord | None:
        found = self._found.get(identifier)
        if found is None:
            found = self._found[identifier] = self._registry.verification_lookup(
                identifier, hall=self._hall, client=self._client, at=self._at
            )
        return found.record

    def granted(self, identifier: str | None) -> bool | None:
        found = self._found.get(identifier or "")
        return None if self._hall is None or found is None else found.granted

    def client_usable(self) -> bool:
        """The client re-checked: from a look-up made, else one read of its own."""
        assert self._client is not None
        for found in self._found.values():
            return found.client_usable
        return self._registry.client_usable(self._client)


class Verification:
    """Verification as the API and the command line use it."""

    def __init__(
        self, *, registry: Registry, publisher: Publisher, clock: Callable[[], dt.datetime]
    ) -> None:
        self._registry = registry
        self._publisher = publisher
        self._clock = clock

    def verify(
        self, *, seal: str | None = None, identifier: str | None = None, client: Client | None
    ) -> VerificationReport:
        """Verify a seal (or the licence an identifier names) and record the use."""
        return self.verify_seen(seal=seal, identifier=identifier, client=client).report

    def verify_seen(
        self,
        *,
        seal: str | None = None,
        identifier: str | None = None,
        client: Client | None,
        recheck: bool = False,
    ) -> Verified:
        """:meth:`verify`, with what the answer's masking needs (a hall's grant, from the same
        registry read). ``recheck``: ``client`` came from the key cache without its re-check;
        if it has been disabled meanwhile, :class:`AuthenticationError` and nothing recorded."""
        if (seal is None) == (identifier is None):
            raise InputError("give exactly one of seal and identifier", field="seal")
        now = self._clock()
        hall = client.id if client is not None and client.role is Role.HALL else None
        trip = _OneTrip(
            self._registry, hall=hall, client=client.id if recheck and client else None, at=now
        )
        if seal is not None:
            report = verify_seal(
                seal, trust_list=self._publisher.trust_list(), status=trip, now=now
            )
            channel = "seal"
            ident = report.licence.identifier if report.licence else None
        else:
            assert identifier is not None
            ident = str(parse_identifier(identifier))
            record = trip.lookup(ident)
            channel = "identifier"
            if record is None:
                report = VerificationReport.not_found(checked_at=now)
            else:
                report = verify_seal(
                    record.seal, trust_list=self._publisher.trust_list(), status=trip, now=now
                )
        if recheck and client is not None and not trip.client_usable():
            raise AuthenticationError("this API key's client is disabled", field="Authorization")
        self._record_use(report, ident, channel, client, now)
        return Verified(report, trip.granted(ident))

    def verify_pdf(self, data: bytes, *, client: Client | None) -> VerificationReport:
        """Verify a signed licence PDF (signature, signer, seal, registry) and record the use."""
        now = self._clock()
        report = verify_pdf(
            data, trust_list=self._publisher.trust_list(), status=self._registry, now=now
        )
        ident = report.licence.identifier if report.licence else None
        self._record_use(report, ident, "pdf", client, now)
        return report

    def _record_use(
        self,
        report: VerificationReport,
        identifier: str | None,
        channel: str,
        client: Client | None,
        now: dt.datetime,
    ) -> None:
        self._registry.record_usage(
            at=now,
            client_id=client.id if client else None,
            identifier=identifier,
            channel=channel,
            verdict=str(report.verdict),
        )
