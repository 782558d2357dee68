"""The JSON verification's fast lane (``routers/verify.VerifyLane``): it answers exactly as the
route does, takes only what the route would answer 200 or the verification's own error to, and
hands everything else on to the route (with what it read), charged once."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from elicence.api import edge
from elicence.api.app import create_app
from elicence.app import metrics
from elicence.app.service import Elicence
from tests.conftest import ApiKeys, food_permit

VERIFY = "/api/v1/verify"
ROUTE = VERIFY + "?by=route"  # a query string: the lane never takes it, the route ignores it
JSON = {"Content-Type": "application/json"}


def _count_route(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """How many requests went the route's way (its edge checks every request's parameters;
    the lane takes none with parameters, and answers without the edge)."""
    calls, inner = [0], edge.check_parameters

    def counted(request: Any) -> None:
        if request.url.path == VERIFY:
            calls[0] += 1
        inner(request)

    monkeypatch.setattr(edge, "check_parameters", counted)
    return calls


@pytest.fixture
def app(service: Elicence) -> FastAPI:
    return create_app(service)


@pytest.fixture
def client(app: FastAPI) -> Any:
    with TestClient(app, raise_server_exceptions=False) as c:
        yield c


@pytest.fixture
def issued(client: TestClient, api_keys: ApiKeys) -> dict[str, Any]:
    r = client.post("/api/v1/licences", json=food_permit(), headers=api_keys.h("gz_amr"))
    assert r.status_code == 201, r.text
    out: dict[str, Any] = r.json()
    return out


@pytest.mark.parametrize("who", [None, "hall", "gz_amr"])
@pytest.mark.parametrize("field", ["seal", "identifier"])
def test_the_lane_answers_as_the_route_does(
    who: str | None,
    field: str,
    monkeypatch: pytest.MonkeyPatch,
    client: TestClient,
    api_keys: ApiKeys,
    issued: dict[str, Any],
) -> None:
    headers = JSON | (api_keys.h(who) if who else {})
    body = {field: issued[field]}
    client.post(ROUTE, json=body, headers=headers)  # the key's look-up cached, as in service
    calls = _count_route(monkeypatch)
    by_lane = client.post(VERIFY, json=body, headers=headers)
    assert calls == [0]  # answered by the lane
    by_route = client.post(ROUTE, json=body, headers=headers)
    assert calls == [1]
    assert by_lane.status_code == by_route.status_code == 200
    assert by_lane.content == by_route.content
    for header in ("content-type", "cache-control", "content-length"):
        assert by_lane.headers[header] == by_route.headers[header], header
    assert by_lane.headers["x-request-id"] != by_route.headers["x-request-id"]
    assert by_lane.json()["verdict"] == "valid"


def test_the_lane_counts_in_the_routes_latency_histogram(
    client: TestClient, issued: dict[str, Any]
) -> None:
    def count() -> float:
        for family in metrics.LATENCY.collect():
            for sample in family.samples:
                wanted = {"route": VERIFY, "method": "POST", "status": "2xx"}
                if sample.name.endswith("_count") and wanted.items() <= sample.labels.items():
                    return sample.value
        return 0.0

    before = count()
    assert client.post(VERIFY, json={"seal": issued["seal"]}).status_code == 200
    assert count() == before + 1


BODIES: list[Any] = [
    pytest.param(b'{"seal": "EL1:A", "seal": "EL1:B"}', 400, "invalid_json", None, id="twice"),
    pytest.param(b'{"seal": "x", "other": 1}', 422, "invalid_input", "other", id="extra-field"),
    pytest.param(b'{"seal": 5}', 422, "invalid_input", "seal", id="not-text"),
    pytest.param(b"{}", 422, "invalid_input", "seal", id="neither"),
    pytest.param(
        b'{"seal": "EL1:A", "identifier": "1.2"}', 422, "invalid_input", "seal", id="both"
    ),
    pytest.param(b'{"seal": "' + b"A" * 8001 + b'"}', 422, "invalid_input", "seal", id="long"),
    pytest.param(b'{"seal": "a\\u0000b"}', 422, "invalid_input", "seal", id="control-char"),
    pytest.param(b"[1]", 422, None, None, id="not-an-object"),
]


@pytest.mark.parametrize(("body", "status", "code", "field"), BODIES)
def test_what_the_lane_does_not_take_gets_the_routes_answer(
    body: bytes,
    status: int,
    code: str | None,
    field: str | None,
    monkeypatch: pytest.MonkeyPatch,
    client: TestClient,
) -> None:
    calls = _count_route(monkeypatch)
    r = client.post(VERIFY, content=body, headers=JSON)
    assert calls == [1]  # handed on, with the body the lane had read
    assert r.status_code == status, r.text
    error = r.json()["error"]
    if code is not None:
        assert error["code"] == code
    if field is not None:
        assert error["field"] == field
    same = client.post(ROUTE, content=body, headers=JSON)
    assert (same.status_code, same.json()["error"]["code"]) == (status, error["code"])


@pytest.mark.parametrize(
    "headers",
    [
        pytest.param({"Content-Type": "application/json; charset=utf-8"}, id="charset"),
        pytest.param({"Content-Type": "application/vnd.elicence+json"}, id="json-suffix"),
    ],
)
def test_other_ways_of_saying_json_reach_the_same_answer(
    headers: dict[str, str], client: TestClient, issued: dict[str, Any]
) -> None:
    body = b'{"seal": "' + issued["seal"].encode() + b'"}'
    r = client.post(VERIFY, content=body, headers=headers)
    assert r.status_code == 200 and r.json()["verdict"] == "valid"


def test_a_chunked_body_goes_the_routes_way(
    monkeypatch: pytest.MonkeyPatch, client: TestClient, issued: dict[str, Any]
) -> None:
    calls = _count_route(monkeypatch)

    def chunks() -> Any:
        yield b'{"seal": "'
        yield issued["seal"].encode()
        yield b'"}'

    r = client.post(VERIFY, content=chunks(), headers=JSON)
    assert r.status_code == 200 and r.json()["verdict"] == "valid"
    assert calls == [1]
