"""Application layer: what operators see: Prometheus metrics (``prometheus-client``), never on the
public port.

``elicence serve`` with ``ELICENCE_METRICS_PORT`` set runs its workers in the library's
multiprocess mode: each worker writes its values to memory-mapped files in the metrics
directory (``ELICENCE_METRICS_DIR``, emptied at start so a dead run's values are not summed in),
and the supervisor answers ``GET /metrics`` on ``ELICENCE_METRICS_HOST:ELICENCE_METRICS_PORT``
(127.0.0.1 by default) with the sum over the workers. Without the setting nothing listens; the
values are then kept in each process's memory and read by no one (the tests read them).

The metrics, and where they are counted:

- ``elicence_http_request_duration_seconds{route,method,status}``: every HTTP request, by its
  route's template (``unmatched`` for none), in the API's outermost middleware;
- ``elicence_verifications_total{channel,verdict}``: verifications whose usage record is
  committed (seal, identifier, pdf, presentation, case), from the usage records' group commit;
- ``elicence_issuances_total{outcome}``: single issuances (the API, the console, a hall case's
  approval): ``created``, ``existing`` (its source_ref was stored: answered with it), ``refused``;
- ``elicence_group_commit_size{log}``: items in one group commit (``issuance``, ``usage``);
- ``elicence_rate_limit_refusals_total{bucket}``: 429s by rate-limit bucket (app/guard.py);
- ``elicence_db_pool_in_use`` and ``elicence_db_pool_size``: database connections checked out of
  the workers' pools and the pools' sizes (summed over live workers), after a request, at most
  ten times a second in each worker;
- ``elicence_signer_up{signer}``: 1 when a department (USCC) or the service key can sign, 0 when
  its key does not open or its token is down (start-up, every minute and each ``/healthz``);
- ``elicence_status_list_valid_until_seconds{department,purpose}``: when the latest status list
  signed for a department and purpose stops being current (Unix time).
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
)

from elicence.errors import Error

if TYPE_CHECKING:
    from elicence.app.publishing import Publisher
    from elicence.app.service import Elicence
    from elicence.issuer.service import IssuanceService
    from elicence.registry import Registry
    from elicence.verifier.status import StatusList

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
CONTENT_TYPE = CONTENT_TYPE_LATEST

LATENCY = Histogram(
    "elicence_http_request_duration_seconds",
    "Time to answer an HTTP request, by route template, method and status class",
    ["route", "method", "status"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.015, 0.02, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0),
)
VERIFICATIONS = Counter(
    "elicence_verifications_total",
    "Verifications answered (their usage record committed), by channel and verdict",
    ["channel", "verdict"],
)
ISSUANCES = Counter(
    "elicence_issuances_total",
    "Single issuances by outcome: created, existing (answered with the stored one), refused",
    ["outcome"],
)
GROUP_SIZE = Histogram(
    "elicence_group_commit_size",
    "Items written in one group commit: issuance (licences) or usage (usage records)",
    ["log"],
    buckets=(1, 2, 4, 8, 16, 32, 64, 128, 256),
)
RATE_LIMITED = Counter(
    "elicence_rate_limit_refusals_total",
    "Requests refused by a rate limit (429), by bucket",
    ["bucket"],
)
DB_POOL_IN_USE = Gauge(
    "elicence_db_pool_in_use",
    "Database connections checked out of the workers' pools",
    multiprocess_mode="livesum",
)
DB_POOL_SIZE = Gauge(
    "elicence_db_pool_size",
    "Size of the workers' database connection pools",
    multiprocess_mode="livesum",
)
SIGNER_UP = Gauge(
    "elicence_signer_up",
    "1 when the signer (a department USCC, service) can sign now, 0 when it cannot",
    ["signer"],
    multiprocess_mode="livemin",
)
STATUS_LIST_VALID_UNTIL = Gauge(
    "elicence_status_list_valid_until_seconds",
    "Unix time at which the latest status list signed for a department and purpose expires",
    ["department", "purpose"],
    multiprocess_mode="max",
)


def instrument(*, issuer: IssuanceService, registry: Registry, publisher: Publisher) -> None:
    """Attach the counters to the parts' group commits and status lists (the composition
    root does, for every service it assembles)."""
    issuer.group_commit.observers.append(_issuances)
    if _usage_records not in registry.usage_commit.observers:
        registry.usage_commit.observers.append(_usage_records)
    publisher.observers.append(status_list_signed)


def _issuances(items: Sequence[Any], outcomes: Sequence[Any]) -> None:
    GROUP_SIZE.labels("issuance").observe(len(items))
    created = existing = refused = 0
    for outcome in outcomes:
        if isinstance(outcome, BaseException):
            refused += 1
        elif outcome is None:
            existing += 1
        else:
            created += 1
    for name, count in (("created", created), ("existing", existing), ("refused", refused)):
        if count:
            ISSUANCES.labels(name).inc(count)


def _usage_records(rows: Sequence[dict[str, Any]], outcomes: Sequence[Any]) -> None:
    if any(isinstance(outcome, BaseException) for outcome in outcomes):
        return  # the write failed: nothing was recorded
    GROUP_SIZE.labels("usage").observe(len(rows))
    counts: dict[tuple[str, str], int] = {}
    for row in rows:
        key = (str(row.get("channel")), str(row.get("verdict")))
        counts[key] = counts.get(key, 0) + 1
    for (channel, verdict), count in counts.items():
        VERIFICATIONS.labels(channel, verdict).inc(count)


def status_list_signed(status_list: StatusList) -> None:
    STATUS_LIST_VALID_UNTIL.labels(status_list.department, str(status_list.purpose)).set(
        status_list.valid_until.timestamp()
    )


def refused(bucket: str) -> None:
    RATE_LIMITED.labels(bucket).inc()


def request_done(route: str, method: str, status: int, seconds: float) -> None:
    LATENCY.labels(route, method, f"{status // 100}xx").observe(seconds)


POOL_EVERY = 0.1  # seconds: the pool gauges are read at most this often per process
_pool_read = [0.0]  # when they were last read (time.monotonic)


def pool_use(svc: Elicence) -> None:
    """The database pool's gauges, after a request, at most every :data:`POOL_EVERY` seconds
    (a gauge is read by a scrape every few seconds; setting it on every request cost 2 % of a
    verification's event-loop time)."""
    now = time.monotonic()
    if now - _pool_read[0] < POOL_EVERY:
        return
    _pool_read[0] = now
    in_use, size = svc.registry.pool_use()
    DB_POOL_IN_USE.set(in_use)
    DB_POOL_SIZE.set(size)


def signers(svc: Elicence, down: Iterable[str]) -> None:
    """Each department's and the service key's health (``down``: who cannot sign now)."""
    unavailable = set(down)
    try:
        departments = set(svc.catalogue().departments)
    except Error:  # no catalogue imported yet: no department signs
        departments = set()
    names = {*departments, "service", *unavailable}
    for name in names:
        SIGNER_UP.labels(name).set(0 if name in unavailable else 1)


# -- the multiprocess directory and the exposition ---------------------------------------------


def prepare_dir(path: Path) -> Path:
    """Make the metrics directory and empty it of a previous run's files (their values would be
    summed in, and a dead worker's gauges kept). Only ``*.db`` files are removed."""
    path.mkdir(parents=True, exist_ok=True, mode=0o700)
    for stale in path.glob("*.db"):
        stale.unlink()
    return path


def exposition(path: Path) -> bytes:
    """The text exposition of every worker's values in the multiprocess directory ``path``."""
    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry, path=str(path))  # type: ignore[no-untyped-call]
    return bytes(generate_latest(registry))


def exposition_in_process() -> bytes:
    """The text exposition of this process's own values (no multiprocess directory)."""
    from prometheus_client import REGISTRY

    return bytes(generate_latest(REGISTRY))


def serve(host: str, port: int, path: Path) -> threading.Thread:
    """Answer ``GET /metrics`` on ``host:port`` from a daemon thread (the supervisor's)."""
    from prometheus_client import start_http_server

    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry, path=str(path))  # type: ignore[no-untyped-call]
    _server, thread = start_http_server(port, addr=host, registry=registry)
    return thread


def worker_exited(path: str) -> None:
    """Drop this worker's live gauges from the multiprocess directory ``path`` (called when a
    served worker shuts down)."""
    multiprocess.mark_process_dead(os.getpid(), path)  # type: ignore[no-untyped-call]
