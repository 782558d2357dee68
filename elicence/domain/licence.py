"""Licence domain values: the holder, an issuance request and a draft, a stored licence and its
status, and the verdict a verification reaches.

Invariants: an :class:`IssuanceRequest` is only built by :func:`elicence.issuer.validation`
after every field passed its rule; a :class:`LicenceDraft` is what a use case asks the issuer
to issue, typed but not yet checked; a :class:`Licence` is what the registry holds.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum

from elicence.domain.catalogue import HolderIdType
from elicence.domain.codes import check_resident_id, check_uscc
from elicence.errors import InputError

CHINA_TZ = dt.timezone(dt.timedelta(hours=8), "CST")


class LicenceStatus(StrEnum):
    """The stored status of a licence. Expiry is not stored: it follows from the dates."""

    VALID = "valid"  # 现势
    SUSPENDED = "suspended"  # 暂停
    REVOKED = "revoked"  # 注销
    SUPERSEDED = "superseded"  # 已被新版本替代


class Verdict(StrEnum):
    """What a verification concludes of a licence (the verifier's ``judge`` decides it; the
    hall keeps the verdict a cited e-licence had)."""

    VALID = "valid"
    INVALID = "invalid"  # tampered, bad signature, inconsistent
    UNTRUSTED = "untrusted"  # signer not in the trust list, or not trusted for this
    REVOKED = "revoked"
    SUSPENDED = "suspended"
    EXPIRED = "expired"
    SUPERSEDED = "superseded"
    NOT_FOUND = "not_found"
    INDETERMINATE = "indeterminate"  # status data missing or stale
    NOT_YET_VALID = "not_yet_valid"  # genuine and in good standing, but its first day is ahead
    # signed with an algorithm this verifier does not know: it cannot say whether it is genuine
    UNSUPPORTED_ALGORITHM = "unsupported_algorithm"


@dataclass(frozen=True, slots=True)
class Holder:
    """The holder (持证主体) of a licence."""

    name: str
    id_type: HolderIdType
    id_number: str

    @property
    def ref(self) -> HolderRef:
        return HolderRef(self.id_type, self.id_number)


@dataclass(frozen=True, slots=True)
class HolderRef:
    """Who a holder is, as their licences name them: the id type code and the id number."""

    id_type: HolderIdType
    id_number: str

    def __str__(self) -> str:
        return f"{self.id_type}:{self.id_number}"

    @classmethod
    def parse(cls, text: object, *, field: str = "holder") -> HolderRef:
        """``"111:11010519491231002X"`` (id type code, a colon, the id number), checked."""
        if not isinstance(text, str) or ":" not in text:
            raise InputError(
                "must be the id type code and the id number joined by ':' "
                "(e.g. 111:11010519491231002X)",
                field=field,
            )
        id_type, id_number = text.split(":", 1)
        return holder_ref(id_type.strip(), id_number, field=field)


_OTHER_ID_RE = re.compile(r"[0-9A-Za-z()\-]{1,64}")


def parse_holder_id_type(value: object, *, field: str = "holder.id_type") -> HolderIdType:
    try:
        return HolderIdType(str(value))
    except ValueError:
        raise InputError(
            "must be a holder id type code (001, 099, 111, 411-414, 511, 516, 999)", field=field
        ) from None


def check_holder_id(id_type: HolderIdType, value: object, *, field: str) -> str:
    """An id number checked by its type's rule: USCC and resident ID by their check characters,
    the others as 1-64 letters, digits, '-' or brackets. Returned canonical (upper case)."""
    if id_type is HolderIdType.USCC:
        return check_uscc(value, field=field)
    if id_type is HolderIdType.RESIDENT_ID:
        return check_resident_id(value, field=field)
    if not isinstance(value, str) or not value.strip():
        raise InputError("is required", field=field)
    text = value.strip()
    if not _OTHER_ID_RE.fullmatch(text):
        raise InputError("must be 1-64 letters, digits, '-' or brackets", field=field)
    return text


def holder_ref(id_type: object, id_number: object, *, field: str = "holder") -> HolderRef:
    """A checked :class:`HolderRef` (errors name ``field.id_type`` or ``field.id_number``)."""
    kind = parse_holder_id_type(id_type, field=f"{field}.id_type")
    return HolderRef(kind, check_holder_id(kind, id_number, field=f"{field}.id_number"))


@dataclass(frozen=True, slots=True)
class IssuanceRequest:
    """A department's request to issue one licence, already checked field by field."""

    source_ref: str
    type_code: str
    licence_number: str
    holder: Holder
    valid_from: dt.date
    valid_until: dt.date | None
    data: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class LicenceDraft:
    """A licence a use case asks the issuer to issue (the hall's approval), typed but not yet
    checked: the issuer checks it by the same rules as a request (``check_draft``).

    ``licence_number`` None: the issuer numbers the licence; ``valid_until`` None: the licence
    type's validity rule sets the last day."""

    source_ref: str
    type_code: str
    holder: Holder
    valid_from: dt.date
    licence_number: str | None = None
    valid_until: dt.date | None = None
    data: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def of(cls, request: IssuanceRequest) -> LicenceDraft:
        """The draft that issues exactly ``request`` (its number and last day kept)."""
        return cls(
            source_ref=request.source_ref,
            type_code=request.type_code,
            holder=request.holder,
            valid_from=request.valid_from,
            licence_number=request.licence_number,
            valid_until=request.valid_until,
            data=request.data,
        )


