"""Abuse resistance: who is charged for a request, against which limit, and where a request
comes from.

Seven buckets (docs/abuse.md):

- ``verify`` by authenticated client: ``POST /api/v1/verify`` (JSON and PDF) with an API key;
- ``verify`` by address: the same without a key (the public page ``/v`` calls it so);
- ``public`` by address: the public reads (the page and its assets, trust list, status lists,
  CRL, root certificate, catalogue);
- ``auth-failures`` by address: every request whose API key is unknown, expired, rotated out or
  disabled. Only failures are charged, so a valid key is never refused because someone at the
  same address (a NAT, a hall's proxy) sent bad ones: its request is authenticated before this
  bucket is looked at;
- ``progress`` by address and by case number: the hall's no-login progress query (进度查询),
  the one door where an outsider could guess case numbers or applicants' ids;
- ``bad-bodies`` by sender (its client, or its address without a key): every request body
  refused as malformed (over its limit, not JSON, not the declared shape). Like bad keys, only
  failures are charged, so a sender with good bodies is never refused for what others sent.

A PDF verification costs ``pdf_cost`` tokens (it is an order of magnitude more work). The
address is the TCP peer, or, only when the peer is one of ``trusted_proxies``, the right-most
``X-Forwarded-For`` hop that is not itself a trusted proxy. Invariants: with no trusted proxies
(the default) ``X-Forwarded-For`` is ignored; a refusal raises :class:`RateLimitedError` with
the seconds to wait; the time comes from the injected clock.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from enum import StrEnum

from elicence.app import metrics
from elicence.domain.clients import Client
from elicence.domain.limits import Network, Rate, parse_networks, parse_rate
from elicence.errors import RateLimitedError
from elicence.ratelimit import Limiter, MemoryLimiter


class Bucket(StrEnum):
    VERIFY_CLIENT = "verify-client"
    VERIFY_IP = "verify-ip"
    PUBLIC_IP = "public-ip"
    AUTH_FAILURES_IP = "auth-failures-ip"
    PROGRESS_IP = "progress-ip"
    PROGRESS_CASE = "progress-case"
    BAD_BODIES = "bad-bodies"


@dataclass(frozen=True, slots=True)
class Limits:
    """The rate of each bucket (None: not limited) and the cost of a PDF verification."""

    verify_client: Rate | None = None
    verify_ip: Rate | None = None
    public_ip: Rate | None = None
    auth_failures_ip: Rate | None = None
    progress_ip: Rate | None = None
    progress_case: Rate | None = None
    bad_bodies: Rate | None = None
    pdf_cost: int = 10
    trusted_proxies: tuple[Network, ...] = field(default=())

    @classmethod
    def parse(
        cls,
        *,
        verify_client: str,
        verify_ip: str,
        public_ip: str,
        auth_failures_ip: str,
        progress_ip: str = "off",
        progress_case: str = "off",
        bad_bodies: str = "off",
        pdf_cost: int = 10,
        trusted_proxies: Iterable[str] = (),
    ) -> Limits:
        """Limits from their text forms (``"120/min burst 30"`` or ``"off"``)."""
        return cls(
            verify_client=parse_rate(verify_client, field="rate_limit_verify_client"),
            verify_ip=parse_rate(verify_ip, field="rate_limit_verify_ip"),
            public_ip=parse_rate(public_ip, field="rate_limit_public_ip"),
            auth_failures_ip=parse_rate(auth_failures_ip, field="rate_limit_auth_failures_ip"),
            progress_ip=parse_rate(progress_ip, field="rate_limit_progress_ip"),
            progress_case=parse_rate(progress_case, field="rate_limit_progress_case"),
            bad_bodies=parse_rate(bad_bodies, field="rate_limit_bad_bodies"),
            pdf_cost=pdf_cost,
            trusted_proxies=parse_networks(trusted_proxies),
        )

    def rate(self, bucket: Bucket) -> Rate | None:
        return {
            Bucket.VERIFY_CLIENT: self.verify_client,
            Bucket.VERIFY_IP: self.verify_ip,
            Bucket.PUBLIC_IP: self.public_ip,
            Bucket.AUTH_FAILURES_IP: self.auth_failures_ip,
            Bucket.PROGRESS_IP: self.progress_ip,
            Bucket.PROGRESS_CASE: self.progress_case,
            Bucket.BAD_BODIES: self.bad_bodies,
        }[bucket]


NO_LIMITS = Limits()


class Guard:
    """The rate limits of the public surface, charged to a client or an address."""

    def __init__(
        self,
        limiter: Limiter | None = None,
        limits: Limits = NO_LIMITS,
        *,
        clock: Callable[[], dt.datetime],
    ) -> None:
        self._limiter = limiter or MemoryLimiter()
        self.limits = limits
        self._clock = clock

    @property
    def backend(self) -> str:
        return self._limiter.name

    @property
    def local(self) -> bool:
        """Whether a charge is counted in this process's memory (no I/O: fit for the event
        loop), not in a shared store such as Redis."""
        return self._limiter.name == "memory"

    def close(self) -> None:
        self._limiter.close()

    # -- where a request comes from -------------------------------------------------------

    def client_address(self, peer: str | None, forwarded_for: Sequence[str] = ()) -> str:
        """The client's address: ``peer``, or from ``X-Forwarded-For`` when ``peer`` is a
        trusted proxy (each proxy appends the address it received from, so walk from the
        right and stop at the first hop that is not one of ours)."""
        address = peer or "unknown"
        if not self.limits.trusted_proxies or not self._trusted(address):
            return address
        hops = [h.strip() for value in forwarded_for for h in value.split(",") if h.strip()]
        for hop in reversed(hops):
            if not _is_ip(hop):
                return address  # a malformed hop: charge the last proxy we can name
            if not self._trusted(hop):
                return hop
            address = hop
        return address

    def _trusted(self, address: str) -> bool:
        try:
            ip = ipaddress.ip_address(address)
        except ValueError:
            return False
        return any(ip in net for net in self.limits.trusted_proxies)

    # -- the buckets ------------------------------------------------------------------------

    def verify(self, *, client: Client | None, address: str, pdf: bool = False) -> None:
        """Charge a verification to its client (with a key) or its address (without)."""
        cost = self.limits.pdf_cost if pdf else 1
        if client is not None:
            self._charge(Bucket.VERIFY_CLIENT, client.id, cost, "verifications by this client")
        else:
            self._charge(Bucket.VERIFY_IP, address, cost, "verifications from this address")

    def public(self, *, address: str, cost: int = 1) -> None:
        """Charge a public read to its address (``cost`` reads where one page computes several,
        as the 三率一数 dashboard does: one per period it counts)."""
        self._charge(Bucket.PUBLIC_IP, address, cost, "requests from this address")

    def failed_authentication(self, *, address: str) -> None:
        """Charge a bad API key to its address; over the limit, refuse (429) instead of 401."""
        self._charge(Bucket.AUTH_FAILURES_IP, address, 1, "bad API keys from this address")

    def progress(self, *, address: str, case_number: str) -> None:
        """Charge a no-login progress query to its address, then to the case it names (so
        guessing applicants' ids for one case is limited too, from however many addresses)."""
        self.progress_from(address=address)
        self.progress_for(case_number=case_number)

    def progress_from(self, *, address: str) -> None:
        """The address's part of :meth:`progress` (charged before the query's body is read)."""
        self._charge(Bucket.PROGRESS_IP, address, 1, "progress queries from this address")

    def progress_for(self, *, case_number: str) -> None:
        """The case's part of :meth:`progress` (once the body has named the case)."""
        self._charge(Bucket.PROGRESS_CASE, case_number, 1, "progress queries for this case")

    def bad_body(self, *, client: Client | None, address: str) -> None:
        """Charge a malformed request body to its sender; over the limit, refuse (429)."""
        who = f"client:{client.id}" if client is not None else address
        self._charge(Bucket.BAD_BODIES, who, 1, "malformed request bodies from this sender")

    def _charge(self, bucket: Bucket, who: str, cost: int, what: str) -> None:
        rate = self.limits.rate(bucket)
        if rate is None:
            return
        decision = self._limiter.hit(
            f"{bucket}:{who}", rate, now=self._clock().timestamp(), cost=cost
        )
        if not decision.allowed:
            wait = decision.retry_after_seconds
            metrics.refused(str(bucket))
            raise RateLimitedError(
                f"too many {what} (limit {rate}); try again in {wait} s",
                retry_after=wait,
                field="Authorization" if bucket is Bucket.AUTH_FAILURES_IP else None,
            )


def _is_ip(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True
