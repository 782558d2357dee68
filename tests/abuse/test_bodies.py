"""Request bodies at the edge (issue 16, section 3): each route's limit, enforced on
``Content-Length`` alone and on a chunked body as it arrives; the API key, the rate limit and a
page's sign-in checked before any body is read; malformed bodies charged to their sender; the
one JSON decoder.

The app is driven as ASGI directly, so each test sees how many body bytes the service pulled
(``Answer.read``, bench/asgi.py, which the benchmark's refusal stage drives too): "refused
without reading" is a count of zero, never a time.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import anyio
import pytest
from fastapi.testclient import TestClient
from hypothesis import given
from hypothesis import strategies as st

from bench.asgi import Answer, call, run
from elicence.api import edge
from elicence.api.app import create_app
from elicence.api.edge import EdgeRoute, decode_json
from elicence.api.routers import documents, hall_cases
from elicence.app.service import Elicence
from elicence.domain.clients import Role
from elicence.domain.inputs import check_json
from elicence.errors import InputError, MalformedBodyError
from tests.abuse.conftest import LimitedService
from tests.conftest import GZ_AMR, ApiKeys, food_permit, only_limits
from tests.holder.web import sign_in_key

MIB = 1024 * 1024
CHUNK = 64 * 1024


def endless(prefix: bytes = b"", *, total: int = 200 * MIB) -> Iterator[bytes]:
    """A body of ``total`` bytes made lazily, 64 KiB at a time (nothing is built in advance)."""
    yield prefix
    sent = len(prefix)
    while sent < total:
        yield b" " * CHUNK
        sent += CHUNK


def million_keys() -> Iterator[bytes]:
    """A JSON object with 1,000,000 unknown keys, made as it is sent (about 12 MB)."""
    yield b'{"seal": "EL1:x"'
    for start in range(0, 1_000_000, 10_000):
        yield "".join(f',"k{i}":0' for i in range(start, start + 10_000)).encode()
    yield b"}"


JSON = {"Content-Type": "application/json"}


@dataclass(frozen=True)
class Door:
    id: str
    path: str
    limit: int
    who: str | None  # an ApiKeys attribute, or None
    content_type: str = "application/json"

    def assert_too_large(self, answer: Answer) -> None:
        assert answer.status == 413, answer.body
        if self.path.startswith("/api/") or self.path == "/console/import":
            error = answer.error()
            assert error["code"] == "payload_too_large"
            assert f"{self.limit:,} bytes" in error["message"]
        else:  # a page answers with a page
            assert answer.headers["content-type"].startswith("text/html")
            assert f"{self.limit:,} bytes" in answer.body.decode()


DOORS = [
    Door("verify-anonymous", "/api/v1/verify", edge.SMALL, None),
    Door("verify-hall", "/api/v1/verify", edge.SMALL, "hall"),
    Door("verify-pdf", "/api/v1/verify/pdf", documents.MAX_UPLOAD_BYTES, None, "application/pdf"),
    Door(
        "verify-multipart-dispatched",
        "/api/v1/verify",
        documents.MAX_UPLOAD_BYTES,
        None,
        "multipart/form-data; boundary=x",
    ),
    Door("presentations-verify", "/api/v1/presentations/verify", edge.SMALL, None),
    Door("progress", "/api/v1/progress", edge.SMALL, None),
    Door("issuance", "/api/v1/licences", edge.LICENCE, "gz_amr"),
    Door("batch", "/api/v1/licences/batch", edge.BATCH, "gz_amr"),
    Door("bulk", "/api/v1/licences/bulk", edge.BULK, "gz_amr"),
    Door("amend", "/api/v1/licences/X/amend", edge.LICENCE, "gz_amr"),
    Door("revoke", "/api/v1/licences/X/revoke", edge.SMALL, "gz_amr"),
    Door("grants", "/api/v1/grants", edge.SMALL, "admin"),
    Door("case-application", "/api/v1/cases", hall_cases.MAX_BODY_BYTES, "hall"),
    Door("case-visit", "/api/v1/cases/X/visits", edge.SMALL, "hall"),
    Door("console-import", "/console/import", edge.IMPORT_CHUNK, None),
    Door("console-preview", "/console/preview", edge.LICENCE, None, "multipart/form-data; b=x"),
    Door("sign-in-form", "/signin", edge.SMALL, None, "application/x-www-form-urlencoded"),
]


@pytest.mark.parametrize("door", DOORS, ids=[d.id for d in DOORS])
def test_a_content_length_over_the_limit_is_refused_413_without_reading(
    door: Door, service: Elicence, api_keys: ApiKeys
) -> None:
    app = create_app(service)
    headers = {"Content-Type": door.content_type, "Content-Length": str(door.limit + 1)}
    if door.who:
        headers |= api_keys.h(door.who)
    answer = run(app, "POST", door.path, headers, endless())
    door.assert_too_large(answer)
    assert answer.read == 0


@pytest.mark.parametrize("door", DOORS, ids=[d.id for d in DOORS])
def test_a_chunked_body_is_cut_off_at_the_limit(
    door: Door, service: Elicence, api_keys: ApiKeys
) -> None:
    app = create_app(service)
    headers = {"Content-Type": door.content_type, "Transfer-Encoding": "chunked"}
    if door.who:
        headers |= api_keys.h(door.who)
    answer = run(app, "POST", door.path, headers, endless(b"{"))
    door.assert_too_large(answer)
    assert answer.read <= door.limit + CHUNK  # the limit, and the chunk that crossed it


@pytest.mark.parametrize("framing", ["content-length", "chunked"])
def test_a_million_unknown_keys_are_refused_within_the_limit(
    framing: str, service: Elicence
) -> None:
    """The issue's reproduction: 10-13 s and 1.4 GiB on ``main``. Now bounded by the limit."""
    size = sum(len(c) for c in million_keys())
    headers = JSON | (
        {"Content-Length": str(size)}
        if framing == "content-length"
        else {"Transfer-Encoding": "chunked"}
    )
    answer = run(create_app(service), "POST", "/api/v1/verify", headers, million_keys())
    assert answer.status == 413
    assert answer.read <= edge.SMALL + 10_000 * 12  # at most the chunk that crossed the limit
    if framing == "content-length":
        assert answer.read == 0


