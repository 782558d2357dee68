"""The log audit and replay: what each event does to the registry, and whether the registry,
its hash-chained event log and the signed checkpoints all agree.

Invariants: :func:`audit` reads the log once, in order, page by page, and holds at most one page
of replayed states (the comparison with the registry happens in the database, see
:mod:`elicence.registry.statecheck`), so its memory does not grow with the registry; it lists at
most :data:`MAX_PROBLEMS` problems (and counts the rest); it never trusts a stored checkpoint
before its signature verified against the root. :func:`replay` is the same replay in memory, for
small logs and tests.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from cryptography import x509

from elicence.domain.licence import EventKind, Licence, LicenceStatus
from elicence.errors import LogIntegrityError
from elicence.formats.eventlog import GENESIS, LogEvent, check_chain, verify_checkpoint
from elicence.formats.seal import decode_seal
from elicence.registry import Registry
from elicence.registry.statecheck import StateCheck

NEW_VERSION_KINDS = frozenset({EventKind.ISSUED, EventKind.AMENDED, EventKind.RENEWED})
MAX_PROBLEMS = 1000
PAGE = 5000  # events replayed in memory at a time
STATUS_KINDS: Mapping[str, LicenceStatus] = {
    EventKind.REVOKED: LicenceStatus.REVOKED,
    EventKind.SUSPENDED: LicenceStatus.SUSPENDED,
    EventKind.REINSTATED: LicenceStatus.VALID,
}


@dataclass(frozen=True, slots=True)
class Effect:
    """What one event does: a new licence (by its seal), status changes, or a new seal for
    the event's licence (``resealed``: its key was compromised, ADR 0011)."""

    new_seal: str | None = None
    status_index: int | None = None
    statuses: tuple[tuple[str, LicenceStatus, str | None], ...] = field(default_factory=tuple)
    reseal: str | None = None


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
    if event.kind == EventKind.RESEALED:
        seal = detail.get("seal")
        return Effect(reseal=seal if isinstance(seal, str) else None)
    status = STATUS_KINDS.get(event.kind)
    if status is not None:
        return Effect(statuses=((event.identifier, status, None),))
    return Effect()


def replay(events: Iterable[LogEvent]) -> dict[str, tuple[LicenceStatus, str | None]]:
    """Every licence's (status, superseded_by) as the log says it should be (in memory)."""
    state: dict[str, tuple[LicenceStatus, str | None]] = {}
    for e in events:
        _apply(state, e)
    return state


def _apply(state: dict[str, tuple[LicenceStatus, str | None]], event: LogEvent) -> None:
    for ident, status, by in effect_of(event).statuses:
        previous = state.get(ident, (status, None))[1]
        state[ident] = (status, by or previous)


@dataclass(frozen=True, slots=True)
class AuditReport:
    events: int
    head_hash: str
    checkpoints: int
    problems: tuple[str, ...]
    more_problems: int = 0  # found beyond the MAX_PROBLEMS listed

    @property
    def ok(self) -> bool:
        return not self.problems


def unreadable(lic: Licence) -> str | None:
    """Why a stored licence cannot be answered (text no encoding holds, a seal that does not
    decode), or None. Never echoes what the licence holds."""
    texts = [
        lic.identifier,
        lic.type_code,
        lic.department_uscc,
        lic.licence_number,
        lic.holder.name,
        lic.holder.id_number,
        lic.seal,
        lic.source_ref or "",
        lic.superseded_by or "",
        *(str(k) for k in lic.data),
        *(v for v in lic.data.values() if isinstance(v, str)),
    ]
    for text in texts:
        try:
            text.encode("utf-8")
        except UnicodeEncodeError:
            return "its text is not valid Unicode (no answer can encode it)"
    try:
        decode_seal(lic.seal)
    except Exception:
        return "its seal does not decode"
    return None


def audit(registry: Registry, *, root: x509.Certificate) -> AuditReport:
    """Check the whole log: the hash chain, every checkpoint, that the licences' statuses are
    what the events say, and that every stored licence can be read and answered (streamed:
    memory stays bounded however large the registry)."""
    problems: list[str] = []
    more = 0

    def problem(text: str) -> None:
        nonlocal more
        if len(problems) < MAX_PROBLEMS:
            problems.append(text)
        else:
            more += 1

    checkpoints = {cp.size: cp for cp in registry.checkpoints()}
    hashes: dict[int, str] = {0: GENESIS}
    seq, head = 0, GENESIS
    chain_ok = True
    with StateCheck(registry) as states:
        page: dict[str, tuple[LicenceStatus, str | None]] = {}
        try:
            for e in registry.iter_events(page=PAGE):
                seq, head = check_chain([e], head_seq=seq, head_hash=head)
                if e.seq in checkpoints:
                    hashes[e.seq] = e.hash
                _apply(page, e)  # a page keeps superseded_by None unless it named one
                if len(page) >= PAGE:
                    states.record(page)
                    page = {}
        except LogIntegrityError as e:
            problem(e.message)
            chain_ok = False
        states.record(page)
        del page
        for size, cp in sorted(checkpoints.items()):
            try:
                signed = verify_checkpoint(cp.signed, root=root)
            except LogIntegrityError as e:
                problem(f"checkpoint {size}: {e.message}")
                continue
            if (signed.size, signed.head_hash) != (cp.size, cp.head_hash):
                problem(f"checkpoint {size}: the stored copy differs from the signed one")
            elif chain_ok and size > seq:
                problem(
                    f"checkpoint {size} was signed over {size} events but the log holds {seq}: "
                    "events were deleted"
                )
            elif chain_ok and hashes.get(size) != signed.head_hash:
                problem(f"checkpoint {size}: the log's event {size} is not the signed one")
        if chain_ok:
            for ident, status, by, expected, expected_by in states.mismatches():
                if status is None:
                    problem(f"the log names licence {ident}, which the registry does not hold")
                elif expected is None:
                    problem(f"licence {ident} has no event in the log")
                elif status != expected:
                    problem(f"licence {ident} is {status} but the log says {expected}")
                else:
                    problem(
                        f"licence {ident} is superseded by {by or 'nothing'} but the log says "
                        f"by {expected_by or 'nothing'}"
                    )
    for name, lic in registry.iter_licences():
        why = lic if isinstance(lic, str) else unreadable(lic)
        if why is not None:
            problem(f"licence {name} cannot be read: {why}")
    if more:
        problems.append(f"… and {more} more problems")
    return AuditReport(
        events=seq,
        head_hash=head,
        checkpoints=len(checkpoints),
        problems=tuple(problems),
        more_problems=more,
    )
