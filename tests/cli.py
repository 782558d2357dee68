"""The one way a test runs the ``elicence`` command line in-process: Typer's runner, with a clean
``ELICENCE_*`` environment, failing the test on a crash (an exception that is not an exit)."""

from __future__ import annotations

import os
from pathlib import Path

from typer.testing import CliRunner, Result

from elicence.cli import app

runner = CliRunner()


def cli(data_dir: Path | None, *args: object, **env: str | None) -> Result:
    """Run ``elicence ARGS`` with every ``ELICENCE_*`` variable of the test's environment unset,
    ``ELICENCE_DATA_DIR`` set to ``data_dir`` (unless None) and then ``env`` applied.

    An unexpected exception (a crash, not an exit code) fails the test here.
    """
    environ: dict[str, str | None] = dict.fromkeys(
        k for k in os.environ if k.startswith("ELICENCE_")
    )
    if data_dir is not None:
        environ["ELICENCE_DATA_DIR"] = str(data_dir)
    environ.update(env)
    result = runner.invoke(app, [str(a) for a in args], env=environ)
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise AssertionError(f"elicence {args} crashed: {result.stderr}") from result.exception
    return result
