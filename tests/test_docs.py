"""The docs tell the truth, and this file keeps them honest.

Four checks over the repository's Markdown files, each returning its findings as
``path:line: what`` strings (none is the pass):

- every relative link resolves, to a file inside the repository, and every ``#anchor`` names a
  heading of its target as GitHub slugs it (CJK kept);
- no table is broken: a line starting with ``|`` that markdown-it-py (CommonMark with GitHub's
  tables) does not render inside a table, a fence or an HTML block is a row left outside its
  table, most often by a blank line;
- nothing is said twice in one file: no paragraph repeats another, and no run of
  :data:`RUN_WORDS` words appears in two paragraphs (how merge artefacts repeat a sentence);
- the README's configuration table lists every ``ELICENCE_*`` setting of ``Settings``, by its
  full name, and nothing else.

A fifth keeps the repository self-contained: no file cites the design notes or paths that live
outside it. Each check is shown to report a fault planted in a copy of the repository, so none
passes by checking nothing.
"""

from __future__ import annotations

import os
import re
import shutil
import unicodedata
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from urllib.parse import unquote, urlsplit

import pytest
from markdown_it import MarkdownIt
from markdown_it.token import Token

from elicence.settings import Settings

ROOT = Path(__file__).resolve().parent.parent
THIS_FILE = Path(__file__).resolve().relative_to(ROOT).as_posix()
# Directories that hold no docs of ours: tools' state, build output, vendored third-party code.
SKIP_DIRS = frozenset({"var", "vendor", "node_modules", "build", "dist", "__pycache__"})
# Where the README's settings table lives: the section whose heading starts with this.
CONFIGURATION_HEADING = "Configuration"
SETTING = re.compile(r"ELICENCE_[A-Z0-9_]+")
# A run of this many words in two paragraphs of one file is a repetition, not a coincidence.
RUN_WORDS = 12
# A whole paragraph this long or longer may not appear twice in one file.
PARAGRAPH_WORDS = 5
# Texts that live outside the repository: a reader of the repository alone cannot follow them.
OUTSIDE = re.compile(
    r"\b(?:DESIGN|CONVENTIONS)\.md\b|/work/|\.\./shared\b|\bshared/seed\b",
)
TEXT_SUFFIXES = frozenset({".md", ".py", ".toml", ".yaml", ".yml", ".cfg", ".ini", ".txt", ""})

MARKDOWN = MarkdownIt("commonmark").enable("table")


# -- reading the Markdown ---------------------------------------------------------------------


def _skipped(part: str) -> bool:
    return part.startswith(".") or part in SKIP_DIRS or part.endswith(".egg-info")


def repository_files(root: Path, suffixes: Iterable[str]) -> list[Path]:
    """Files under ``root`` with one of ``suffixes``, outside :data:`SKIP_DIRS` and dot dirs."""
    wanted = frozenset(suffixes)
    found: list[Path] = []
    for directory, dirs, files in os.walk(root):
        dirs[:] = sorted(d for d in dirs if not _skipped(d))
        found.extend(
            Path(directory) / name
            for name in sorted(files)
            if Path(name).suffix in wanted and not name.startswith(".")
        )
    return found


def markdown_files(root: Path) -> list[Path]:
    return repository_files(root, {".md"})


@cache
def _parse(path: Path, text: str) -> list[Token]:
    return MARKDOWN.parse(text)


def parse(path: Path) -> tuple[str, list[Token]]:
    text = path.read_text(encoding="utf-8")
    return text, _parse(path, text)


def walk(tokens: Iterable[Token]) -> Iterator[tuple[Token, Token]]:
    """Every inline child as ``(child, its block's inline token)``."""
    for token in tokens:
        if token.type == "inline":
            for child in token.children or ():
                yield child, token


def line_of(token: Token) -> int:
    return token.map[0] + 1 if token.map else 0


def inline_text(inline: Token) -> str:
    """The text a reader sees: code spans kept, markup and HTML tags dropped."""
    parts: list[str] = []
    for child in inline.children or ():
        if child.type in {"text", "code_inline"}:
            parts.append(child.content)
        elif child.type in {"softbreak", "hardbreak"}:
            parts.append(" ")
        elif child.type == "image":
            parts.append(child.content)
    return "".join(parts)


def rel(root: Path, path: Path) -> str:
    return path.relative_to(root).as_posix()


# -- 1. links and anchors ---------------------------------------------------------------------


def _slug_keeps(ch: str) -> bool:
    if ch in " -":
        return True
    category = unicodedata.category(ch)
    return category[0] in "LM" or category in {"Nd", "Nl", "Pc"} or ch.isalpha()


