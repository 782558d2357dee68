"""Application layer: the holder side (市民个人网页 / 企业专属网页): a holder's own licences,
authorised use (授权用证), usage records, dynamic presentations, and who sees a verification in
full.

Reached as ``Elicence.holder`` (built by :func:`elicence.bootstrap.assemble`). Every use case takes
the acting :class:`~elicence.domain.clients.Client`: a holder is a ``Role.HOLDER`` client bound to a
:class:`~elicence.domain.licence.HolderRef`, whether it came with an API key (an enterprise's
system) or from a web sign-in (:meth:`Holders.principal`), so the existing read rules apply
unchanged (another holder's licence is 404).

Invariants:
- a holder grants, withdraws and lists only grants of its own licences; a grant of a licence it
  does not hold is 404, as if the licence did not exist;
- a hall sees a verification in full only while a grant of that licence to it is in force
  (:meth:`Holders.masked`); the issuing department, an admin and the holder itself always do;
  everyone else sees the public masked answer;
- every use of a licence by a hall under a grant leaves a usage record (channel ``grant``), as
  every verification does (channels ``seal``, ``identifier``, ``pdf``, ``presentation``);
- a presentation is made only for the licence's own holder, signed by the service key, and an
  online verification accepts each presentation once (its nonce).
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Callable
from dataclasses import dataclass

from elicence.app.access import Access, NewClient
from elicence.app.reading import LicenceReading
from elicence.app.signin import SignIn
from elicence.domain.clients import Client, Role
from elicence.domain.codes import parse_identifier
from elicence.domain.grants import (
    Grant,
    Grantee,
    GranteeKind,
    UsageEntry,
    check_period,
    check_purpose,
    new_grant_id,
)
from elicence.domain.licence import HolderRef, Licence, LicenceStatus, china_today
from elicence.errors import ConflictError, InputError, NotFoundError, PermissionDeniedError
from elicence.formats.presentation import WINDOW, sign_presentation
from elicence.formats.seal import cose_bytes
from elicence.formats.trustlist import TrustList
from elicence.hall.numbers import case_number
from elicence.keys.signer import Signer
from elicence.registry import ClientRecord, Registry
from elicence.registry.holder import HolderStore
from elicence.verifier import VerificationReport
from elicence.verifier.presentation import PresentationReport, verify_presentation

__all__ = ["CiteDecision", "Holders", "Presentation"]

MAX_TOKENS = 20  # API tokens one holder may keep at once
# Who uses a live code up when checking it: the verifiers a holder shows it to. Anyone else only
# looks (docs/formats.md §9.4, step 6).
CONSUMING_ROLES = frozenset({Role.HALL, Role.DEPARTMENT, Role.ADMIN})
MAX_GRANTEE = 64  # the grants table's grantee column


@dataclass(frozen=True, slots=True)
class Presentation:
    """A dynamic presentation (EP1) as shown on the holder's page."""

    text: str
    identifier: str
    not_before: dt.datetime
    not_after: dt.datetime


@dataclass(frozen=True, slots=True)
class CiteDecision:
    """Whether a case may cite a licence, and why (the seam ``may_cite`` of the hall's cases)."""

    allowed: bool
    reason: str  # holder | grant | not_holder | no_grant
    grant: Grant | None = None


def holder_client_id(ref: HolderRef) -> str:
    """The stable client id of a holder signed in on the web (no API key, no clients row)."""
    return "h_" + hashlib.sha256(str(ref).encode()).hexdigest()[:16]


