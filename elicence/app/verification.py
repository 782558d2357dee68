"""Application layer: verification against the registry, ``Elicence.verification`` — a seal, an
identifier or a signed PDF, each answered only after its usage record (用证记录) is committed."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

from elicence.app.publishing import Publisher
from elicence.domain.clients import Client
from elicence.domain.codes import parse_identifier
from elicence.errors import InputError
from elicence.registry import Registry
from elicence.verifier import VerificationReport, verify_seal
from elicence.verifier.pdf import verify_pdf


class Verification:
    """Verification as the API and the command line use it."""

    def __init__(
        self, *, registry: Registry, publisher: Publisher, clock: Callable[[], dt.datetime]
    ) -> None:
        self._registry = registry
        self._publisher = publisher
        self._clock = clock

    def verify(
        self,
        *,
        seal: str | None = None,
        identifier: str | None = None,
        client: Client | None,
        case_number: str | None = None,
    ) -> VerificationReport:
        """Verify a seal (or the licence an identifier names) and record the use (naming the
        hall's case that cites the licence, where the check is made for one: a clerk's
        re-check)."""
        if (seal is None) == (identifier is None):
            raise InputError("give exactly one of seal and identifier", field="seal")
        now = self._clock()
        if seal is not None:
            report = verify_seal(
                seal, trust_list=self._publisher.trust_list(), status=self._registry, now=now
            )
            channel = "seal"
            ident = report.licence.identifier if report.licence else None
        else:
            assert identifier is not None
            ident = str(parse_identifier(identifier))
            record = self._registry.lookup(ident)
            channel = "identifier"
            if record is None:
                report = VerificationReport.not_found(checked_at=now)
            else:
                report = verify_seal(
                    record.seal,
                    trust_list=self._publisher.trust_list(),
                    status=self._registry,
                    now=now,
                )
        self._record_use(report, ident, channel, client, now, case_number)
        return report

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
        case_number: str | None = None,
    ) -> None:
        self._registry.record_usage(
            at=now,
            client_id=client.id if client else None,
            identifier=identifier,
            channel=channel,
            verdict=str(report.verdict),
            case_number=case_number,
        )
