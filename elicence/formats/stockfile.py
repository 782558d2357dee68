"""The input of a stock conversion (存量转换): existing paper licences as CSV or JSON Lines
(docs/import.md), read row by row into raw issuance requests.

CSV: a header row naming the columns ``source_ref``, ``type_code``, ``licence_number``,
``holder_name``, ``holder_id_type``, ``holder_id_number``, ``valid_from``, ``valid_until``, the
optional ``department``, and one ``data.<item name>`` column per data item; an empty cell is an
absent value. JSON Lines: one issuance request object per line, as ``POST /api/v1/licences``
takes it, with an optional ``"department"``.

Invariants: reading never stops at a bad row: a row that cannot be read becomes a
:class:`SourceRow` carrying its error; rows are numbered by the line of the file they end on,
as a person finds them in an editor (the CSV header is line 1, so the first licence is row 2; a
JSON Lines row is its line number); blank lines are skipped but counted. Nothing here checks a
field's content: that is ``issuer.validation.check_request``'s.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator
from enum import StrEnum
from pathlib import Path
from typing import Any, NamedTuple

from elicence.domain.inputs import check_json
from elicence.errors import InputError, StockImportError

CSV_COLUMNS = (
    "source_ref",
    "type_code",
    "licence_number",
    "holder_name",
    "holder_id_type",
    "holder_id_number",
    "valid_from",
    "valid_until",
)
OPTIONAL_COLUMNS = ("department",)
DATA_PREFIX = "data."
csv.field_size_limit(1 << 20)


class SourceFormat(StrEnum):
    CSV = "csv"
    JSONL = "jsonl"

    @classmethod
    def of(cls, path: Path) -> SourceFormat:
        """The format a file's name says (``.csv``; ``.jsonl``, ``.ndjson``)."""
        suffix = path.suffix.lower()
        if suffix == ".csv":
            return cls.CSV
        if suffix in (".jsonl", ".ndjson"):
            return cls.JSONL
        raise StockImportError(
            f"{path.name}: say the format with a .csv, .jsonl or .ndjson file name", field="file"
        )


class SourceRow(NamedTuple):
    """One row of the input: its payload and its department (None: the run's), or an error.

    The payload is what :meth:`RowLayout.request` turns into the raw request: a CSV row's cells
    (the request is built from them where it is checked, in a stock conversion's worker
    processes), or a JSON Lines row's request itself. A named tuple: a file has millions of
    rows, and the process that reads them does little else per row.
    """

    number: int
    payload: list[str] | dict[str, Any]
    department: str | None
    error: InputError | None = None


class RowLayout:
    """How a row's payload becomes a raw issuance request: the CSV header's columns, or, for JSON
    Lines (``columns`` None), the payload is the request. Picklable (sent to worker processes)."""

    __slots__ = ("_at", "_columns", "_data")

    def __init__(self, columns: tuple[str, ...] | None) -> None:
        self._columns = columns
        at = {name: i for i, name in enumerate(columns or ())}
        self._at = at
        self._data = tuple(
            (name[len(DATA_PREFIX) :], i) for name, i in at.items() if name.startswith(DATA_PREFIX)
        )

    def __reduce__(self) -> tuple[Any, ...]:
        return (RowLayout, (self._columns,))

    @property
    def columns(self) -> tuple[str, ...] | None:
        return self._columns

    def request(self, payload: list[str] | dict[str, Any]) -> dict[str, Any]:
        """The raw request of a row that was read (its error None)."""
        if isinstance(payload, dict):
            return payload
        at = self._at

        def value(name: str) -> str | None:
            i = at.get(name)
            if i is None:
                return None
            text = payload[i]
            return text if text.strip() else None

        return {
            "source_ref": value("source_ref"),
            "type_code": value("type_code"),
            "licence_number": value("licence_number"),
            "holder": {
                "name": value("holder_name"),
                "id_type": value("holder_id_type"),
                "id_number": value("holder_id_number"),
            },
            "valid_from": value("valid_from"),
            "valid_until": value("valid_until"),
            "data": {name: payload[i] for name, i in self._data if payload[i].strip()},
        }

    def source_ref(self, payload: list[str] | dict[str, Any]) -> str:
        """The row's ``source_ref`` as given (for the error report), empty when it has none."""
        if isinstance(payload, dict):
            ref = payload.get("source_ref")
            return ref if isinstance(ref, str) else ""
        i = self._at.get("source_ref")
        return payload[i] if i is not None and i < len(payload) else ""