def test_a_body_at_the_limit_is_read(service: Elicence) -> None:
    body = b'{"identifier": "1.2.156.3005.2.x"}'
    padded = body + b" " * (edge.SMALL - len(body))
    answer = run(create_app(service), "POST", "/api/v1/verify", JSON, [padded])
    assert answer.status == 422  # read and decoded: the identifier is refused, not the size
    assert answer.error()["field"] == "identifier"


def test_healthz_answers_while_a_body_is_arriving(service: Elicence) -> None:
    """Reading a body waits on the connection, not on the event loop: /healthz is answered
    while a 200 MB body is stuck half-way, and the body is then refused at its limit."""
    app = create_app(service)

    async def scenario() -> tuple[Answer, Answer]:
        paused, reading = anyio.Event(), anyio.Event()
        results: dict[str, Answer] = {}
        async with anyio.create_task_group() as tg:

            async def big() -> None:
                results["big"] = await call(
                    app,
                    "POST",
                    "/api/v1/verify",
                    JSON | {"Transfer-Encoding": "chunked"},
                    endless(b"{"),
                    paused=paused,
                    reading=reading,
                )

            tg.start_soon(big)
            await reading.wait()
            results["health"] = await call(app, "GET", "/healthz", {})
            assert "big" not in results  # the big body is still waiting
            paused.set()
        return results["big"], results["health"]

    big, health = anyio.run(scenario)
    assert health.status == 200
    assert big.status == 413


# -- the order: key, rate limit, sign-in, then the body -----------------------------------------


def test_a_call_without_its_key_is_401_before_the_body_is_read(service: Elicence) -> None:
    headers = JSON | {"Content-Length": str(200 * MIB)}
    answer = run(create_app(service), "POST", "/api/v1/licences", headers, endless())
    assert answer.status == 401
    assert answer.read == 0


def test_a_bad_key_is_401_before_the_body_is_read(service: Elicence) -> None:
    headers = JSON | {"Content-Length": "100", "Authorization": "Bearer elk_not-ours"}
    answer = run(create_app(service), "POST", "/api/v1/licences/batch", headers, [b"x" * 100])
    assert answer.status == 401
    assert answer.error()["field"] == "Authorization"
    assert answer.read == 0


