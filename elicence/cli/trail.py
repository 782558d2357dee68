"""``elicence trail list`` (command line): the audit trail of privileged actions."""

from __future__ import annotations

from dataclasses import asdict
from typing import Annotated

import typer

from elicence.cli.common import (
    handled,
    open_service,
    print_json,
    when,
)
from elicence.domain.trailquery import TrailQuery

trail_app = typer.Typer(help="The audit trail of privileged actions.", no_args_is_help=True)


@trail_app.command("list")
@handled
def trail_list(
    actor: Annotated[str | None, typer.Option(help="A client id, or cli:<user>.")] = None,
    action: Annotated[
        str | None, typer.Option(help="e.g. licence.revoke, or licence for every licence.*.")
    ] = None,
    target: Annotated[str | None, typer.Option(help="An identifier, client id, USCC …")] = None,
    outcome: Annotated[str | None, typer.Option(help="ok, refused or failed.")] = None,
    since: Annotated[str | None, typer.Option(help="ISO 8601 time with a time zone.")] = None,
    until: Annotated[str | None, typer.Option(help="ISO 8601 time with a time zone.")] = None,
    after: Annotated[int, typer.Option(help="Records after this id.")] = 0,
    limit: Annotated[int, typer.Option(help="At most this many (1-1000).")] = 100,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Print privileged actions, oldest first."""
    query = TrailQuery(
        after=after,
        limit=limit,
        actor=actor,
        action=action,
        target=target,
        outcome=outcome,
        since=when(since, "--since") if since else None,
        until=when(until, "--until") if until else None,
    )
    records = open_service().trail.records(None, query)
    if as_json:
        print_json([{**asdict(r), "at": r.at.isoformat()} for r in records])
        return
    for r in records:
        where = f" from {r.address}" if r.address else ""
        typer.echo(
            f"{r.id:>6}  {r.at:%Y-%m-%d %H:%M:%S}Z  {r.outcome:<7} {r.action:<18} "
            f"{r.target or '-'}  by {r.actor}{where}"
        )
