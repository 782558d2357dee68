"""Error bodies say what happened and never leak internals (issue 16, section 3).

A 5xx body names what is unavailable in fixed words and carries the request id; the exception's
text (SQL, parameters, hosts, ports, key file paths) goes to the log under that id. An error
whose message or field would echo text UTF-8 cannot carry is still a well-formed answer.
"""

from __future__ import annotations

import contextlib
import json
import logging
import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text

from elicence.api.app import create_app
from elicence.app.service import Elicence
from elicence.bootstrap import assemble
from elicence.domain.clients import Role
from elicence.keys.store import KeyStore
from elicence.registry import Registry
from tests.conftest import ApiKeys, Clock, food_permit, make_service, truncate_postgres

LEAKS = ("SQL", "SELECT", "parameters", "sqlalche", "psycopg", "Traceback", ".key", "/keys/")


def assert_no_leak(response_text: str, *extra: str) -> None:
    for needle in (*LEAKS, *extra):
        assert needle not in response_text, f"{needle!r} leaked: {response_text}"


def assert_5xx_shape(r: object, *extra: str) -> dict[str, str]:
    """A 5xx: the fixed words, the request id in the body and the header, no internals."""
    assert r.status_code >= 500, r.text  # type: ignore[attr-defined]
    assert_no_leak(r.text, *extra)  # type: ignore[attr-defined]
    error: dict[str, str] = r.json()["error"]  # type: ignore[attr-defined]
    rid = r.headers["x-request-id"]  # type: ignore[attr-defined]
    assert error["request_id"] == rid
    assert rid in error["message"]
    assert "try again later" in error["message"]
    return error


def test_a_registry_failure_is_503_in_words_with_the_request_id_and_the_sql_only_in_the_log(
    api: TestClient, service: Elicence, caplog: pytest.LogCaptureFixture
) -> None:
    with service.registry.engine.begin() as conn:  # the registry breaks under the service
        conn.execute(text("DROP TABLE hall_cases"))
    with caplog.at_level(logging.ERROR, logger="elicence.api"):
        r = api.get("/api/v1/metrics?period=2026-11", headers={"X-Request-ID": "req-metrics-1"})
    error = assert_5xx_shape(r)
    assert r.status_code == 503
    assert error["code"] == "registry_error"
    assert "registry is unavailable" in error["message"]
    logged = "\n".join(
        rec.getMessage() + (str(rec.exc_info[1]) if rec.exc_info else "") for rec in caplog.records
    )
    assert "req-metrics-1" in logged
    assert "hall_cases" in logged  # the details are in the log, under the request id


@pytest.mark.parametrize(
    "url",
    [
        pytest.param("/api/v1/metrics?period=0001-01", id="metrics-year-1"),
        pytest.param("/api/v1/metrics?period=9999", id="metrics-year-9999"),
        pytest.param("/api/v1/metrics.csv?period=0001-01", id="metrics-csv-year-1"),
    ],
)
def test_the_reported_metrics_periods_answer_without_sql(api: TestClient, url: str) -> None:
    """The reproduction of the issue: 503 with ``[SQL: SELECT hall_cases.number …]``. Whether
    such a period is refused (4xx) or fails, the body never carries SQL."""
    r = api.get(url)
    assert_no_leak(r.text)
    if r.status_code >= 500:
        assert_5xx_shape(r)


def test_a_wrong_passphrase_names_no_key_file(
    tmp_path: Path, keys_dir: Path, clock: Clock, demo_catalogue: object
) -> None:
    registry = Registry.from_url(f"sqlite:///{tmp_path / 'registry.db'}")
    registry.upgrade()
    svc = assemble(
        registry=registry,
        keystore=KeyStore(keys_dir, scrypt_log2_n=10),
        passphrase="not-the-passphrase",
        public_base_url="https://hall.example.gov.cn",
        clock=clock,
    )
    registry.save_catalogue(demo_catalogue, now=clock())  # type: ignore[arg-type]
    key = svc.clients.add(name="gz", role=Role.DEPARTMENT, department="11440100MB2D00002M").api_key
    try:
        with TestClient(create_app(svc), raise_server_exceptions=False) as api:
            r = api.post(
                "/api/v1/licences", json=food_permit(), headers={"Authorization": f"Bearer {key}"}
            )
        error = assert_5xx_shape(r, str(keys_dir), "departments")
        assert r.status_code == 503
        assert "signing keys are unavailable" in error["message"]
    finally:
        svc.close()
        registry.dispose()


