"""Application layer: stock conversion (存量转换): a department's existing paper licences become
e-licences, from a CSV or JSON Lines file of millions of rows (docs/import.md).

The main process reads the file in chunks (a CSV row's cells only), reserves each chunk's status
indices, and hands the chunk to a pool of worker processes that build each row's request, check
it (``issuer.validation.check_request``, the same rules as the API), seal it and encode the
licence and its ``issued`` event for the database (:class:`registry.stock.StockRows`); a writer
thread stores the sealed chunks, in file order, each in one transaction with the chunk's events
(chained there) and the run's progress (:mod:`registry.stock`), while the next chunks are read
and sealed.

Invariants:
- a run is keyed by the SHA-256 of its file and its department option; a rerun of the same file
  resumes from the last committed chunk (after a crash, SIGKILL or Ctrl-C) or, when finished,
  does nothing: every row is stored exactly once, by ``(department, source_ref)`` as well;
- a bad row never stops the run: it becomes one line of the error report (row, source_ref, field,
  message), written and synced before the chunk commits, with the report's length recorded in
  that commit; a resumed run cuts the report back to that length, so no line is lost or repeated;
- status indices are unique per department; an interrupted run leaves the indices of the rows it
  had in flight unused (bits that stay clear), as does a row that fails its check;
- the log is checkpointed (signed) at least every ``CHECKPOINT_SECONDS`` and at the end.
"""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import io
import os
import queue
import signal
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass
from multiprocessing import get_context
from pathlib import Path
from typing import Any

from elicence.app.catalogue import CatalogueSource
from elicence.domain.catalogue import Catalogue
from elicence.domain.codes import check_uscc
from elicence.domain.licence import EventKind
from elicence.errors import Error, InputError, StockImportError
from elicence.formats.stockfile import RowLayout, SourceFormat, SourceRow, SourceRows, count_rows
from elicence.issuer.service import new_licence, new_licence_event, signer_for
from elicence.issuer.validation import check_request, request_hash
from elicence.keys.keyring import Keyring, KeyringRecipe
from elicence.keys.signer import Signer
from elicence.registry.stock import EncodedLicence, RunRecord, StockRegistry, StockRows
from elicence.templates.pdf import LicenceRenderer

CHUNK_ROWS = 1000
CHECKPOINT_SECONDS = 30.0
REPORT_HEADER = ("row", "source_ref", "field", "message")


@dataclass(frozen=True, slots=True)
class WorkerRecipe:
    """What a worker process needs to check and seal rows: the keys and the licence font."""

    keyring: KeyringRecipe
    font_path: Path


@dataclass(frozen=True, slots=True)
class ImportProgress:
    rows_total: int
    rows_done: int
    created: int
    existing: int
    failed: int


@dataclass(frozen=True, slots=True)
class ImportSummary:
    key: str
    source: str
    report: Path
    rows_total: int
    resumed_from: int  # rows already done when this call started
    rows_done: int
    created: int  # over the whole run, not only this call
    existing: int  # rows whose licence was already stored (same request)
    failed: int  # rows in the error report
    finished: bool
    seconds: float  # this call's


@dataclass(frozen=True, slots=True)
class RowError:
    number: int
    source_ref: str
    field: str | None
    message: str


# (row number, the row's payload (RowLayout.request makes it a raw request), department USCC,
# status index)
_JobRow = tuple[int, list[str] | dict[str, Any], str, int]
# what a worker makes of a row: (row number, its sealed licence and issued event encoded for the
# database), or the row's error
_Outcome = tuple[int, EncodedLicence] | RowError


@dataclass(slots=True)
class _RunState:
    """Where a run stands, as the writer thread moves it on."""

    run: RunRecord
    checkpointed: float  # time.monotonic() of the last signed checkpoint


@dataclass(frozen=True, slots=True)
class _Job:
    rows: list[_JobRow]
    now: dt.datetime
    layout: RowLayout
    actor: str  # of the issued events