def github_slug(text: str) -> str:
    """A heading's anchor as github-slugger makes it: lower case, spaces to ``-``, and only
    letters (CJK included), marks, digits, ``_`` and ``-`` kept."""
    return "".join(ch for ch in text.lower() if _slug_keeps(ch)).replace(" ", "-")


HTML_ID = re.compile(r"""<a\s[^>]*\b(?:id|name)\s*=\s*["']([^"']+)["']""", re.IGNORECASE)


def anchors(path: Path) -> frozenset[str]:
    """The anchors GitHub gives ``path``: its headings' slugs (a repeated one gets ``-1``,
    ``-2``, …) and ``<a id|name=…>``."""
    text, tokens = parse(path)
    seen: dict[str, int] = {}
    found: set[str] = set(HTML_ID.findall(text))
    for i, token in enumerate(tokens):
        if token.type != "heading_open":
            continue
        base = github_slug(inline_text(tokens[i + 1]))
        slug = base
        while slug in seen:
            seen[base] += 1
            slug = f"{base}-{seen[base]}"
        seen[slug] = 0
        found.add(slug)
    return frozenset(found)


def links(path: Path) -> Iterator[tuple[int, str]]:
    """``(line, target)`` of every link and image of ``path``."""
    _, tokens = parse(path)
    for child, inline in walk(tokens):
        if child.type == "link_open":
            yield line_of(inline), str(child.attrGet("href") or "")
        elif child.type == "image":
            yield line_of(inline), str(child.attrGet("src") or "")


def broken_links(root: Path) -> list[str]:
    findings: list[str] = []
    top = root.resolve()
    for md in markdown_files(root):
        for line, href in links(md):
            split = urlsplit(href)
            if split.scheme or split.netloc:
                continue  # another site's page: not ours to check here
            where = f"{rel(root, md)}:{line}: {href}"
            path, fragment = unquote(split.path), unquote(split.fragment)
            if path.startswith("/"):
                target = (top / path.lstrip("/")).resolve()
            else:
                target = (md.parent / path).resolve() if path else md.resolve()
            if not target.is_relative_to(top):
                findings.append(f"{where}: points outside the repository")
            elif not target.exists():
                findings.append(f"{where}: no such file or directory")
            elif fragment and target.suffix == ".md" and fragment not in anchors(target):
                findings.append(f"{where}: no heading or anchor #{fragment} in {target.name}")
    return findings


# -- 2. tables --------------------------------------------------------------------------------

RENDERED_AS_IS = frozenset({"table_open", "fence", "code_block", "html_block"})


def split_tables(root: Path) -> list[str]:
    findings: list[str] = []
    for md in markdown_files(root):
        text, tokens = parse(md)
        covered: set[int] = set()
        for token in tokens:
            if token.type in RENDERED_AS_IS and token.map:
                covered.update(range(*token.map))
        stray = [
            number
            for number, line in enumerate(text.splitlines(), start=1)
            if line.lstrip().startswith("|") and number - 1 not in covered
        ]
        for first, last in _runs(stray):
            lines = f"{first}" if first == last else f"{first}-{last}"
            findings.append(
                f"{rel(root, md)}:{lines}: table rows that render as text "
                "(a blank line or a missing header splits their table)"
            )
    return findings


def _runs(numbers: list[int]) -> Iterator[tuple[int, int]]:
    """Consecutive numbers as ``(first, last)`` runs."""
    start = None
    for i, n in enumerate(numbers):
        if start is None:
            start = n
        if i + 1 == len(numbers) or numbers[i + 1] != n + 1:
            yield start, n
            start = None


# -- 3. repetition ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Paragraph:
    line: int
    words: tuple[str, ...]


def paragraphs(path: Path) -> list[Paragraph]:
    _, tokens = parse(path)
    return [
        Paragraph(line_of(tokens[i + 1]), tuple(inline_text(tokens[i + 1]).split()))
        for i, token in enumerate(tokens)
        if token.type == "paragraph_open"
    ]


def repeated_text(root: Path) -> list[str]:
    findings: list[str] = []
    for md in markdown_files(root):
        name = rel(root, md)
        whole: dict[tuple[str, ...], int] = {}
        runs: dict[tuple[str, ...], int] = {}
        for paragraph in paragraphs(md):
            words = paragraph.words
            if len(words) >= PARAGRAPH_WORDS:
                if words in whole:
                    findings.append(
                        f"{name}:{paragraph.line}: repeats the paragraph of line {whole[words]}"
                    )
                    continue
                whole[words] = paragraph.line
            for start in range(len(words) - RUN_WORDS + 1):
                run = words[start : start + RUN_WORDS]
                first = runs.setdefault(run, paragraph.line)
                if first != paragraph.line:
                    findings.append(
                        f"{name}:{paragraph.line}: repeats the words “{' '.join(run)}” of line {first}"
                    )
                    break
    return findings


