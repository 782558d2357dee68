"""Issuer: synchronous, idempotent issuance (增量同步签发), one licence or a batch.

Concurrent single issuances share transactions (group commit, docs/adr/0008-group-commit.md): the
calling thread checks its request, then :class:`~elicence.domain.groupcommit.GroupCommit` hands
it, with every request queued meanwhile, to one leader that takes their status indices, seals
them and stores them with their events in one transaction (one hold of the log's lock, one commit).

Invariants:
- a licence is stored with its issuance event in one transaction, or not at all;
- status indices are unique per department; a group that did not commit gives them back (SQLite:
  its transaction reserved them; PostgreSQL: the process's reserved block hands them out again,
  and what is left of a block when the process stops stays clear bits, registry/pggroup.py);
- ``(department, source_ref)`` names one licence forever: the same checked request again answers
  that licence (``created=False``); another request under it is a :class:`ConflictError`;
- serials come from the CSPRNG and the registry's unique identifier refuses a reuse.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Any, Protocol

from elicence.domain.catalogue import (
    Catalogue,
    Department,
    HolderCategory,
    LicenceType,
    SignatureAlgorithm,
)
from elicence.domain.codes import LicenceIdentifier, new_serial
from elicence.domain.groupcommit import GroupCommit
from elicence.domain.licence import (
    DraftFields,
    EventKind,
    Holder,
    IssuanceRequest,
    Licence,
    LicenceDraft,
    LicenceEvent,
    mask_id,
)
from elicence.errors import (
    ConflictError,
    DuplicateSourceRefError,
    Error,
    InputError,
    KeyCustodyError,
)
from elicence.formats.seal import SealClaims, SealedLicence, expiry_instant, seal_licence
from elicence.issuer.validation import check_draft, check_request, request_hash
from elicence.keys.signer import Signer, signer_key

MAX_BATCH = 1000


class IssuanceUnitOfWork(Protocol):
    def licence_by_source_ref(self, department: str, source_ref: str) -> Licence | None: ...
    def licences_by_source_refs(
        self, department: str, refs: Sequence[str]
    ) -> dict[str, Licence]: ...
    def add_licences(self, licences: Sequence[Licence], events: Sequence[LicenceEvent]) -> None: ...
    def reserve_status_indices(self, department: str, count: int) -> int: ...
    def commit(self) -> None: ...


class GroupUnitOfWork(Protocol):
    """The transaction of one group of single issuances: status indices, add, commit (the log's
    lock is held from before the events are chained to the commit)."""

    def reserve_indices(self, counts: Mapping[str, int]) -> dict[str, int]: ...
    def add_licences(self, licences: Sequence[Licence], events: Sequence[LicenceEvent]) -> None: ...
    def commit(self) -> None: ...


class IssuanceStore(Protocol):
    def unit_of_work(self) -> AbstractContextManager[IssuanceUnitOfWork]: ...
    def writer_unit_of_work(self) -> AbstractContextManager[GroupUnitOfWork]:
        """A unit of work on a connection kept for one writer at a time (the group's leader)."""
        ...


class Printable(Protocol):
    """Refuses (:class:`InputError`, naming the field as ``names`` say) a request whose text
    the licence document could not print: the PDF renderer's ``check_printable``."""

    def __call__(self, request: IssuanceRequest, names: DraftFields = ..., /) -> None: ...


@dataclass(frozen=True, slots=True)
class IssuanceResult:
    licence: Licence
    created: bool  # False: a retry answered with the licence issued before


@dataclass(frozen=True, slots=True)
class _Checked:
    """A checked request waiting for its group: everything the leader needs to seal it."""

    request: IssuanceRequest
    digest: str
    dept: Department
    licence_type: LicenceType
    signer: Signer
    actor: str

    @property
    def key(self) -> tuple[str, str]:
        return self.dept.uscc, self.request.source_ref


# The outcome of one item of a group: its new licence, or None when its source_ref is taken.
_Stored = Licence | None


@dataclass(frozen=True, slots=True)
class BatchItemResult:
    index: int
    result: IssuanceResult | None
    error: Error | None


class IssuanceService:
    """Issue licences for departments. Given everything it needs; reads no settings."""

    def __init__(
        self,
        *,
        store: IssuanceStore,
        catalogue: Callable[[], Catalogue],
        signers: Mapping[str, Signer],
        clock: Callable[[], dt.datetime],
        printable: Printable | None = None,
    ) -> None:
        self._store = store
        self._catalogue = catalogue
        self._signers = signers
        self._clock = clock
        # refuses (InputError) a request the licence document could not print, before storing
        self._printable = printable
        self._group: GroupCommit[_Checked, _Stored] = GroupCommit(self._write_group)

    @property
    def group_commit(self) -> GroupCommit[_Checked, _Stored]:
        """The group committer of single issuances (its counters show how groups formed)."""
        return self._group

    # -- one --------------------------------------------------------------------------------

    def issue(self, raw: Mapping[str, Any], *, department: str, actor: str) -> IssuanceResult:
        """Check, seal and store one licence (or answer the one stored under its source_ref)."""
        catalogue = self._catalogue()
        dept = catalogue.department(department)
        request = check_request(raw, catalogue=catalogue, department=dept)
        return self._issue(request, catalogue, dept, actor)

    def issue_draft(self, draft: LicenceDraft, *, department: str, actor: str) -> IssuanceResult:
        """:meth:`issue` for a use case's typed draft (the hall's approval), checked by the
        same rules; idempotent by its ``source_ref`` likewise."""
        catalogue = self._catalogue()
        dept = catalogue.department(department)
        request = check_draft(draft, catalogue=catalogue, department=dept)
        return self._issue(request, catalogue, dept, actor)

    def check_draft(
        self,
        draft: LicenceDraft,
        *,
        department: str,
        names: DraftFields = DraftFields(),  # noqa: B008 - frozen
    ) -> IssuanceRequest:
        """The request ``draft`` would issue (numbered if it had no number), checked as
        :meth:`issue_draft` will check it, the licence document's printability included;
        nothing is sealed or stored."""
        catalogue = self._catalogue()
        dept = catalogue.department(department)
        request = check_draft(draft, catalogue=catalogue, department=dept, names=names)
        if self._printable is not None:
            self._printable(request, names)
        return request

    def _issue(
        self, request: IssuanceRequest, catalogue: Catalogue, dept: Department, actor: str
    ) -> IssuanceResult:
        if self._printable is not None:
            self._printable(request)
        digest = request_hash(request)
        licence_type = catalogue.licence_type(request.type_code)
        item = _Checked(
            request,
            digest,
            dept,
            licence_type,
            signer_for(self._signers, dept, licence_type.algorithm),
            actor,
        )
        stored = self._group.submit(item)
        if stored is not None:
            return IssuanceResult(stored, created=True)
        # a retry, or a concurrent twin that won the race: answer what is stored
        with self._store.unit_of_work() as uow:
            existing = uow.licence_by_source_ref(dept.uscc, request.source_ref)
        if existing is None:  # pragma: no cover - the unique index said it exists
            raise ConflictError(
                "source_ref is taken but its licence cannot be read", field="source_ref"
            )
        return _replay(existing, digest)

    def _write_group(self, items: Sequence[_Checked]) -> list[_Stored | BaseException]:
        """Store a group of single issuances; one outcome per item, in order.

        Optimistic, as one issuance was: insert, and let the unique (department, source_ref)
        index catch a retry. Twins within the group are stored once (the first); the others are
        answered from it. If the group's transaction fails, each item is tried alone, so one
        item's failure (a source_ref a concurrent request took first) is that item's only.
        """
        first: dict[tuple[str, str], int] = {}
        for i, item in enumerate(items):
            first.setdefault(item.key, i)
        leaders = [items[i] for i in sorted(first.values())]
        try:
            stored: list[_Stored | BaseException] = list(self._store_group(leaders))
        except DuplicateSourceRefError:
            stored = [None] if len(leaders) == 1 else [self._store_alone(i) for i in leaders]
        except Error as e:
            stored = [e] if len(leaders) == 1 else [self._store_alone(i) for i in leaders]
        outcome = {item.key: result for item, result in zip(leaders, stored, strict=True)}
        out: list[_Stored | BaseException] = []
        for i, item in enumerate(items):
            result = outcome[item.key]
            if first[item.key] != i and not isinstance(result, BaseException):
                result = None  # a twin: answered from what its first stored
            out.append(result)
        return out

    def _store_alone(self, item: _Checked) -> _Stored | BaseException:
        try:
            return self._store_group([item])[0]
        except DuplicateSourceRefError:
            return None
        except Error as e:
            return e

    def _store_group(self, items: Sequence[_Checked]) -> list[Licence]:
        """Take the items' status indices, seal the items and store them with their events, in
        one transaction (indices in department order, then the log's lock, as every writer takes
        them, so that writers never dead-lock; on PostgreSQL the indices come from the process's
        reserved blocks and the lock is held only while the database appends and commits)."""
        counts: dict[str, int] = {}
        for item in items:
            counts[item.dept.uscc] = counts.get(item.dept.uscc, 0) + 1
        with self._store.writer_unit_of_work() as uow:  # only the leader writes here
            next_index = uow.reserve_indices(counts)  # PostgreSQL: from the process's blocks
            licences = []
            for item in items:
                index = next_index[item.dept.uscc]
                next_index[item.dept.uscc] = index + 1
                licences.append(
                    self._seal(
                        item.request, item.licence_type, item.dept, item.digest, item.signer, index
                    )
                )
            uow.add_licences(
                licences,
                [_issued_event(lic, item.actor) for lic, item in zip(licences, items, strict=True)],
            )
            uow.commit()
        return licences

    # -- batch ------------------------------------------------------------------------------

    def issue_batch(
        self, items: Sequence[Mapping[str, Any]], *, department: str, actor: str
    ) -> list[BatchItemResult]:
        """Issue up to :data:`MAX_BATCH` licences; each item gets its own result.

        Valid items are stored in one transaction; a bad item affects only its own result.
        """
        if len(items) > MAX_BATCH:
            raise InputError(f"has {len(items)} items, at most {MAX_BATCH} allowed", field="items")
        catalogue = self._catalogue()
        dept = catalogue.department(department)
        results: list[BatchItemResult | None] = [None] * len(items)
        checked: list[tuple[int, IssuanceRequest, str]] = []
        for i, raw in enumerate(items):
            try:
                req = check_request(raw, catalogue=catalogue, department=dept)
                if self._printable is not None:
                    self._printable(req)
            except Error as e:
                results[i] = BatchItemResult(i, None, e)
            else:
                checked.append((i, req, request_hash(req)))
        for _attempt in range(3):
            try:
                self._store_batch(checked, results, catalogue, dept, actor)
                break
            except DuplicateSourceRefError:
                continue  # a concurrent request took a source_ref: look again
        else:
            raise ConflictError("the batch kept racing concurrent issuances; retry it")
        return [r for r in results if r is not None]

    def _store_batch(
        self,
        checked: list[tuple[int, IssuanceRequest, str]],
        results: list[BatchItemResult | None],
        catalogue: Catalogue,
        dept: Department,
        actor: str,
    ) -> None:
        with self._store.unit_of_work() as uow:
            existing = uow.licences_by_source_refs(dept.uscc, [r.source_ref for _, r, _ in checked])
            new: dict[str, tuple[int, IssuanceRequest, str]] = {}
            repeats: list[tuple[int, str, str]] = []  # (item, source_ref, digest) of a new one's
            for i, req, digest in checked:
                known = existing.get(req.source_ref)
                if known is not None:
                    results[i] = _replayed(i, known, digest)
                elif req.source_ref in new:
                    repeats.append((i, req.source_ref, digest))
                else:
                    new[req.source_ref] = (i, req, digest)
            fresh: dict[str, Licence] = {}
            pending: list[tuple[int, Licence]] = []
            if new:
                first = uow.reserve_status_indices(dept.uscc, len(new))  # one statement
                for k, (i, req, digest) in enumerate(new.values()):
                    lt = catalogue.licence_type(req.type_code)
                    signer = signer_for(self._signers, dept, lt.algorithm)
                    lic = self._seal(req, lt, dept, digest, signer, first + k)
                    fresh[req.source_ref] = lic
                    pending.append((i, lic))
            uow.add_licences(
                [lic for _, lic in pending], [_issued_event(lic, actor) for _, lic in pending]
            )
            uow.commit()
        for i, source_ref, digest in repeats:
            results[i] = _replayed(i, fresh[source_ref], digest)
        for i, lic in pending:
            results[i] = BatchItemResult(i, IssuanceResult(lic, created=True), None)

    # -- sealing ----------------------------------------------------------------------------

    def _seal(
        self,
        request: IssuanceRequest,
        licence_type: LicenceType,
        dept: Department,
        digest: str,
        signer: Signer,
        status_index: int,
    ) -> Licence:
        return new_licence(
            request,
            licence_type,
            dept,
            signer,
            digest=digest,
            status_index=status_index,
            now=self._clock(),
        )


def new_licence(
    request: IssuanceRequest,
    licence_type: LicenceType,
    dept: Department,
    signer: Signer,
    *,
    digest: str,
    status_index: int,
    now: dt.datetime,
) -> Licence:
    """A new licence (version 1, a fresh CSPRNG serial) sealed for a checked request."""
    identifier = str(LicenceIdentifier(request.type_code, dept.uscc, new_serial(), 1))
    return sealed_version(
        request,
        licence_type,
        dept,
        signer,
        identifier=identifier,
        version=1,
        status_index=status_index,
        now=now,
        source_ref=request.source_ref,
        request_hash=digest,
    )


def signer_for(
    signers: Mapping[str, Signer], dept: Department, algorithm: str = SignatureAlgorithm.ES256
) -> Signer:
    """The department's active signer of ``algorithm`` (a licence type's: ES256 or SM2), or a
    :class:`KeyCustodyError` that says what to do."""
    signer = signers.get(signer_key(dept.uscc, algorithm))
    if signer is None or signer.algorithm != algorithm:
        raise KeyCustodyError(
            f"department {dept.uscc} has no active {algorithm} signing key: run `elicence keys "
            "init`"
        )
    return signer


def sealed_version(
    request: IssuanceRequest,
    licence_type: LicenceType,
    dept: Department,
    signer: Signer,
    *,
    identifier: str,
    version: int,
    status_index: int,
    now: dt.datetime,
    source_ref: str | None = None,
    request_hash: str | None = None,
) -> Licence:
    """Seal one version of a licence and return it as the registry will hold it.

    Issuance (version 1, with its source_ref and request hash) and amend/renew (a later version)
    both make licences here, so the seal and the stored record cannot drift apart.
    """
    claims = seal_claims(
        request.holder, request, licence_type, identifier, version, dept.uscc, now, status_index
    )
    return Licence.of_request(
        request,
        identifier=identifier,
        department_uscc=dept.uscc,
        version=version,
        issued_at=now,
        seal=seal_licence(claims, signer),
        kid=signer.kid.hex(),
        source_ref=source_ref,
        request_hash=request_hash,
        status_index=status_index,
    )


def seal_claims(
    holder: Holder,
    request: IssuanceRequest,
    licence_type: LicenceType,
    identifier: str,
    version: int,
    issuer: str,
    now: dt.datetime,
    status_index: int | None,
) -> SealClaims:
    """The claims sealed for a licence: the type's seal items, the holder id masked for persons,
    and its bit in the department's status lists."""
    person = licence_type.holder_category is HolderCategory.NATURAL_PERSON
    return SealClaims(
        issuer=issuer,
        issued_at=int(now.timestamp()),
        expires_at=expiry_instant(request.valid_until),
        licence=SealedLicence(
            identifier=identifier,
            type_code=request.type_code,
            licence_number=request.licence_number,
            holder_name=holder.name,
            holder_id=mask_id(holder.id_number) if person else holder.id_number,
            holder_id_type=str(holder.id_type),
            valid_from=request.valid_from,
            valid_until=request.valid_until,
            version=version,
            data={
                i.seal_key: request.data[i.name]
                for i in licence_type.seal_items
                if i.seal_key is not None and i.name in request.data
            },
            status_index=status_index,
        ),
    )


def _replayed(index: int, existing: Licence, digest: str) -> BatchItemResult:
    try:
        return BatchItemResult(index, _replay(existing, digest), None)
    except ConflictError as e:
        return BatchItemResult(index, None, e)


def _replay(existing: Licence, digest: str) -> IssuanceResult:
    if existing.request_hash != digest:
        raise ConflictError(
            f"source_ref {existing.source_ref!r} was used for a different request "
            f"(licence {existing.identifier})",
            field="source_ref",
            code="source_ref_conflict",
        )
    return IssuanceResult(existing, created=False)


def _issued_event(licence: Licence, actor: str) -> LicenceEvent:
    return new_licence_event(licence, EventKind.ISSUED, actor)


def new_licence_event(licence: Licence, kind: EventKind, actor: str) -> LicenceEvent:
    """The event that brings a licence (or a new version) into the log, carrying its seal, so
    that a mirror can rebuild the registry from the log alone (docs/formats.md §7)."""
    detail: dict[str, Any] = {
        "type_code": licence.type_code,
        "version": licence.version,
        "seal": licence.seal,
        "valid_from": licence.valid_from.isoformat(),
        "valid_until": licence.valid_until.isoformat() if licence.valid_until else None,
    }
    if licence.status_index is not None:
        detail["status_index"] = licence.status_index
    return LicenceEvent(
        kind=kind,
        identifier=licence.identifier,
        department=licence.department_uscc,
        actor=actor,
        at=licence.issued_at,
        detail=detail,
    )
