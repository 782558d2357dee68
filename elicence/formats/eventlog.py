"""Wire format: the append-only event log as a hash chain, and its signed checkpoints (EL-CP1).

Every change to a licence is one event. Event ``n`` (``seq`` = n, counting from 1, no gaps)
carries ``hash = SHA-256(prev_hash || canonical JSON of the event)`` where ``prev_hash`` is the
32-byte hash of event ``n-1`` (32 zero bytes for event 1). The canonical JSON and the checkpoint
format are specified in docs/formats.md §7. A checkpoint is the log's size and head hash signed by
the service key (the trust-list signer, certified by the root).

Invariants: :func:`check_chain` accepts a run of events only if it continues exactly from the
given head; a :class:`Checkpoint` value exists only after its signature was checked against the
pinned root.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from cryptography import x509

from elicence.domain.licence import LicenceEvent
from elicence.errors import InputError, LogIntegrityError
from elicence.formats.cose import sign_service_document, verify_service_document
from elicence.keys.signer import Signer

GENESIS = "0" * 64  # the prev_hash of event 1
CHECKPOINT_FORMAT = "EL-CP1"
C_FORMAT, C_SIZE, C_HEAD, C_ISSUED = 1, 2, 3, 4
EVENT_FIELDS = ("seq", "at", "kind", "identifier", "department", "actor", "detail")


def instant(at: dt.datetime) -> str:
    """The canonical text of an event time: UTC, microseconds, ``Z``."""
    last = _last_instant
    if last[0] is at:  # the same time object as the last call's (a chunk's events share one)
        return last[1]
    text = at.astimezone(dt.UTC).replace(tzinfo=None).isoformat(timespec="microseconds") + "Z"
    _remember_instant(at, text)
    return text


# the last (time, text) of instant(): the time object is held, so its identity is not reused
_last_instant: tuple[object, str] = (None, "")


def _remember_instant(at: dt.datetime, text: str) -> None:
    global _last_instant  # noqa: PLW0603 - one tuple, swapped whole (threads read either)
    _last_instant = (at, text)


def parse_instant(text: object, *, field: str = "at") -> dt.datetime:
    if not isinstance(text, str) or not text.endswith("Z"):
        raise InputError("must be a UTC time YYYY-MM-DDTHH:MM:SS.ffffffZ", field=field)
    try:
        return dt.datetime.fromisoformat(text[:-1]).replace(tzinfo=dt.UTC)
    except ValueError:
        raise InputError(f"{text!r} is not a UTC time", field=field) from None


# what json.dumps(value, sort_keys=True, …) makes, without making an encoder at every call
_CANONICAL = json.JSONEncoder(
    sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
).encode


def canonical_json(value: Mapping[str, Any]) -> bytes:
    """Sorted keys, no spaces, UTF-8 (not ASCII-escaped)."""
    return _CANONICAL(value).encode("utf-8")


def event_hash(
    prev_hash: str,
    *,
    seq: int,
    at: dt.datetime,
    kind: str,
    identifier: str,
    department: str,
    actor: str,
    detail: Mapping[str, Any],
) -> str:
    prefix = event_body_prefix(
        at=at, kind=kind, identifier=identifier, department=department, actor=actor, detail=detail
    )
    return hashlib.sha256(bytes.fromhex(prev_hash) + prefix + seq_suffix(seq)).hexdigest()


def event_body_prefix(
    *,
    at: dt.datetime,
    kind: str,
    identifier: str,
    department: str,
    actor: str,
    detail: Mapping[str, Any],
) -> bytes:
    """An event's canonical JSON up to its sequence number. ``seq`` is the last key in sorted
    order, so the canonical JSON of the event numbered ``n`` is this prefix then
    :func:`seq_suffix` of ``n``: a writer can prepare an event before it knows its place (the
    database then chains it, see registry/pggroup.py)."""
    body = canonical_json(
        {
            "seq": 0,
            "at": instant(at),
            "kind": kind,
            "identifier": identifier,
            "department": department,
            "actor": actor,
            "detail": dict(detail),
        }
    )
    if not body.endswith(_SEQ_END):  # pragma: no cover - "seq" sorts after every other key
        raise RuntimeError("the canonical event JSON does not end with its seq")
    return body[: -len(_SEQ_END) + len(_SEQ_KEY)]


_SEQ_KEY = b'"seq":'
_SEQ_END = b'"seq":0}'


def licence_event_prefix(e: LicenceEvent) -> bytes:
    """:func:`event_body_prefix` of a new event (the hash of event ``n`` after ``prev`` is
    SHA-256 of ``prev``'s bytes, this prefix and :func:`seq_suffix` of ``n``)."""
    return event_body_prefix(
        at=e.at,
        kind=e.kind,
        identifier=e.identifier,
        department=e.department,
        actor=e.actor,
        detail=e.detail,
    )


def seq_suffix(seq: int) -> bytes:
    """The end of an event's canonical JSON: its sequence number and the closing brace."""
    return b"%d}" % seq


@dataclass(frozen=True, slots=True)
class LogEvent:
    """One event of the log, with its place in the chain."""

    seq: int
    at: dt.datetime
    kind: str
    identifier: str
    department: str
    actor: str
    detail: Mapping[str, Any] = field(default_factory=dict)
    prev_hash: str = GENESIS
    hash: str = ""

    def computed_hash(self) -> str:
        return event_hash(
            self.prev_hash,
            seq=self.seq,
            at=self.at,
            kind=self.kind,
            identifier=self.identifier,
            department=self.department,
            actor=self.actor,
            detail=self.detail,
        )

    def to_json(self) -> dict[str, Any]:
        """The wire form of the change feed."""
        return {
            "seq": self.seq,
            "at": instant(self.at),
            "kind": self.kind,
            "identifier": self.identifier,
            "department": self.department,
            "actor": self.actor,
            "detail": dict(self.detail),
            "prev_hash": self.prev_hash,
            "hash": self.hash,
        }

    @classmethod
    def from_json(cls, raw: object) -> LogEvent:
        """Read a feed event (shape only: the chain is checked by :func:`check_chain`)."""
        if not isinstance(raw, Mapping):
            raise LogIntegrityError("a feed event is not an object")
        try:
            seq, kind, ident = raw["seq"], raw["kind"], raw["identifier"]
            dept, actor, detail = raw["department"], raw["actor"], raw["detail"]
            prev, digest = raw["prev_hash"], raw["hash"]
            at = parse_instant(raw["at"])
        except (KeyError, InputError) as e:
            raise LogIntegrityError(f"a feed event is incomplete or malformed: {e}") from None
        if (
            type(seq) is not int
            or not all(isinstance(v, str) for v in (kind, ident, dept, actor, prev, digest))
            or not isinstance(detail, Mapping)
            or not _is_hash(prev)
            or not _is_hash(digest)
        ):
            raise LogIntegrityError(f"feed event {seq!r} has a field of the wrong type")
        return cls(seq, at, kind, ident, dept, actor, dict(detail), prev, digest)


def _is_hash(value: str) -> bool:
    return len(value) == 64 and all(c in "0123456789abcdef" for c in value)


def chain(events: Sequence[LicenceEvent], *, head_seq: int, head_hash: str) -> list[LogEvent]:
    """Place new events after the head: their sequence numbers and hashes."""
    places = place(
        [licence_event_prefix(e) for e in events], head_seq=head_seq, head_hash=head_hash
    )
    return [
        LogEvent(seq, e.at, e.kind, e.identifier, e.department, e.actor, dict(e.detail), prev, h)
        for e, (seq, prev, h) in zip(events, places, strict=True)
    ]


def place(
    prefixes: Iterable[bytes], *, head_seq: int, head_hash: str
) -> list[tuple[int, str, str]]:
    """``(seq, prev_hash, hash)`` of new events after the head, given each one's
    :func:`licence_event_prefix` (made beforehand, even in another process): what :func:`chain`
    places them at."""
    out = []
    prev, seq = head_hash, head_seq
    prev_bytes = bytes.fromhex(prev)
    for prefix in prefixes:
        seq += 1
        digest = hashlib.sha256(prev_bytes + prefix + seq_suffix(seq)).digest()
        h = digest.hex()
        out.append((seq, prev, h))
        prev, prev_bytes = h, digest
    return out


def check_chain(events: Iterable[LogEvent], *, head_seq: int, head_hash: str) -> tuple[int, str]:
    """Check that ``events`` continue the log from (head_seq, head_hash); return the new head.

    Raises :class:`LogIntegrityError` naming the first event that is missing, out of order,
    not linked to its predecessor or not matching its own hash.
    """
    seq, prev = head_seq, head_hash
    for e in events:
        if e.seq != seq + 1:
            what = "missing or out of order" if e.seq > seq + 1 else "repeated or out of order"
            raise LogIntegrityError(
                f"event {seq + 1} is {what}: found event {e.seq} after event {seq}"
            )
        if e.prev_hash != prev:
            raise LogIntegrityError(
                f"event {e.seq} does not link to event {seq}: the chain is broken or forks there"
            )
        if e.computed_hash() != e.hash:
            raise LogIntegrityError(f"event {e.seq} was altered: its hash does not match it")
        seq, prev = e.seq, e.hash
    return seq, prev


# -- checkpoints ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Checkpoint:
    """A signed statement: the log had ``size`` events, the last with hash ``head_hash``."""

    size: int
    head_hash: str
    issued_at: dt.datetime
    signed: bytes


def sign_checkpoint(
    *, signer: Signer, size: int, head_hash: str, issued_at: dt.datetime
) -> Checkpoint:
    signed = sign_service_document(
        signer,
        {
            C_FORMAT: CHECKPOINT_FORMAT,
            C_SIZE: size,
            C_HEAD: bytes.fromhex(head_hash),
            C_ISSUED: int(issued_at.timestamp()),
        },
    )
    return Checkpoint(size, head_hash, issued_at.replace(microsecond=0), signed)


def verify_checkpoint(signed: bytes, *, root: x509.Certificate) -> Checkpoint:
    """Check a checkpoint's signature against the pinned root and read it."""

    def signed_at(body: Mapping[Any, Any]) -> dt.datetime:
        issued = body.get(C_ISSUED)
        if type(issued) is not int:
            raise LogIntegrityError("the checkpoint has no issue time")
        return dt.datetime.fromtimestamp(issued, dt.UTC)

    body = verify_service_document(
        signed, root=root, signed_at=signed_at, error=LogIntegrityError, what="checkpoint"
    )
    size, head = body.get(C_SIZE), body.get(C_HEAD)
    if body.get(C_FORMAT) != CHECKPOINT_FORMAT:
        raise LogIntegrityError(f"the checkpoint format is not {CHECKPOINT_FORMAT}")
    if type(size) is not int or size < 0 or not isinstance(head, bytes) or len(head) != 32:
        raise LogIntegrityError("the checkpoint's size or head hash is malformed")
    return Checkpoint(size, head.hex(), signed_at(body), signed)