class SourceRows:
    """The rows of a file, in order: its :attr:`layout` is known once made (the CSV header is
    read then, and refused if wrong); iterating reads the rows. Use it as a context manager."""

    def __init__(self, path: Path, fmt: SourceFormat) -> None:
        self._path = path
        try:
            self._file = path.open(encoding="utf-8-sig", newline="")
        except OSError as e:
            raise StockImportError(f"cannot read {path}: {e}", field="file") from e
        try:
            if fmt is SourceFormat.CSV:
                self._reader: Any = csv.reader(self._file)
                self.layout = RowLayout(self._guarded(_csv_header, self._reader))
                self._rows: Iterator[SourceRow] = _csv_rows(self._reader, self.layout)
            else:
                self.layout = RowLayout(None)
                self._rows = _jsonl_rows(self._file)
        except BaseException:
            self._file.close()
            raise

    def _guarded(self, read: Any, *args: Any) -> Any:
        try:
            return read(*args)
        except (OSError, UnicodeDecodeError) as e:
            raise StockImportError(f"cannot read {self._path}: {e}", field="file") from e

    def __iter__(self) -> Iterator[SourceRow]:
        try:
            yield from self._rows
        except (OSError, UnicodeDecodeError) as e:
            raise StockImportError(f"cannot read {self._path}: {e}", field="file") from e

    def close(self) -> None:
        self._file.close()

    def __enter__(self) -> SourceRows:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def read_rows(path: Path, fmt: SourceFormat) -> Iterator[SourceRow]:
    """Every row of the file, in order (see :class:`SourceRows` for the layout as well)."""
    with SourceRows(path, fmt) as rows:
        yield from rows


def count_rows(path: Path, fmt: SourceFormat) -> int:
    """How many rows :func:`read_rows` yields (a quick pass, for the progress bar)."""
    if fmt is not SourceFormat.CSV:
        return _count_lines(path)
    try:
        with path.open(encoding="utf-8-sig", newline="") as f:
            reader = csv.reader(f)
            _csv_header(reader)
            # blank records are skipped as _csv_rows skips them (no cell with a non-space)
            return sum(1 for record in reader if "".join(record).strip())
    except (OSError, UnicodeDecodeError) as e:
        raise StockImportError(f"cannot read {path}: {e}", field="file") from e


def _count_lines(path: Path) -> int:
    n = 0
    try:
        with path.open("rb") as f:
            for line in f:
                n += bool(line.strip())
    except OSError as e:
        raise StockImportError(f"cannot read {path}: {e}", field="file") from e
    return n


def _csv_header(reader: Any) -> tuple[str, ...] | None:
    """The CSV's columns (None for an empty file), refused unless they are the known ones."""
    header = next(reader, None)
    if header is None:
        return None
    columns = [h.strip() for h in header]
    missing = [c for c in CSV_COLUMNS if c not in columns]
    unknown = [
        c
        for c in columns
        if c not in CSV_COLUMNS and c not in OPTIONAL_COLUMNS and not c.startswith(DATA_PREFIX)
    ]
    if missing or unknown or len(set(columns)) != len(columns):
        raise StockImportError(
            "the CSV header must name the columns "
            + ", ".join(CSV_COLUMNS)
            + ", optionally department, and data.<item> columns"
            + (f"; missing: {', '.join(missing)}" if missing else "")
            + (f"; unknown: {', '.join(unknown)}" if unknown else "")
            + ("; a column is named twice" if len(set(columns)) != len(columns) else ""),
            field="file",
        )
    return tuple(columns)


def _csv_rows(reader: Any, layout: RowLayout) -> Iterator[SourceRow]:
    columns = layout.columns
    if columns is None:  # an empty file
        return
    width = len(columns)
    dept_at = columns.index("department") if "department" in columns else None
    for record in reader:
        if not "".join(record).strip():  # no cell with a non-space: a blank row
            continue
        number = reader.line_num  # the physical line the record ended on
        if len(record) != width:
            yield SourceRow(
                number,
                record,
                None,
                InputError(f"has {len(record)} cells, the header {width}", field=None),
            )
            continue
        yield SourceRow(
            number, record, (record[dept_at].strip() or None) if dept_at is not None else None
        )


def _jsonl_rows(f: Any) -> Iterator[SourceRow]:
    for number, line in enumerate(f, start=1):
        if not line.strip():
            continue
        try:
            raw = json.loads(line)
        except json.JSONDecodeError as e:
            yield SourceRow(number, {}, None, InputError(f"is not JSON: {e.msg}", field=None))
            continue
        if not isinstance(raw, dict):
            yield SourceRow(number, {}, None, InputError("is not a JSON object", field=None))
            continue
        try:
            raw = check_json(raw)  # the text rule, as for a JSON body (domain/inputs.py)
        except InputError as e:
            yield SourceRow(number, {}, None, e)
            continue
        department = raw.pop("department", None)
        if department is not None and not isinstance(department, str):
            yield SourceRow(number, raw, None, InputError("must be a USCC", field="department"))
            continue
        yield SourceRow(number, raw, department.strip() if department else None)
