"""The ``elicence`` command line (transport layer): one module per command group, the root app
and the one mapping of errors to exit codes in ``common``. Exit codes: 0 success (``verify``:
valid), 1 ``verify``: not valid, 2 bad input, 3 configuration, keys or database unavailable,
130 interrupted (`import`: run it again to resume).

The command tree is declared here, in one place: each module defines its commands (and its
group's ``typer.Typer``), and this module attaches them to the root ``app`` of ``common``.
"""

from __future__ import annotations

from elicence.cli import (
    backup,
    catalogue,
    clients,
    eventlog,
    hall,
    keys,
    licences,
    setup,
    stock,
    trail,
    verify,
)
from elicence.cli.common import app

__all__ = ["app", "main"]

# The command tree, declared here alone: top-level commands, then the command groups.
for command, name in (
    (setup.init, "init"),
    (setup.serve, "serve"),
    (licences.issue, "issue"),
    (verify.verify, "verify"),
    (eventlog.mirror, "mirror"),
    (licences.pdf, "pdf"),
    (hall.metrics, "metrics"),
    (stock.import_, "import"),
):
    app.command(name)(command)
for group, name in (
    (catalogue.catalogue_app, "catalogue"),
    (keys.keys_app, "keys"),
    (clients.clients_app, "clients"),
    (setup.db_app, "db"),
    (eventlog.registry_app, "registry"),
    (verify.presentation_app, "presentation"),
    (trail.trail_app, "trail"),
    (backup.backup_app, "backup"),
    (hall.items_app, "items"),
    (hall.cases_app, "cases"),
):
    app.add_typer(group, name=name)


def main() -> None:
    import logging

    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    app(prog_name="elicence")