@dataclass(frozen=True, slots=True)
class DraftFields:
    """The names the caller's user knows a draft's parts by, for the issuer's errors: the hall
    checks a draft built from an application as ``form.<item>`` and ``applicant.<part>``, not
    as the request fields ``data.<item>`` and ``holder.<part>`` it becomes."""

    licence_number: str = "licence_number"
    holder: str = "holder"  # holder.name, holder.id_type, holder.id_number
    valid_from: str = "valid_from"
    valid_until: str = "valid_until"
    data: str = "data"  # data.<item>


@dataclass(frozen=True, slots=True)
class Licence:
    """A licence as the registry holds it."""

    identifier: str
    type_code: str
    department_uscc: str
    licence_number: str
    holder: Holder
    valid_from: dt.date
    valid_until: dt.date | None
    data: Mapping[str, str]
    status: LicenceStatus
    version: int
    issued_at: dt.datetime
    seal: str
    kid: str
    source_ref: str | None = None
    request_hash: str | None = None
    superseded_by: str | None = None
    status_index: int | None = None  # its bit in the department's status lists

    @classmethod
    def of_request(
        cls,
        request: IssuanceRequest,
        *,
        identifier: str,
        department_uscc: str,
        version: int,
        issued_at: dt.datetime,
        seal: str,
        kid: str,
        source_ref: str | None = None,
        request_hash: str | None = None,
        status_index: int | None = None,
    ) -> Licence:
        """The valid licence a checked request describes (issued, a new version of one, or a
        draft's preview): its type, number, holder, validity and data are the request's."""
        return cls(
            identifier=identifier,
            type_code=request.type_code,
            department_uscc=department_uscc,
            licence_number=request.licence_number,
            holder=request.holder,
            valid_from=request.valid_from,
            valid_until=request.valid_until,
            data=request.data,
            status=LicenceStatus.VALID,
            version=version,
            issued_at=issued_at,
            seal=seal,
            kid=kid,
            source_ref=source_ref,
            request_hash=request_hash,
            status_index=status_index,
        )

    def effective_status(self, today: dt.date) -> str:
        """The status a hall sees today: the stored one, or ``expired`` past the last day."""
        if (
            self.status is LicenceStatus.VALID
            and self.valid_until is not None
            and today > self.valid_until
        ):
            return "expired"
        return str(self.status)


def mask_id(id_number: str) -> str:
    """Mask an id number, keeping the first 4 and last 4 characters (short ids: last 2)."""
    if len(id_number) <= 6:
        return "*" * (len(id_number) - 2) + id_number[-2:] if len(id_number) > 2 else "*" * 2
    return id_number[:4] + "*" * (len(id_number) - 8) + id_number[-4:]


def mask_name(name: str) -> str:
    """Mask a name: 张三 → 张*, 欧阳小明 → 欧**明, long organisation names keep head and tail."""
    if len(name) <= 1:
        return "*"
    if len(name) == 2:
        return name[0] + "*"
    if len(name) <= 4:
        return name[0] + "*" * (len(name) - 2) + name[-1]
    keep = max(1, len(name) // 4)
    return name[:keep] + "*" * (len(name) - 2 * keep) + name[-keep:]


def china_today(now: dt.datetime) -> dt.date:
    """The calendar date in China at ``now`` (validity dates are Beijing time)."""
    return now.astimezone(CHINA_TZ).date()


# the order a holder's licences are listed in: what can be relied on first
_LIST_ORDER = {"valid": 0, "not_yet_valid": 1, "suspended": 2, "expired": 3, "revoked": 4}


def fold_versions(
    licences: Sequence[Licence], today: dt.date
) -> list[tuple[Licence, list[Licence]]]:
    """A holder's licences as one entry per licence: its latest version (the one in force, where
    there is one), each with the versions it superseded, newest first. Entries in force come
    first, then suspended, expired and revoked; within each, the latest issued first.

    A version whose successor is not among ``licences`` (another holder's, after a change of
    holder) is its own entry."""
    by_id = {lic.identifier: lic for lic in licences}

    def head(lic: Licence) -> Licence:
        seen = {lic.identifier}
        while lic.superseded_by is not None and lic.superseded_by in by_id:
            lic = by_id[lic.superseded_by]
            if lic.identifier in seen:  # a cycle cannot be stored; do not loop if it were
                break
            seen.add(lic.identifier)
        return lic

    groups: dict[str, list[Licence]] = {}
    for lic in licences:
        groups.setdefault(head(lic).identifier, []).append(lic)
    folded = []
    for ident, members in groups.items():
        older = sorted(
            (m for m in members if m.identifier != ident),
            key=lambda m: (m.version, m.issued_at),
            reverse=True,
        )
        folded.append((by_id[ident], older))

    def rank(entry: tuple[Licence, list[Licence]]) -> tuple[int, float]:
        lic = entry[0]
        status = lic.effective_status(today)
        if status == "valid" and today < lic.valid_from:
            status = "not_yet_valid"
        return (_LIST_ORDER.get(status, 5), -lic.issued_at.timestamp())

    return sorted(folded, key=rank)


class EventKind(StrEnum):
    """What an event of the log records (docs/formats.md §7)."""

    ISSUED = "issued"
    REVOKED = "revoked"
    SUSPENDED = "suspended"
    REINSTATED = "reinstated"
    AMENDED = "amended"
    RENEWED = "renewed"
    RESEALED = "resealed"  # the same licence under a new seal (its key was compromised)


@dataclass(frozen=True, slots=True)
class LicenceEvent:
    """An entry for the append-only event log."""

    kind: EventKind
    identifier: str
    department: str
    actor: str
    at: dt.datetime
    detail: Mapping[str, object] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class RegistryRecord:
    """What the registry knows of one licence's standing, as a verifier needs it."""

    identifier: str
    seal: str
    status: LicenceStatus
    valid_from: dt.date
    valid_until: dt.date | None
    superseded_by: str | None = None
