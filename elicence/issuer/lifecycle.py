"""Issuer: lifecycle of an issued licence: revoke (注销), suspend, reinstate, amend, renew.

The rules are one explicit table, :data:`TRANSITIONS`: (stored status, action) → new status of
the licence acted on. Anything not in the table is refused with the reason. Expiry is not an
action: it follows from the validity dates (:meth:`Licence.effective_status`).

Invariants:
- only the issuing department (or an admin) changes a licence; every change names its actor and
  a reason and is one event of the log, in the same transaction as the change;
- the licence rows are locked (``SELECT … FOR UPDATE`` on PostgreSQL, ``BEGIN IMMEDIATE`` on
  SQLite) before the rule is checked, so concurrent calls serialise and end in one state;
- amend and renew make a new version (identifier version + 1, a new seal carrying a new status
  index); the old version becomes ``superseded`` at once and points to the new one. Revoked and
  superseded licences are final;
- a renewal starts no later than the day it is made (China time), so a renewed licence has
  exactly one version in force at every instant: the old one until the renewal, the new one
  from then on.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, replace
from enum import StrEnum
from typing import Any, Protocol

from elicence.domain.catalogue import Catalogue
from elicence.domain.codes import parse_identifier
from elicence.domain.licence import EventKind, Licence, LicenceEvent, LicenceStatus, china_today
from elicence.errors import (
    IllegalTransitionError,
    InputError,
    NotFoundError,
    PermissionDeniedError,
)
from elicence.formats.eventlog import LogEvent
from elicence.issuer.service import new_licence_event, sealed_version, signer_for
from elicence.issuer.validation import check_request
from elicence.keys.signer import Signer

MAX_BULK = 1000
MAX_REASON = 500


class Action(StrEnum):
    REVOKE = "revoke"  # 注销: final
    SUSPEND = "suspend"
    REINSTATE = "reinstate"
    AMEND = "amend"  # a new version with changed content
    RENEW = "renew"  # a new version with a new validity period


V, S, R, X = (
    LicenceStatus.VALID,
    LicenceStatus.SUSPENDED,
    LicenceStatus.REVOKED,
    LicenceStatus.SUPERSEDED,
)

# (stored status, action) -> the status of the licence acted on afterwards.
TRANSITIONS: Mapping[tuple[LicenceStatus, Action], LicenceStatus] = {
    (V, Action.REVOKE): R,
    (V, Action.SUSPEND): S,
    (V, Action.AMEND): X,
    (V, Action.RENEW): X,
    (S, Action.REVOKE): R,
    (S, Action.REINSTATE): V,
}

EVENT_KIND: Mapping[Action, EventKind] = {
    Action.REVOKE: EventKind.REVOKED,
    Action.SUSPEND: EventKind.SUSPENDED,
    Action.REINSTATE: EventKind.REINSTATED,
    Action.AMEND: EventKind.AMENDED,
    Action.RENEW: EventKind.RENEWED,
}


def next_status(licence: Licence, action: Action) -> LicenceStatus:
    """The status after ``action``, or :class:`IllegalTransitionError` saying why not."""
    after = TRANSITIONS.get((licence.status, action))
    if after is not None:
        return after
    ident, status = licence.identifier, licence.status
    if status is R:
        why = (
            f"licence {ident} is revoked (注销), which is final: it cannot be {EVENT_KIND[action]}"
        )
    elif status is X:
        why = (
            f"licence {ident} is superseded by {licence.superseded_by}: "
            f"only the current version can be {EVENT_KIND[action]}"
            if action in (Action.AMEND, Action.RENEW)
            else f"licence {ident} is superseded by {licence.superseded_by}: "
            f"{action} the current version instead"
        )
    elif status is S and action is Action.SUSPEND:
        why = f"licence {ident} is already suspended"
    elif status is S:
        why = f"licence {ident} is suspended: reinstate it before you {action} it"
    else:  # valid + reinstate
        why = f"licence {ident} is not suspended: only a suspended licence can be reinstated"
    raise IllegalTransitionError(why, field="identifier")


class LifecycleUnitOfWork(Protocol):
    def licences_for_update(
        self,
        *,
        identifiers: Sequence[str] | None = None,
        department: str | None = None,
        holder: tuple[str, str] | None = None,
        statuses: Sequence[str] | None = None,
    ) -> list[Licence]: ...
    def set_status(
        self, identifier: str, status: LicenceStatus, *, superseded_by: str | None = None
    ) -> None: ...
    def add_licences(self, licences: Sequence[Licence], events: Sequence[LicenceEvent]) -> None: ...
    def append_events(self, events: Sequence[LicenceEvent]) -> list[LogEvent]: ...
    def reserve_status_indices(self, department: str, count: int) -> int: ...
    def commit(self) -> None: ...


class LifecycleStore(Protocol):
    def unit_of_work(self) -> AbstractContextManager[LifecycleUnitOfWork]: ...


@dataclass(frozen=True, slots=True)
class Change:
    """The outcome of one lifecycle call: the licence acted on, and the new version if any."""

    licence: Licence
    new_version: Licence | None = None


def check_reason(reason: object) -> str:
    if not isinstance(reason, str) or not reason.strip():
        raise InputError("is required: say why", field="reason")
    text = reason.strip()
    if len(text) > MAX_REASON:
        raise InputError(f"is {len(text)} characters, at most {MAX_REASON}", field="reason")
    return text


class LifecycleService:
    """Lifecycle use cases. ``department`` is the acting department, or None for an admin."""

    def __init__(
        self,
        *,
        store: LifecycleStore,
        catalogue: Callable[[], Catalogue],
        signers: Mapping[str, Signer],
        clock: Callable[[], dt.datetime],
    ) -> None:
        self._store = store
        self._catalogue = catalogue
        self._signers = signers
        self._clock = clock

    # -- status changes ---------------------------------------------------------------------

    def change_status(
        self, identifier: str, action: Action, *, reason: str, department: str | None, actor: str
    ) -> Change:
        """Revoke, suspend or reinstate one licence."""
        if action not in (Action.REVOKE, Action.SUSPEND, Action.REINSTATE):
            raise InputError(f"{action} is not a status change", field="action")
        ident = str(parse_identifier(identifier))
        why = check_reason(reason)
        with self._store.unit_of_work() as uow:
            lic = self._locked_one(uow, ident, department)
            after = next_status(lic, action)
            uow.set_status(ident, after)
            uow.append_events([self._status_event(lic, action, after, why, actor)])
            uow.commit()
        return Change(replace(lic, status=after))

    def bulk(
        self,
        action: Action,
        *,
        reason: str,
        department: str | None,
        actor: str,
        identifiers: Sequence[str] | None = None,
        holder: tuple[str, str] | None = None,
    ) -> list[Change]:
        """Revoke, suspend or reinstate many licences at once: all of them, or none.

        By ``identifiers`` every one must exist, belong to the acting department and allow the
        action. By ``holder`` (id type, id number): every licence of that holder (of the acting
        department) whose status allows the action.
        """
        if action not in (Action.REVOKE, Action.SUSPEND, Action.REINSTATE):
            raise InputError(f"must be revoke, suspend or reinstate, not {action}", field="action")
        if (identifiers is None) == (holder is None):
            raise InputError("give exactly one of identifiers and holder", field="identifiers")
        why = check_reason(reason)
        with self._store.unit_of_work() as uow:
            if identifiers is not None:
                if not identifiers:
                    raise InputError("must name at least one licence", field="identifiers")
                if len(identifiers) > MAX_BULK:
                    raise InputError(
                        f"has {len(identifiers)} items, at most {MAX_BULK}", field="identifiers"
                    )
                wanted = list(dict.fromkeys(str(parse_identifier(i)) for i in identifiers))
                found = uow.licences_for_update(identifiers=wanted)
                by_id = {lic.identifier: lic for lic in found}
                missing = [i for i in wanted if i not in by_id]
                if missing:
                    raise NotFoundError(
                        f"no licence {missing[0]}"
                        + (f" (and {len(missing) - 1} more)" if len(missing) > 1 else ""),
                        field="identifiers",
                    )
                targets = [by_id[i] for i in wanted]
                for lic in targets:
                    self._check_owner(lic, department)
                    next_status(lic, action)
            else:
                assert holder is not None
                allowed = [str(s) for (s, a) in TRANSITIONS if a is action]
                targets = uow.licences_for_update(
                    department=department, holder=holder, statuses=allowed
                )
                if not targets:
                    raise NotFoundError(
                        f"the holder has no licence that can be {EVENT_KIND[action]}"
                        + (" by this department" if department else ""),
                        field="holder",
                    )
            events = []
            changes = []
            for lic in targets:
                after = next_status(lic, action)
                uow.set_status(lic.identifier, after)
                events.append(self._status_event(lic, action, after, why, actor))
                changes.append(Change(replace(lic, status=after)))
            uow.append_events(events)
            uow.commit()
        return changes

    # -- new versions -----------------------------------------------------------------------

    def amend(
        self,
        identifier: str,
        changes: Mapping[str, Any],
        *,
        reason: str,
        department: str | None,
        actor: str,
    ) -> Change:
        """A new version with ``changes`` (licence_number, holder_name, valid_from,
        valid_until, data: merged, a null value removes an item), checked like an issuance."""
        allowed = {"licence_number", "holder_name", "valid_from", "valid_until", "data"}
        unknown = set(changes) - allowed
        if unknown:
            raise InputError(
                "cannot be amended (licence_number, holder_name, valid_from, valid_until, data)",
                field=f"changes.{sorted(unknown)[0]}",
            )
        if not changes:
            raise InputError("must change something", field="changes")
        data_changes = changes.get("data", {})
        if not isinstance(data_changes, Mapping):
            raise InputError("must be an object of data items", field="changes.data")
        return self._new_version(
            identifier,
            Action.AMEND,
            reason=reason,
            department=department,
            actor=actor,
            build=lambda old, _cat: _merged(old, changes, data_changes),
        )

    def renew(
        self,
        identifier: str,
        *,
        reason: str,
        department: str | None,
        actor: str,
        valid_from: dt.date | None = None,
    ) -> Change:
        """A new version valid from ``valid_from`` (default: today, China time) to the last day
        the catalogue's validity rule gives.

        A renewal takes effect when it is made: the old version is superseded at once, so the
        new one must be in force at once (``valid_from`` today or earlier). Then at every instant
        exactly one version is in force (docs/formats.md §7.1, "Renewal")."""

        def build(old: Licence, catalogue: Catalogue) -> dict[str, Any]:
            rule = catalogue.licence_type(old.type_code).validity
            if rule.long_term or old.valid_until is None:
                raise IllegalTransitionError(
                    f"licence {old.identifier} is long-term (validity {rule}): "
                    "there is nothing to renew",
                    field="identifier",
                )
            today = china_today(self._clock())
            if old.valid_from > today:
                raise IllegalTransitionError(
                    f"licence {old.identifier} is not in force before {old.valid_from}: there is "
                    "nothing to renew yet (amend it to change its dates)",
                    field="identifier",
                )
            start = valid_from or today
            if start > today:
                raise InputError(
                    f"must be today ({today}, China time) or earlier: a renewal takes effect "
                    "when it is made (the old version is superseded at once), so a later start "
                    "would leave the holder with no licence in force until then",
                    field="valid_from",
                )
            if start < old.valid_from:
                raise InputError(
                    f"must not be before the current validity start ({old.valid_from})",
                    field="valid_from",
                )
            raw = _merged(old, {}, {})
            raw["valid_from"], raw["valid_until"] = start.isoformat(), None
            return raw

        return self._new_version(
            identifier, Action.RENEW, reason=reason, department=department, actor=actor, build=build
        )

    def _new_version(
        self,
        identifier: str,
        action: Action,
        *,
        reason: str,
        department: str | None,
        actor: str,
        build: Callable[[Licence, Catalogue], dict[str, Any]],
    ) -> Change:
        ident = parse_identifier(identifier)
        why = check_reason(reason)
        catalogue = self._catalogue()
        with self._store.unit_of_work() as uow:
            old = self._locked_one(uow, str(ident), department)
            after = next_status(old, action)
            dept = catalogue.department(old.department_uscc)
            request = check_request(build(old, catalogue), catalogue=catalogue, department=dept)
            if old.version >= 999:
                raise IllegalTransitionError("the identifier's version cannot pass 999")
            new_ident = str(ident.with_version(old.version + 1))
            licence_type = catalogue.licence_type(request.type_code)
            signer = signer_for(self._signers, dept, licence_type.algorithm)
            status_index = uow.reserve_status_indices(dept.uscc, 1)  # the new version's bit
            new = sealed_version(
                request,
                licence_type,
                dept,
                signer,
                identifier=new_ident,
                version=old.version + 1,
                status_index=status_index,
                now=self._clock(),
            )
            uow.set_status(old.identifier, after, superseded_by=new_ident)
            event = new_licence_event(new, EVENT_KIND[action], actor)
            event = replace(
                event, detail={**event.detail, "reason": why, "supersedes": old.identifier}
            )
            uow.add_licences([new], [event])
            uow.commit()
        return Change(replace(old, status=after, superseded_by=new_ident), new)

    # -- helpers ----------------------------------------------------------------------------

    def _locked_one(self, uow: LifecycleUnitOfWork, ident: str, department: str | None) -> Licence:
        found = uow.licences_for_update(identifiers=[ident])
        if not found:
            raise NotFoundError(f"no licence {ident}", field="identifier")
        self._check_owner(found[0], department)
        return found[0]

    @staticmethod
    def _check_owner(lic: Licence, department: str | None) -> None:
        if department is not None and lic.department_uscc != department:
            raise PermissionDeniedError(
                f"licence {lic.identifier} was issued by {lic.department_uscc}: only its issuing "
                "department (or an admin) may change it",
                field="identifier",
                code="not_issuing_department",
            )

    def _status_event(
        self, lic: Licence, action: Action, after: LicenceStatus, reason: str, actor: str
    ) -> LicenceEvent:
        return LicenceEvent(
            kind=EVENT_KIND[action],
            identifier=lic.identifier,
            department=lic.department_uscc,
            actor=actor,
            at=self._clock(),
            detail={"reason": reason, "from": str(lic.status), "to": str(after)},
        )


def _merged(old: Licence, changes: Mapping[str, Any], data: Mapping[str, Any]) -> dict[str, Any]:
    """A raw issuance request for the new version: the old licence with ``changes`` applied."""
    merged_data: dict[str, Any] = dict(old.data)
    for k, v in data.items():
        if v is None:
            merged_data.pop(k, None)
        else:
            merged_data[k] = v
    return {
        "source_ref": old.source_ref or "lifecycle",
        "type_code": old.type_code,
        "licence_number": changes.get("licence_number", old.licence_number),
        "holder": {
            "name": changes.get("holder_name", old.holder.name),
            "id_type": str(old.holder.id_type),
            "id_number": old.holder.id_number,
        },
        "valid_from": changes.get("valid_from", old.valid_from.isoformat()),
        "valid_until": changes.get(
            "valid_until", old.valid_until.isoformat() if old.valid_until else None
        ),
        "data": merged_data,
    }
