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
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any

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


@dataclass(frozen=True, slots=True)
class SourceRow:
    """One row of the input: a raw request and its department (None: the run's), or an error."""

    number: int
    raw: dict[str, Any]
    department: str | None
    error: InputError | None = None

    @property
    def source_ref(self) -> str:
        ref = self.raw.get("source_ref")
        return ref if isinstance(ref, str) else ""


def read_rows(path: Path, fmt: SourceFormat) -> Iterator[SourceRow]:
    """Every row of the file, in order."""
    try:
        with path.open(encoding="utf-8-sig", newline="") as f:
            if fmt is SourceFormat.CSV:
                yield from _csv_rows(f)
            else:
                yield from _jsonl_rows(f)
    except (OSError, UnicodeDecodeError) as e:
        raise StockImportError(f"cannot read {path}: {e}", field="file") from e


def count_rows(path: Path, fmt: SourceFormat) -> int:
    """How many rows :func:`read_rows` yields (a quick pass, for the progress bar)."""
    return sum(1 for _ in read_rows(path, fmt)) if fmt is SourceFormat.CSV else _count_lines(path)


def _count_lines(path: Path) -> int:
    n = 0
    try:
        with path.open("rb") as f:
            for line in f:
                n += bool(line.strip())
    except OSError as e:
        raise StockImportError(f"cannot read {path}: {e}", field="file") from e
    return n


def _csv_rows(f: Any) -> Iterator[SourceRow]:
    reader = csv.reader(f)
    header = next(reader, None)
    if header is None:
        return
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
    for record in reader:
        number = reader.line_num  # the physical line the record ended on
        if not any(cell.strip() for cell in record):
            continue
        cells = dict(zip(columns, record, strict=False))
        if len(record) != len(columns):
            yield SourceRow(
                number,
                {"source_ref": cells.get("source_ref", "")},
                None,
                InputError(f"has {len(record)} cells, the header {len(columns)}", field=None),
            )
            continue
        yield SourceRow(number, _request_of(cells), cells.get("department", "").strip() or None)


def _request_of(cells: dict[str, str]) -> dict[str, Any]:
    def value(name: str) -> str | None:
        text = cells.get(name, "")
        return text if text.strip() else None

    raw: dict[str, Any] = {
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
        "data": {
            name[len(DATA_PREFIX) :]: text
            for name, text in cells.items()
            if name.startswith(DATA_PREFIX) and text.strip()
        },
    }
    return raw


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
