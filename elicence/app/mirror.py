"""A mirror: keep a local registry (its own database) in step with an upstream hall's change feed.

Each pull fetches the upstream's trust list and catalogue, then feed pages from the local head.
A page is applied only after (1) the checkpoint's signature verifies against the pinned root,
(2) its events continue the local chain exactly (no gap, no reordering, no altered event, no fork
from what is held), and (3) the checkpoint agrees with the chain where they overlap.

Invariants: a page is applied in one transaction with the mirror's state, so a mirror stopped at
any moment resumes from its last committed event and neither loses nor repeats one; nothing
already mirrored is ever deleted or changed by a refused feed; a registry that holds events of
its own is never turned into a mirror; the trust list held never goes back to a lower sequence
number (a replayed older list, which could still show a compromised key ``active``, is refused,
and the one held is kept).
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

import httpx
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from elicence.app.audit import effect_of
from elicence.domain.catalogue import Catalogue, HolderIdType
from elicence.domain.codes import check_uscc
from elicence.domain.licence import Holder, Licence, LicenceStatus
from elicence.errors import Error, InputError, LogIntegrityError, MirrorError, TrustListError
from elicence.formats.catalogue_file import catalogue_from_dict
from elicence.formats.eventlog import Checkpoint, LogEvent, check_chain, verify_checkpoint
from elicence.formats.seal import decode_seal
from elicence.formats.trustlist import TrustList, verify_trust_list
from elicence.registry import Registry
from elicence.registry.queries import MirrorRecord


class Upstream(Protocol):
    """Where a mirror reads from."""

    url: str

    def feed(self, *, after: int, limit: int) -> Mapping[str, Any]: ...
    def trust_list(self) -> bytes: ...
    def catalogue(self) -> dict[str, Any]: ...


class HttpUpstream:
    """An upstream hall reached over HTTP(S) with a hall API key."""

    def __init__(self, url: str, *, api_key: str | None, timeout: float = 10.0) -> None:
        self.url = url.rstrip("/")
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self._http = httpx.Client(base_url=self.url, headers=headers, timeout=timeout)

    def close(self) -> None:
        self._http.close()

    def _get(self, path: str, **params: int) -> httpx.Response:
        try:
            r = self._http.get(path, params=params)
        except httpx.HTTPError as e:
            raise MirrorError(f"the upstream {self.url} is unreachable: {e}") from e
        if r.status_code != 200:
            try:
                message = r.json()["error"]["message"]
            except Exception:
                message = r.text[:200]
            raise MirrorError(f"the upstream answered {r.status_code} to {path}: {message}")
        return r

    def feed(self, *, after: int, limit: int) -> Mapping[str, Any]:
        body = self._json(self._get("/api/v1/feed", after=after, limit=limit))
        if not isinstance(body, Mapping):
            raise LogIntegrityError("the feed is not a JSON object")
        return body

    def trust_list(self) -> bytes:
        return self._get("/api/v1/trust-list.cose").content

    def catalogue(self) -> dict[str, Any]:
        types = self._json(self._get("/api/v1/catalogue/licence-types"))
        departments = self._json(self._get("/api/v1/catalogue/departments"))
        return {
            "format": "elicence-catalogue/1",
            "licence_types": types,
            "departments": departments,
        }

    def _json(self, r: httpx.Response) -> Any:
        try:
            return r.json()
        except ValueError as e:
            raise MirrorError(f"the upstream answered something that is not JSON: {e}") from e


@dataclass(frozen=True, slots=True)
class PullResult:
    applied: int  # events applied by this pull
    head: int  # the local log's size afterwards
    upstream_size: int
    checkpoint: Checkpoint | None


def pull(
    registry: Registry,
    upstream: Upstream,
    *,
    root: x509.Certificate | None,
    clock: Callable[[], dt.datetime],
    page_size: int = 500,
    max_pages: int | None = None,
) -> PullResult:
    """Bring the local registry up to the upstream's head (or ``max_pages`` pages of it).

    Raises :class:`LogIntegrityError` when the upstream's feed or checkpoint is refused, and
    :class:`MirrorError` when it cannot be read; either way nothing held is lost.
    """
    state = _state(registry, upstream.url, root)
    pinned = x509.load_der_x509_certificate(state.root)
    trust_list = upstream.trust_list()
    try:
        offered = verify_trust_list(trust_list, root=pinned)
    except TrustListError as e:
        raise LogIntegrityError(f"the upstream's trust list is refused: {e.message}") from e
    trust_list = _not_older(offered, state, pinned).signed
    catalogue = _sync_catalogue(registry, upstream, state, now=clock())
    applied, pages = 0, 0
    checkpoint: Checkpoint | None = None
    upstream_size = 0
    while max_pages is None or pages < max_pages:
        seq, head = registry.log_head()
        body = upstream.feed(after=seq, limit=page_size)
        events, checkpoint, upstream_size = _read_page(body, pinned)
        if upstream_size < seq:
            raise LogIntegrityError(
                f"the upstream's log has {upstream_size} events but this mirror holds {seq}: "
                "it was rolled back or forked; refusing it"
            )
        new_seq, _new_head = check_chain(events, head_seq=seq, head_hash=head)
        _check_checkpoint(registry, checkpoint, events, new_seq)
        with registry.unit_of_work() as uow:
            uow.append_mirrored(events)
            for event in events:
                effect = effect_of(event)
                if effect.new_seal is not None:
                    try:
                        lic = licence_from_seal(
                            effect.new_seal, catalogue=catalogue, status_index=effect.status_index
                        )
                    except Error as err:
                        raise LogIntegrityError(
                            f"event {event.seq} carries an unreadable seal: {err.message}"
                        ) from err
                    uow.add_mirrored_licence(lic)
                if effect.reseal is not None:
                    uow.replace_seal(event.identifier, **_reseal(event, effect.reseal))
                for ident, status, superseded_by in effect.statuses:
                    uow.set_status(ident, status, superseded_by=superseded_by)
            uow.save_mirror(
                MirrorRecord(
                    upstream=state.upstream,
                    root=state.root,
                    trust_list=trust_list,
                    checkpoint=checkpoint.signed if checkpoint else state.checkpoint,
                    catalogue_digest=state.catalogue_digest,
                    pulled_at=clock(),
                )
            )
            uow.commit()
        if checkpoint is not None and checkpoint.size <= new_seq:
            registry.add_checkpoint(checkpoint)
        applied += len(events)
        pages += 1
        if not events or new_seq >= upstream_size:
            break
    seq, _ = registry.log_head()
    return PullResult(applied, seq, upstream_size, checkpoint)


def _not_older(offered: TrustList, state: MirrorRecord, root: x509.Certificate) -> TrustList:
    """The trust list to hold: ``offered`` unless it is older than the one held (a lower
    sequence number), which is refused; an equal number is the same content re-signed."""
    if state.trust_list is None:
        return offered
    try:
        held = verify_trust_list(state.trust_list, root=root)
    except TrustListError:
        return offered  # what is held no longer verifies (its signer expired): replace it
    if offered.sequence < held.sequence:
        raise LogIntegrityError(
            f"the upstream's trust list has sequence {offered.sequence} (issued "
            f"{offered.issued_at:%Y-%m-%d %H:%M}Z) but this mirror holds sequence "
            f"{held.sequence}: an older list was replayed; refusing it and keeping the newer one"
        )
    return offered


def _reseal(event: LogEvent, seal: str) -> dict[str, str]:
    """The new seal of a ``resealed`` event, checked to be a seal of the event's licence."""
    try:
        decoded = decode_seal(seal)
    except Error as err:
        raise LogIntegrityError(
            f"event {event.seq} carries an unreadable seal: {err.message}"
        ) from err
    if decoded.claims.licence.identifier != event.identifier:
        raise LogIntegrityError(f"event {event.seq} re-seals another licence than it names")
    return {"seal": seal, "kid": decoded.kid.hex()}


