"""``elicence init``, ``serve`` and ``db upgrade`` (command line): set up an installation and
run it."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Annotated

import typer

from elicence import errors
from elicence.app.service import Elicence
from elicence.cli.common import (
    EXIT_INPUT,
    RootDir,
    exit_code,
    fail,
    handled,
    load_settings,
    open_service,
    ready,
)
from elicence.domain.clients import Role
from elicence.formats.catalogue_file import DEMO_CATALOGUE, load_catalogue

db_app = typer.Typer(help="The registry database.", no_args_is_help=True)


@handled
def init(
    demo: Annotated[
        bool, typer.Option(help="Import the demo catalogue and make demo clients.")
    ] = True,
    root_dir: RootDir = None,
) -> None:
    """Set up a fresh installation: database, catalogue, keys (and demo clients)."""
    settings = load_settings()
    if demo and settings.env != "development":
        # refuse before anything is written: the demo catalogue and keys are development only
        raise fail(
            "the demo catalogue and clients exist only in development mode: "
            "run `elicence catalogue import FILE`, then `elicence init --no-demo`",
            EXIT_INPUT,
        )
    svc = open_service(settings, create=True, root_dir=root_dir)
    if svc.catalogue_version() is None:
        if not demo:
            raise fail("no catalogue yet: run `elicence catalogue import FILE`", EXIT_INPUT)
        version, created = svc.import_catalogue(load_catalogue(DEMO_CATALOGUE))
        typer.echo(f"imported the demo catalogue (version {version})")
    else:
        created = svc.keys.init()
    if demo and svc.hall.items_version() is None:
        _import_demo_items(svc)
    typer.echo(f"key store {settings.keys_dir}: {len(created)} keys created")
    if demo:
        _demo_clients(svc, settings.data_dir / "demo-clients.json")


def _demo_clients(svc: Elicence, path: Path) -> None:
    """Create (once) and print the demo clients. Their keys are kept in a file: development only."""
    if path.is_file():
        keys = json.loads(path.read_text(encoding="utf-8"))
    else:
        catalogue = svc.catalogue()
        dept = next(iter(sorted(catalogue.departments)))
        dept = "11440100MB2D00002M" if "11440100MB2D00002M" in catalogue.departments else dept
        made = {
            "department": svc.clients.add(
                name="demo department", role=Role.DEPARTMENT, department=dept
            ),
            "hall": svc.clients.add(name="demo hall", role=Role.HALL, department=None),
            "admin": svc.clients.add(name="demo admin", role=Role.ADMIN, department=None),
        }
        keys = {
            k: {"api_key": v.api_key, "client_id": v.client.id, "department": v.client.department}
            for k, v in made.items()
        }
        path.write_text(json.dumps(keys, indent=2), encoding="utf-8")
        path.chmod(0o600)
    typer.echo("demo API keys (development only):")
    for role, info in keys.items():
        extra = f" for {info['department']}" if info.get("department") else ""
        typer.echo(f"  {role:<10} {info['api_key']}{extra}")


def serve(
    host: Annotated[str | None, typer.Option(help="Interface to bind.")] = None,
    port: Annotated[int | None, typer.Option(help="Port to listen on.")] = None,
    workers: Annotated[int, typer.Option(help="Worker processes.")] = 1,
) -> None:
    """Run the HTTP API (uvicorn)."""
    import socket

    import uvicorn
    from uvicorn.supervisors import Multiprocess

    if host is not None or port is not None:
        # the workers read their settings from the environment: with another port (or host)
        # the public base URL of development follows it (QR codes, PDFs, sign-in redirect)
        if host is not None:
            os.environ["ELICENCE_HOST"] = host
        if port is not None:
            os.environ["ELICENCE_PORT"] = str(port)
    settings = load_settings()
    try:
        svc = open_service(settings)  # upgrade the schema once, before the workers start
        try:
            ready(settings, svc)
        finally:
            svc.close()
    except errors.Error as e:
        raise fail(str(e), exit_code(e)) from None
    typer.echo(
        f"elicence: serving {settings.base_url} on {settings.host}:{settings.port}", err=True
    )
    if settings.metrics_port is not None:  # before any worker starts: app/metrics.py
        from elicence.app import metrics

        metrics_dir = metrics.prepare_dir(settings.metrics_dir or settings.data_dir / "metrics")
        os.environ[metrics.MULTIPROC_ENV] = str(metrics_dir)
        metrics.serve(settings.metrics_host, settings.metrics_port, metrics_dir)
        typer.echo(
            f"elicence: metrics on http://{settings.metrics_host}:{settings.metrics_port}/metrics",
            err=True,
        )
    from elicence.app.logs import log_config

    config = uvicorn.Config(
        "elicence.api.asgi:app",
        host=settings.host,
        port=settings.port,
        workers=workers,
        log_level="info",
        log_config=log_config(settings.log_format),
        access_log=False,
        # X-Forwarded-For is believed only from ELICENCE_TRUSTED_PROXIES (app/guard.py), never
        # by uvicorn's own default of trusting 127.0.0.1
        proxy_headers=False,
        # a worker starting on a loaded machine (imports, keys opened) may take longer than
        # uvicorn's 5 s to answer the supervisor's ping, and was killed and restarted
        timeout_worker_healthcheck=60,
    )
    # the workers' metrics are in files only when they start with the directory set: the
    # supervisor then runs even a single worker
    if workers <= 1 and settings.metrics_port is None:
        uvicorn.Server(config).run()
        return
    # Bind with proto=IPPROTO_TCP: asyncio sets TCP_NODELAY only on sockets whose proto says TCP,
    # and uvicorn's own multi-worker socket leaves it 0 (40 ms Nagle/delayed-ACK stalls).
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((config.host, config.port))
    sock.set_inheritable(True)
    Multiprocess(config, sockets=[sock]).run()


@db_app.command("upgrade")
@handled
def db_upgrade() -> None:
    """Bring the database schema up to date."""
    settings = load_settings()
    svc = open_service(settings)
    try:
        ready(settings, svc)
    finally:
        svc.close()
    typer.echo(f"database {_without_password(settings.effective_database_url)}: schema up to date")


def _without_password(url: str) -> str:
    """A database URL fit to print: its password, if any, replaced by ``***``."""
    from urllib.parse import urlsplit, urlunsplit

    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.netloc.rsplit("@", 1)[1]
    return urlunsplit(parts._replace(netloc=f"{parts.username}:***@{host}"))


def _import_demo_items(svc: Elicence) -> None:
    from elicence.hall.items_file import DEMO_ITEMS, load_items

    items = load_items(DEMO_ITEMS)
    version = svc.hall.import_items(items)
    typer.echo(f"imported the demo service items ({len(items.items)} items, version {version})")