# -- 4. the README's configuration table --------------------------------------------------------


def setting_names() -> frozenset[str]:
    prefix = str(Settings.model_config.get("env_prefix", ""))
    return frozenset(f"{prefix}{name}".upper() for name in Settings.model_fields)


def configuration_rows(readme: Path) -> dict[str, int]:
    """Each setting named in the first column of the tables of the configuration section."""
    _, tokens = parse(readme)
    listed: dict[str, int] = {}
    level: str | None = None
    first_cell = False
    for i, token in enumerate(tokens):
        if token.type == "heading_open":
            title = inline_text(tokens[i + 1])
            if level is not None and token.tag <= level:
                level = None
            if title.startswith(CONFIGURATION_HEADING):
                level = token.tag
        elif level is None:
            continue
        elif token.type == "tr_open":
            first_cell = True
        elif token.type in {"td_open", "th_open"} and first_cell:
            first_cell = False
            for name in SETTING.findall(tokens[i + 1].content):
                listed.setdefault(name, line_of(tokens[i + 1]))
    return listed


def settings_table(readme: Path, settings: Iterable[str]) -> list[str]:
    listed = configuration_rows(readme)
    known = frozenset(settings)
    return [
        f"{readme.name}: {name} (a setting of elicence/settings.py) is not in the "
        f"{CONFIGURATION_HEADING} table"
        for name in sorted(known - listed.keys())
    ] + [
        f"{readme.name}:{listed[name]}: {name} is in the {CONFIGURATION_HEADING} table but "
        "is no setting"
        for name in sorted(listed.keys() - known)
    ]


# -- 5. nothing cited from outside the repository ---------------------------------------------


def outside_citations(root: Path) -> list[str]:
    findings: list[str] = []
    for path in repository_files(root, TEXT_SUFFIXES):
        if rel(root, path) == THIS_FILE:
            continue  # this file names the patterns it looks for
        try:
            text = path.read_text(encoding="utf-8")
        except (UnicodeDecodeError, OSError):
            continue
        for number, line in enumerate(text.splitlines(), start=1):
            if match := OUTSIDE.search(line):
                findings.append(
                    f"{rel(root, path)}:{number}: cites {match.group()!r}, which is not in the "
                    "repository (docs/design.md and CONTRIBUTING.md are)"
                )
    return findings


# -- the repository ---------------------------------------------------------------------------


def test_every_relative_link_and_anchor_resolves() -> None:
    assert broken_links(ROOT) == []


def test_no_table_is_split() -> None:
    assert split_tables(ROOT) == []


def test_nothing_is_said_twice_in_one_file() -> None:
    assert repeated_text(ROOT) == []


def test_the_readme_lists_exactly_the_settings() -> None:
    assert settings_table(ROOT / "README.md", setting_names()) == []


def test_nothing_cites_a_text_outside_the_repository() -> None:
    assert outside_citations(ROOT) == []


def test_every_doc_is_in_the_index() -> None:
    index = ROOT / "docs" / "README.md"
    linked = {
        (index.parent / unquote(urlsplit(href).path)).resolve()
        for _, href in links(index)
        if not urlsplit(href).scheme
    }
    docs = {p.resolve() for p in markdown_files(ROOT / "docs") if p != index}
    assert sorted(rel(ROOT, p) for p in docs - linked) == []


# -- the checks themselves --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "slug"),
    [
        (
            "1.1 E-licence identifier (电子证照标识, GB/T 36904)",
            "11-e-licence-identifier-电子证照标识-gbt-36904",
        ),
        ("The hall's case API (办件)", "the-halls-case-api-办件"),
        ("Ratings, rectification, complaints (好差评)", "ratings-rectification-complaints-好差评"),
        (
            "2. Settings: /etc/elicence/elicence.env (root:elicence, 0640)",
            "2-settings-etcelicenceelicenceenv-rootelicence-0640",
        ),
        (
            "9. Dynamic presentations EP1: the holder's live code",
            "9-dynamic-presentations-ep1-the-holders-live-code",
        ),
        ("三率一数 and the composite score", "三率一数-and-the-composite-score"),
        ("snake_case — and §5 “quoted”", "snake_case--and-5-quoted"),
    ],
    ids=[
        "dots-and-brackets",
        "apostrophe-cjk",
        "commas-cjk",
        "colon-slashes",
        "digits",
        "cjk-first",
        "underscore-symbols",
    ],
)
def test_github_slug(text: str, slug: str) -> None:
    assert github_slug(text) == slug


def test_a_repeated_heading_gets_a_numbered_anchor(tmp_path: Path) -> None:
    page = tmp_path / "page.md"
    page.write_text("# Example\n\n## Example\n\n## Example\n", encoding="utf-8")
    assert anchors(page) == {"example", "example-1", "example-2"}


