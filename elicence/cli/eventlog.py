"""``elicence registry audit`` and ``elicence mirror`` (command line): the event log checked, and
kept in step with an upstream."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from cryptography import x509

from elicence import errors
from elicence.cli.common import (
    EXIT_INPUT,
    EXIT_INVALID,
    fail,
    handled,
    open_service,
)

registry_app = typer.Typer(help="The registry's event log: audit it.", no_args_is_help=True)


@registry_app.command("audit")
@handled
def registry_audit() -> None:
    """Check the event log's hash chain, its signed checkpoints and the licences' statuses.

    Exit 0 when everything holds, 1 when tampering is found.
    """
    report = open_service().log.audit()
    typer.echo(f"{report.events} events, head {report.head_hash}, {report.checkpoints} checkpoints")
    for problem in report.problems:
        typer.echo(f"TAMPERED: {problem}")
    if not report.ok:
        raise typer.Exit(EXIT_INVALID)
    typer.echo("ok: the chain, every checkpoint and every licence status agree")


@handled
def mirror(
    upstream: Annotated[str, typer.Option("--from", help="The upstream hall's base URL.")],
    root: Annotated[
        Path | None,
        typer.Option(help="The upstream's root certificate (PEM) to pin; needed on first pull."),
    ] = None,
    api_key: Annotated[
        str | None,
        typer.Option(envvar="ELICENCE_MIRROR_API_KEY", help="A hall API key at the upstream."),
    ] = None,
    once: Annotated[bool, typer.Option(help="Pull once and stop.")] = False,
    interval: Annotated[float, typer.Option(help="Seconds between pulls.")] = 5.0,
    page_size: Annotated[int, typer.Option(help="Events per feed page (1-1000).")] = 500,
) -> None:
    """Keep this registry (its own database) in step with an upstream hall's change feed."""
    import time

    from elicence.app.mirror import HttpUpstream

    pinned = None
    if root is not None:
        try:
            pinned = x509.load_pem_x509_certificate(root.read_bytes())
        except (OSError, ValueError) as e:
            raise fail(f"cannot read the root certificate {root}: {e}", EXIT_INPUT) from None
    svc = open_service()
    source = HttpUpstream(upstream, api_key=api_key)
    try:
        while True:
            try:
                result = svc.log.mirror_pull(source, root=pinned, page_size=page_size)
            except errors.MirrorError as e:
                if once:
                    raise
                typer.echo(f"warning: {e}; retrying in {interval:g} s", err=True)
            else:
                if result.applied or once:
                    typer.echo(
                        f"mirrored {result.applied} events; holding {result.head} "
                        f"of the upstream's {result.upstream_size}"
                    )
            if once:
                return
            time.sleep(interval)
    finally:
        source.close()
