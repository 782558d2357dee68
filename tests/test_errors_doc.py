"""docs/errors.md against the code, both ways: every kind with the HTTP status, exit code and
audit-trail outcome the code derives from it, and every error code the code can give (a class's
code, a ``code=`` where an error is raised, the API transport's own) listed, and none more.
Shown to report a planted fault, so it does not pass by checking nothing."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest
from markdown_it import MarkdownIt

import elicence
from elicence import errors
from elicence.api.errors import STATUS, TRANSPORT_CODES
from elicence.app.trail import SERVICE_FAILURES
from elicence.cli.common import EXIT_CODE

PACKAGE = Path(elicence.__file__).parent
DOC = PACKAGE.parent / "docs" / "errors.md"


def tables(text: str) -> list[list[list[str]]]:
    """Every table of a Markdown text as rows of cell texts (the header row left out)."""
    found: list[list[list[str]]] = []
    rows: list[list[str]] = []
    row: list[str] | None = None
    in_body = False
    for tok in MarkdownIt("commonmark").enable("table").parse(text):
        if tok.type == "table_open":
            rows = []
        elif tok.type == "tbody_open":
            in_body = True
        elif tok.type == "tbody_close":
            in_body = False
        elif tok.type == "tr_open":
            row = []
        elif tok.type == "inline" and row is not None:
            row.append(tok.content.strip())
        elif tok.type == "tr_close" and row is not None:
            if in_body:
                rows.append(row)
            row = None
        elif tok.type == "table_close":
            found.append(rows)
    return found


def unquote(cell: str) -> str:
    return cell.strip().strip("`")


def kinds_of(cell: str) -> set[str]:
    return {unquote(k) for k in cell.split(",") if unquote(k) not in ("", "—")}


def _families() -> Iterator[type[errors.Error]]:
    stack: list[type[errors.Error]] = [errors.Error]
    while stack:
        cls = stack.pop()
        yield cls
        stack.extend(cls.__subclasses__())


def _name(func: ast.expr) -> str:
    if isinstance(func, ast.Name):
        return func.id
    return func.attr if isinstance(func, ast.Attribute) else ""


def _pattern(value: ast.JoinedStr) -> str:
    """An f-string code as the docs write it: ``cited_licence_<verdict>``."""
    out = ""
    for part in value.values:
        if isinstance(part, ast.Constant):
            out += str(part.value)
        elif isinstance(part, ast.FormattedValue):
            out += f"<{_name(part.value) or 'value'}>"
    return out


def codes_in_code() -> dict[str, set[str]]:
    """Every error code the package can give, with the kinds it comes with (none for the
    transport's own and for patterns)."""
    kind_of_class = {cls.__name__: str(cls.kind) for cls in _families()}
    found: dict[str, set[str]] = {cls.code: set() for cls in _families()}
    for cls in _families():
        found[cls.code].add(str(cls.kind))
    for path in sorted(PACKAGE.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Call) and _name(node.func).endswith("Error"):
                for kw in node.keywords:
                    if kw.arg == "code" and isinstance(kw.value, ast.Constant):
                        kinds = found.setdefault(str(kw.value.value), set())
                        kinds.add(kind_of_class.get(_name(node.func), ""))
            if (
                isinstance(node, ast.Assign)
                and any(isinstance(t, ast.Name) and t.id == "code" for t in node.targets)
                and isinstance(node.value, ast.JoinedStr)
            ):
                found.setdefault(_pattern(node.value), set())
    for code in TRANSPORT_CODES:
        found.setdefault(code, set())
    return found


def code_problems(doc: str, codes: dict[str, set[str]]) -> list[str]:
    """What the codes table of ``doc`` gets wrong about ``codes``."""
    listed = {unquote(row[0]): kinds_of(row[2]) for row in tables(doc)[1]}
    problems = [f"{c}: not in docs/errors.md" for c in sorted(set(codes) - set(listed))]
    problems += [f"{c}: listed, but nothing gives it" for c in sorted(set(listed) - set(codes))]
    for code, kinds in sorted(codes.items()):
        if code in listed and kinds and not kinds <= listed[code]:
            problems.append(f"{code}: kinds {sorted(kinds)}, listed as {sorted(listed[code])}")
    return problems


def kind_problems(doc: str) -> list[str]:
    """What the kinds table of ``doc`` gets wrong about the three mappings."""
    rows = {unquote(row[0]): row for row in tables(doc)[0]}
    problems = [f"{k}: not in docs/errors.md" for k in errors.Kind if k not in rows]
    problems += [f"{k}: not a kind" for k in rows if k not in set(errors.Kind)]
    for kind in errors.Kind:
        if kind not in rows:
            continue
        _, _, http, exit_code, outcome = rows[kind]
        trail = "failed" if kind in SERVICE_FAILURES else "refused"
        if (http, exit_code, outcome) != (str(STATUS[kind]), str(EXIT_CODE[kind]), trail):
            problems.append(
                f"{kind}: listed {http}/{exit_code}/{outcome}, "
                f"the code says {STATUS[kind]}/{EXIT_CODE[kind]}/{trail}"
            )
    return problems


def test_every_kind_is_mapped_once_by_each_transport() -> None:
    assert set(STATUS) == set(errors.Kind) == set(EXIT_CODE)


def test_the_kinds_table_is_what_the_code_derives() -> None:
    assert kind_problems(DOC.read_text(encoding="utf-8")) == []


def test_every_code_is_listed_and_none_more() -> None:
    codes = codes_in_code()
    assert {"illegal_transition", "cited_licence_<verdict>", "http_error"} <= set(codes)
    assert code_problems(DOC.read_text(encoding="utf-8"), codes) == []


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        ("| `not_pdf` |", "| `not_a_pdf` |", "not_pdf: not in docs/errors.md"),
        ("| `not_pdf` |", "| `not_a_pdf` |", "not_a_pdf: listed, but nothing gives it"),
        (
            "| `bad_pdf` | `InputError` | `bad_input` |",
            "| `bad_pdf` | `InputError` | `conflict` |",
            "bad_pdf: kinds ['bad_input'], listed as ['conflict']",
        ),
        (
            "| 503 | 1 | failed |",
            "| 503 | 2 | failed |",
            "integrity: listed 503/2/failed, the code says 503/1/failed",
        ),
    ],
    ids=["missing-code", "unknown-code", "wrong-kind", "wrong-exit-code"],
)
def test_a_planted_fault_is_reported(old: str, new: str, expected: str) -> None:
    doc = DOC.read_text(encoding="utf-8")
    assert old in doc
    planted = doc.replace(old, new, 1)
    assert expected in code_problems(planted, codes_in_code()) + kind_problems(planted)