@pytest.fixture
def copy(tmp_path: Path) -> Path:
    """The repository's docs and everything they link to, in a directory of its own."""
    target = tmp_path / "repo"
    shutil.copytree(
        ROOT,
        target,
        ignore=shutil.ignore_patterns(".*", *SKIP_DIRS, "*.egg-info"),
    )
    return target


def _edit(path: Path, change: Callable[[str], str]) -> None:
    path.write_text(change(path.read_text(encoding="utf-8")), encoding="utf-8")


def _row_of(text: str, setting: str) -> str:
    return next(line for line in text.splitlines() if line.startswith(f"| `{setting}`"))


def _new_findings(copy: Path, check: Callable[[Path], list[str]]) -> list[str]:
    before = set(check(ROOT))
    return [f for f in check(copy) if f not in before]


def _readme_settings(root: Path) -> list[str]:
    return settings_table(root / "README.md", setting_names())


@dataclass(frozen=True, slots=True)
class Plant:
    file: str
    change: Callable[[str], str]
    check: Callable[[Path], list[str]]
    expect: str  # found in the one finding the plant must cause


def _append(extra: str) -> Callable[[str], str]:
    return lambda text: text.rstrip("\n") + "\n\n" + extra + "\n"


def _split_before(setting: str) -> Callable[[str], str]:
    return lambda text: text.replace(_row_of(text, setting), "\n" + _row_of(text, setting))


def _without_row(setting: str) -> Callable[[str], str]:
    return lambda text: text.replace(_row_of(text, setting) + "\n", "")


def _after_row(setting: str, extra: str) -> Callable[[str], str]:
    return lambda text: text.replace(_row_of(text, setting), _row_of(text, setting) + "\n" + extra)


def _repeat_paragraph(text: str) -> str:
    return _append(next(p for p in text.split("\n\n") if len(p.split()) > 40))(text)


def _repeat_a_sentence(text: str) -> str:
    words = next(p for p in text.split("\n\n") if len(p.split()) > 40).split()
    return _append(" ".join(words[3 : 3 + RUN_WORDS + 2]) + " and then something new.")(text)


PLANTS = {
    "broken-link": Plant(
        "README.md",
        _append("See [the guide](docs/no-such-guide.md)."),
        broken_links,
        "docs/no-such-guide.md: no such file",
    ),
    "broken-anchor": Plant(
        "docs/architecture.md",
        _append("See [§5](formats.md#5-verifying-a-sea)."),
        broken_links,
        "no heading or anchor #5-verifying-a-sea in formats.md",
    ),
    "link-out-of-the-repository": Plant(
        "docs/hall.md",
        _append("See [the seed](../../seed/notes.md)."),
        broken_links,
        "points outside the repository",
    ),
    "split-table": Plant(
        "README.md",
        _split_before("ELICENCE_TSA_URL"),
        split_tables,
        "table rows that render as text",
    ),
    "repeated-paragraph": Plant(
        "docs/architecture.md",
        _repeat_paragraph,
        repeated_text,
        "repeats the paragraph of line",
    ),
    "repeated-sentence": Plant(
        "README.md",
        _repeat_a_sentence,
        repeated_text,
        "repeats the words “",
    ),
    "missing-setting": Plant(
        "README.md",
        _without_row("ELICENCE_TSA_URL"),
        _readme_settings,
        "ELICENCE_TSA_URL (a setting of elicence/settings.py) is not in the Configuration table",
    ),
    "setting-cut-off-by-a-split-table": Plant(
        "README.md",
        _split_before("ELICENCE_RECTIFY_DAYS"),
        _readme_settings,
        "ELICENCE_RECTIFY_DAYS (a setting of elicence/settings.py) is not in",
    ),
    "unknown-setting": Plant(
        "README.md",
        _after_row("ELICENCE_TSA_URL", "| `ELICENCE_NOT_A_SETTING` | none | nothing |"),
        _readme_settings,
        "ELICENCE_NOT_A_SETTING is in the Configuration table but is no setting",
    ),
    "outside-citation": Plant(
        "elicence/templates/qr.py",
        lambda text: text.replace('"""', '"""As ' + "DESIGN" + ".md says, ", 1),
        outside_citations,
        "cites 'DESIGN.md'",
    ),
}


@pytest.mark.parametrize("plant", PLANTS.values(), ids=PLANTS.keys())
def test_a_planted_fault_is_reported(copy: Path, plant: Plant) -> None:
    _edit(copy / plant.file, plant.change)
    found = _new_findings(copy, plant.check)
    assert len(found) == 1, found
    assert plant.expect in found[0]
