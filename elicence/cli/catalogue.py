"""``elicence catalogue …`` (command line): the unified licence catalogue."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from elicence.bootstrap import check_catalogue
from elicence.cli.common import (
    RootDir,
    handled,
    load_settings,
    open_service,
    print_json,
)
from elicence.formats.catalogue_file import load_catalogue

catalogue_app = typer.Typer(help="The unified licence catalogue.", no_args_is_help=True)


@catalogue_app.command("import")
@handled
def catalogue_import(
    file: Annotated[Path, typer.Argument(help="Catalogue YAML file.")], root_dir: RootDir = None
) -> None:
    """Check and import a catalogue file; new departments get signing keys."""
    catalogue = load_catalogue(file)
    settings = load_settings()
    check_catalogue(settings, catalogue)
    svc = open_service(settings, root_dir=root_dir)
    version, created = svc.import_catalogue(catalogue)
    typer.echo(
        f"imported {len(catalogue.licence_types)} licence types and "
        f"{len(catalogue.departments)} departments as catalogue version {version}; "
        f"{len(created)} new keys"
    )


@catalogue_app.command("check")
@handled
def catalogue_check(file: Annotated[Path, typer.Argument(help="Catalogue YAML file.")]) -> None:
    """Check a catalogue file without importing it."""
    catalogue = load_catalogue(file)
    typer.echo(
        f"ok: {len(catalogue.licence_types)} licence types, "
        f"{len(catalogue.departments)} departments"
    )


@catalogue_app.command("show")
@handled
def catalogue_show() -> None:
    """Print the catalogue in force."""
    from elicence.formats.catalogue_file import catalogue_to_dict

    print_json(catalogue_to_dict(open_service().catalogue()))
