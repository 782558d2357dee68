"""``elicence clients …`` (command line): API clients, their keys, rotation and expiry."""

from __future__ import annotations

from typing import Annotated

import typer

from elicence.app.service import utcnow
from elicence.cli.common import (
    EXPIRES_HELP,
    duration,
    expiry,
    handled,
    load_settings,
    open_service,
)
from elicence.domain.clients import Role
from elicence.domain.inputs import check_text

clients_app = typer.Typer(help="API clients and their keys.", no_args_is_help=True)


@clients_app.command("add")
@handled
def clients_add(
    name: Annotated[str, typer.Option(help="Who the client is.")],
    role: Annotated[Role, typer.Option(help="department, hall, admin or holder.")],
    department: Annotated[str | None, typer.Option(help="USCC, for department clients.")] = None,
    holder: Annotated[
        str | None,
        typer.Option(help="For holder clients: ID_TYPE:ID_NUMBER, e.g. 001:91350100M000100Y43."),
    ] = None,
    expires: Annotated[str | None, typer.Option(help=EXPIRES_HELP)] = None,
) -> None:
    """Create an API client and print its key (shown once)."""
    from elicence.domain.licence import HolderRef

    made = open_service().clients.add(
        name=check_text(name, field="--name", max_length=200),
        role=role,
        department=department.strip().upper() if department else None,
        holder=HolderRef.parse(holder, field="--holder") if holder is not None else None,
        expires_at=expiry(expires),
    )
    typer.echo(f"client {made.client.id} ({made.client.role}) created; its API key, shown once:")
    typer.echo(made.api_key)
    if made.expires_at is not None:
        typer.echo(f"it expires at {made.expires_at:%Y-%m-%d %H:%M:%S}Z")


@clients_app.command("list")
@handled
def clients_list() -> None:
    """List API clients."""
    for c in open_service().clients.all():
        state = "disabled" if c.disabled_at else "active"
        bound = c.department or (f"{c.holder_id_type}:{c.holder_id}" if c.holder_id else "-")
        typer.echo(f"{c.id}  {c.role:<10} {bound:<18} {state:<8} {c.name}")


@clients_app.command("disable")
@handled
def clients_disable(client_id: Annotated[str, typer.Argument()]) -> None:
    """Disable a client; its key stops working."""
    open_service().clients.disable(client_id)
    typer.echo(f"disabled {client_id}")


@clients_app.command("rotate")
@handled
def clients_rotate(
    client_id: Annotated[str, typer.Argument()],
    overlap: Annotated[
        str | None,
        typer.Option(
            help="How long the old key keeps working (default ELICENCE_API_KEY_OVERLAP_HOURS, "
            "24h; at least 30s)."
        ),
    ] = None,
    expires: Annotated[str | None, typer.Option(help=EXPIRES_HELP)] = None,
) -> None:
    """Give a client a new API key (shown once); the old one stops after the overlap."""
    import datetime as dt

    settings = load_settings()
    window = (
        duration(overlap, "--overlap")
        if overlap is not None
        else dt.timedelta(hours=settings.api_key_overlap_hours)
    )
    rotation = open_service(settings).clients.rotate(
        client_id.strip(), overlap=window, expires_at=expiry(expires)
    )
    new = rotation.new
    typer.echo(f"client {new.client.id}: new API key, shown once:")
    typer.echo(new.api_key)
    typer.echo(
        f"{rotation.old_keys} old key(s) keep working until "
        f"{rotation.retires_at:%Y-%m-%d %H:%M:%S}Z"
    )
    if new.expires_at is not None:
        typer.echo(f"the new key expires at {new.expires_at:%Y-%m-%d %H:%M:%S}Z")


@clients_app.command("keys")
@handled
def clients_keys() -> None:
    """List every client's keys: their hash prefix, expiry and the end of a rotation overlap."""
    now = utcnow()
    for client_id, keys in open_service().clients.keys().items():
        for k in keys:
            deadline = k.deadline
            state = "active" if deadline is None or deadline > now else "stopped"
            until = f"until {deadline:%Y-%m-%d %H:%M}Z" if deadline else "no expiry"
            why = " (rotated out)" if k.retires_at is not None and deadline == k.retires_at else ""
            typer.echo(
                f"{client_id}  sha256:{k.key_hash[:12]}  created {k.created_at:%Y-%m-%d %H:%M}Z  "
                f"{state:<7} {until}{why}"
            )
