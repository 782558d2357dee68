"""Application layer: the event log's use cases, ``Elicence.log`` — signed checkpoints, the change
feed halls and mirrors read, the audit of the whole log, and pulling from an upstream (a mirror).

Invariants: the feed is read by halls and admins only, a page at most ``MAX_FEED_LIMIT`` events;
the first pull of a mirror, which pins the upstream's root, is recorded in the audit trail.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass

from cryptography import x509

from elicence.app import access, audit, mirror
from elicence.app.publishing import Publisher
from elicence.app.trail import Trail, TrailAction
from elicence.domain.clients import Client
from elicence.errors import InputError
from elicence.formats.eventlog import Checkpoint, LogEvent
from elicence.registry import Registry


@dataclass(frozen=True, slots=True)
class Feed:
    """One page of the change feed."""

    events: list[LogEvent]
    checkpoint: Checkpoint | None
    size: int  # events in the log now


class EventLog:
    """The event log as the API and the command line use it."""

    MAX_FEED_LIMIT = 1000
    # a change of the log is checkpointed within this (at once after a batch)
    CHECKPOINT_INTERVAL = dt.timedelta(seconds=60)

    def __init__(
        self,
        registry: Registry,
        publisher: Publisher,
        trail: Trail,
        *,
        clock: Callable[[], dt.datetime],
    ) -> None:
        self._registry = registry
        self._publisher = publisher
        self._trail = trail
        self._clock = clock

    def checkpoint(self, *, min_interval: dt.timedelta | None = None) -> Checkpoint | None:
        return self._publisher.checkpoint(min_interval=min_interval)

    def feed(self, client: Client | None, *, after: int, limit: int) -> Feed:
        """Events after ``after`` in order, with the latest signed checkpoint (halls, admins)."""
        access.check_feed_reader(client)
        if after < 0:
            raise InputError("must be 0 or a sequence number", field="after")
        if not 1 <= limit <= self.MAX_FEED_LIMIT:
            raise InputError(f"must be between 1 and {self.MAX_FEED_LIMIT}", field="limit")
        events = self._registry.events(after=after, limit=limit)
        checkpoint = self.checkpoint()
        size, _head = self._registry.log_head()
        return Feed(events, checkpoint, size)

    def log_root(self) -> x509.Certificate:
        """The root that checkpoints of this log chain to (a mirror's pinned root)."""
        return self._publisher.log_root()

    def audit(self) -> audit.AuditReport:
        """Check the whole log: the hash chain, every checkpoint, and the licences' statuses."""
        return audit.audit(self._registry, root=self.log_root())

    def mirror_pull(
        self,
        upstream: mirror.Upstream,
        *,
        root: x509.Certificate | None,
        page_size: int = 500,
        max_pages: int | None = None,
    ) -> mirror.PullResult:
        """Bring this registry up to an upstream's head (this registry becomes its mirror).

        The first pull, which pins the upstream's root, is a privileged action (recorded)."""
        if self._registry.mirror() is None:
            with self._trail.action(
                TrailAction.MIRROR_SETUP, client=None, target=upstream.url
            ) as rec:
                result = self._mirror_pull(
                    upstream, root=root, page_size=page_size, max_pages=max_pages
                )
                rec.update(applied=result.applied, head=result.head)
            return result
        return self._mirror_pull(upstream, root=root, page_size=page_size, max_pages=max_pages)

    def _mirror_pull(
        self,
        upstream: mirror.Upstream,
        *,
        root: x509.Certificate | None,
        page_size: int,
        max_pages: int | None,
    ) -> mirror.PullResult:
        return mirror.pull(
            self._registry,
            upstream,
            root=root,
            clock=self._clock,
            page_size=page_size,
            max_pages=max_pages,
        )
