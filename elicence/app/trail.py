"""Application layer: the audit trail of privileged actions: who did what to which target, when,
from where (request id and address, where there was a request), and how it ended.

What is recorded (docs/abuse.md has the table): lifecycle changes and bulk changes, a licence PDF
fetched by an admin, client add / disable / key rotation, key init / rotation / compromise,
catalogue import, mirror set-up, backup and restore. Issuance is not: it is a department's
ordinary business, at thousands a second, and each issuance is already an ``issued`` event with
its actor in the event log.

How it relates to the event log: the log (``events``) is *what happened to licences* — hash
chained, checkpointed, mirrored to halls. The trail is *who asked for a privileged action and
how it ended*, successes and refusals alike, for operators only. A successful lifecycle change
is in both: the log holds its content, the trail holds its request (actor, request id, address)
and points at the log by the changed identifiers and versions; a refused one (403, 404, 409) is
only in the trail, since nothing happened to a licence.

Invariants: every call of a recorded use case through the facade writes exactly one record,
after the action (``ok``) or after it raised (``refused`` for the caller's errors, ``failed``
for the service's); a record is never changed or deleted; only admins read the trail.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from elicence.domain.clients import Client, Role
from elicence.domain.trailquery import Outcome, TrailQuery
from elicence.errors import (
    Error,
    Kind,
    PermissionDeniedError,
    RegistryError,
)
from elicence.registry.trail import TrailRecord, TrailStore

log = logging.getLogger("elicence.trail")


class TrailAction(StrEnum):
    LICENCE_REVOKE = "licence.revoke"
    LICENCE_SUSPEND = "licence.suspend"
    LICENCE_REINSTATE = "licence.reinstate"
    LICENCE_AMEND = "licence.amend"
    LICENCE_RENEW = "licence.renew"
    LICENCE_BULK = "licence.bulk"
    LICENCE_PDF = "licence.pdf"  # fetched by an admin
    CLIENT_ADD = "client.add"
    CLIENT_DISABLE = "client.disable"
    CLIENT_ROTATE = "client.rotate"
    KEYS_INIT = "keys.init"
    KEYS_ROTATE = "keys.rotate"
    KEYS_COMPROMISE = "keys.compromise"
    KEYS_CRL = "keys.crl"  # the root's CRL signed anew (a ceremony when the root is offline)
    KEYS_ENROL_TOKEN = "keys.enrol_token"  # noqa: S105 - an action name (a key ceremony)
    CATALOGUE_IMPORT = "catalogue.import"
    MIRROR_SETUP = "mirror.setup"
    BACKUP_CREATE = "backup.create"
    BACKUP_RESTORE = "backup.restore"


# The kinds of error that are the service's failure, not the caller's (docs/errors.md).
SERVICE_FAILURES = frozenset({Kind.UNAVAILABLE, Kind.INTEGRITY})


@dataclass(frozen=True, slots=True)
class RequestContext:
    """Where the current action comes from: set by the transport for the whole request."""

    actor: str | None = None  # the command line names its operator ("cli:<user>")
    request_id: str | None = None
    address: str | None = None


CONTEXT: ContextVar[RequestContext] = ContextVar("elicence_request", default=RequestContext())  # noqa: B039


class Trail:
    """Record privileged actions; let admins read them."""

    def __init__(self, store: TrailStore, *, clock: Callable[[], dt.datetime]) -> None:
        self._store = store
        self._clock = clock

    @contextmanager
    def action(
        self,
        action: TrailAction,
        /,
        *,
        client: Client | None,
        target: str | None = None,
        **detail: Any,
    ) -> Iterator[dict[str, Any]]:
        """Record ``action`` when the block ends; the block may add to the yielded detail."""
        found: dict[str, Any] = {k: v for k, v in detail.items() if v is not None}
        try:
            yield found
        except Error as e:
            found["error"] = {"code": e.code, "message": e.message}
            outcome = Outcome.FAILED if e.kind in SERVICE_FAILURES else Outcome.REFUSED
            self._append(action, client, target, outcome, found, after_error=True)
            raise
        except Exception as e:
            found["error"] = {"code": "internal_error", "message": type(e).__name__}
            self._append(action, client, target, Outcome.FAILED, found, after_error=True)
            raise
        self._append(action, client, target, Outcome.OK, found)

    def _append(
        self,
        action: TrailAction,
        client: Client | None,
        target: str | None,
        outcome: Outcome,
        detail: dict[str, Any],
        *,
        after_error: bool = False,
    ) -> None:
        """Append one record. ``after_error``: the action failed, and its own error is the one
        to report, so a failure to record it is logged instead of raised."""
        ctx = CONTEXT.get()
        try:
            self._store.append(
                at=self._clock(),
                actor=ctx.actor or (client.id if client else "unknown"),
                role=str(client.role) if client else None,
                action=str(action),
                target=target,
                outcome=str(outcome),
                detail=_jsonable(detail),
                request_id=ctx.request_id,
                address=ctx.address,
            )
        except RegistryError:
            if not after_error:
                raise
            log.exception("could not record %s %s (%s) in the audit trail", action, target, outcome)

    def records(self, client: Client | None, query: TrailQuery) -> list[TrailRecord]:
        """The records ``query`` asks for (oldest first), for admins and the command line only."""
        if client is not None and client.role is not Role.ADMIN:
            raise PermissionDeniedError("only admins read the audit trail")
        return self._store.records(query.checked())


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [_jsonable(v) for v in value]
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    if value is None or isinstance(value, bool | int | float | str):
        return value
    return str(value)
