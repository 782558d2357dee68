"""Checked YAML files whose errors name the line and the field: the licence catalogue
(``formats/catalogue_file.py``), the hall's service-item catalogue (``hall/items_file.py``) and
its holiday calendar (``hall/calendar.py``) read their files through :func:`read_file` and
parse them through :func:`parse_yaml` (the hall itself does no I/O).

Invariants: every error is a :class:`~elicence.errors.CatalogueError` whose message starts
``line N of SOURCE`` where a line is known and whose ``field`` is the path a user edits
(``items[2].materials[0].licence_type``); dates are kept as text (PyYAML would turn
``2026-13-01`` into a bare ``ValueError`` while loading), so the model checks them and names
the field.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, TypeVar

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from elicence.domain.catalogue import check_division_code
from elicence.domain.codes import check_uscc
from elicence.errors import CatalogueError, InputError

M = TypeVar("M", bound=BaseModel)
T = TypeVar("T")


class DatesAsText(yaml.SafeLoader):
    """PyYAML's safe loader, leaving dates and times as text."""


DatesAsText.yaml_implicit_resolvers = {
    first: [(tag, regex) for tag, regex in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


def rule(check: Callable[..., object], value: str) -> str:
    """Run a domain check inside a pydantic validator, turning its error into pydantic's."""
    try:
        result = check(value)
    except InputError as e:
        raise ValueError(e.message) from None
    return result if isinstance(result, str) else value


Text = Annotated[str, Field(min_length=1, max_length=200)]


# A part of a catalogue file: unknown keys refused, numbers read as text, frozen.
FILE_MODEL = ConfigDict(extra="forbid", coerce_numbers_to_str=True, frozen=True)


class DepartmentIn(BaseModel):
    """A department as both catalogue files name it: USCC, Chinese name, division code."""

    model_config = FILE_MODEL

    uscc: str
    name_zh: Text
    division_code: str

    @field_validator("uscc")
    @classmethod
    def _uscc(cls, v: str) -> str:
        return rule(check_uscc, v)

    @field_validator("division_code")
    @classmethod
    def _division(cls, v: str) -> str:
        return rule(check_division_code, v)


def from_stored(
    model: type[M],
    data: dict[str, Any],
    build: Callable[[M], T],
    *,
    what: str,
    error: type[CatalogueError] = CatalogueError,
) -> T:
    """Rebuild a value from the plain data a registry stored (a file's shape, already checked
    once); ``error`` ("stored ``what`` is malformed: …") if it no longer fits ``model``."""
    try:
        parsed = model.model_validate(data)
    except ValidationError as e:
        raise error(f"stored {what} is malformed: {e.errors()[0]['msg']}") from None
    return build(parsed)


def line_of(node: yaml.Node | None, loc: tuple[int | str, ...]) -> int | None:
    """The 1-based line of the node at ``loc``, or of its deepest existing ancestor."""
    line = node.start_mark.line + 1 if node is not None else None
    for key in loc:
        if isinstance(node, yaml.MappingNode):
            node = next((v for k, v in node.value if k.value == key), None)
        elif isinstance(node, yaml.SequenceNode) and isinstance(key, int) and key < len(node.value):
            node = node.value[key]
        else:
            node = None
        if node is None:
            break
        line = node.start_mark.line + 1
    return line


def field_path(loc: tuple[int | str, ...]) -> str:
    """``("a", 0, "b")`` → ``a[0].b``."""
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def loc_of(path: str) -> tuple[int | str, ...]:
    """The inverse of :func:`field_path`: ``a[0].b`` → ``("a", 0, "b")``."""
    return tuple(int(i) if i else n for n, i in re.findall(r"(\w+)|\[(\d+)\]", path))


def read_file(path: Path, *, what: str) -> str:
    """The text of a UTF-8 input file; a :class:`CatalogueError` ("cannot read ``what`` …") if
    it cannot be read."""
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise CatalogueError(f"cannot read {what} {path}: {e}") from e


def parse_yaml(
    text: str, model: type[M], build: Callable[[M], T], *, source: str, root_field: str
) -> T:
    """Load ``text``, check it against ``model``, then ``build`` the domain value; every error
    (YAML, model, or a :class:`CatalogueError` of ``build`` naming a field) names its line."""
    try:
        root = yaml.compose(text, Loader=DatesAsText)
        raw = yaml.load(text, Loader=DatesAsText)  # noqa: S506 - a SafeLoader
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f"line {mark.line + 1}" if mark is not None else "somewhere"
        raise CatalogueError(f"{source}: {where}: not valid YAML: {e}", field=None) from e
    try:
        parsed = model.model_validate(raw)
    except ValidationError as e:
        err = e.errors()[0]
        loc = tuple(p for p in err["loc"] if isinstance(p, int | str))
        line = line_of(root, loc)
        msg = err["msg"].removeprefix("Value error, ")
        where = f"line {line} of {source}" if line is not None else source
        raise CatalogueError(f"{where}: {msg}", field=field_path(loc) or root_field) from None
    try:
        return build(parsed)
    except CatalogueError as e:
        line = line_of(root, loc_of(e.field)) if e.field else None
        where = f"line {line} of {source}" if line is not None else source
        raise CatalogueError(f"{where}: {e.message}", field=e.field) from None
