"""The served stages: ``elicence serve --workers 2`` on the backend, the batch API, one issuance
at a time, verification from 8 client threads, then wrk (C, so the client takes little of the
cores): verification at 8 connections and the load test (issuance p99, every error counted)."""

from __future__ import annotations

import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import httpx

from bench.common import PASSPHRASE, ROWS, Raw, food, free_port, report, timed
from bench.options import Options
from elicence.registry import Registry


def wait_until_up(server: subprocess.Popen[bytes], ask: Callable[[], httpx.Response]) -> None:
    """Wait (up to 3 minutes: a shared machine starts workers slowly) until ``ask`` is answered
    200 by both workers' socket; fail if the server exits first."""
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise RuntimeError(f"the server exited ({server.returncode}) before it answered")
        try:
            if ask().status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise RuntimeError("the server did not answer within 3 minutes")


def stage_http(
    name: str, url: str, work: Path, batch_key: str, hall_key: str, opts: Options, raw: Raw
) -> None:
    n = opts.n
    run_id = uuid.uuid4().hex[:6]
    port = free_port()
    env = {
        **os.environ,
        "ELICENCE_DATABASE_URL": url,
        "ELICENCE_DATA_DIR": str(work),
        "ELICENCE_KEY_PASSPHRASE": PASSPHRASE,
        # Rate limits on, through the chosen backend, set far above what this run sends: the
        # limiter's cost is measured, it never refuses (a 429 would show as a non-2xx answer).
        "ELICENCE_RATE_LIMIT_BACKEND": opts.rate_limit_backend,
        "ELICENCE_RATE_LIMIT_VERIFY_CLIENT": "1000000/s",
        "ELICENCE_RATE_LIMIT_PUBLIC_IP": "1000000/s",
    }
    server = subprocess.Popen(
        [sys.executable, "-m", "elicence.cli", "serve", "--port", str(port), "--workers", "2"],
        env=env,
        start_new_session=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        wait_until_up(server, lambda: httpx.get(base + "/healthz"))
        h = {"Authorization": f"Bearer {batch_key}"}
        with httpx.Client(base_url=base, headers=h, timeout=60) as c:
            if opts.http_only:
                seal = c.post("/api/v1/licences", json=food(f"http-{run_id}-0")).json()["seal"]
                wrk_verify(name, base, hall_key, seal)
                stage_bare(name, hall_key, seal, raw)
                stage_load(name, url, base, hall_key, batch_key, seal, run_id, opts, raw)
                return
            size = 1000
            batches = max(1, n // size)
            lat = []
            start = time.perf_counter()
            for b in range(batches):
                items = [food(f"batch-{run_id}-{b}-{i}") for i in range(size)]
                t = time.perf_counter()
                r = c.post("/api/v1/licences/batch", json={"items": items})
                lat.append(time.perf_counter() - t)
                assert r.status_code == 200 and r.json()["created"] == size, r.text[:300]
            el = time.perf_counter() - start
            report(
                f"{name}: batch API over HTTP (1,000 a call)",
                batches * size,
                el,
                None,
                f"call p50 {statistics.median(lat) * 1000:.0f} ms",
            )
            single = min(n, 1000)
            el, lat = timed(
                single, lambda i: c.post("/api/v1/licences", json=food(f"http-{run_id}-{i}"))
            )
            report(f"{name}: one HTTP issuance at a time", single, el, lat)
            seal = c.post("/api/v1/licences", json=food(f"http-{run_id}-0")).json()["seal"]
        hh = {"Authorization": f"Bearer {hall_key}"}
        per, threads = max(n // 8, 100), 8
        clients = [httpx.Client(base_url=base, headers=hh, timeout=60) for _ in range(threads)]

        def worker(k: int) -> list[float]:
            out = []
            for _ in range(per):
                t = time.perf_counter()
                r = clients[k].post("/api/v1/verify", json={"seal": seal})
                out.append(time.perf_counter() - t)
                assert r.status_code == 200 and r.json()["verdict"] == "valid"
            return out

        start = time.perf_counter()
        with ThreadPoolExecutor(threads) as ex:
            lat = [x for part in ex.map(worker, range(threads)) for x in part]
        el = time.perf_counter() - start
        report(
            f"{name}: HTTP verify, 8 client threads",
            per * threads,
            el,
            lat,
            "client shares the 2 cores",
        )
        for cl in clients:
            cl.close()
        if shutil.which("wrk"):
            wrk_verify(name, base, hall_key, seal)
            stage_bare(name, hall_key, seal, raw)
            stage_load(name, url, base, hall_key, batch_key, seal, run_id, opts, raw)
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=20)


WRK_LUA = """
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer %s"
wrk.body = '{"seal": "%s"}'
"""


def stage_bare(name: str, key: str, seal: str, raw: Raw) -> None:
    """The ceiling: the same wrk run against a bare FastAPI endpoint on the same server and
    workers (bench/bare.py), right after ours."""
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "bench.bare", "--port", str(port), "--workers", "2"],
        start_new_session=True,
        cwd=Path(__file__).resolve().parent.parent,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        wait_until_up(server, lambda: httpx.post(base + "/api/v1/verify", json={"seal": "x"}))
        rate = wrk_verify(f"{name} ceiling: bare FastAPI endpoint", base, key, seal, target="")
        print(f"    -> ceiling {rate:,.0f} req/s; {raw.beside()}")
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=20)


