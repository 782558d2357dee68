"""Logs as one JSON object a line (``ELICENCE_LOG_FORMAT=json``, the default of ``elicence
serve``), each carrying the request id that the request's error body and ``X-Request-ID`` header
carry (``api/context.py`` sets it for the request; ``-`` outside one), so an operator finds the
log lines of the answer a caller quotes.

A line: ``{"time": "2026-12-05T23:10:00.123Z", "level": "ERROR", "logger": "elicence.api",
"request_id": "…", "message": "…", "exception": "Traceback …"}`` (``exception`` only with one).
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from typing import Any

from elicence.app.trail import CONTEXT


class JsonFormatter(logging.Formatter):
    """One JSON object a line: time (UTC), level, logger, request id, message, exception."""

    def format(self, record: logging.LogRecord) -> str:
        at = dt.datetime.fromtimestamp(record.created, dt.UTC)
        line: dict[str, Any] = {
            "time": at.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            "level": record.levelname,
            "logger": record.name,
            "request_id": getattr(record, "request_id", None) or CONTEXT.get().request_id or "-",
            "message": record.getMessage(),
        }
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return json.dumps(line, ensure_ascii=False)


def log_config(fmt: str) -> dict[str, Any]:
    """A ``logging.config.dictConfig`` for the served workers (uvicorn's ``log_config``): the
    root, ``elicence.*`` and ``uvicorn.*`` loggers to stderr, as JSON lines or as text."""
    formatter = (
        {"()": "elicence.app.logs.JsonFormatter"}
        if fmt == "json"
        else {"format": "%(levelname)s %(name)s: %(message)s"}
    )
    handler = {"class": "logging.StreamHandler", "formatter": "main", "stream": "ext://sys.stderr"}
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"main": formatter},
        "handlers": {"main": handler},
        "root": {"handlers": ["main"], "level": "INFO"},
        "loggers": {
            "uvicorn": {"handlers": [], "level": "INFO", "propagate": True},
            "uvicorn.error": {"handlers": [], "level": "INFO", "propagate": True},
            "uvicorn.access": {"handlers": [], "level": "WARNING", "propagate": True},
        },
    }