class AuthorisedUse:
    """Whether a case may cite a licence: its applicant holds it, or the holder's grant of it to
    the case number, to the hall handling it or to the applicant is in force now (授权用证).
    The hall's cases ask it (``app/hall.GrantedOrOwn``); it reads the registry and the clock,
    nothing else."""

    def __init__(self, store: HolderStore, *, clock: Callable[[], dt.datetime]) -> None:
        self._store = store
        self._clock = clock

    def may_cite(
        self,
        applicant: HolderRef,
        identifier: str,
        *,
        case: str | None = None,
        hall: Client | None = None,
        holder: HolderRef | None = None,
    ) -> CiteDecision:
        """``holder``: the licence's holder where the caller already read it (saves a query)."""
        ident = str(parse_identifier(identifier))
        owns = (
            holder == applicant
            if holder is not None
            else bool(self._store.identifiers_of(applicant, [ident]))
        )
        if owns:
            return CiteDecision(True, "holder")
        now = self._clock()
        candidates = []
        if case is not None:
            candidates.append(Grantee(GranteeKind.CASE, case_number(case, field="case")))
        if hall is not None and hall.role is Role.HALL:
            candidates.append(Grantee(GranteeKind.HALL, hall.id))
        asked = bool(candidates)
        candidates.append(Grantee(GranteeKind.HOLDER, str(applicant)))  # granted to the applicant
        for grantee in candidates:
            grant = self._store.grant_in_force(ident, grantee, at=now)
            if grant is not None:
                return CiteDecision(True, "grant", grant)
        return CiteDecision(False, "no_grant" if asked else "not_holder")


