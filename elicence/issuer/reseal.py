"""Re-sealing: every licence a compromised department key sealed gets a new seal under the
department's active key, so that the compromised key can be untrusted for every seal (ADR 0011).

Invariants: a re-sealed licence keeps its identifier, version, content and status index (the new
seal's claims are the old seal's with only ``iat`` changed to the time of re-sealing); each
re-seal is a ``resealed`` event of the log in the same transaction as the new seal (so mirrors
follow); its kept documents (signed PDFs, signed with the same key) are dropped with it and made
again at the next request. Re-sealing is idempotent and resumable: it works on what is still
sealed by the key, in chunks of one transaction each.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Callable, Mapping, Sequence
from contextlib import AbstractContextManager
from typing import Any, Protocol

from elicence.domain.licence import EventKind, Licence, LicenceEvent
from elicence.errors import KeyCustodyError
from elicence.formats.seal import decode_seal, seal_licence
from elicence.keys.signer import ES256, Signer, signer_key

CHUNK = 500  # licences re-sealed per transaction


class ResealUnitOfWork(Protocol):
    def licences_sealed_by(
        self, department: str, kid: str, *, after_id: int, limit: int
    ) -> list[tuple[int, Licence]]: ...
    def replace_seal(self, identifier: str, *, seal: str, kid: str) -> None: ...
    def append_events(self, events: Sequence[LicenceEvent]) -> Sequence[Any]: ...
    def commit(self) -> None: ...


class ResealStore(Protocol):
    def unit_of_work(self) -> AbstractContextManager[ResealUnitOfWork]: ...


def resealed(seal: str, signer: Signer, *, now: dt.datetime) -> str:
    """The same claims as ``seal``, made at ``now`` and signed by ``signer``."""
    claims = decode_seal(seal).claims
    return seal_licence(dataclasses.replace(claims, issued_at=int(now.timestamp())), signer)


def reseal_licences(
    store: ResealStore,
    signers: Mapping[str, Signer],
    *,
    department: str,
    kid: str,
    actor: str,
    clock: Callable[[], dt.datetime],
    chunk: int = CHUNK,
    algorithm: str = ES256,
) -> int:
    """Re-seal every licence of ``department`` sealed by ``kid`` under the department's active
    key of the same ``algorithm`` (ES256 or SM2); returns how many. Two passes over the
    registry: the second finds any licence an issuance that was in flight during the first one
    committed under the old key."""
    count = 0
    for _sweep in range(2):
        after = 0
        while True:
            signer = signers.get(signer_key(department, algorithm))
            if signer is None:
                raise KeyCustodyError(
                    f"department {department} has no active key to re-seal with",
                    field="department",
                )
            if signer.kid.hex() == kid:
                raise KeyCustodyError(
                    f"key {kid} is still the active key of {department}: it cannot re-seal "
                    "its own licences",
                    field="kid",
                )
            with store.unit_of_work() as uow:
                found = uow.licences_sealed_by(department, kid, after_id=after, limit=chunk)
                if not found:
                    break
                now = clock()
                events = []
                for row_id, lic in found:
                    after = max(after, row_id)
                    seal = resealed(lic.seal, signer, now=now)
                    uow.replace_seal(lic.identifier, seal=seal, kid=signer.kid.hex())
                    events.append(_resealed_event(lic, seal, previous_kid=kid, actor=actor, at=now))
                uow.append_events(events)
                uow.commit()
                count += len(events)
    return count


def _resealed_event(
    licence: Licence, seal: str, *, previous_kid: str, actor: str, at: dt.datetime
) -> LicenceEvent:
    detail: dict[str, Any] = {"seal": seal, "previous_kid": previous_kid}
    if licence.status_index is not None:
        detail["status_index"] = licence.status_index
    return LicenceEvent(
        kind=EventKind.RESEALED,
        identifier=licence.identifier,
        department=licence.department_uscc,
        actor=actor,
        at=at,
        detail=detail,
    )
