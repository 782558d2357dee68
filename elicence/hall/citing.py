"""Checking cited e-licences: verified (through the :class:`~elicence.hall.ports.CitationChecker`),
of the material's licence type, and one the applicant may cite; the usage records they leave.

Invariants:
- every check leaves a usage record (用证记录) naming the case (none when the submission it
  belonged to was refused, since no case exists): written in the transaction of the step that
  stores the case (:func:`record_in`), or, when that step does not commit, on its own
  (:func:`record`);
- a cited licence must be one the :class:`~elicence.hall.ports.CitationPolicy` allows: the
  service wires ``app/hall.GrantedOrOwn`` (the applicant's own, or granted to the case or the
  hall: 授权用证); :class:`~elicence.hall.ports.OwnLicencesOnly`, the default, allows only the
  applicant's own;
- a refused citation's error code names the verifier's verdict (``cited_licence_revoked``).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from elicence.domain.clients import Client
from elicence.domain.licence import HolderRef, Verdict
from elicence.errors import ConflictError, Error, InputError, PermissionDeniedError
from elicence.hall.application import CitationIn
from elicence.hall.cases import Citation
from elicence.hall.ports import CaseUnitOfWork, CitationCheck, CitationRequest, Seams


def verify(
    s: Seams,
    citations: Sequence[CitationIn],
    applicant: HolderRef,
    *,
    client: Client,
    now: dt.datetime,
    number: str | None = None,
) -> list[tuple[CitationIn, CitationCheck]]:
    """Verify every cited e-licence (each check recorded if one is refused; else by the
    caller, naming the case); the first one refused raises."""
    if not citations:
        return []
    checks = s.citations.check([CitationRequest(c.seal, c.identifier) for c in citations])
    done = list(zip(citations, checks, strict=True))
    for c, check in done:
        problem = _citation_problem(
            s, c, check, applicant, f"licences[{c.index}]", number=number, client=client
        )
        if problem is not None:
            record(s, done, client=client, number=number, now=now)
            raise problem
    return done


def _citation_problem(
    s: Seams,
    c: CitationIn,
    check: CitationCheck,
    applicant: HolderRef,
    where: str,
    *,
    number: str | None,
    client: Client,
) -> Error | None:
    if check.verdict is not Verdict.VALID or check.licence is None:
        return cited_licence_error(check, field=where, at_approval=False)
    lic = check.licence
    if lic.type_code != c.material.licence_type:
        licences = s.licences().licence_types
        got = licences.get(lic.type_code)
        want = licences.get(c.material.licence_type)
        return InputError(
            f"cites a {got.name_zh if got else lic.type_code}; material {c.material.name!r} "
            f"needs a {want.name_zh if want else c.material.licence_type}",
            field=where,
            code="cited_licence_wrong_type",
        )
    if not s.policy.may_cite(applicant, lic, case=number, client=client):
        return PermissionDeniedError(
            f"{lic.identifier} is another holder's licence: an applicant cites its own, or "
            "one whose holder granted its use (授权用证) to the applicant, to this case or to this "
            "hall",
            field=where,
            code="cited_licence_not_authorised",
        )
    return None


def cited_licence_error(check: CitationCheck, *, field: str, at_approval: bool) -> Error:
    """A refused citation, its code naming the verifier's verdict (``cited_licence_revoked``)."""
    what = check.identifier or "the cited licence"
    message = f"{what} is {check.verdict}" + (f" ({check.why})" if check.why else "")
    message += ": it cannot stand for the material"
    code = f"cited_licence_{check.verdict}"
    if at_approval:
        return ConflictError(
            f"{message} any more; ask the applicant for a supplement (补正) citing a valid one",
            field=field,
            code=code,
        )
    return InputError(message, field=field, code=code)


def record(
    s: Seams,
    checks: Sequence[tuple[CitationIn | Citation, CitationCheck]],
    *,
    client: Client,
    number: str | None,
    now: dt.datetime,
) -> None:
    """A usage record (用证记录) for each check, naming the case where there is one (without
    one, the checks of a refused submission: the client's record is made first, as they name
    it)."""
    if checks:
        if number is None:
            s.enrol(client)
        s.citations.record(
            [check for _c, check in checks], at=now, client_id=client.id, case_number=number
        )


def record_in(
    uow: CaseUnitOfWork,
    checks: Sequence[tuple[CitationIn | Citation, CitationCheck]],
    *,
    client: Client,
    number: str,
    now: dt.datetime,
) -> None:
    """The usage records of ``checks``, naming the case, in the case's own transaction (``uow``
    commits them with the step that cited the licences)."""
    if checks:
        uow.add_usage(
            [check for _c, check in checks], at=now, client_id=client.id, case_number=number
        )


def citation_of(c: CitationIn, check: CitationCheck, now: dt.datetime) -> Citation:
    assert check.identifier is not None and check.licence is not None
    return Citation(
        material=c.material.name,
        identifier=check.identifier,
        licence_type=check.licence.type_code,
        presented=check.presented,
        verdict=check.verdict,
        checked_at=now,
    )
