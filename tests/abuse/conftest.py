"""Fixtures for abuse resistance: a service with rate limits on the test clock, on either
limiter backend, and a Redis connection (a real server: CI fails rather than skips without)."""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import redis

from elicence.app.guard import Limits
from elicence.app.service import Elicence
from elicence.bootstrap import assemble
from elicence.keys.store import KeyStore
from elicence.ratelimit import Limiter, MemoryLimiter, RedisLimiter
from elicence.registry import Registry
from tests.conftest import PASSPHRASE, Clock
from tests.tools import unavailable

REDIS_URL = os.environ.get("ELICENCE_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")


@pytest.fixture(scope="session")
def redis_url() -> str:
    try:
        redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2).ping()
    except redis.RedisError as e:
        unavailable(f"Redis is unreachable at {REDIS_URL}: {e}")
    return REDIS_URL


def redis_limiter(url: str) -> RedisLimiter:
    """A Redis limiter under a prefix of its own, so tests never share buckets by accident."""
    return RedisLimiter(url, prefix=f"elicence-test:{uuid.uuid4().hex[:8]}:")


@pytest.fixture(params=["memory", "redis"])
def limiter_factory(request: pytest.FixtureRequest) -> Callable[[], Limiter]:
    """Builds limiters of one backend; every limiter built by one factory shares the backend's
    buckets if the backend shares them (Redis), or not (memory)."""
    if request.param == "memory":
        return MemoryLimiter
    url = request.getfixturevalue("redis_url")
    prefix = f"elicence-test:{uuid.uuid4().hex[:8]}:"
    return lambda: RedisLimiter(url, prefix=prefix)


LimitedService = Callable[..., Elicence]


@pytest.fixture
def limited_service(
    tmp_path: Path, keys_dir: Path, clock: Clock, demo_catalogue
) -> Iterator[LimitedService]:  # type: ignore[no-untyped-def]
    """``make(limits, limiter=None)``: a SQLite service with these limits on the test clock."""
    made: list[Elicence] = []

    def make(limits: Limits, limiter: Limiter | None = None) -> Elicence:
        registry = Registry.from_url(f"sqlite:///{tmp_path / f'registry{len(made)}.db'}")
        registry.upgrade()
        svc = assemble(
            registry=registry,
            keystore=KeyStore(keys_dir, scrypt_log2_n=10),
            passphrase=PASSPHRASE,
            public_base_url="https://hall.example.gov.cn",
            clock=clock,
            limits=limits,
            limiter=limiter,
        )
        if registry.catalogue_version() is None:
            registry.save_catalogue(demo_catalogue, now=clock())
        made.append(svc)
        return svc

    yield make
    for svc in made:
        svc.close()
