"""The log audit and replay: what each event does to the registry, and whether the registry,
its hash-chained event log and the signed checkpoints all agree.

Invariants: :func:`replay` reads the log once, in order, and keeps one small tuple per licence;
:func:`audit` never trusts a stored checkpoint before its signature verified against the root.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field

from cryptography import x509

from elicence.domain.licence import EventKind, LicenceStatus
from elicence.errors import LogIntegrityError
from elicence.formats.eventlog import GENESIS, LogEvent, check_chain, verify_checkpoint
from elicence.registry import Registry

NEW_VERSION_KINDS = frozenset({EventKind.ISSUED, EventKind.AMENDED, EventKind.RENEWED})
STATUS_KINDS: Mapping[str, LicenceStatus] = {
    EventKind.REVOKED: LicenceStatus.REVOKED,
    EventKind.SUSPENDED: LicenceStatus.SUSPENDED,
    EventKind.REINSTATED: LicenceStatus.VALID,
}


@dataclass(frozen=True, slots=True)
class Effect:
    """What one event does: a new licence (by its seal) and status changes."""

    new_seal: str | None = None
    status_index: int | None = None
    statuses: tuple[tuple[str, LicenceStatus, str | None], ...] = field(default_factory=tuple)


def effect_of(event: LogEvent) -> Effect:
    """The effect of an event of the log; unknown kinds change nothing."""
    detail = event.detail
    if event.kind in NEW_VERSION_KINDS:
        seal = detail.get("seal")
        index = detail.get("status_index")
        statuses: list[tuple[str, LicenceStatus, str | None]] = [
            (event.identifier, LicenceStatus.VALID, None)
        ]
        old = detail.get("supersedes")
        if isinstance(old, str):
            statuses.append((old, LicenceStatus.SUPERSEDED, event.identifier))
        return Effect(
            seal if isinstance(seal, str) else None,
            index if type(index) is int else None,
            tuple(statuses),
        )
    status = STATUS_KINDS.get(event.kind)
    if status is not None:
        return Effect(statuses=((event.identifier, status, None),))
    return Effect()


def replay(events: Iterable[LogEvent]) -> dict[str, tuple[LicenceStatus, str | None]]:
    """Every licence's (status, superseded_by) as the log says it should be."""
    state: dict[str, tuple[LicenceStatus, str | None]] = {}
    for e in events:
        for ident, status, by in effect_of(e).statuses:
            previous = state.get(ident, (status, None))[1]
            state[ident] = (status, by or previous)
    return state


@dataclass(frozen=True, slots=True)
class AuditReport:
    events: int
    head_hash: str
    checkpoints: int
    problems: tuple[str, ...]

    @property
    def ok(self) -> bool:
        return not self.problems


def audit(registry: Registry, *, root: x509.Certificate) -> AuditReport:
    """Check the whole log: the hash chain, every checkpoint, and that the licences' statuses
    are what the events say."""
    problems: list[str] = []
    checkpoints = {cp.size: cp for cp in registry.checkpoints()}
    hashes: dict[int, str] = {0: GENESIS}
    seq, head = 0, GENESIS

    def checked() -> Iterator[LogEvent]:
        nonlocal seq, head
        for e in registry.iter_events():
            seq, head = check_chain([e], head_seq=seq, head_hash=head)
            if e.seq in checkpoints:
                hashes[e.seq] = e.hash
            yield e

    state: dict[str, tuple[LicenceStatus, str | None]] | None
    try:
        state = replay(checked())
    except LogIntegrityError as e:
        problems.append(e.message)
        state = None
    for size, cp in sorted(checkpoints.items()):
        try:
            signed = verify_checkpoint(cp.signed, root=root)
        except LogIntegrityError as e:
            problems.append(f"checkpoint {size}: {e.message}")
            continue
        if (signed.size, signed.head_hash) != (cp.size, cp.head_hash):
            problems.append(f"checkpoint {size}: the stored copy differs from the signed one")
        elif state is not None and size > seq:
            problems.append(
                f"checkpoint {size} was signed over {size} events but the log holds {seq}: "
                "events were deleted"
            )
        elif state is not None and hashes.get(size) != signed.head_hash:
            problems.append(f"checkpoint {size}: the log's event {size} is not the signed one")
    if state is not None:
        listed = set()
        for ident, status, superseded_by in registry.licence_states():
            listed.add(ident)
            expected = state.get(ident)
            if expected is None:
                problems.append(f"licence {ident} has no event in the log")
            elif (status, superseded_by) != expected:
                problems.append(f"licence {ident} is {status} but the log says {expected[0]}")
        problems.extend(
            f"the log names licence {i}, which the registry does not hold"
            for i in sorted(set(state) - listed)
        )
    return AuditReport(
        events=seq, head_hash=head, checkpoints=len(checkpoints), problems=tuple(problems)
    )