def test_an_unhandled_error_is_500_with_the_request_id(api: TestClient, service: Elicence) -> None:
    def broken() -> dict[str, object]:
        raise RuntimeError("secret detail at /srv/elicence/var/db 10.0.0.5:5432")

    service.health = broken  # type: ignore[method-assign]
    r = api.get("/healthz")
    error = assert_5xx_shape(r, "secret detail", "10.0.0.5", "/srv/")
    assert r.status_code == 500
    assert error["code"] == "internal_error"


# -- PostgreSQL ---------------------------------------------------------------------------------


def test_postgres_feed_after_2_to_the_31_answers_without_sql(
    pg_service: Elicence,
) -> None:
    """The reproduction: ``[parameters: {'seq_1': 2147483648, …}]`` in a 503."""
    key = pg_service.clients.add(name="admin", role=Role.ADMIN, department=None).api_key
    with TestClient(create_app(pg_service), raise_server_exceptions=False) as api:
        r = api.get("/api/v1/feed?after=2147483648", headers={"Authorization": f"Bearer {key}"})
    assert_no_leak(r.text, "2147483648")
    if r.status_code >= 500:
        assert_5xx_shape(r)


class _Forwarder:
    """A TCP forwarder to PostgreSQL that can be cut: the database 'goes down' under a running
    service, at an address and port the test knows."""

    def __init__(self, target: tuple[str, int]) -> None:
        self.target = target
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.sockets: list[socket.socket] = []
        self.down = False
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while not self.down:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            if self.down:
                client.close()
                return
            upstream = socket.create_connection(self.target)
            self.sockets += [client, upstream]
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()

    @staticmethod
    def _pipe(a: socket.socket, b: socket.socket) -> None:
        try:
            while data := a.recv(65536):
                b.sendall(data)
        except OSError:
            pass
        finally:
            for s in (a, b):
                with contextlib.suppress(OSError):
                    s.shutdown(socket.SHUT_RDWR)

    def cut(self) -> None:
        self.down = True
        self.listener.close()
        for s in self.sockets:
            try:
                s.shutdown(socket.SHUT_RDWR)
                s.close()
            except OSError:
                pass


@pytest.fixture
def forwarded_pg(
    postgres_url: str, keys_dir: Path, clock: Clock, demo_catalogue: object
) -> Iterator[tuple[Elicence, _Forwarder]]:
    from sqlalchemy.engine import make_url

    url = make_url(postgres_url)
    forwarder = _Forwarder((url.host or "127.0.0.1", url.port or 5432))
    registry = Registry.from_url(
        url.set(host="127.0.0.1", port=forwarder.port).render_as_string(hide_password=False)
    )
    svc = make_service(registry, keys_dir, clock, demo_catalogue)
    yield svc, forwarder
    forwarder.cut()
    svc.close()
    registry.dispose()
    truncate_postgres(postgres_url)  # what it wrote before the cut must not reach the next test


def test_postgres_down_names_no_host_or_port(forwarded_pg: tuple[Elicence, _Forwarder]) -> None:
    svc, forwarder = forwarded_pg
    key = svc.clients.add(name="admin", role=Role.ADMIN, department=None).api_key
    with TestClient(create_app(svc), raise_server_exceptions=False) as api:
        assert (
            api.get("/api/v1/feed", headers={"Authorization": f"Bearer {key}"}).status_code == 200
        )
        forwarder.cut()
        r = api.get("/api/v1/feed", headers={"Authorization": f"Bearer {key}"})
        anonymous = api.get("/api/v1/metrics?period=2026-11")
    for answer in (r, anonymous):
        error = assert_5xx_shape(answer, "127.0.0.1", str(forwarder.port))
        assert answer.status_code == 503
        assert "registry is unavailable" in error["message"]


