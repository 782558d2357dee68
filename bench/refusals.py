"""Refusing a 1,000,000-key body and a body over the limit at ``POST /api/v1/verify``."""

from __future__ import annotations

import json
import time

from bench.asgi import call
from bench.common import report
from elicence.app.service import Elicence


def _million_keys() -> list[bytes]:
    """A JSON object with 1,000,000 unknown keys (about 12 MB), in 10,000-key chunks."""
    head = [b'{"seal": "EL1:x"']
    chunks = [
        "".join(f',"k{i}":0' for i in range(start, start + 10_000)).encode()
        for start in range(0, 1_000_000, 10_000)
    ]
    return [*head, *chunks, b"}"]


def stage_refusals(svc: Elicence, raw_sign: float, k: int = 200) -> None:
    """Refusing a 1,000,000-key body and a body over the limit at ``POST /api/v1/verify``
    (anonymous), through the ASGI app in this process: bounded by the route's limit (16 KiB),
    not by the body (api/edge.py). On main the 1,000,000-key body took 10-13 s and 1.4 GiB."""
    import anyio

    from elicence.api.app import create_app
    from elicence.api.edge import SMALL

    app = create_app(svc)
    million = _million_keys()
    size = sum(map(len, million))
    huge = [b" " * 65536] * (200 * 1024 * 1024 // 65536)  # 200 MB, the same chunk repeated
    json_h = {"Content-Type": "application/json"}
    cases = [
        (
            "refuse 1,000,000-key body (Content-Length)",
            json_h | {"Content-Length": str(size)},
            million,
        ),
        ("refuse 1,000,000-key body (chunked)", json_h | {"Transfer-Encoding": "chunked"}, million),
        (
            "refuse 200 MB body (Content-Length)",
            json_h | {"Content-Length": str(200 * 2**20)},
            huge,
        ),
        ("refuse 200 MB body (chunked)", json_h | {"Transfer-Encoding": "chunked"}, huge),
    ]
    print(f"refusing bodies at the edge (POST /api/v1/verify, limit {SMALL:,} B, in-process ASGI):")
    for stage, headers, chunks in cases:
        reads: list[int] = []

        async def many(
            headers: dict[str, str] = headers,
            chunks: list[bytes] = chunks,
            reads: list[int] = reads,
        ) -> list[float]:
            lat = []
            for _ in range(k):
                t = time.perf_counter()
                answer = await call(app, "POST", "/api/v1/verify", headers, chunks)
                assert answer.status == 413, answer.status
                reads.append(answer.read)
                lat.append(time.perf_counter() - t)
            return lat

        start = time.perf_counter()
        lat = anyio.run(many)
        rate = report(stage, k, time.perf_counter() - start, lat, f"read {max(reads):,} B")
        cost = raw_sign / rate
        print(f"    -> {rate / raw_sign:.1%} of raw sign ({cost:.1f} signatures a refusal)")
    start = time.perf_counter()
    json.loads(b"".join(million))
    whole = time.perf_counter() - start
    print(f"    (for scale: json.loads of the whole 1,000,000-key body alone: {whole:.2f} s)")
