"""``elicence import`` (command line): stock conversion (存量转换, docs/import.md)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from elicence.cli.common import (
    EXIT_INPUT,
    EXIT_INTERRUPTED,
    fail,
    handled,
    open_service,
)


@handled
def import_(
    file: Annotated[Path, typer.Argument(help="Existing licences: a .csv or .jsonl file.")],
    department: Annotated[
        str | None,
        typer.Option(help="The issuing department's USCC, for rows that name none."),
    ] = None,
    errors_file: Annotated[
        Path | None,
        typer.Option("--errors", help="The error report (default: FILE.errors.csv)."),
    ] = None,
    workers: Annotated[
        int | None, typer.Option(help="Sealing processes (default: one per CPU).")
    ] = None,
    chunk: Annotated[int, typer.Option(help="Rows per transaction.")] = 1000,
) -> None:
    """Convert existing paper licences into e-licences (docs/import.md).

    Resumable: after a crash or Ctrl-C, run the same command again; rows are never stored twice.
    Bad rows go to the error report and do not stop the run.
    """
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TaskProgressColumn,
        TextColumn,
        TimeRemainingColumn,
    )

    from elicence.app.stock import ImportProgress

    if chunk < 1:
        raise fail("--chunk: give at least 1 row", EXIT_INPUT)
    svc = open_service()
    seen: list[ImportProgress] = []
    with Progress(
        TextColumn("importing"),
        BarColumn(),
        MofNCompleteColumn(),
        TaskProgressColumn(),
        TextColumn("{task.fields[rate]} rows/s"),
        TextColumn("{task.fields[failed]} errors"),
        TextColumn("ETA"),
        TimeRemainingColumn(),
        transient=False,
    ) as bar:
        task = bar.add_task("import", total=None, rate="-", failed=0)

        def on_progress(p: ImportProgress) -> None:
            if not seen:
                bar.update(task, total=p.rows_total, completed=p.rows_done)
            seen.append(p)
            speed = bar.tasks[task].speed
            bar.update(
                task,
                completed=p.rows_done,
                rate=f"{speed:,.0f}" if speed else "-",
                failed=p.failed,
            )

        try:
            summary = svc.stock.run(
                file,
                department=department.strip().upper() if department else None,
                report=errors_file,
                workers=workers,
                chunk_rows=chunk,
                progress=on_progress,
            )
        except KeyboardInterrupt:
            done = seen[-1].rows_done if seen else 0
            raise fail(
                f"interrupted after {done:,} rows stored; run the same command again to resume",
                EXIT_INTERRUPTED,
            ) from None
        finally:
            svc.close()
    rate = (summary.rows_done - summary.resumed_from) / summary.seconds if summary.seconds else 0
    resumed = f", resumed at row {summary.resumed_from:,}" if summary.resumed_from else ""
    if summary.finished and summary.resumed_from == summary.rows_done:
        resumed = " (imported before: nothing left to do)"
    typer.echo(
        f"{summary.rows_done:,} of {summary.rows_total:,} rows done{resumed}: "
        f"{summary.created:,} licences issued, {summary.existing:,} already stored, "
        f"{summary.failed:,} errors in {summary.report} ({summary.seconds:.1f} s, "
        f"{rate:,.0f} rows/s)"
    )
    if summary.failed:
        raise typer.Exit(EXIT_INPUT)