def _state(registry: Registry, url: str, root: x509.Certificate | None) -> MirrorRecord:
    """The mirror's state; on the first pull, make this registry a mirror of ``url``."""
    url = url.rstrip("/")
    state = registry.mirror()
    der = root.public_bytes(serialization.Encoding.DER) if root is not None else None
    if state is None:
        if der is None:
            raise MirrorError("the first pull needs the upstream's root certificate (--root)")
        if registry.log_head()[0] != 0:
            raise MirrorError(
                "this registry holds events of its own: a mirror needs its own database"
            )
        state = MirrorRecord(url, der, None, None, None, None)
        with registry.unit_of_work() as uow:
            uow.save_mirror(state)
            uow.commit()
        return state
    if state.upstream != url:
        raise MirrorError(f"this registry mirrors {state.upstream}, not {url}")
    if der is not None and der != state.root:
        raise MirrorError("the given root is not the one this mirror pinned on its first pull")
    return state


def _sync_catalogue(
    registry: Registry, upstream: Upstream, state: MirrorRecord, *, now: dt.datetime
) -> Catalogue:
    document = upstream.catalogue()
    digest = hashlib.sha256(
        json.dumps(document, sort_keys=True, ensure_ascii=False).encode()
    ).hexdigest()
    local = registry.catalogue()
    if local is not None and digest == state.catalogue_digest:
        return local[1]
    try:
        catalogue = catalogue_from_dict(document)
    except Error as e:
        raise MirrorError(f"the upstream's catalogue is unreadable: {e.message}") from e
    registry.save_catalogue(catalogue, now=now)
    with registry.unit_of_work() as uow:
        uow.save_mirror(
            MirrorRecord(
                state.upstream,
                state.root,
                state.trust_list,
                state.checkpoint,
                digest,
                state.pulled_at,
            )
        )
        uow.commit()
    return catalogue


