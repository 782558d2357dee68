"""A served worker freezes the heap it made while starting (``gc.freeze``), so that a full
garbage collection later walks only what requests made: the queue page's p99 on PostgreSQL was
such collections (docs/hall.md). The app made for tests and tools does not."""

from __future__ import annotations

import gc

from fastapi.testclient import TestClient

from elicence.api import asgi
from elicence.api.app import create_app
from elicence.app.service import Elicence


def test_a_served_worker_freezes_its_start_up_heap(service: Elicence) -> None:
    gc.unfreeze()
    try:
        with TestClient(create_app(service)) as plain:
            assert plain.get("/healthz").status_code == 200
            assert gc.get_freeze_count() == 0
        with TestClient(create_app(service, freeze_heap=True)) as served:
            assert gc.get_freeze_count() > 10_000  # the modules, the service, its caches
            assert served.get("/healthz").status_code == 200
    finally:
        gc.unfreeze()


def test_the_asgi_entry_point_is_the_served_worker() -> None:
    assert asgi.app.state.freeze_heap is True
    assert create_app().state.freeze_heap is False
