"""What operators see (issue 20): Prometheus metrics that move with the service's work, never on
the public port, summed over the served workers through prometheus-client's multiprocess mode;
logs as one JSON object a line carrying the request id of the error body."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import threading
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families

from elicence.api.app import create_app
from elicence.app import metrics
from elicence.app.logs import JsonFormatter, log_config
from elicence.app.service import Elicence
from elicence.app.trail import CONTEXT, RequestContext
from elicence.settings import Settings
from tests.conftest import ApiKeys, food_permit
from tests.test_mirror_processes import free_port


def sample(text: bytes | str, name: str, **labels: str) -> float:
    """The value of the sample ``name`` with exactly ``labels`` in an exposition (0 if none)."""
    data = text.decode() if isinstance(text, bytes) else text
    for family in text_string_to_metric_families(data):
        for s in family.samples:
            if s.name == name and s.labels == labels:
                return float(s.value)
    return 0.0


def test_no_metrics_on_the_public_port_and_none_by_default(api: TestClient) -> None:
    assert Settings().metrics_port is None  # nothing listens unless an operator asks
    assert api.get("/metrics").status_code == 404
    # /api/v1/metrics is the hall's public 三率一数, not the operators' exposition
    assert "elicence_http_request_duration_seconds" not in api.get("/api/v1/metrics").text


def test_a_verification_moves_the_counters(
    api: TestClient, api_keys: ApiKeys, service: Elicence
) -> None:
    issued = api.post("/api/v1/licences", json=food_permit(), headers=api_keys.h("gz_amr"))
    assert issued.status_code == 201, issued.text
    seal = issued.json()["seal"]
    before = metrics.exposition_in_process()
    r = api.post("/api/v1/verify", json={"seal": seal}, headers=api_keys.h("hall"))
    assert r.status_code == 200 and r.json()["verdict"] == "valid"
    bad = api.post("/api/v1/verify", json={"seal": "EL1:AAAA"}, headers=api_keys.h("hall"))
    assert bad.status_code == 200 and bad.json()["verdict"] != "valid"
    after = metrics.exposition_in_process()

    def moved(name: str, **labels: str) -> float:
        return sample(after, name, **labels) - sample(before, name, **labels)

    assert moved("elicence_verifications_total", channel="seal", verdict="valid") == 1
    assert moved("elicence_verifications_total", channel="seal", verdict=bad.json()["verdict"])
    route = {"route": "/api/v1/verify", "method": "POST", "status": "2xx"}
    assert moved("elicence_http_request_duration_seconds_count", **route) == 2
    assert moved("elicence_http_request_duration_seconds_sum", **route) > 0
    assert moved("elicence_group_commit_size_count", log="usage") >= 1
    # the issuance before was counted when its group was written
    assert sample(after, "elicence_issuances_total", outcome="created") >= 1
    assert sample(after, "elicence_db_pool_size") >= 0


def test_a_rate_limit_refusal_is_counted(service: Elicence) -> None:
    from elicence.app.guard import Limits
    from elicence.domain.limits import parse_rate

    service.guard.limits = Limits(verify_ip=parse_rate("1/min burst 1"))
    with TestClient(create_app(service), raise_server_exceptions=False) as api:
        before = metrics.exposition_in_process()
        answers = [api.post("/api/v1/verify", json={"seal": "EL1:AAAA"}) for _ in range(3)]
        after = metrics.exposition_in_process()
    assert [a.status_code for a in answers].count(429) == 2
    refused = sample(after, "elicence_rate_limit_refusals_total", bucket="verify-ip")
    assert refused - sample(before, "elicence_rate_limit_refusals_total", bucket="verify-ip") == 2


def test_signer_health_and_status_list_expiry(api: TestClient, service: Elicence) -> None:
    from tests.conftest import GZ_AMR

    assert api.get("/healthz").status_code == 200
    text = metrics.exposition_in_process()
    assert sample(text, "elicence_signer_up", signer=GZ_AMR) == 1
    assert sample(text, "elicence_signer_up", signer="service") == 1
    signed = service.keys.status_list(GZ_AMR, "revocation")
    text = metrics.exposition_in_process()
    until = sample(
        text,
        "elicence_status_list_valid_until_seconds",
        department=GZ_AMR,
        purpose="revocation",
    )
    assert until == signed.valid_until.timestamp()


WORKER = """
import sys
from elicence.app import metrics
metrics.refused("verify-ip")
metrics.request_done("/api/v1/verify", "POST", 200, 0.004)
metrics.DB_POOL_SIZE.set(5)
"""


def test_the_multiprocess_directory_sums_the_workers_and_starts_empty(tmp_path: Path) -> None:
    directory = tmp_path / "metrics"
    directory.mkdir()
    (directory / "counter_4242.db").write_bytes(b"a dead run's values")
    assert metrics.prepare_dir(directory) == directory
    assert list(directory.glob("*.db")) == []  # emptied at start
    env = {**os.environ, metrics.MULTIPROC_ENV: str(directory)}
    for _ in range(2):  # two workers, each its own process and files
        subprocess.run([sys.executable, "-c", WORKER], env=env, check=True, timeout=120)
    text = metrics.exposition(directory)
    assert sample(text, "elicence_rate_limit_refusals_total", bucket="verify-ip") == 2
    route = {"route": "/api/v1/verify", "method": "POST", "status": "2xx"}
    assert sample(text, "elicence_http_request_duration_seconds_count", **route) == 2
    assert sample(text, "elicence_db_pool_size") == 10  # livesum over the live workers


def test_logs_are_json_lines_with_the_request_id() -> None:
    formatter = JsonFormatter()
    token = CONTEXT.set(RequestContext(request_id="rid-123", address="203.0.113.9"))
    try:
        record = logging.LogRecord(
            "elicence.api", logging.ERROR, __file__, 1, "boom %s", (1,), None
        )
        line = json.loads(formatter.format(record))
    finally:
        CONTEXT.reset(token)
    assert line["request_id"] == "rid-123" and line["message"] == "boom 1"
    assert line["level"] == "ERROR" and line["logger"] == "elicence.api"
    assert line["time"].endswith("Z")
    try:
        raise ValueError("inner")
    except ValueError:
        record = logging.LogRecord(
            "elicence.api", logging.ERROR, __file__, 1, "x", (), sys.exc_info()
        )
    record.request_id = "given"  # as api/errors.py passes it
    line = json.loads(formatter.format(record))
    assert line["request_id"] == "given" and "ValueError: inner" in line["exception"]
    assert "\n" not in formatter.format(record)  # one line
    config = log_config("json")
    assert config["formatters"]["main"] == {"()": "elicence.app.logs.JsonFormatter"}
    assert "format" in log_config("text")["formatters"]["main"]


@pytest.mark.slow
def test_served_workers_metrics_on_their_own_port(tmp_path: Path) -> None:
    """``elicence serve --workers 2`` with ELICENCE_METRICS_PORT: the metrics port sums both
    workers' counts; the public port has no /metrics; logs are JSON lines."""
    data = tmp_path / "data"
    env = {k: v for k, v in os.environ.items() if not k.startswith("ELICENCE_")}
    env.pop(metrics.MULTIPROC_ENV, None)
    env |= {"ELICENCE_DATA_DIR": str(data), "ELICENCE_RATE_LIMIT_VERIFY_IP": "off"}
    subprocess.run(
        [sys.executable, "-m", "elicence.cli", "init"], env=env, check=True, capture_output=True
    )
    port, metrics_port = free_port(), free_port()
    env["ELICENCE_METRICS_PORT"] = str(metrics_port)
    log = tmp_path / "serve.log"
    with log.open("wb") as out:
        server = subprocess.Popen(
            [sys.executable, "-m", "elicence.cli", "serve", "--port", str(port), "--workers", "2"],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        base = f"http://127.0.0.1:{port}"
        with httpx.Client(base_url=base, timeout=30) as http:
            for _ in range(900):
                try:
                    if http.get("/healthz").status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                threading.Event().wait(0.2)
            verdicts = [
                http.post("/api/v1/verify", json={"seal": "EL1:AAAA"}).json()["verdict"]
                for _ in range(20)
            ]
            assert http.get("/metrics").status_code == 404
        scraped = httpx.get(f"http://127.0.0.1:{metrics_port}/metrics", timeout=30)
        assert scraped.status_code == 200
        counted = sample(
            scraped.text, "elicence_verifications_total", channel="seal", verdict=verdicts[0]
        )
        assert counted == 20
        assert (data / "metrics").is_dir()
    finally:
        server.terminate()
        server.wait(timeout=60)
    lines = [ln for ln in log.read_text().splitlines() if ln.startswith("{")]
    assert lines and all("request_id" in json.loads(ln) for ln in lines)


def test_signer_health_before_any_catalogue_is_imported() -> None:
    from elicence.errors import CatalogueError

    class NoCatalogue:
        def catalogue(self) -> object:
            raise CatalogueError("no catalogue has been imported")

    metrics.signers(NoCatalogue(), ["service"])  # type: ignore[arg-type]
    assert sample(metrics.exposition_in_process(), "elicence_signer_up", signer="service") == 0
    metrics.signers(NoCatalogue(), [])  # type: ignore[arg-type]
    assert sample(metrics.exposition_in_process(), "elicence_signer_up", signer="service") == 1