class StockImport:
    """Imports files of existing licences (the use case behind ``elicence import``)."""

    def __init__(
        self,
        *,
        stock: StockRegistry,
        catalogue: CatalogueSource,
        recipe: WorkerRecipe,
        checkpoint: Callable[[], object],
        clock: Callable[[], dt.datetime],
    ) -> None:
        self._stock = stock
        self._catalogue = catalogue
        self._recipe = recipe
        self._checkpoint = checkpoint
        self._clock = clock

    def run(
        self,
        path: Path,
        *,
        department: str | None,
        report: Path | None = None,
        workers: int | None = None,
        chunk_rows: int = CHUNK_ROWS,
        progress: Callable[[ImportProgress], None] | None = None,
    ) -> ImportSummary:
        """Import (or resume importing) ``path``; ``department`` for rows that name none."""
        started = time.perf_counter()
        fmt = SourceFormat.of(path)
        catalogue = self._catalogue()
        default_dept = None
        if department is not None:
            default_dept = check_uscc(department, field="department")
            catalogue.department(default_dept)  # known to the catalogue, or CatalogueError
        key = _run_key(path, default_dept)
        run = self._stock.start(
            key=key, source=str(path), department=default_dept, now=self._clock()
        )
        report = report or path.with_name(path.name + ".errors.csv")
        resumed_from = run.rows_done
        # the workers start now: they import and load while the file is counted
        workers = max(1, workers or os.cpu_count() or 1)
        pool = self._start_workers(workers, catalogue) if run.finished_at is None else None
        try:
            total = count_rows(path, fmt)
            if pool is not None:
                run = self._import(
                    pool, workers, path, fmt, run, catalogue, default_dept, report, total,
                    chunk_rows, progress,
                )  # fmt: skip
        finally:
            if pool is not None:
                pool.shutdown(wait=False, cancel_futures=True)
        return ImportSummary(
            key=key,
            source=str(path),
            report=report,
            rows_total=total,
            resumed_from=resumed_from,
            rows_done=run.rows_done,
            created=run.created,
            existing=run.existing,
            failed=run.failed,
            finished=run.finished_at is not None,
            seconds=time.perf_counter() - started,
        )

    def _start_workers(self, workers: int, catalogue: Catalogue) -> ProcessPoolExecutor:
        """The pool of sealing processes, started (each is given a no-op, so that all of them
        are spawned now rather than at the first chunks)."""
        pool = ProcessPoolExecutor(
            workers,
            mp_context=get_context("spawn"),
            initializer=_init_worker,
            initargs=(self._recipe, catalogue, self._stock.rows()),
        )
        for _ in range(workers):
            pool.submit(_started)
        return pool

    def _import(
        self,
        pool: ProcessPoolExecutor,
        workers: int,
        path: Path,
        fmt: SourceFormat,
        run: RunRecord,
        catalogue: Catalogue,
        default_dept: str | None,
        report_path: Path,
        total: int,
        chunk_rows: int,
        progress: Callable[[ImportProgress], None] | None,
    ) -> RunRecord:
        report = _open_report(report_path, run)
        actor = f"import:{run.key[:12]}"
        state = _RunState(run, time.monotonic())

        def store(entry: _InFlight) -> None:  # on the writer's thread
            state.run = self._store(state.run, report, *_ready(entry))
            _report_progress(progress, state.run, total)
            if time.monotonic() - state.checkpointed > CHECKPOINT_SECONDS:
                self._checkpoint()
                state.checkpointed = time.monotonic()

        writer = _ChunkWriter(store, depth=2 * workers)
        finished = False
        try:
            with SourceRows(path, fmt) as source:
                for chunk in _chunks(iter(source), skip=run.rows_done, size=chunk_rows):
                    early, job = self._prepare(chunk, source.layout, catalogue, default_dept, actor)
                    writer.put((early, len(chunk), pool.submit(_seal_chunk, job)))
            writer.close()  # every chunk stored, in order
            finished = True
            with self._stock.unit_of_work() as uow:
                state.run = uow.advance(
                    state.run,
                    rows_done=state.run.rows_done,
                    report_bytes=state.run.report_bytes,
                    created=0,
                    existing=0,
                    failed=0,
                    now=self._clock(),
                    finished=True,
                )
                uow.commit()
        finally:
            if not finished:
                writer.abandon()  # stop after the chunk being stored (Ctrl-C, an error)
                pool.shutdown(wait=False, cancel_futures=True)
            report.close()
            self._checkpoint()
        return state.run

    def _prepare(
        self,
        chunk: list[SourceRow],
        layout: RowLayout,
        catalogue: Catalogue,
        default_dept: str | None,
        actor: str,
    ) -> tuple[list[RowError], _Job]:
        """Rows that fail before sealing (unreadable, no department), and the job for the rest
        with a status index reserved for each."""
        early: list[RowError] = []
        ready: list[tuple[SourceRow, str]] = []
        known: dict[str | None, str] = {}  # a row's department as given → checked (a file has few)
        for row in chunk:
            if row.error is not None:
                ref = layout.source_ref(row.payload)
                early.append(RowError(row.number, ref, row.error.field, row.error.message))
                continue
            dept = known.get(row.department)
            if dept is None:
                try:
                    dept = known[row.department] = _department_of(row, default_dept, catalogue)
                except Error as e:
                    ref = layout.source_ref(row.payload)
                    early.append(RowError(row.number, ref, e.field, e.message))
                    continue
            ready.append((row, dept))
        counts: dict[str, int] = {}
        for _, dept in ready:
            counts[dept] = counts.get(dept, 0) + 1
        first = self._stock.reserve_status_indices(counts) if counts else {}
        rows: list[_JobRow] = []
        for row, dept in ready:
            rows.append((row.number, row.payload, dept, first[dept]))
            first[dept] += 1
        return early, _Job(rows, self._clock(), layout, actor)

    def _store(
        self,
        run: RunRecord,
        report: io.TextIOWrapper,
        rows: int,
        early: list[RowError],
        outcomes: list[_Outcome],
    ) -> RunRecord:
        """Store one sealed chunk, its events, its error lines and the run's progress."""
        licences: list[EncodedLicence] = []
        numbers: dict[str, int] = {}  # identifier → row number
        errors = list(early)
        for o in outcomes:
            if isinstance(o, RowError):
                errors.append(o)
            else:
                licences.append(o[1])
                numbers[o[1][0]] = o[0]
        existing = 0
        with self._stock.unit_of_work() as uow:
            inserted = uow.insert_new_licences(licences)
            taken = [lic for lic in licences if lic[0] not in inserted]
            if taken:
                # (identifier, department, source_ref, request_hash, …): see EncodedLicence
                stored = uow.stored_under([(lic[1], lic[2]) for lic in taken])
                for identifier, dept, ref, digest, *_ in taken:
                    held = stored.get((dept, ref))
                    if held is not None and held.request_hash == digest:
                        existing += 1
                    else:
                        errors.append(
                            RowError(
                                numbers[identifier],
                                ref,
                                "source_ref",
                                f"was used for a different request (licence "
                                f"{held.identifier if held else '?'})",
                            )
                        )
            uow.append_issued(
                licences if len(inserted) == len(licences) else
                [lic for lic in licences if lic[0] in inserted]
            )  # fmt: skip
            report_bytes = _write_errors(report, errors)
            run = uow.advance(
                run,
                rows_done=run.rows_done + rows,
                report_bytes=report_bytes,
                created=len(inserted),
                existing=existing,
                failed=len(errors),
                now=self._clock(),
            )
            uow.commit()
        return run


