"""The FastAPI application: ``create_app`` wires routers, error mapping and the service."""

from __future__ import annotations

import asyncio
import gc
import logging
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from starlette.concurrency import run_in_threadpool

from elicence import __version__
from elicence.api import errors, hall_schemas
from elicence.api.context import RequestContextMiddleware
from elicence.api.edge import EdgeRoute
from elicence.api.routers import (
    applying,
    bundles,
    catalogue,
    console,
    dashboard,
    demo_idp,
    desk,
    docs,
    documents,
    feed,
    hall_cases,
    hall_items,
    hall_public,
    holder,
    licences,
    lifecycle,
    page,
    portal,
    queue,
    queue_window,
    services,
    signin,
    site,
    status,
    trail,
    verify,
)
from elicence.api.schemas import DOCUMENTED_BODIES, add_documented_bodies
from elicence.app import metrics
from elicence.app.service import Elicence
from elicence.bootstrap import build_service
from elicence.settings import Settings


def create_app(
    service: Elicence | None = None,
    settings: Settings | None = None,
    *,
    freeze_heap: bool = False,
) -> FastAPI:
    """The ASGI app. Without ``service`` it builds one from ``settings`` (or the environment).

    ``freeze_heap`` (a served worker: ``api/asgi.py``): once started, every object made so far
    — modules, the service, its catalogue, keys and templates, a few hundred thousand — is moved
    out of the garbage collector's reach (``gc.freeze``), so that a full collection walks only
    what requests made since. Without it a full collection walked them all, at random requests:
    0.4-0.9 s on the shared 2-core machine, the queue page's p99 on PostgreSQL (docs/hall.md).
    Not for tests and tools that make many apps in one process (frozen garbage is never freed).
    """

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if getattr(app.state, "elicence", None) is None:
            app.state.elicence = build_service(settings or Settings())
            # open every key once now (scrypt), so the first /healthz answers at once
            await run_in_threadpool(app.state.elicence.keys.unusable)
        try:
            await run_in_threadpool(_signer_health, app.state.elicence)
        except Exception:  # the metrics never stop a worker from starting
            logging.getLogger("elicence.api").exception("could not check the signers")
        ticker = asyncio.create_task(_checkpoint_every_minute(app))
        if freeze_heap:
            gc.collect()
            gc.freeze()
        yield
        ticker.cancel()
        app.state.elicence.flush()
        if os.environ.get(metrics.MULTIPROC_ENV):  # served with metrics (cli serve)
            metrics.worker_exited(os.environ[metrics.MULTIPROC_ENV])

    app = FastAPI(
        title="elicence",
        version=__version__,
        summary="Electronic licences (电子证照): issue, verify, trust and status lists, catalogue.",
        lifespan=lifespan,
        docs_url=None,  # served by routers/docs.py: no CDN, the pages' CSP
        redoc_url=None,
    )
    app.router.route_class = EdgeRoute  # the app's own routes (/healthz) too: api/edge.py
    app.state.freeze_heap = freeze_heap
    if service is not None:
        app.state.elicence = service
    errors.install(app)
    app.include_router(licences.router)
    app.include_router(verify.router)
    app.include_router(catalogue.router)
    app.include_router(page.router)
    app.include_router(lifecycle.router)
    app.include_router(feed.router)
    app.include_router(status.router)
    app.include_router(documents.router)
    app.include_router(hall_items.router)  # the hall's case API (issue 7)
    app.include_router(hall_cases.router)
    app.include_router(hall_public.router)
    app.include_router(holder.router)
    # the pages people see (issue 8): holder portal, hall desk, department console, sign-in,
    # and the 三率一数 dashboard (/dashboard, public)
    app.include_router(site.router)
    app.include_router(signin.router)
    app.include_router(portal.router)
    # the hall for citizens (issue 18): services, guides, apply, my cases, progress, notices
    app.include_router(services.router)
    app.include_router(applying.router)
    app.include_router(bundles.router)
    app.include_router(dashboard.router)
    app.include_router(desk.router)
    app.include_router(console.router)
    app.include_router(console.api_router)
    app.include_router(queue.router)
    app.include_router(queue_window.router)
    app.include_router(demo_idp.router)
    app.include_router(demo_idp.token_router)
    app.include_router(trail.router)
    app.include_router(docs.router)
    app.add_middleware(documents.PdfUploadDispatch)
    app.add_middleware(verify.VerifyLane)  # the JSON verification's fast lane (before routing)
    app.add_middleware(RequestContextMiddleware)  # outermost: every request has its context

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = get_openapi(
                title=app.title,
                version=app.version,
                summary=app.summary,
                routes=app.routes,
            )
            add_documented_bodies(schema, (*DOCUMENTED_BODIES, *hall_schemas.DOCUMENTED_BODIES))
            errors.document(schema)
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]

    @app.get("/healthz", tags=["operations"])
    def healthz() -> dict[str, Any]:
        svc: Elicence = app.state.elicence
        health = svc.health()
        metrics.signers(svc, health.get("signers_unavailable", ()))
        return health

    return app


async def _checkpoint_every_minute(app: FastAPI) -> None:
    """Sign a checkpoint of the event log every minute in which it grew."""
    while True:
        await asyncio.sleep(Elicence.CHECKPOINT_INTERVAL.total_seconds())
        try:
            await run_in_threadpool(app.state.elicence.log.checkpoint)
        except Exception:
            logging.getLogger("elicence.api").exception("could not sign a log checkpoint")
        try:
            await run_in_threadpool(_signer_health, app.state.elicence)
        except Exception:
            logging.getLogger("elicence.api").exception("could not check the signers")


def _signer_health(svc: Elicence) -> None:
    """The signers' health for the metrics (app/metrics.py)."""
    metrics.signers(svc, svc.health().get("signers_unavailable", ()))
