"""``elicence issue`` and ``elicence pdf`` (command line): issue licences, write a signed PDF."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from elicence.cli.common import (
    EXIT_INPUT,
    handled,
    open_service,
    print_json,
    read_json,
)
from elicence.domain.clients import Client, Role


@handled
def issue(
    file: Annotated[Path, typer.Argument(help="JSON: one issuance request, or a list of them.")],
    department: Annotated[str, typer.Option(help="The issuing department's USCC.")],
) -> None:
    """Issue licences from a JSON file as a department (prints the results as JSON)."""
    body = read_json(file)

    svc = open_service()
    dept = department.strip().upper()
    client = Client(id="cli", name="command line", role=Role.DEPARTMENT, department=dept)
    if isinstance(body, list):
        results = svc.licences.issue_batch(client, body)
        out = [
            {
                "index": r.index,
                "identifier": r.result.licence.identifier,
                "created": r.result.created,
                "seal": r.result.licence.seal,
            }
            if r.result
            else {
                "index": r.index,
                "error": {
                    "code": r.error.code if r.error else "",
                    "message": r.error.message if r.error else "",
                    "field": r.error.field if r.error else None,
                },
            }
            for r in results
        ]
        print_json(out)
        if any("error" in o for o in out):
            raise typer.Exit(EXIT_INPUT)
        return
    result = svc.licences.issue(client, body)
    lic = result.licence
    print_json(
        {
            "identifier": lic.identifier,
            "created": result.created,
            "seal": lic.seal,
            "verification_url": svc.licences.verification_url(lic.seal),
            "status": str(lic.status),
            "version": lic.version,
        }
    )


@handled
def pdf(
    identifier: Annotated[str, typer.Argument(help="The licence's identifier.")],
    out: Annotated[Path, typer.Option(help="Where to write the signed PDF.")],
) -> None:
    """Write a licence's signed PDF (made and kept at the first request)."""

    svc = open_service()
    operator = Client(id="cli", name="command line", role=Role.ADMIN, department=None)
    data = svc.licences.pdf(operator, identifier.strip())
    out.write_bytes(data)
    typer.echo(f"wrote {out} ({len(data):,} bytes)")