class Holders:
    """The holder side's use cases."""

    def __init__(
        self,
        *,
        reading: LicenceReading,
        trust_list: Callable[[], TrustList],
        registry: Registry,
        access: Access,
        service_signer: Callable[[], Signer],
        sign_in: SignIn,
        clock: Callable[[], dt.datetime],
    ) -> None:
        self.sign_in = sign_in
        self._reading = reading
        self._trust_list = trust_list
        self._registry = registry
        self._store = HolderStore(registry)
        self._access = access
        self._service_signer = service_signer
        self._clock = clock

    # -- who -----------------------------------------------------------------------------------

    @staticmethod
    def principal(ref: HolderRef, name: str | None) -> Client:
        """The principal of a holder signed in on the web: the same ``Role.HOLDER`` client an API
        key of that holder gives, so every read rule applies unchanged; ``name``, the sign-in
        identity's, is the holder's own (an application takes it as the applicant's)."""
        return Client(holder_client_id(ref), name or str(ref), Role.HOLDER, None, ref, name or None)

    def enrol(self, client: Client) -> None:
        """Give a holder signed in on the web its keyless, disabled ``api_clients`` row (once), so
        that its citations' usage records and its ratings name it (their foreign key)."""
        ref = _holder_of(client)
        self._store.ensure_web_client(
            client_id=client.id, name=client.name, holder=ref, now=self._clock()
        )

    def favourites(self, client: Client) -> list[str]:
        """The service items this holder marked as favourites (收藏), oldest first."""
        return self._store.favourites(_holder_of(client))

    def favour(self, client: Client, item_code: str, *, on: bool = True) -> None:
        """Mark or unmark a service item (the caller checks that the item exists)."""
        self._store.set_favourite(_holder_of(client), item_code, on=on, now=self._clock())

    def client(self, client_id: str) -> Client | None:
        """An enabled API client by id (a console or desk session re-reads it on every request,
        so disabling the client ends its sessions)."""
        record = self._store.client(client_id)
        if record is None or record.disabled_at is not None:
            return None
        holder = None
        if record.holder_id_type is not None and record.holder_id is not None:
            holder = HolderRef.parse(f"{record.holder_id_type}:{record.holder_id}")
        return Client(record.id, record.name, Role(record.role), record.department, holder)

    def halls(self) -> list[ClientRecord]:
        """The halls a holder may grant to."""
        return self._store.halls()

    # -- my licences ---------------------------------------------------------------------------

    def licences(self, client: Client) -> list[Licence]:
        """The holder's own licences, in the order they were issued."""
        _holder_of(client)
        return self._reading.search(client, limit=1000)

    def licence(self, client: Client, identifier: str) -> Licence:
        _holder_of(client)
        return self._reading.licence_for(client, identifier)

    def pdf(self, client: Client, identifier: str) -> bytes:
        """The signed PDF (the same kept PAdES file the API serves)."""
        _holder_of(client)
        return self._reading.pdf(client, identifier)

    # -- dynamic presentations -----------------------------------------------------------------

    def present(self, client: Client, identifier: str) -> Presentation:
        """A fresh presentation of one of the holder's licences, valid for ``WINDOW``."""
        ref = _holder_of(client)
        lic = self._reading.licence_for(client, identifier)
        now = self._clock()
        text = sign_presentation(
            seal_cose=cose_bytes(lic.seal),
            holder=(str(ref.id_type), ref.id_number),
            signer=self._service_signer(),
            now=now,
        )
        start = now.replace(microsecond=0)
        return Presentation(text, lic.identifier, start, start + WINDOW)

    def verify_presentation(
        self,
        text: str,
        *,
        client: Client | None,
        holder: HolderRef | None = None,
        operator: bool = False,
    ) -> PresentationReport:
        """Verify a presentation online: its signature and window, its nonce not used before,
        and its seal against the registry; leaves a usage record (channel ``presentation``).

        Only an authenticated verifier (a hall, a department, an admin) uses the nonce up; an
        anonymous caller or a holder learns whether the code is genuine, current and unused
        without using it up, so a bystander cannot spoil the holder's code for the hall.
        ``operator``: the service's own command line, which verifies as a hall does."""
        now = self._clock()

        def first_use(nonce: bytes, expires_at: dt.datetime) -> bool:
            return self._store.first_use(nonce, seen_at=now, expires_at=expires_at)

        consumes = operator or (client is not None and client.role in CONSUMING_ROLES)
        report = verify_presentation(
            text,
            trust_list=self._trust_list(),
            status=self._registry,
            now=now,
            holder=(str(holder.id_type), holder.id_number) if holder else None,
            first_use=first_use if consumes else None,
            seen=None if consumes else self._store.nonce_used,
        )
        lic = report.seal.licence
        self._registry.record_usage(
            at=now,
            client_id=client.id if client else None,
            identifier=lic.identifier if lic else None,
            channel="presentation",
            verdict=str(report.seal.verdict if report.verdict == "accepted" else report.verdict),
        )
        return report

    # -- who sees a verification in full -------------------------------------------------------

    def masked(
        self, client: Client | None, report: VerificationReport, *, granted: bool | None = None
    ) -> bool:
        """Whether ``client`` sees ``report`` masked: everyone does, except an admin, the issuing
        department, the holder itself, and a hall holding a grant of the licence in force
        (``granted``: whether it does, if the verification's registry read found out already)."""
        if client is None:
            return True
        if client.role is Role.ADMIN:
            return False
        lic = report.licence
        if lic is None:
            return True
        if client.role is Role.DEPARTMENT:
            return client.department is None or report.issuer != client.department
        if client.role is Role.HOLDER:
            own = client.holder is not None and self._store.identifiers_of(
                client.holder, [lic.identifier]
            )
            return not own
        if client.role is Role.HALL:
            if granted is not None:
                return not granted
            grantee = Grantee(GranteeKind.HALL, client.id)
            return self._store.grant_in_force(lic.identifier, grantee, at=self._clock()) is None
        return True

    # -- authorised use (授权用证) --------------------------------------------------------------

    def grant(
        self,
        client: Client,
        *,
        identifier: str,
        grantee_kind: GranteeKind,
        grantee: str,
        purpose: str,
        valid_until: dt.datetime,
        valid_from: dt.datetime | None = None,
    ) -> Grant:
        """Let a hall (its client id), a case (its number) or another holder (``111:id``: it
        may then cite the licence in its own applications) use one of the holder's licences."""
        ref = _holder_of(client)
        lic = self._reading.licence_for(client, identifier)  # another holder's: 404
        now = self._clock()
        status = lic.effective_status(china_today(now))
        if status not in (LicenceStatus.VALID, LicenceStatus.SUSPENDED):
            raise ConflictError(
                f"the licence is {status}: only a licence in force can be granted",
                field="identifier",
                code="licence_not_in_force",
            )
        if grantee_kind is GranteeKind.HALL:
            hall = self._store.client(grantee)
            if hall is None or hall.role != Role.HALL or hall.disabled_at is not None:
                raise InputError("is not a hall of this service", field="grantee.ref")
            ref_text = hall.id
        elif grantee_kind is GranteeKind.HOLDER:
            to = HolderRef.parse(grantee, field="grantee.ref")
            if to == ref:
                raise InputError(
                    "is the holder itself: its own licences need no grant", field="grantee.ref"
                )
            ref_text = str(to)
            if len(ref_text) > MAX_GRANTEE:
                raise InputError(f"is longer than {MAX_GRANTEE} characters", field="grantee.ref")
        else:
            ref_text = case_number(grantee, field="grantee.ref")
        start, end = check_period(valid_from or now, valid_until, now=now)
        grant = Grant(
            id=new_grant_id(),
            identifier=lic.identifier,
            holder=ref,
            grantee=Grantee(grantee_kind, ref_text),
            purpose=check_purpose(purpose),
            valid_from=start,
            valid_until=end,
            created_at=now,
            created_by=client.id,
        )
        self._store.add_grant(grant)
        return grant

    def withdraw(self, client: Client, grant_id: str) -> Grant:
        """Withdraw one of the holder's grants (at once: the next verification is masked)."""
        ref = _holder_of(client)
        grant = self._store.grant(grant_id)
        if grant is None or grant.holder != ref:
            raise NotFoundError(f"no grant {grant_id} of this holder", field="grant_id")
        if grant.withdrawn_at is not None:
            raise ConflictError(
                "this grant was already withdrawn", field="grant_id", code="already_withdrawn"
            )
        if not self._store.withdraw_grant(grant.id, at=self._clock(), by=client.id):
            raise ConflictError(
                "this grant was already withdrawn", field="grant_id", code="already_withdrawn"
            )
        withdrawn = self._store.grant(grant.id)
        assert withdrawn is not None
        return withdrawn

    def grants(self, client: Client, *, identifier: str | None = None) -> list[Grant]:
        """A holder's grants (all, or of one licence); a hall's grants in force."""
        if client.role is Role.HALL:
            return [
                g
                for g in self._store.grants_to(
                    Grantee(GranteeKind.HALL, client.id), at=self._clock()
                )
                if identifier is None or g.identifier == identifier
            ]
        ref = _holder_of(client)
        if identifier is not None:
            identifier = str(parse_identifier(identifier))
        return self._store.grants_of(ref, identifier=identifier)

    def granted_to_me(
        self, client: Client, *, case: str | None = None
    ) -> list[tuple[Grant, Licence]]:
        """Licences other holders granted to this holder — or to its case ``case`` — in force
        now, each with the grant (newest first, one per licence): what its applications may
        cite besides its own (the apply page offers them with one tap)."""
        ref = _holder_of(client)
        now = self._clock()
        grantees = [Grantee(GranteeKind.HOLDER, str(ref))]
        if case is not None:
            grantees.append(Grantee(GranteeKind.CASE, case_number(case, field="case")))
        out: list[tuple[Grant, Licence]] = []
        seen: set[str] = set()
        for grantee in grantees:
            for g in self._store.grants_to(grantee, at=now):
                if g.identifier in seen or g.holder == ref:
                    continue
                lic = self._registry.licence(g.identifier)
                if lic is None:
                    continue
                seen.add(g.identifier)
                out.append((g, lic))
        return out

    def granted_licence(self, client: Client, grant_id: str) -> tuple[Grant, Licence]:
        """The licence a grant in force lets this hall read in full (a usage record, ``grant``)."""
        grant = self._grant_for_hall(client, grant_id)
        lic = self._reading.licence_for(_on_behalf(client, grant), grant.identifier)
        self._record_grant_use(client, grant, lic)
        return grant, lic

    def granted_pdf(self, client: Client, grant_id: str) -> bytes:
        """The signed PDF of the licence a grant in force lets this hall fetch."""
        grant, lic = self.granted_licence(client, grant_id)
        return self._reading.pdf(_on_behalf(client, grant), lic.identifier)

    def may_cite(
        self,
        applicant: HolderRef,
        identifier: str,
        *,
        case: str | None = None,
        hall: Client | None = None,
    ) -> CiteDecision:
        """Whether a case of ``applicant`` may cite ``identifier`` (:class:`AuthorisedUse`)."""
        return AuthorisedUse(self._store, clock=self._clock).may_cite(
            applicant, identifier, case=case, hall=hall
        )

    def _grant_for_hall(self, client: Client, grant_id: str) -> Grant:
        if client.role is not Role.HALL:
            raise PermissionDeniedError("only the hall a grant names may use it")
        grant = self._store.grant(grant_id)
        if (
            grant is None
            or grant.grantee != Grantee(GranteeKind.HALL, client.id)
            or not grant.in_force(self._clock())
        ):
            # withdrawn, expired, another hall's: the same answer, so nothing leaks
            raise NotFoundError(f"no grant {grant_id} in force for this hall", field="grant_id")
        return grant

    def _record_grant_use(self, client: Client, grant: Grant, lic: Licence) -> None:
        now = self._clock()
        self._registry.record_usage(
            at=now,
            client_id=client.id,
            identifier=lic.identifier,
            channel="grant",
            verdict=lic.effective_status(china_today(now)),
        )

    # -- usage records -------------------------------------------------------------------------

    def usage(self, client: Client, *, identifier: str | None = None) -> list[UsageEntry]:
        """Who checked or used which of the holder's licences, when, and under which grant."""
        ref = _holder_of(client)
        if identifier is not None:
            identifier = str(parse_identifier(identifier))
        return self._store.usage_of(ref, identifier=identifier)

    # -- API tokens of a holder (an enterprise's own systems) -----------------------------------

    def tokens(self, client: Client) -> list[ClientRecord]:
        return self._tokens(_holder_of(client))

    def _tokens(self, ref: HolderRef) -> list[ClientRecord]:
        """The holder's API clients, less the row of its web sign-in (no key: not a token)."""
        web = holder_client_id(ref)
        return [t for t in self._store.holder_clients(ref) if t.id != web]

    def new_token(self, client: Client, *, name: str) -> NewClient:
        """An API key acting for this holder (shown once)."""
        ref = _holder_of(client)
        live = [t for t in self._tokens(ref) if t.disabled_at is None]
        if len(live) >= MAX_TOKENS:
            raise ConflictError(
                f"a holder keeps at most {MAX_TOKENS} tokens: disable one first",
                field="name",
                code="too_many_tokens",
            )
        name = (name or "").strip()
        if not name or len(name) > 100:
            raise InputError("must be 1-100 characters", field="name")
        return self._access.add_client(name=name, role=Role.HOLDER, department=None, holder=ref)

    def disable_token(self, client: Client, token_id: str) -> None:
        ref = _holder_of(client)
        if not any(t.id == token_id for t in self._tokens(ref)):
            raise NotFoundError(f"no token {token_id} of this holder", field="token_id")
        self._access.disable_client(token_id)


def _holder_of(client: Client) -> HolderRef:
    if client.role is not Role.HOLDER or client.holder is None:
        raise PermissionDeniedError("only a holder (a citizen or an enterprise) may do this")
    return client.holder


def _on_behalf(hall: Client, grant: Grant) -> Client:
    """A hall acting under a holder's grant reads as that holder would (one licence only)."""
    return Client(hall.id, hall.name, Role.HOLDER, None, grant.holder)
