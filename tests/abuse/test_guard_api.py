"""Rate limits over HTTP: verification (JSON and PDF) by client and by address, the public
reads, and bad API keys; 429 with Retry-After and the usual error object; X-Forwarded-For only
from trusted proxies. On both limiter backends; time moves only when the test moves the clock.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest
from fastapi.testclient import TestClient

from elicence.api.app import create_app
from elicence.app.guard import Guard, Limits
from elicence.domain.clients import Role
from elicence.domain.limits import parse_networks
from elicence.ratelimit import Limiter, MemoryLimiter
from tests.abuse.conftest import LimitedService
from tests.conftest import GZ_AMR, Clock, food_permit, only_limits

VERIFY = "/api/v1/verify"
LIMITS = Limits.parse(
    verify_client="60/min burst 5",
    verify_ip="60/min burst 3",
    public_ip="60/min burst 4",
    auth_failures_ip="6/min burst 3",
    pdf_cost=3,
)


def _client(svc, peer: str = "203.0.113.10") -> TestClient:  # type: ignore[no-untyped-def]
    return TestClient(create_app(svc), raise_server_exceptions=False, client=(peer, 50000))


def _assert_429(r, field: str | None = None) -> int:  # type: ignore[no-untyped-def]
    assert r.status_code == 429, r.text
    body = r.json()["error"]
    assert body["code"] == "rate_limited"
    assert "try again in" in body["message"]
    assert body.get("field") == field
    wait = int(r.headers["Retry-After"])
    assert wait >= 1
    return wait


def test_anonymous_verification_is_limited_by_address_and_refills_with_the_clock(
    limited_service: LimitedService, limiter_factory: Callable[[], Limiter], clock: Clock
) -> None:
    svc = limited_service(LIMITS, limiter_factory())
    body = {"identifier": "1.2.156.3005.2.11100000000013338W011.11440100MB2D00002M.X.001.0"}
    with _client(svc) as api, _client(svc, "198.51.100.20") as other:
        for _ in range(3):
            assert api.post(VERIFY, json=body).status_code != 429
        wait = _assert_429(api.post(VERIFY, json=body))
        assert wait == 1  # one token a second
        assert other.post(VERIFY, json=body).status_code != 429  # another address
        clock.advance(seconds=1)
        assert api.post(VERIFY, json=body).status_code != 429
        _assert_429(api.post(VERIFY, json=body))


def test_a_client_has_its_own_bucket_and_a_pdf_costs_more(
    limited_service: LimitedService, limiter_factory: Callable[[], Limiter], clock: Clock
) -> None:
    svc = limited_service(LIMITS, limiter_factory())
    hall = svc.clients.add(name="hall", role=Role.HALL, department=None).api_key
    dept = svc.clients.add(name="gz", role=Role.DEPARTMENT, department=GZ_AMR).api_key
    with _client(svc) as api:
        seal = api.post(
            "/api/v1/licences", json=food_permit(), headers={"Authorization": f"Bearer {dept}"}
        ).json()["seal"]
        h = {"Authorization": f"Bearer {hall}"}
        # the address's anonymous bucket is spent; the hall's own is not touched by it
        for _ in range(3):
            assert api.post(VERIFY, json={"seal": seal}).status_code == 200
        _assert_429(api.post(VERIFY, json={"seal": seal}))
        r = api.post(VERIFY, json={"seal": seal}, headers=h)
        assert r.status_code == 200 and r.json()["verdict"] == "valid"
        # a PDF upload costs 3 of the hall's 5 tokens: 1 (above) + 3 leaves 1, not 3 more
        pdf = b"%PDF-1.7 not really a pdf"
        r = api.post(VERIFY, content=pdf, headers={**h, "Content-Type": "application/pdf"})
        assert r.status_code == 422  # charged, then refused as unreadable
        _assert_429(api.post(VERIFY, content=pdf, headers={**h, "Content-Type": "application/pdf"}))
        assert api.post(VERIFY, json={"seal": seal}, headers=h).status_code == 200
        _assert_429(api.post(VERIFY, json={"seal": seal}, headers=h))
        clock.advance(seconds=3)
        r = api.post(
            "/api/v1/verify/pdf", content=pdf, headers={**h, "Content-Type": "application/pdf"}
        )
        assert r.status_code == 422


def test_public_reads_are_limited_by_address(
    limited_service: LimitedService, limiter_factory: Callable[[], Limiter]
) -> None:
    svc = limited_service(LIMITS, limiter_factory())
    paths = ["/v", "/v.js", "/api/v1/trust-list", "/api/v1/catalogue/departments"]
    with _client(svc) as api:
        for path in paths:
            assert api.get(path).status_code == 200, path
        for path in [*paths, "/api/v1/crl", "/api/v1/root.crt", "/api/v1/trust-list.cose"]:
            _assert_429(api.get(path))
        assert api.get("/healthz").status_code == 200  # health checks are not limited


def test_bad_keys_from_one_address_get_429_and_never_lock_out_a_good_key(
    limited_service: LimitedService, limiter_factory: Callable[[], Limiter], clock: Clock
) -> None:
    svc = limited_service(LIMITS, limiter_factory())
    good = svc.clients.add(name="gz", role=Role.DEPARTMENT, department=GZ_AMR).api_key
    bad = [{"Authorization": f"Bearer elk_guess{i}"} for i in range(10)]
    with _client(svc) as api, _client(svc, "198.51.100.20") as elsewhere:
        for h in bad[:3]:
            r = api.get("/api/v1/licences", headers=h)
            assert r.status_code == 401 and r.json()["error"]["code"] == "unauthenticated"
        wait = _assert_429(api.get("/api/v1/licences", headers=bad[3]), field="Authorization")
        assert wait == 10  # six a minute
        _assert_429(
            api.get("/api/v1/licences", headers={"Authorization": "Basic eDp5"}), "Authorization"
        )
        _assert_429(api.post(VERIFY, json={"seal": "EL1:AAAA"}, headers=bad[4]), "Authorization")
        # the good key at the same address still works, and is not charged
        for _ in range(5):
            r = api.get("/api/v1/licences", headers={"Authorization": f"Bearer {good}"})
            assert r.status_code == 200, r.text
        # another address still gets its 401s
        assert elsewhere.get("/api/v1/licences", headers=bad[5]).status_code == 401
        # no key at all is not a bad key
        assert api.get("/api/v1/licences").status_code == 401
        clock.advance(seconds=10)
        assert api.get("/api/v1/licences", headers=bad[6]).status_code == 401


@pytest.mark.parametrize(
    ("trusted", "peer", "forwarded", "address"),
    [
        pytest.param(
            "", "198.51.100.1", ["203.0.113.5"], "198.51.100.1", id="untrusted-by-default"
        ),
        pytest.param(
            "10.0.0.0/8", "198.51.100.1", ["203.0.113.5"], "198.51.100.1", id="peer-not-a-proxy"
        ),
        pytest.param("10.0.0.0/8", "10.0.0.2", ["203.0.113.5"], "203.0.113.5", id="one-proxy"),
        pytest.param(
            "10.0.0.0/8",
            "10.0.0.2",
            ["6.6.6.6, 203.0.113.5"],
            "203.0.113.5",
            id="spoofed-left-hop-ignored",
        ),
        pytest.param(
            "10.0.0.0/8", "10.0.0.2", ["203.0.113.5, 10.0.0.9"], "203.0.113.5", id="two-proxies"
        ),
        pytest.param(
            "10.0.0.0/8", "10.0.0.2", ["6.6.6.6", "203.0.113.5"], "203.0.113.5", id="two-headers"
        ),
        pytest.param("10.0.0.0/8", "10.0.0.2", ["10.0.0.7"], "10.0.0.7", id="only-proxies"),
        pytest.param("10.0.0.0/8", "10.0.0.2", [], "10.0.0.2", id="no-header"),
        pytest.param(
            "10.0.0.0/8", "10.0.0.2", ["203.0.113.5, garbage"], "10.0.0.2", id="malformed-hop"
        ),
        pytest.param("::1", "::1", ["2001:db8::7"], "2001:db8::7", id="ipv6"),
    ],
)
def test_the_client_address(
    trusted: str, peer: str, forwarded: list[str], address: str, clock: Clock
) -> None:
    guard = Guard(
        MemoryLimiter(),
        Limits(trusted_proxies=parse_networks(trusted.split(","))),
        clock=clock,
    )
    assert guard.client_address(peer, forwarded) == address


def test_x_forwarded_for_moves_the_bucket_only_behind_a_trusted_proxy(
    limited_service: LimitedService,
) -> None:
    limits = only_limits(verify_ip="60/min burst 1", trusted_proxies=["127.0.0.1"])
    svc = limited_service(limits, MemoryLimiter())
    body = {"seal": "EL1:AAAA"}
    with _client(svc, "127.0.0.1") as proxied, _client(svc, "198.51.100.1") as direct:
        for ip in ("203.0.113.1", "203.0.113.2"):
            r = proxied.post(VERIFY, json=body, headers={"X-Forwarded-For": ip})
            assert r.status_code != 429, r.text
        _assert_429(proxied.post(VERIFY, json=body, headers={"X-Forwarded-For": "203.0.113.1"}))
        # a direct caller cannot pick its bucket by sending the header
        assert (
            direct.post(VERIFY, json=body, headers={"X-Forwarded-For": "203.0.113.9"}).status_code
            != 429
        )
        _assert_429(direct.post(VERIFY, json=body, headers={"X-Forwarded-For": "203.0.113.10"}))


def test_limits_off_limit_nothing(limited_service: LimitedService) -> None:
    off = only_limits()
    svc = limited_service(off)
    with _client(svc) as api:
        for _ in range(50):
            assert api.get("/api/v1/trust-list").status_code == 200
            assert (
                api.get("/api/v1/licences", headers={"Authorization": "Bearer nope"}).status_code
                == 401
            )


def test_every_response_carries_a_request_id(limited_service: LimitedService) -> None:
    svc = limited_service(LIMITS)
    with _client(svc) as api:
        given = api.get("/healthz", headers={"X-Request-ID": "nginx-4f2a9c"})
        assert given.headers["X-Request-ID"] == "nginx-4f2a9c"
        made = api.get("/healthz", headers={"X-Request-ID": "bad id with spaces"})
        assert len(made.headers["X-Request-ID"]) == 32
