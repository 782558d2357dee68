"""Synchronous, idempotent issuance (增量同步签发), one licence or a batch.

Invariants:
- a licence is stored with its issuance event in one transaction, or not at all;
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

from elicence.domain.catalogue import Catalogue, Department, HolderCategory, LicenceType
from elicence.domain.codes import LicenceIdentifier, new_serial
from elicence.domain.licence import (
    EventKind,
    Holder,
    IssuanceRequest,
    Licence,
    LicenceEvent,
    LicenceStatus,
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
from elicence.issuer.validation import check_request, request_hash
from elicence.keys.signer import Signer

MAX_BATCH = 1000


class IssuanceUnitOfWork(Protocol):
    def licence_by_source_ref(self, department: str, source_ref: str) -> Licence | None: ...
    def licences_by_source_refs(
        self, department: str, refs: Sequence[str]
    ) -> dict[str, Licence]: ...
    def add_licences(self, licences: Sequence[Licence], events: Sequence[LicenceEvent]) -> None: ...
    def reserve_status_indices(self, department: str, count: int) -> int: ...
    def commit(self) -> None: ...


class IssuanceStore(Protocol):
    def unit_of_work(self) -> AbstractContextManager[IssuanceUnitOfWork]: ...


@dataclass(frozen=True, slots=True)
class IssuanceResult:
    licence: Licence
    created: bool  # False: a retry answered with the licence issued before


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
        printable: Callable[[IssuanceRequest], None] | None = None,
    ) -> None:
        self._store = store
        self._catalogue = catalogue
        self._signers = signers
        self._clock = clock
        # refuses (InputError) a request the licence document could not print, before storing
        self._printable = printable

    # -- one --------------------------------------------------------------------------------

    def issue(self, raw: Mapping[str, Any], *, department: str, actor: str) -> IssuanceResult:
        """Check, seal and store one licence (or answer the one stored under its source_ref)."""
        catalogue = self._catalogue()
        dept = catalogue.department(department)
        request = check_request(raw, catalogue=catalogue, department=dept)
        if self._printable is not None:
            self._printable(request)
        digest = request_hash(request)
        licence_type = catalogue.licence_type(request.type_code)
        signer = signer_for(self._signers, dept)
        # Optimistic: insert, and let the unique (department, source_ref) index catch a retry.
        # The status index is reserved in the same transaction, so a retry gives it back.
        with self._store.unit_of_work() as uow:
            try:
                index = uow.reserve_status_indices(dept.uscc, 1)
                licence = self._seal(request, licence_type, dept, digest, signer, index)
                uow.add_licences([licence], [_issued_event(licence, actor)])
                uow.commit()
            except DuplicateSourceRefError:
                pass  # a retry, or a concurrent twin that won the race: answer what is stored
            else:
                return IssuanceResult(licence, created=True)
        with self._store.unit_of_work() as uow:
            existing = uow.licence_by_source_ref(dept.uscc, request.source_ref)
        if existing is None:  # pragma: no cover - the unique index said it exists
            raise ConflictError(
                "source_ref is taken but its licence cannot be read", field="source_ref"
            )
        return _replay(existing, digest)

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
                signer = signer_for(self._signers, dept)
                first = uow.reserve_status_indices(dept.uscc, len(new))  # one statement
                for k, (i, req, digest) in enumerate(new.values()):
                    lic = self._seal(
                        req, catalogue.licence_type(req.type_code), dept, digest, signer, first + k
                    )
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
        identifier = str(LicenceIdentifier(request.type_code, dept.uscc, new_serial(), 1))
        return sealed_version(
            request,
            licence_type,
            dept,
            signer,
            identifier=identifier,
            version=1,
            status_index=status_index,
            now=self._clock(),
            source_ref=request.source_ref,
            request_hash=digest,
        )


def signer_for(signers: Mapping[str, Signer], dept: Department) -> Signer:
    """The department's active signer, or a :class:`KeyCustodyError` that says what to do."""
    signer = signers.get(dept.uscc)
    if signer is None:
        raise KeyCustodyError(
            f"department {dept.uscc} has no active signing key: run `elicence keys init`"
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
    return Licence(
        identifier=identifier,
        type_code=request.type_code,
        department_uscc=dept.uscc,
        licence_number=request.licence_number,
        holder=request.holder,
        valid_from=request.valid_from,
        valid_until=request.valid_until,
        data=request.data,
        status=LicenceStatus.VALID,
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
