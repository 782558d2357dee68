"""Two real halls: a province and a city, separate processes, data directories and databases.

The city mirrors the province with ``elicence mirror``; it is killed mid-feed and restarted (no
event lost or repeated); a revocation at the province shows in the city's verdict after the next
pull; with the province down, the city still answers from its mirror.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest

from tests.conftest import GZ_AMR, food_permit

pytestmark = pytest.mark.slow

N = 120  # licences issued at the province before the city's first pull


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def env_for(data_dir: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ELICENCE_")}
    env["ELICENCE_DATA_DIR"] = str(data_dir)
    return env


def elicence(data_dir: Path, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "elicence.cli", *args],
        env=env_for(data_dir),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


class Server:
    def __init__(self, data_dir: Path, port: int) -> None:
        self.data_dir, self.port = data_dir, port
        self.url = f"http://127.0.0.1:{port}"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "elicence.cli", "serve", "--port", str(self.port)],
            env=env_for(self.data_dir),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{self.url}/healthz", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                time.sleep(0.1)
        raise AssertionError(f"server on {self.port} did not start")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None


@pytest.fixture
def halls(tmp_path: Path) -> Iterator[tuple[Server, Server]]:
    province, city = tmp_path / "province", tmp_path / "city"
    city.mkdir()
    done = elicence(province, "init")
    assert done.returncode == 0, done.stderr
    servers = (Server(province, free_port()), Server(city, free_port()))
    yield servers
    for s in servers:
        s.stop()


def city_seqs(city: Path) -> list[int]:
    db = city / "elicence.db"
    if not db.exists():
        return []
    try:
        with sqlite3.connect(db, timeout=5) as c:
            return [r[0] for r in c.execute("SELECT seq FROM events ORDER BY seq")]
    except sqlite3.OperationalError:  # not migrated yet
        return []


def test_a_city_mirrors_a_province(halls: tuple[Server, Server]) -> None:
    province, city = halls
    keys = json.loads((province.data_dir / "demo-clients.json").read_text())
    dept = {"Authorization": f"Bearer {keys['department']['api_key']}"}
    assert keys["department"]["department"] == GZ_AMR
    hall_key = keys["hall"]["api_key"]
    root = str(province.data_dir / "keys" / "root.crt.pem")
    province.start()

    items = [food_permit(f"P-{n}", licence_number=f"JY{n:06d}") for n in range(N)]
    r = httpx.post(f"{province.url}/api/v1/licences/batch", json={"items": items}, headers=dept)
    assert r.status_code == 200, r.text
    issued = r.json()["results"]

    # 1. the mirror, killed mid-feed, then restarted: nothing lost, nothing twice
    mirror_args = ["mirror", "--from", province.url, "--root", root, "--api-key", hall_key]
    running = subprocess.Popen(
        [sys.executable, "-m", "elicence.cli", *mirror_args, "--page-size", "2"],
        env=env_for(city.data_dir),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and len(city_seqs(city.data_dir)) < 10:
        time.sleep(0.01)
    running.send_signal(signal.SIGKILL)
    running.wait()
    partial = city_seqs(city.data_dir)
    assert 10 <= len(partial) < N, "the mirror was not stopped mid-feed"
    assert partial == list(range(1, len(partial) + 1))

    done = elicence(city.data_dir, *mirror_args, "--once")
    assert done.returncode == 0, done.stderr
    assert city_seqs(city.data_dir) == list(range(1, N + 1))
    upstream = httpx.get(
        f"{province.url}/api/v1/feed",
        params={"after": 0, "limit": 1000},
        headers={"Authorization": f"Bearer {hall_key}"},
    ).json()["events"]
    with sqlite3.connect(city.data_dir / "elicence.db") as c:
        mirrored = [r[0] for r in c.execute("SELECT hash FROM events ORDER BY seq")]
    assert mirrored == [e["hash"] for e in upstream]

    # 2. the city's own verification answers from its mirror
    city.start()
    seal = issued[0]["seal"]

    def city_verdict() -> str:
        v = httpx.post(f"{city.url}/api/v1/verify", json={"seal": seal}, timeout=10)
        assert v.status_code == 200, v.text
        return str(v.json()["verdict"])

    assert city_verdict() == "valid"

    # 3. a revocation at the province shows in the city's verdict after the next pull
    r = httpx.post(
        f"{province.url}/api/v1/licences/{issued[0]['identifier']}/revoke",
        json={"reason": "注销"},
        headers=dept,
    )
    assert r.status_code == 200, r.text
    assert city_verdict() == "valid"
    done = elicence(city.data_dir, *mirror_args, "--once")
    assert done.returncode == 0, done.stderr
    assert "mirrored 1 events" in done.stdout
    assert city_verdict() == "revoked"

    # 4. the province goes away: the city still answers; a pull fails without losing anything
    province.stop()
    failed = elicence(city.data_dir, *mirror_args, "--once")
    assert failed.returncode == 3
    assert "unreachable" in failed.stderr
    assert city_verdict() == "revoked"
    city.stop()
    city.start()  # the city restarted: same answers from its own database
    assert city_verdict() == "revoked"
    assert city_seqs(city.data_dir) == list(range(1, N + 2))
    audit = elicence(city.data_dir, "registry", "audit")
    assert audit.returncode == 0, audit.stdout + audit.stderr


class ReplayingProxy:
    """An HTTP proxy in front of the province that can replay a trust list it saw earlier."""

    def __init__(self, upstream: str) -> None:
        self.upstream = upstream
        self.seen: list[bytes] = []
        self.replay = False
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                headers = {k: v for k, v in self.headers.items() if k.lower() == "authorization"}
                r = httpx.get(proxy.upstream + self.path, headers=headers, timeout=30)
                body = r.content
                if self.path.startswith("/api/v1/trust-list.cose") and r.status_code == 200:
                    proxy.seen.append(body)
                    if proxy.replay:
                        body = proxy.seen[0]
                self.send_response(r.status_code)
                self.send_header("Content-Type", r.headers.get("content-type", "text/plain"))
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> ReplayingProxy:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()


def test_a_mirror_behind_a_replaying_proxy_keeps_the_newer_trust_list(
    halls: tuple[Server, Server],
) -> None:
    """Issue 16 §2: after a key compromise, a proxy replays the older (still current) trust list,
    which shows the stolen key active; `elicence mirror` refuses it and keeps the newer one."""
    province, city = halls
    keys = json.loads((province.data_dir / "demo-clients.json").read_text())
    dept = {"Authorization": f"Bearer {keys['department']['api_key']}"}
    root = str(province.data_dir / "keys" / "root.crt.pem")
    province.start()
    items = [food_permit(f"R-{n}", licence_number=f"JY{n:06d}") for n in range(3)]
    r = httpx.post(f"{province.url}/api/v1/licences/batch", json={"items": items}, headers=dept)
    assert r.status_code == 200, r.text
    old_seal = r.json()["results"][0]["seal"]
    with ReplayingProxy(province.url) as proxy:
        args = ["mirror", "--from", proxy.url, "--root", root, "--once"]
        args += ["--api-key", keys["hall"]["api_key"]]
        first = elicence(city.data_dir, *args)
        assert first.returncode == 0, first.stderr
        since = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=1)
        done = elicence(
            province.data_dir, "keys", "compromise", GZ_AMR, "--since", since.isoformat()
        )
        assert done.returncode == 0, done.stderr
        assert "re-sealed 3 licences" in done.stdout
        second = elicence(city.data_dir, *args)
        assert second.returncode == 0, second.stderr
        assert "mirrored 3 events" in second.stdout  # the three resealed events
        proxy.replay = True
        replayed = elicence(city.data_dir, *args)
        assert replayed.returncode == 1, replayed.stdout + replayed.stderr
        assert "an older list was replayed" in replayed.stderr
    # the city answers with the newer list: the old code's key is revoked
    verdict = elicence(city.data_dir, "verify", old_seal, "--json")
    assert verdict.returncode == 1, verdict.stderr
    assert json.loads(verdict.stdout)["verdict"] == "untrusted"