TARGET = "target >= 2,000/s, p99 <= 20 ms"  # issue 20, docs/design.md


def wrk_verify(name: str, base: str, key: str, seal: str, target: str = TARGET) -> float:
    """HTTP verification driven by wrk (C, so the client takes little of the 2 cores)."""
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as f:
        f.write(WRK_LUA % (key, seal))
    try:
        out = subprocess.run(
            ["wrk", "-t1", "-c8", "-d8s", "--latency", "-s", f.name, base + "/api/v1/verify"],
            capture_output=True,
            text=True,
            timeout=60,
            check=True,
        ).stdout
    finally:
        os.unlink(f.name)
    rate = float(next(ln for ln in out.splitlines() if ln.startswith("Requests/sec")).split()[1])
    pct = {
        ln.split()[0]: ln.split()[1] for ln in out.splitlines() if ln.strip()[:3] in ("50%", "99%")
    }
    non2xx = [ln.strip() for ln in out.splitlines() if "Non-2xx" in ln]
    ROWS.append(
        (
            f"{name}: HTTP verify, wrk 8 connections",
            f"{rate:,.0f}/s",
            pct.get("50%", "-"),
            pct.get("99%", "-"),
            "; ".join(non2xx),
        )
    )
    print(
        f"  {name + ': HTTP verify, wrk 8 connections':<44} {rate:>10,.0f}/s  "
        f"p50 {pct.get('50%', '-'):>9}  p99 {pct.get('99%', '-'):>9}  "
        f"{'; '.join(non2xx) or target}",
        flush=True,
    )
    return rate


WRK_ISSUE_LUA = """
-- POST /api/v1/licences with a source_ref no other request of this run uses
local counter = 0
local threads = 0
function setup(thread)
  threads = threads + 1
  thread:set("tid", threads)
end
function init(args)
  prefix = args[1]
  body_head = args[2]
  body_tail = args[3]
end
function request()
  counter = counter + 1
  local ref = prefix .. "-" .. tid .. "-" .. counter
  return wrk.format("POST", nil, {
    ["Content-Type"] = "application/json",
    ["Authorization"] = "Bearer " .. os.getenv("ELICENCE_BENCH_KEY"),
  }, body_head .. ref .. body_tail)
end
"""


@dataclass(frozen=True)
class WrkResult:
    requests: int
    rate: float
    p50: str
    p99: str
    non2xx: int
    socket_errors: int

    @property
    def errors(self) -> int:
        return self.non2xx + self.socket_errors