def test_a_rate_limited_sender_is_refused_before_its_body_is_read(
    limited_service: LimitedService,
) -> None:
    svc = limited_service(only_limits(verify_ip="60/min burst 1", progress_ip="60/min burst 1"))
    app = create_app(svc)
    for path in ("/api/v1/verify", "/api/v1/progress"):
        body = b'{"identifier": "1.2.156.3005.2.x"}'
        first = run(app, "POST", path, JSON | {"Content-Length": str(len(body))}, [body])
        assert first.status != 429
        second = run(app, "POST", path, JSON | {"Content-Length": str(len(body))}, [body])
        assert second.status == 429
        assert second.read == 0
        assert int(second.headers["retry-after"]) >= 1


def test_a_verification_the_fast_lane_hands_on_is_charged_once(
    limited_service: LimitedService,
) -> None:
    """Three verifications in a burst of three: the second, charged by the fast lane
    (routers/verify.VerifyLane), is handed on to the route, which does not charge it again: the
    third is still answered, the fourth refused."""
    svc = limited_service(only_limits(verify_ip="60/min burst 3"))
    with TestClient(create_app(svc), raise_server_exceptions=False) as c:
        answers = [
            lambda: c.post("/api/v1/verify", json={"identifier": "1.2.156.3005.2.x"}),
            lambda: c.post("/api/v1/verify", content=b'{"seal": 5}', headers=JSON),
            lambda: c.post("/api/v1/verify", json={"identifier": "1.2.156.3005.2.x"}),
        ]
        statuses = [ask().status_code for ask in answers]
        assert 429 not in statuses
        assert statuses[1] == 422
        refused = c.post("/api/v1/verify", json={"identifier": "1.2.156.3005.2.x"})
        assert refused.status_code == 429
        assert int(refused.headers["retry-after"]) >= 1


def test_the_desk_sends_an_anonymous_upload_to_sign_in_without_reading_it(
    service: Elicence,
) -> None:
    headers = {"Content-Type": "multipart/form-data; boundary=x", "Content-Length": str(200 * MIB)}
    answer = run(create_app(service), "POST", "/desk", headers, endless())
    assert answer.status == 303
    assert answer.headers["location"].startswith("/signin")
    assert answer.read == 0


def test_the_desk_refuses_a_signed_in_upload_over_its_limit_without_reading_it(
    service: Elicence, api_keys: ApiKeys
) -> None:
    app = create_app(service)
    with TestClient(app, base_url="https://hall.example.gov.cn") as browser:
        assert sign_in_key(browser, api_keys.hall, "/desk").status_code == 200
        cookie = "; ".join(f"{k}={v}" for k, v in browser.cookies.items())
    headers = {
        "Content-Type": "multipart/form-data; boundary=x",
        "Content-Length": str(200 * MIB),
        "Cookie": cookie,
    }
    answer = run(app, "POST", "/desk", headers, endless())
    assert answer.status == 413
    assert answer.headers["content-type"].startswith("text/html")  # a page, as pages answer
    assert answer.read == 0


# -- malformed bodies are charged to their sender -----------------------------------------------


MALFORMED = [
    pytest.param(b'{"source_ref": ', "invalid_json", 400, id="not-json"),
    pytest.param(b'{"a": 1, "a": 2}', "invalid_json", 400, id="duplicate-key"),
    pytest.param(b"\xff\xfe{}", "invalid_json", 400, id="not-utf8"),
    pytest.param(b'{"seal": NaN}', "invalid_json", 400, id="nan"),
    pytest.param(b"[" * 100_000 + b"]" * 100_000, None, 413, id="over-the-limit"),
]


