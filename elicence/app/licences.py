"""Application layer: licences, ``Elicence.licences`` — issuance (one or a batch), reading and
searching within what a client may see, the signed PDF, and the lifecycle (revoke, suspend,
reinstate, amend, renew, bulk) through one wrapper that records each change in the audit trail
and checkpoints the log when one is due."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from elicence.app import access
from elicence.app.eventlog import EventLog
from elicence.app.reading import LicenceReading
from elicence.app.trail import Trail, TrailAction
from elicence.domain.clients import Client, Role
from elicence.domain.licence import Licence
from elicence.issuer import BatchItemResult, IssuanceResult, IssuanceService
from elicence.issuer.lifecycle import Action, Change, LifecycleService
from elicence.templates.qr import verification_url


class Licences:
    """Licences as the API and the command line use them."""

    def __init__(
        self,
        *,
        reading: LicenceReading,
        issuer: IssuanceService,
        lifecycle: LifecycleService,
        trail: Trail,
        log: EventLog,
        public_base_url: str,
        clock: Callable[[], dt.datetime],
    ) -> None:
        self._reading = reading
        self._issuer = issuer
        self._lifecycle = lifecycle
        self._trail = trail
        self._log = log
        self._public_base_url = public_base_url
        self._clock = clock

    def issue(self, client: Client, raw: Mapping[str, Any]) -> IssuanceResult:
        department = access.issuing_department(client)
        result = self._issuer.issue(raw, department=department, actor=client.id)
        self._log.checkpoint(min_interval=EventLog.CHECKPOINT_INTERVAL)
        return result

    def issue_batch(
        self, client: Client, items: Sequence[Mapping[str, Any]]
    ) -> list[BatchItemResult]:
        department = access.issuing_department(client)
        results = self._issuer.issue_batch(items, department=department, actor=client.id)
        self._log.checkpoint()  # after every batch
        return results

    def verification_url(self, seal: str) -> str:
        return verification_url(self._public_base_url, seal)

    # -- reading --------------------------------------------------------------------------------

    def get(self, client: Client, identifier: str) -> Licence:
        """One licence the client may read (404 otherwise)."""
        return self._reading.licence_for(client, identifier)

    def search(self, client: Client, **filters: Any) -> list[Licence]:
        """Licences matching ``filters`` within what the client may see."""
        return self._reading.search(client, **filters)

    def pdf(self, client: Client, identifier: str) -> bytes:
        """The signed PDF of a licence: made and kept at the first request, then served kept.

        An admin's download is a privileged action (the trail records it); an owner's is not."""
        if client.role is Role.ADMIN:
            with self._trail.action(TrailAction.LICENCE_PDF, client=client, target=identifier):
                return self._reading.pdf(client, identifier)
        return self._reading.pdf(client, identifier)

    def change_status(
        self, client: Client, identifier: str, action: Action, *, reason: str
    ) -> Change:
        """Revoke, suspend or reinstate one licence."""
        return self._change(
            TrailAction(f"licence.{action}"),
            client,
            identifier,
            reason,
            lambda department: self._lifecycle.change_status(
                identifier, action, reason=reason, department=department, actor=client.id
            ),
        )

    def amend(
        self, client: Client, identifier: str, changes: Mapping[str, Any], *, reason: str
    ) -> Change:
        return self._change(
            TrailAction.LICENCE_AMEND,
            client,
            identifier,
            reason,
            lambda department: self._lifecycle.amend(
                identifier, changes, reason=reason, department=department, actor=client.id
            ),
            fields=sorted(changes),
        )

    def renew(
        self, client: Client, identifier: str, *, reason: str, valid_from: dt.date | None = None
    ) -> Change:
        return self._change(
            TrailAction.LICENCE_RENEW,
            client,
            identifier,
            reason,
            lambda department: self._lifecycle.renew(
                identifier,
                reason=reason,
                department=department,
                actor=client.id,
                valid_from=valid_from,
            ),
        )

    def _change(
        self,
        action: TrailAction,
        client: Client,
        identifier: str,
        reason: str,
        change: Callable[[str | None], Change],
        **detail: Any,
    ) -> Change:
        """The one lifecycle wrapper: ``change`` run for the client's acting department under
        the trail's record of ``action``, then a checkpoint when one is due."""
        with self._trail.action(
            action, client=client, target=identifier, reason=reason, **detail
        ) as rec:
            done = change(access.acting_department(client))
            rec.update(_changed(done))
        self._log.checkpoint(min_interval=EventLog.CHECKPOINT_INTERVAL)
        return done

    def bulk_change(
        self,
        client: Client,
        action: Action,
        *,
        reason: str,
        identifiers: Sequence[str] | None = None,
        holder: tuple[str, str] | None = None,
    ) -> list[Change]:
        """Revoke, suspend or reinstate many licences in one transaction."""
        with self._trail.action(
            TrailAction.LICENCE_BULK,
            client=client,
            target=":".join(holder) if holder else None,
            action=str(action),
            reason=reason,
            asked=len(identifiers) if identifiers is not None else None,
        ) as rec:
            changes = self._lifecycle.bulk(
                action,
                reason=reason,
                department=access.acting_department(client),
                actor=client.id,
                identifiers=identifiers,
                holder=holder,
            )
            rec.update(changed=len(changes), identifiers=[c.licence.identifier for c in changes])
        self._log.checkpoint()  # after every batch
        return changes


def _changed(change: Change) -> dict[str, Any]:
    """What the trail keeps of a lifecycle change: where to find it in the event log."""
    out: dict[str, Any] = {
        "status": str(change.licence.status),
        "version": change.licence.version,
    }
    if change.new_version is not None:
        out["new_identifier"] = change.new_version.identifier
    return out
