"""Rates, the GCRA decision, and both limiter backends (in memory, and a real Redis).

Time is given, never waited for: every test moves a number or the test clock.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest
import redis
from hypothesis import given
from hypothesis import strategies as st

from elicence.domain.limits import UNITS, Rate, admit, parse_networks, parse_rate
from elicence.errors import InputError
from elicence.ratelimit import Limiter, MemoryLimiter, RedisLimiter
from tests.abuse.conftest import redis_limiter

T0 = 1_790_000_000.0  # a fixed epoch second


@pytest.mark.parametrize(
    ("text", "rate"),
    [
        pytest.param("120/min burst 30", Rate(120, "min", 30), id="per-minute-with-burst"),
        pytest.param("10/s", Rate(10, "s", 10), id="burst-defaults-to-count"),
        pytest.param(" 5 / hour , burst 2 ", Rate(5, "h", 2), id="words-spaces-comma"),
        pytest.param("100/seconds burst 500", Rate(100, "s", 500), id="plural-unit"),
        pytest.param("off", None, id="off"),
        pytest.param("OFF", None, id="off-upper-case"),
    ],
)
def test_rates_parse(text: str, rate: Rate | None) -> None:
    assert parse_rate(text) == rate


@pytest.mark.parametrize(
    ("text", "why"),
    [
        pytest.param("", "is not a rate", id="empty"),
        pytest.param("10", "is not a rate", id="no-unit"),
        pytest.param("10/fortnight", "is not a rate", id="unknown-unit"),
        pytest.param("0/s", "between 1 and", id="zero-count"),
        pytest.param("10/s burst 0", "between 1 and", id="zero-burst"),
        pytest.param("-1/s", "is not a rate", id="negative"),
        pytest.param("1.5/s", "is not a rate", id="fraction"),
        pytest.param("10/s burst", "is not a rate", id="burst-without-number"),
        pytest.param("99999999999/s", "is not a rate", id="too-many-digits"),
        pytest.param("2000000000/s", "between 1 and", id="too-many"),
    ],
)
def test_bad_rates_are_refused_naming_the_field(text: str, why: str) -> None:
    with pytest.raises(InputError, match=why) as e:
        parse_rate(text, field="rate_limit_verify_ip")
    assert e.value.field == "rate_limit_verify_ip"


@given(
    count=st.integers(1, 10**9),
    unit=st.sampled_from(sorted(UNITS)),
    burst=st.integers(1, 10**9),
)
def test_a_rate_round_trips_through_its_text(count: int, unit: str, burst: int) -> None:
    rate = Rate(count, unit, burst)
    assert parse_rate(str(rate)) == rate


@given(st.text(max_size=30))
def test_any_text_is_a_rate_off_or_an_input_error(text: str) -> None:
    try:
        rate = parse_rate(text)
    except InputError as e:
        assert e.field == "rate"
        assert repr(text) in e.message
        return
    assert rate is None or parse_rate(str(rate)) == rate


def test_trusted_proxy_networks_parse_and_refuse_garbage() -> None:
    nets = parse_networks(["10.0.0.0/8", " 127.0.0.1 ", "", "::1"])
    assert [str(n) for n in nets] == ["10.0.0.0/8", "127.0.0.1/32", "::1/128"]
    with pytest.raises(InputError, match="not an IP") as e:
        parse_networks(["10.0.0.0/8", "proxy.example"])
    assert e.value.field == "trusted_proxies"


# -- the decision -----------------------------------------------------------------------------


def test_gcra_admits_a_burst_refuses_the_next_and_refills_at_the_rate() -> None:
    rate = Rate(60, "min", 3)  # one token a second, three at most
    tat = None
    for _ in range(3):
        d = admit(tat, rate, now=T0)
        assert d.allowed
        tat = d.tat
    refused = admit(tat, rate, now=T0)
    assert not refused.allowed
    assert refused.retry_after == pytest.approx(1.0)
    assert refused.retry_after_seconds == 1
    assert refused.tat == tat  # a refusal does not change the bucket
    assert not admit(tat, rate, now=T0 + 0.5).allowed
    assert admit(tat, rate, now=T0 + 1.0).allowed
    # after a long pause the bucket is full again, not fuller
    later = T0 + 3600
    tat = None if tat is None else tat
    for _ in range(3):
        d = admit(tat, rate, now=later)
        assert d.allowed
        tat = d.tat
    assert not admit(tat, rate, now=later).allowed


def test_an_expensive_request_spends_several_tokens_and_never_more_than_the_burst() -> None:
    rate = Rate(1, "s", 20)
    d = admit(None, rate, now=T0, cost=10)
    assert d.allowed
    d = admit(d.tat, rate, now=T0, cost=10)
    assert d.allowed
    refused = admit(d.tat, rate, now=T0, cost=10)
    assert not refused.allowed
    assert refused.retry_after_seconds == 10
    assert admit(None, rate, now=T0, cost=1000).allowed  # charged as the whole burst


# -- the backends: the same decisions in memory and in Redis -----------------------------------


def test_a_backend_limits_one_key_and_leaves_others_alone(
    limiter_factory: Callable[[], Limiter],
) -> None:
    limiter = limiter_factory()
    rate = Rate(6, "min", 2)  # a token every 10 s
    assert limiter.hit("verify-ip:203.0.113.9", rate, now=T0).allowed
    assert limiter.hit("verify-ip:203.0.113.9", rate, now=T0).allowed
    refused = limiter.hit("verify-ip:203.0.113.9", rate, now=T0 + 1)
    assert not refused.allowed
    assert refused.retry_after_seconds == 9
    assert limiter.hit("verify-ip:198.51.100.7", rate, now=T0 + 1).allowed
    assert limiter.hit("verify-ip:203.0.113.9", rate, now=T0 + 10).allowed
    limiter.close()


def test_workers_share_redis_buckets_but_not_memory_buckets(redis_url: str) -> None:
    rate = Rate(1, "min", 2)
    shared = f"elicence-test-shared-{T0}:"
    one, two = RedisLimiter(redis_url, prefix=shared), RedisLimiter(redis_url, prefix=shared)
    redis.Redis.from_url(redis_url).delete(shared + "k")
    assert one.hit("k", rate, now=T0).allowed
    assert two.hit("k", rate, now=T0).allowed
    assert not one.hit("k", rate, now=T0).allowed  # the second worker spent the last token
    assert not two.hit("k", rate, now=T0).allowed
    a, b = MemoryLimiter(), MemoryLimiter()
    for limiter in (a, b):  # each process has a whole bucket of its own
        assert limiter.hit("k", rate, now=T0).allowed
        assert limiter.hit("k", rate, now=T0).allowed
        assert not limiter.hit("k", rate, now=T0).allowed


def test_redis_keys_expire_when_their_bucket_is_full_again(redis_url: str) -> None:
    limiter = redis_limiter(redis_url)
    limiter.hit("k", Rate(1, "h", 5), now=T0)
    client = redis.Redis.from_url(redis_url)
    keys = client.keys(limiter._prefix + "*")
    assert len(keys) == 1
    ttl = client.pttl(keys[0])
    # one token to refill (an hour) plus a second's margin, less however long this took
    assert 3_000_000 < ttl <= 3_601_000


def test_an_unreachable_redis_admits_and_counts_the_failure() -> None:
    limiter = RedisLimiter("redis://127.0.0.1:1/0", timeout=0.2)
    rate = Rate(1, "h", 1)
    assert limiter.hit("k", rate, now=T0).allowed
    assert limiter.hit("k", rate, now=T0).allowed  # it would have been refused
    assert limiter.failures == 2
    assert not limiter.ping()


def test_memory_buckets_stay_bounded_under_a_flood_of_addresses() -> None:
    limiter = MemoryLimiter(max_buckets=100)
    rate = Rate(1, "h", 5)
    for i in range(1000):
        assert limiter.hit(f"ip:{i}", rate, now=T0).allowed
    assert len(limiter) <= 100
    limiter.hit("ip:busy", rate, now=T0)
    limiter.hit("ip:busy", rate, now=T0)
    assert "ip:busy" in limiter._tat


@pytest.mark.parametrize(
    ("setting", "value"),
    [
        pytest.param("rate_limit_verify_ip", "fast", id="verify-ip-not-a-rate"),
        pytest.param("rate_limit_auth_failures_ip", "0/min", id="auth-failures-zero"),
        pytest.param("trusted_proxies", "10.0.0.0/8, proxy.internal", id="proxy-not-an-address"),
        pytest.param("rate_limit_backend", "memcached", id="unknown-backend"),
    ],
)
def test_settings_refuse_bad_limits_naming_the_setting(setting: str, value: str) -> None:
    from pydantic import ValidationError

    from elicence.errors import SettingsError
    from elicence.settings import Settings

    with pytest.raises((SettingsError, ValidationError)) as e:
        Settings(**{setting: value})  # type: ignore[arg-type]
    assert setting in str(e.value)
