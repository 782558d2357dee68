"""``elicence backup …`` (command line): back up and restore the database and key store."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from elicence.cli.common import (
    handled,
    load_settings,
    open_service,
    operator_context,
)

backup_app = typer.Typer(
    help="Back up and restore the registry database and the key store.", no_args_is_help=True
)


@backup_app.command("create")
@handled
def backup_create(
    out: Annotated[Path, typer.Argument(help="A new directory to write the backup to.")],
) -> None:
    """Back up the registry database and the key store (not the passphrase) into OUT."""
    settings = load_settings()
    made = open_service(settings).backups.create(out)
    typer.echo(
        f"backed up {made.licences} licences, {made.events} events and "
        f"{made.key_files} key store files to {out} (schema {made.schema})"
    )


@backup_app.command("restore")
@handled
def backup_restore(
    source: Annotated[Path, typer.Argument(help="A directory written by `backup create`.")],
) -> None:
    """Restore a backup into the configured (empty) database and (absent or empty) key store."""
    settings = load_settings()
    operator_context()
    from elicence.bootstrap import restore_backup

    settings.data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)  # a restore makes one
    typer.echo(f"elicence: data dir {settings.data_dir.resolve()}", err=True)
    made = restore_backup(
        source, database_url=settings.effective_database_url, keys_dir=settings.keys_dir
    )
    svc = open_service(settings)
    svc.backups.record_restore(source, made)
    typer.echo(
        f"restored {made.licences} licences, {made.events} events and {made.key_files} key "
        f"store files from {source}; run `elicence registry audit` to check the log"
    )