# -- the pieces of a run ------------------------------------------------------------------------

# a chunk handed to the workers: its early errors, its row count, its sealed outcomes to come
_InFlight = tuple[list["RowError"], int, "Future[list[_Outcome]]"]


class _ChunkWriter:
    """Stores sealed chunks, in the order given, on a thread of its own: reading, reserving and
    handing out the next chunks overlap the database's work on this one.

    Invariants: chunks are stored one at a time in order; after a failure nothing more is
    stored and the failure is raised in the caller's next :meth:`put` or :meth:`close`.
    """

    def __init__(self, store: Callable[[_InFlight], None], *, depth: int) -> None:
        self._store = store
        self._queue: queue.Queue[_InFlight | None] = queue.Queue(maxsize=max(1, depth))
        self._stop = threading.Event()
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="elicence-import", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            entry = self._queue.get()
            if entry is None or self._stop.is_set():
                return
            try:
                self._store(entry)
            except BaseException as e:
                self._error = e
                self._stop.set()
                return

    def _raise(self) -> None:
        if self._error is not None:
            raise self._error

    def put(self, entry: _InFlight) -> None:
        """Queue a chunk (waits while ``depth`` chunks are queued)."""
        while True:
            self._raise()
            try:
                self._queue.put(entry, timeout=0.2)
                return
            except queue.Full:
                continue

    def close(self) -> None:
        """Store every queued chunk, then stop."""
        while self._thread.is_alive():
            self._raise()
            try:
                self._queue.put(None, timeout=0.2)
                break
            except queue.Full:
                continue
        self._thread.join()
        self._raise()

    def abandon(self) -> None:
        """Stop after the chunk being stored; the queued ones are dropped (not committed)."""
        self._stop.set()
        while True:
            try:
                self._queue.get_nowait()
            except queue.Empty:
                break
        self._queue.put(None)
        self._thread.join()


def _run_key(path: Path, department: str | None) -> str:
    digest = hashlib.sha256()
    try:
        with path.open("rb") as f:
            while block := f.read(1 << 20):
                digest.update(block)
    except OSError as e:
        raise StockImportError(f"cannot read {path}: {e}", field="file") from e
    return hashlib.sha256(f"{digest.hexdigest()}|{department or ''}".encode()).hexdigest()


def _department_of(row: SourceRow, default: str | None, catalogue: Catalogue) -> str:
    if row.department is None and default is None:
        raise InputError("is required: give it in the row or with --department", field="department")
    uscc = check_uscc(row.department or default, field="department")
    catalogue.department(uscc)
    return uscc