def _read_page(
    body: Mapping[str, Any], root: x509.Certificate
) -> tuple[list[LogEvent], Checkpoint | None, int]:
    raw_events, raw_cp, size = body.get("events"), body.get("checkpoint"), body.get("size")
    if not isinstance(raw_events, list) or type(size) is not int:
        raise LogIntegrityError("the feed page has no events list or size")
    events = [LogEvent.from_json(e) for e in raw_events]
    checkpoint = None
    if raw_cp is not None:
        if not isinstance(raw_cp, Mapping) or not isinstance(raw_cp.get("signed"), str):
            raise LogIntegrityError("the feed's checkpoint is malformed")
        try:
            signed = base64.b64decode(raw_cp["signed"], validate=True)
        except ValueError as e:
            raise LogIntegrityError("the feed's checkpoint is not base64") from e
        checkpoint = verify_checkpoint(signed, root=root)
        if raw_cp.get("size") != checkpoint.size or raw_cp.get("head_hash") != (
            checkpoint.head_hash
        ):
            raise LogIntegrityError("the feed's checkpoint fields differ from what it signs")
    elif size > 0:
        raise LogIntegrityError("the feed has events but no signed checkpoint")
    return events, checkpoint, size


def _check_checkpoint(
    registry: Registry, checkpoint: Checkpoint | None, events: list[LogEvent], new_seq: int
) -> None:
    """Where the checkpoint falls within what this mirror will hold, the hashes must agree."""
    if checkpoint is None or checkpoint.size > new_seq:
        return
    in_page = {e.seq: e.hash for e in events}
    held = in_page.get(checkpoint.size) or registry.event_hash_at(checkpoint.size)
    if held != checkpoint.head_hash:
        raise LogIntegrityError(
            f"the upstream's signed checkpoint at {checkpoint.size} events does not match "
            "this mirror's log: the upstream forked; refusing it"
        )


def licence_from_seal(
    seal: str, *, catalogue: Catalogue | None, status_index: int | None = None
) -> Licence:
    """A registry record rebuilt from a seal alone (a mirror holds what the seal states)."""
    decoded = decode_seal(seal)
    claims, sealed = decoded.claims, decoded.claims.licence
    check_uscc(claims.issuer, field="iss")
    lt = catalogue.licence_types.get(sealed.type_code) if catalogue else None
    data: dict[str, str] = {}
    for key, value in sealed.data.items():
        item = lt.item_by_seal_key(key) if lt else None
        data[item.name if item else str(key)] = value
    try:
        id_type = HolderIdType(sealed.holder_id_type)
    except ValueError:
        raise InputError("the seal's holder id type is unknown", field="seal") from None
    return Licence(
        identifier=sealed.identifier,
        type_code=sealed.type_code,
        department_uscc=claims.issuer,
        licence_number=sealed.licence_number,
        holder=Holder(sealed.holder_name, id_type, sealed.holder_id),
        valid_from=sealed.valid_from,
        valid_until=sealed.valid_until,
        data=data,
        status=LicenceStatus.VALID,
        version=sealed.version,
        issued_at=dt.datetime.fromtimestamp(claims.issued_at, dt.UTC),
        seal=seal,
        kid=decoded.kid.hex(),
        status_index=sealed.status_index if sealed.status_index is not None else status_index,
    )


class MirroredTrust:
    """What a registry that mirrors an upstream trusts: the upstream's trust list (pulled,
    checked against the pinned root) and that root. Nothing for a registry that is no mirror."""

    RECHECK_SECONDS = 5.0

    def __init__(self, registry: Registry) -> None:
        self._registry = registry
        self._checked: tuple[float, TrustList | None] = (-1e9, None)

    def is_mirror(self) -> bool:
        return self._registry.mirror() is not None

    def root(self) -> x509.Certificate | None:
        """The pinned root of a mirror, None for a registry of its own."""
        state = self._registry.mirror()
        return x509.load_der_x509_certificate(state.root) if state is not None else None

    def trust_list(self) -> TrustList | None:
        """A mirror's trust list (re-read at most every few seconds), None if none."""
        checked_at, cached = self._checked
        if time.monotonic() - checked_at < self.RECHECK_SECONDS:
            return cached
        state = self._registry.mirror()
        found = None
        if state is not None and state.trust_list is not None:
            if cached is not None and cached.signed == state.trust_list:
                found = cached
            else:
                root = x509.load_der_x509_certificate(state.root)
                found = verify_trust_list(state.trust_list, root=root)
        self._checked = (time.monotonic(), found)
        return found