@pytest.mark.parametrize(("body", "code", "status"), MALFORMED)
def test_malformed_bodies_are_charged_to_the_sender_then_429(
    limited_service: LimitedService, body: bytes, code: str | None, status: int
) -> None:
    svc = limited_service(only_limits(bad_bodies="60/min burst 2"))
    bad = svc.clients.add(name="gz", role=Role.DEPARTMENT, department=GZ_AMR).api_key
    good = svc.clients.add(name="gz2", role=Role.DEPARTMENT, department=GZ_AMR).api_key
    with TestClient(create_app(svc), raise_server_exceptions=False) as api:
        h = {"Authorization": f"Bearer {bad}", **JSON}
        for _ in range(2):
            r = api.post("/api/v1/licences", content=body, headers=h)
            assert r.status_code == status, r.text
            if code:
                assert r.json()["error"]["code"] == code
        r = api.post("/api/v1/licences", content=body, headers=h)
        assert r.status_code == 429, r.text
        assert r.json()["error"]["code"] == "rate_limited"
        # another client is not charged for it, and neither is anonymous verification
        r = api.post(
            "/api/v1/licences", json=food_permit(), headers={"Authorization": f"Bearer {good}"}
        )
        assert r.status_code == 201, r.text


def test_unknown_keys_and_wrong_shapes_are_charged_by_address_without_a_key(
    limited_service: LimitedService,
) -> None:
    svc = limited_service(only_limits(bad_bodies="60/min burst 2"))
    with TestClient(create_app(svc), raise_server_exceptions=False) as api:
        r = api.post("/api/v1/verify", json={"seal": "x", "colour": "blue"})
        assert r.status_code == 422 and r.json()["error"]["field"] == "colour"
        r = api.post("/api/v1/verify", json=["not", "an", "object"])
        assert r.status_code == 422
        r = api.post("/api/v1/verify", json={"seal": "x", "colour": "blue"})
        assert r.status_code == 429
        # a good body is not a malformed one: it is never charged to this bucket
        r = api.post("/api/v1/verify", json={"identifier": "1.2.156.3005.2.x"})
        assert r.status_code == 422 and r.json()["error"]["field"] == "identifier"


# -- every route is behind the edge -------------------------------------------------------------


def test_every_route_of_the_app_goes_through_the_edge(service: Elicence) -> None:
    from fastapi.routing import APIRoute

    app = create_app(service)
    routes: list[APIRoute] = []
    stack: list[Any] = list(app.router.routes)
    while stack:
        route = stack.pop()
        if isinstance(route, APIRoute):
            routes.append(route)
        stack.extend(getattr(getattr(route, "original_router", None), "routes", ()))
    assert len(routes) > 50
    assert [r.path for r in routes if not isinstance(r, EdgeRoute)] == []


def test_the_openapi_document_gives_each_body_its_limit(api: TestClient) -> None:
    doc = api.get("/openapi.json").json()
    verify = doc["paths"]["/api/v1/verify"]["post"]["responses"]
    assert f"{edge.SMALL:,} bytes" in verify["413"]["description"]
    batch = doc["paths"]["/api/v1/licences/batch"]["post"]["responses"]
    assert f"{edge.BATCH:,} bytes" in batch["413"]["description"]
    assert "429" in batch


# -- the one JSON decoder -----------------------------------------------------------------------


@pytest.mark.parametrize(
    "data",
    [
        pytest.param(b'{"a": 1, "a": 1}', id="duplicate-key"),
        pytest.param(b'{"a": {"b": 1, "b": 2}}', id="nested-duplicate-key"),
        pytest.param(b"[NaN]", id="nan"),
        pytest.param(b"-Infinity", id="infinity"),
        pytest.param(b'"\xed\xa0\x80"', id="utf8-encoded-surrogate"),
        pytest.param(b"\xef\xbb\xbf{}", id="byte-order-mark"),
        pytest.param(b"[" * 50_000 + b"]" * 50_000, id="nested-too-deeply"),
        pytest.param(b"", id="empty"),
        pytest.param(b"{} {}", id="two-values"),
    ],
)
def test_decode_json_refuses(data: bytes) -> None:
    with pytest.raises(MalformedBodyError):
        decode_json(data)


JSON_VALUES = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=20,
)


@given(JSON_VALUES)
def test_decode_json_reads_what_json_writes(value: Any) -> None:
    data = json.dumps(value, ensure_ascii=False).encode("utf-8", "surrogatepass")
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return  # text with lone surrogates is not UTF-8 JSON: refused above
    try:  # what the text rule (domain/inputs.py) lets through, in NFC
        expected = check_json(value)
    except InputError:
        with pytest.raises(InputError):
            decode_json(data)
        return
    assert decode_json(data) == expected