# -- unencodable text in error messages ---------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "field"),
    [
        pytest.param({**food_permit(), "\ud800": 1}, "\ufffd", id="unknown-top-level-key"),
        pytest.param(food_permit(data={"\ud800x": "y"}), "data.\ufffdx", id="unknown-data-item"),
    ],
)
def test_an_error_that_names_an_unencodable_key_is_still_a_422(
    api: TestClient, api_keys: ApiKeys, body: dict[str, object], field: str
) -> None:
    """Was a 500: the 422's ``field`` echoed a lone surrogate, which UTF-8 cannot carry."""
    r = api.post(
        "/api/v1/licences",
        content=json.dumps(body).encode(),  # ASCII JSON: the surrogate travels as \ud800
        headers=api_keys.h("gz_amr") | {"Content-Type": "application/json"},
    )
    assert r.status_code == 422, r.text
    error = json.loads(r.content.decode("utf-8"))["error"]
    assert error["code"] == "invalid_input"
    assert error["field"] == field


# -- 405 ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "url", "allowed"),
    [
        pytest.param("DELETE", "/api/v1/verify", {"POST"}, id="verify"),
        pytest.param("PUT", "/api/v1/licences", {"GET", "POST"}, id="licences-two-routes"),
        pytest.param("PATCH", "/desk", {"GET", "POST"}, id="desk-page-two-routes"),
        pytest.param("POST", "/healthz", {"GET"}, id="healthz"),
    ],
)
def test_a_405_says_which_methods_are_allowed(
    api: TestClient, method: str, url: str, allowed: set[str]
) -> None:
    r = api.request(method, url)
    assert r.status_code == 405, r.text
    assert set(r.headers["Allow"].split(", ")) == allowed
    assert r.json()["error"]["code"] == "method_not_allowed"


def test_a_client_that_hangs_up_mid_body_is_one_info_line_not_an_unhandled_error(
    service: Elicence, caplog: pytest.LogCaptureFixture
) -> None:
    """Under wrk, a connection closed while its body was on the way was logged as "unhandled
    error" with a traceback, twice (ours and uvicorn's: the exception left the app). Now: one
    info line with the request id, no traceback, nothing raised out of the app (issue 20)."""
    import asyncio

    app = create_app(service)
    sent: list[dict[str, object]] = []
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": "/api/v1/verify",
        "raw_path": b"/api/v1/verify",
        "query_string": b"",
        "root_path": "",
        "headers": [(b"content-type", b"application/json"), (b"content-length", b"200")],
        "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 8000),
        "app": app,
    }

    async def receive() -> dict[str, object]:
        return {"type": "http.disconnect"}  # gone before a byte of the body came

    async def send(message: dict[str, object]) -> None:
        sent.append(message)

    with caplog.at_level(logging.DEBUG):
        asyncio.run(app(scope, receive, send))  # raises nothing
    starts = [m for m in sent if m["type"] == "http.response.start"]
    assert [m["status"] for m in starts] == [499]
    rid = dict(starts[0]["headers"])[b"x-request-id"].decode()  # type: ignore[call-overload]
    ours = [r for r in caplog.records if "disconnected" in r.getMessage()]
    assert len(ours) == 1 and ours[0].levelno == logging.INFO, caplog.text
    assert rid in ours[0].getMessage() and ours[0].exc_info is None
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING], caplog.text
    assert "Traceback" not in caplog.text


def test_a_registry_failure_in_the_verifications_driver_read_is_503_and_the_read_recovers(
    api: TestClient, service: Elicence, api_keys: ApiKeys, caplog: pytest.LogCaptureFixture
) -> None:
    """The verification's one read runs on the driver's cursor (registry/engine.DriverQuery):
    a driver error is still a RegistryError (503, the details in the log), never a 500."""
    issued = api.post("/api/v1/licences", json=food_permit(), headers=api_keys.h("gz_amr"))
    assert issued.status_code == 201, issued.text
    body = {"seal": issued.json()["seal"]}
    with service.registry.engine.begin() as conn:
        conn.execute(text("ALTER TABLE grants RENAME TO grants_away"))
    with caplog.at_level(logging.ERROR, logger="elicence.api"):
        r = api.post("/api/v1/verify", json=body, headers=api_keys.h("hall"))
    error = assert_5xx_shape(r)
    assert r.status_code == 503 and error["code"] == "registry_error"
    assert "grants" in caplog.text
    with service.registry.engine.begin() as conn:
        conn.execute(text("ALTER TABLE grants_away RENAME TO grants"))
    r = api.post("/api/v1/verify", json=body, headers=api_keys.h("hall"))
    assert r.status_code == 200 and r.json()["verdict"] == "valid", r.text