def _chunks(rows: Iterator[SourceRow], *, skip: int, size: int) -> Iterator[list[SourceRow]]:
    chunk: list[SourceRow] = []
    for i, row in enumerate(rows):
        if i < skip:
            continue
        chunk.append(row)
        if len(chunk) >= size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def _ready(entry: _InFlight) -> tuple[int, list[RowError], list[_Outcome]]:
    early, rows, future = entry
    return rows, early, future.result()


def _open_report(path: Path, run: RunRecord) -> io.TextIOWrapper:
    """The error report, cut back to what the last committed chunk recorded."""
    try:
        if run.report_bytes == 0:
            f = path.open("w", encoding="utf-8", newline="")
            csv.writer(f).writerow(REPORT_HEADER)
            return f
        if not path.is_file() or path.stat().st_size < run.report_bytes:
            raise StockImportError(
                f"the error report {path} is shorter than this run recorded: it was moved or "
                "changed; put it back to resume",
                field="report",
            )
        f = path.open("r+", encoding="utf-8", newline="")
        f.truncate(run.report_bytes)
        f.seek(run.report_bytes)
        return f
    except OSError as e:
        raise StockImportError(f"cannot write the error report {path}: {e}", field="report") from e


def _write_errors(report: io.TextIOWrapper, errors: list[RowError]) -> int:
    """Append error lines (in row order), sync them to disk; the report's length."""
    try:
        writer = csv.writer(report)
        for e in sorted(errors, key=lambda e: e.number):
            writer.writerow((e.number, e.source_ref, e.field or "", e.message))
        report.flush()
        os.fsync(report.fileno())
        return report.tell()
    except OSError as e:
        raise StockImportError(f"cannot write the error report: {e}", field="report") from e


def _report_progress(
    progress: Callable[[ImportProgress], None] | None, run: RunRecord, total: int
) -> None:
    if progress is not None:
        progress(ImportProgress(total, run.rows_done, run.created, run.existing, run.failed))


# -- the worker processes -----------------------------------------------------------------------

_WORKER: dict[str, Any] = {}


def _init_worker(recipe: WorkerRecipe, catalogue: Catalogue, rows: StockRows) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the main process decides what Ctrl-C does
    _WORKER["keyring"] = recipe.keyring.open()  # keys are opened when a row first needs them
    _WORKER["printable"] = LicenceRenderer(recipe.font_path).check_printable
    _WORKER["catalogue"] = catalogue
    _WORKER["rows"] = rows


def _started() -> None:
    """A worker's first task: none (it is spawned, imports and loads for the chunks to come)."""


class _ChunkSigners(Mapping[str, Signer]):
    """The signers one chunk asks for, each looked up in the keyring on its first ask (the key
    store's version checked then): a worker opens only the keys of the departments its rows
    name, not every department's (one scrypt each)."""

    def __init__(self, keyring: Keyring) -> None:
        self._keyring = keyring
        self._got: dict[str, Signer] = {}

    def __getitem__(self, name: str) -> Signer:
        signer = self._got.get(name)
        if signer is None:
            signer = self._keyring.signers([name])[name]  # KeyError: no such key
            self._got[name] = signer
        return signer

    def __iter__(self) -> Iterator[str]:
        return iter(self._got)

    def __len__(self) -> int:
        return len(self._got)


def _seal_chunk(job: _Job) -> list[_Outcome]:
    """Check and seal each row of a job (in a worker process); a row's error is its outcome.
    The licences go back with their ``issued`` events, encoded for the database
    (:class:`~elicence.registry.stock.StockRows`): flat tuples of text and bytes, cheap to send
    and with nothing left to encode in the process that stores them."""
    catalogue: Catalogue = _WORKER["catalogue"]
    rows: StockRows = _WORKER["rows"]
    printable = _WORKER["printable"]
    signers = _ChunkSigners(_WORKER["keyring"])
    layout, now, actor = job.layout, job.now, job.actor
    out: list[_Outcome] = []
    for number, payload, uscc, index in job.rows:
        raw = layout.request(payload)
        try:
            dept = catalogue.department(uscc)
            request = check_request(raw, catalogue=catalogue, department=dept)
            printable(request)
            licence_type = catalogue.licence_type(request.type_code)
            licence = new_licence(
                request,
                licence_type,
                dept,
                signer_for(signers, dept, licence_type.algorithm),
                digest=request_hash(request),
                status_index=index,
                now=now,
            )
            event = new_licence_event(licence, EventKind.ISSUED, actor)
            out.append((number, rows.encode(licence, event)))
        except Error as e:
            ref = raw.get("source_ref")
            out.append(RowError(number, ref if isinstance(ref, str) else "", e.field, e.message))
    return out
