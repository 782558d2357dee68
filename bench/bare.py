"""The ceiling of HTTP verification: a bare FastAPI endpoint at ``POST /api/v1/verify`` (a
pydantic body, a fixed answer of about the size of a verification report), no authentication,
rate limit, database or cryptography, served as ``elicence serve --workers 2`` serves (uvicorn,
its Multiprocess supervisor, a TCP socket with TCP_NODELAY, the same loop and HTTP parser).

Run by :func:`bench.http.stage_bare`: ``python -m bench.bare --port P --workers 2``.
"""

from __future__ import annotations

import argparse
import json
import socket

from fastapi import FastAPI
from fastapi.responses import Response
from pydantic import BaseModel

app = FastAPI()
ANSWER = json.dumps(
    {
        "verdict": "valid",
        "checked_at": "2026-12-05T23:00:00Z",
        "reasons": [],
        "licence": {
            "identifier": "1.2.156.3005.2.11100000000013338W011.11440100MB2D00002M.ABCD.001.0",
            "type_code": "11100000000013338W011",
            "type_name": "食品经营许可证",
            "licence_number": "JY14401060000123",
            "holder_name": "广州市天河区某某餐饮管理有限公司",
            "holder_id_type": "001",
            "holder_id": "91350100M000100Y43",
            "issuer": "11440100MB2D00002M",
            "issuer_name": "广州市市场监督管理局",
            "valid_from": "2026-11-28",
            "valid_until": "2031-11-27",
            "version": 1,
            "status": "active",
        },
    },
    ensure_ascii=False,
).encode()


class VerifyIn(BaseModel):
    seal: str | None = None
    identifier: str | None = None


@app.post("/api/v1/verify")
def verify(body: VerifyIn) -> Response:
    return Response(ANSWER, media_type="application/json")


def main() -> None:
    import uvicorn
    from uvicorn.supervisors import Multiprocess

    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--workers", type=int, default=2)
    args = ap.parse_args()
    config = uvicorn.Config(
        "bench.bare:app",
        host="127.0.0.1",
        port=args.port,
        workers=args.workers,
        log_level="warning",
        access_log=False,
        proxy_headers=False,
    )
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((config.host, config.port))
    sock.set_inheritable(True)
    Multiprocess(config, sockets=[sock]).run()


if __name__ == "__main__":
    main()