def run_wrk(
    url: str, script: str, *, args: list[str], connections: int, seconds: int, env: dict[str, str]
) -> WrkResult:
    """Run wrk with a Lua script; its requests, rate, p50/p99 and error counts."""
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as f:
        f.write(script)
    try:
        out = subprocess.run(
            [
                "wrk",
                "-t1",
                f"-c{connections}",
                f"-d{seconds}s",
                "--latency",
                "-s",
                f.name,
                url,
                "--",
                *args,
            ],
            capture_output=True,
            text=True,
            timeout=seconds + 60,
            check=True,
            env={**os.environ, **env},
        ).stdout
    finally:
        os.unlink(f.name)
    lines = out.splitlines()
    pct = {ln.split()[0]: ln.split()[1] for ln in lines if ln.strip()[:3] in ("50%", "99%")}
    total = next(int(ln.split()[0]) for ln in lines if " requests in " in ln)
    non2xx = sum(int(ln.split()[-1]) for ln in lines if "Non-2xx" in ln)
    socket = sum(
        int(part.split()[-1])
        for ln in lines
        if ln.strip().startswith("Socket errors")
        for part in ln.split(":", 1)[1].split(",")
    )
    rate = float(next(ln for ln in lines if ln.startswith("Requests/sec")).split()[1])
    return WrkResult(total, rate, pct.get("50%", "-"), pct.get("99%", "-"), non2xx, socket)


def stage_load(
    name: str,
    url: str,
    base: str,
    hall_key: str,
    dept_key: str,
    seal: str,
    run_id: str,
    opts: Options,
    raw: Raw,
) -> None:
    """The load test of docs/deployment.md: wrk on loopback against `elicence serve --workers
    2`; verification throughput, issuance p99 (unique source_refs) and every error counted."""
    print(
        f"{name}: load test, wrk on loopback against serve --workers 2 "
        f"(rate limits on, {opts.rate_limit_backend} counters)"
    )
    registry = Registry.from_url(url)
    before = registry.count_licences()
    body = json.dumps(food("SOURCE-REF"), ensure_ascii=False)
    head, tail = body.split("SOURCE-REF")
    issue = run_wrk(
        base + "/api/v1/licences",
        WRK_ISSUE_LUA,
        args=[f"wrk-{run_id}", head, tail],
        connections=4,
        seconds=8,
        env={"ELICENCE_BENCH_KEY": dept_key},
    )
    created = registry.count_licences() - before
    registry.dispose()
    verify = run_wrk(
        base + "/api/v1/verify",
        WRK_LUA % (hall_key, seal),
        args=[],
        connections=8,
        seconds=8,
        env={},
    )
    for stage, r, note in (
        (f"{name}: load, HTTP issuance, wrk 4 conns", issue, f"; {created} licences stored"),
        (f"{name}: load, HTTP verify, wrk 8 conns", verify, ""),
    ):
        errors = f"{r.non2xx} non-2xx, {r.socket_errors} socket errors"
        ROWS.append((stage, f"{r.rate:,.0f}/s", r.p50, r.p99, errors))
        print(
            f"  {stage:<44} {r.rate:>10,.0f}/s  p50 {r.p50:>9}  p99 {r.p99:>9}  "
            f"{r.requests} requests, {errors} {note}",
            flush=True,
        )
    print(
        f"    -> {name}: verify {verify.rate:,.0f} req/s, issuance p99 {issue.p99} "
        f"(targets 2,000 req/s, 15 ms), "
        f"errors {issue.errors + verify.errors}; raw ECDSA in this run: "
        f"sign {raw.sign:,.0f}/s, verify {raw.verify:,.0f}/s"
    )
    # wrk counts the requests answered within its time; up to one a connection is still in
    # flight when it stops, and the server stores those too
    answered = issue.requests - issue.non2xx
    if not answered <= created <= answered + 4:
        print(f"    !! {answered} issuances answered 2xx, but {created} stored")


# -- stock conversion at scale ----------------------------------------------------------------
