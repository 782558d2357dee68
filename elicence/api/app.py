"""The FastAPI application: ``create_app`` wires routers, error mapping and the service."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI

from elicence import __version__
from elicence.api import errors
from elicence.api.routers import catalogue, licences, verify
from elicence.bootstrap import build_service
from elicence.services import Elicence
from elicence.settings import Settings


def create_app(service: Elicence | None = None, settings: Settings | None = None) -> FastAPI:
    """The ASGI app. Without ``service`` it builds one from ``settings`` (or the environment)."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if getattr(app.state, "elicence", None) is None:
            app.state.elicence = build_service(settings or Settings())
        yield

    app = FastAPI(
        title="elicence",
        version=__version__,
        summary="Electronic licences (电子证照): issue, verify, trust list and catalogue.",
        lifespan=lifespan,
    )
    if service is not None:
        app.state.elicence = service
    errors.install(app)
    app.include_router(licences.router)
    app.include_router(verify.router)
    app.include_router(catalogue.router)

    @app.get("/healthz", tags=["operations"])
    def healthz() -> dict[str, Any]:
        svc: Elicence = app.state.elicence
        return {"status": "ok", "catalogue_version": svc.registry.catalogue_version()}

    return app
