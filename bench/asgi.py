"""One HTTP request driven through an ASGI app in this process, with the count of body bytes the
app pulled from the "connection" (``Answer.read``): "refused without reading" is a count of zero,
never a time. Used by the benchmark's refusal stage and by tests/abuse/test_bodies.py."""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

import anyio


@dataclass
class Answer:
    status: int
    headers: dict[str, str]
    body: bytes
    read: int  # body bytes the service pulled from the connection

    def error(self) -> dict[str, Any]:
        found: dict[str, Any] = json.loads(self.body)["error"]
        return found


async def call(
    app: Any,
    method: str,
    path: str,
    headers: dict[str, str],
    chunks: Iterable[bytes] = (),
    *,
    paused: anyio.Event | None = None,
    reading: anyio.Event | None = None,
) -> Answer:
    """One request through the ASGI app; the body comes from ``chunks`` only when the app asks.
    With ``paused``: after the first chunk, ``reading`` is set and the body waits for it."""
    source: Iterator[bytes] = iter(chunks)
    read = 0
    waited = False
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        nonlocal read, waited
        if paused is not None and reading is not None and read > 0 and not waited:
            waited = True
            reading.set()
            await paused.wait()
        chunk = next(source, None)
        if chunk is None:
            return {"type": "http.request", "body": b"", "more_body": False}
        read += len(chunk)
        return {"type": "http.request", "body": chunk, "more_body": True}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [(k.lower().encode(), v.encode()) for k, v in headers.items()],
        "client": ("203.0.113.9", 50000),
        "server": ("testserver", 80),
    }
    await app(scope, receive, send)
    start = next(m for m in sent if m["type"] == "http.response.start")
    body = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    return Answer(
        start["status"],
        {k.decode().lower(): v.decode() for k, v in start["headers"]},
        body,
        read,
    )


def run(
    app: Any, method: str, path: str, headers: dict[str, str], chunks: Iterable[bytes] = ()
) -> Answer:
    """:func:`call` from synchronous code."""
    return anyio.run(lambda: call(app, method, path, headers, chunks))
