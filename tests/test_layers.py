"""The layer rule of docs/architecture.md (and CONTRIBUTING.md), enforced twice.

- ``lint-imports`` (import-linter, contracts in pyproject.toml) checks the layers of
  docs/architecture.md over the whole import graph: ``api | cli`` over ``bootstrap`` over ``app``
  over ``issuer | verifier | templates | registry | settings | ratelimit`` over ``hall`` over
  ``formats`` over ``keys`` over ``domain`` over ``errors``; SQLAlchemy only in ``registry``,
  FastAPI only in ``api``, the verifier free of both (and of ``registry``, ``ratelimit``, redis
  and settings) even indirectly, settings read only by the transports and ``bootstrap``.
- An AST walk of every module (this file) checks what import-linter cannot: nothing outside the
  transports and ``bootstrap`` reads the environment, and the transports act through the facade
  only (no ``elicence.registry`` or ``elicence.keys`` import, no ``.registry``/``.keystore``).

Both are shown to fail on planted breaches, so neither passes by checking nothing.
"""

from __future__ import annotations

import ast
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

import elicence

PACKAGE_DIR = Path(elicence.__file__).parent
REPO = PACKAGE_DIR.parent
LINT_IMPORTS = Path(sys.executable).parent / "lint-imports"

DB = ("sqlalchemy", "alembic")
WEB = ("fastapi", "starlette")
# Where the environment and settings may be read: the transports and the composition root.
SETTINGS_READERS = (
    "elicence/api/",
    "elicence/cli/",
    "elicence/bootstrap.py",
    "elicence/settings.py",
)
# The transports act through the facade (elicence.app.service.Elicence) only.
TRANSPORTS = ("elicence/api/", "elicence/cli/")
BEHIND_THE_FACADE = ("elicence.registry", "elicence.keys", "elicence.ratelimit")
FACADE_INTERNALS = frozenset({"registry", "keystore", "_keyring", "_issuer", "_lifecycle"})
ENV_NAMES = frozenset({"environ", "environb", "getenv", "getenvb", "putenv", "unsetenv"})


@dataclass(frozen=True, slots=True)
class Use:
    """Something a module does that a rule may forbid: import a module, read the environment,
    or reach behind the facade (an attribute of :data:`FACADE_INTERNALS`)."""

    what: str  # a dotted module name, "os.environ" / "os.getenv" …, or ".registry" …
    line: int
    env: bool = False
    attribute: bool = False


def module_name(path: str) -> str:
    """``elicence/api/app.py`` → ``elicence.api.app``; a package's ``__init__`` → the package."""
    parts = path.removesuffix(".py").split("/")
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _resolve(path: str, level: int, module: str | None) -> str:
    package = module_name(path).split(".")
    if not path.endswith("__init__.py"):
        package = package[:-1]
    base = package[: len(package) - (level - 1)] if level > 1 else package
    return ".".join([*base, module] if module else base)


def uses_of(path: str, source: str) -> list[Use]:
    """Every import (absolute, relative, importlib, ``__import__``), environment read, and use of
    an attribute of :data:`FACADE_INTERNALS`."""
    tree = ast.parse(source, filename=path)
    out: list[Use] = []
    os_names = {"os"}
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                out.append(Use(alias.name, node.lineno))
                if alias.name == "os" and alias.asname:
                    os_names.add(alias.asname)
        elif isinstance(node, ast.ImportFrom):
            base = _resolve(path, node.level, node.module) if node.level else (node.module or "")
            out.append(Use(base, node.lineno))
            for alias in node.names:
                # ``from elicence import settings`` imports the module elicence.settings
                out.append(Use(f"{base}.{alias.name}", node.lineno))
                if base == "os" and alias.name in ENV_NAMES:
                    out.append(Use(f"os.{alias.name}", node.lineno, env=True))
        elif isinstance(node, ast.Call):
            func = node.func
            name = (
                func.attr
                if isinstance(func, ast.Attribute)
                else func.id
                if isinstance(func, ast.Name)
                else None
            )
            if (
                name in ("import_module", "__import__")
                and node.args
                and isinstance(node.args[0], ast.Constant)
                and isinstance(node.args[0].value, str)
            ):
                out.append(Use(node.args[0].value, node.lineno))
        if isinstance(node, ast.Attribute) and node.attr in FACADE_INTERNALS:
            out.append(Use(f".{node.attr}", node.lineno, attribute=True))
        if (
            isinstance(node, ast.Attribute)
            and node.attr in ENV_NAMES
            and isinstance(node.value, ast.Name)
            and node.value.id in os_names
        ):
            out.append(Use(f"os.{node.attr}", node.lineno, env=True))
    return out


def _under(module: str, prefixes: Iterable[str]) -> bool:
    return any(module == p or module.startswith(p + ".") for p in prefixes)


@dataclass(frozen=True, slots=True)
class Rule:
    name: str
    applies: Callable[[str], bool]
    forbidden: tuple[str, ...] = ()
    no_env: bool = False
    facade_only: bool = False


RULES = (
    Rule(
        "only elicence/registry/ imports SQLAlchemy or Alembic",
        lambda p: not p.startswith("elicence/registry/"),
        DB,
    ),
    Rule(
        "only elicence/api/ imports FastAPI, Starlette or elicence.api",
        lambda p: not p.startswith("elicence/api/"),
        (*WEB, "elicence.api"),
    ),
    Rule(
        "elicence/verifier/ needs no database and no web framework",
        lambda p: p.startswith("elicence/verifier/"),
        (*DB, *WEB, "elicence.registry", "elicence.api"),
    ),
    Rule(
        "code below the transports is given what it needs: no settings, no environment",
        lambda p: not p.startswith(SETTINGS_READERS),
        ("elicence.settings", "pydantic_settings"),
        no_env=True,
    ),
    Rule(
        "the API and the CLI act through the facade (elicence.app.service.Elicence) only",
        lambda p: p.startswith(TRANSPORTS),
        BEHIND_THE_FACADE,
        facade_only=True,
    ),
)


def violations(sources: Mapping[str, str]) -> list[str]:
    """Every breach of :data:`RULES` in ``sources`` (repo-relative path → source text)."""
    found: list[str] = []
    for path, source in sorted(sources.items()):
        uses = uses_of(path, source)
        for rule in RULES:
            if not rule.applies(path):
                continue
            for use in uses:
                if use.attribute:
                    if rule.facade_only:
                        found.append(f"{path}:{use.line}: uses {use.what} ({rule.name})")
                elif use.env:
                    if rule.no_env:
                        found.append(f"{path}:{use.line}: reads {use.what} ({rule.name})")
                elif _under(use.what, rule.forbidden):
                    found.append(f"{path}:{use.line}: imports {use.what} ({rule.name})")
    return sorted(set(found))


def verifier_closure_violations(sources: Mapping[str, str]) -> list[str]:
    """What the verifier reaches through elicence's own modules (and their packages' inits)."""
    modules = {module_name(p): p for p in sources}
    uses = {p: uses_of(p, s) for p, s in sources.items()}

    def internal(module: str) -> set[str]:
        out = set()
        parts = module.split(".")
        for i in range(1, len(parts) + 1):  # importing a.b.c runs a, a.b and a.b.c
            if ".".join(parts[:i]) in modules:
                out.add(".".join(parts[:i]))
        return out

    found: list[str] = []
    for start_path in sorted(p for p in sources if p.startswith("elicence/verifier/")):
        seen: dict[str, str | None] = {module_name(start_path): None}
        queue = [module_name(start_path), *internal(module_name(start_path))]
        for m in queue[1:]:
            seen.setdefault(m, module_name(start_path))
        while queue:
            current = queue.pop()
            path = modules[current]
            for use in uses[path]:
                if use.env or use.attribute:
                    continue
                if _under(use.what, (*DB, *WEB, "elicence.registry", "elicence.api")):
                    chain = [current]
                    while (parent := seen.get(chain[-1])) is not None:
                        chain.append(parent)
                    via = " <- ".join(chain)
                    found.append(f"{start_path}: reaches {use.what} via {via}")
                for m in internal(use.what):
                    if m not in seen:
                        seen[m] = current
                        queue.append(m)
    return sorted(set(found))


def package_sources() -> dict[str, str]:
    return {
        p.relative_to(REPO).as_posix(): p.read_text(encoding="utf-8")
        for p in sorted(PACKAGE_DIR.rglob("*.py"))
    }


def lint_imports(cwd: Path, *, pythonpath: Path | None = None) -> subprocess.CompletedProcess[str]:
    env = None
    if pythonpath is not None:
        import os

        env = {**os.environ, "PYTHONPATH": str(pythonpath)}
    return subprocess.run(
        [str(LINT_IMPORTS), "--no-cache"],
        capture_output=True,
        text=True,
        cwd=cwd,
        env=env,
        check=False,
    )


# -- the rule holds for elicence ---------------------------------------------------------------


def test_import_linter_contracts_hold() -> None:
    out = lint_imports(REPO)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "0 broken" in out.stdout
    assert "5 kept" in out.stdout, out.stdout  # every contract of pyproject.toml ran


def test_every_module_keeps_the_layer_rule() -> None:
    sources = package_sources()
    assert len(sources) > 40
    bad = violations(sources)
    offenders = sorted({line.split(":", 1)[0] for line in bad})
    assert not bad, f"layer rule broken in {offenders}:\n" + "\n".join(bad)


def test_the_verifier_reaches_no_database_or_web_code_through_its_imports() -> None:
    bad = verifier_closure_violations(package_sources())
    offenders = sorted({line.split(":", 1)[0] for line in bad})
    assert not bad, f"verifier modules {offenders} reach forbidden code:\n" + "\n".join(bad)


def test_importing_the_verifier_loads_no_database_or_web_framework() -> None:
    """The same, at run time: a fresh interpreter imports the verifier alone."""
    code = (
        "import sys, elicence.verifier\n"
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in "
        "{'sqlalchemy', 'alembic', 'fastapi', 'starlette', 'psycopg'} "
        "or m.startswith(('elicence.registry', 'elicence.api', 'elicence.settings')))\n"
        "print(','.join(bad))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=REPO
    )
    assert out.stdout.strip() == "", f"importing elicence.verifier loaded {out.stdout.strip()}"


def test_the_checker_sees_the_real_imports() -> None:
    """Not vacuous: the checker finds what the allowed layers really import and use."""
    sources = package_sources()

    def used(path: str) -> set[str]:
        return {u.what for u in uses_of(path, sources[path])}

    assert "sqlalchemy" in used("elicence/registry/queries.py")
    assert "fastapi" in used("elicence/api/app.py")
    assert "elicence.settings" in used("elicence/api/app.py")
    assert "elicence.formats.seal" in used("elicence/verifier/seal.py")
    assert ".registry" in used("elicence/app/service.py")  # the facade holds the registry


# -- the checkers can fail ---------------------------------------------------------------------

BROKEN = {
    "elicence/verifier/offline.py": (
        "from elicence.registry import Registry\n"
        "import os\n"
        "URL = os.environ['ELICENCE_DATABASE_URL']\n"
    ),
    "elicence/issuer/extra.py": "from sqlalchemy import select\nfrom .. import settings\n",
    "elicence/domain/codes.py": "from os import getenv\n",
    "elicence/keys/hsm.py": "import os as system\nPIN = system.getenv('PIN')\n",
    "elicence/formats/seal.py": "import importlib\nimportlib.import_module('elicence.settings')\n",
    "elicence/cli/keys.py": "import fastapi\nsvc.registry.clients()\n",
    "elicence/app/service.py": "from elicence.api.app import create_app\n",
    "elicence/templates/render.py": "from ..api import schemas\n",
    "elicence/api/routers/extra.py": "from elicence.keys.store import KeyStore\nsvc.keystore\n",
}


def test_the_checker_reports_each_breach_with_its_file() -> None:
    bad = violations(BROKEN)
    expected = [
        "elicence/verifier/offline.py:1: imports elicence.registry",
        "elicence/verifier/offline.py:3: reads os.environ",
        "elicence/issuer/extra.py:1: imports sqlalchemy",
        "elicence/issuer/extra.py:2: imports elicence.settings",
        "elicence/domain/codes.py:1: reads os.getenv",
        "elicence/keys/hsm.py:2: reads os.getenv",
        "elicence/formats/seal.py:2: imports elicence.settings",
        "elicence/cli/keys.py:1: imports fastapi",
        "elicence/cli/keys.py:2: uses .registry",
        "elicence/app/service.py:1: imports elicence.api",
        "elicence/templates/render.py:1: imports elicence.api",
        "elicence/api/routers/extra.py:1: imports elicence.keys.store",
        "elicence/api/routers/extra.py:2: uses .keystore",
    ]
    for prefix in expected:
        assert any(line.startswith(prefix) for line in bad), (prefix, bad)
    offenders = {line.split(":", 1)[0] for line in bad}
    assert offenders == set(BROKEN)


def test_the_checker_allows_what_the_rule_allows() -> None:
    allowed = {
        "elicence/registry/queries.py": "import sqlalchemy\nfrom alembic import command\n",
        "elicence/api/app.py": (
            "from fastapi import FastAPI\nfrom elicence.settings import Settings\n"
            "from starlette.exceptions import HTTPException\nfrom . import errors\n"
        ),
        "elicence/cli/common.py": "import os\nfrom elicence.settings import Settings\nos.environ.get('X')\n",
        "elicence/bootstrap.py": "from elicence.settings import Settings\nfrom elicence import keys\n",
        "elicence/verifier/seal.py": "from elicence.formats.seal import decode_seal\nimport os.path\n",
        "elicence/app/service.py": "self.registry.licence(x)\nfrom elicence.registry import Registry\n",
    }
    assert violations(allowed) == []


def test_the_closure_check_follows_imports_through_other_modules() -> None:
    sources = {
        "elicence/__init__.py": "",
        "elicence/verifier/__init__.py": "from elicence.verifier.seal import verify\n",
        "elicence/verifier/seal.py": "from elicence.helpers import status\n",
        "elicence/helpers.py": "from elicence.registry.queries import Registry\n",
        "elicence/registry/__init__.py": "",
        "elicence/registry/queries.py": "import sqlalchemy\n",
    }
    assert violations(sources) == []  # no direct breach ...
    bad = verifier_closure_violations(sources)  # ... but the verifier reaches the database
    assert any(
        "elicence/verifier/seal.py: reaches elicence.registry.queries via elicence.helpers" in b
        for b in bad
    ), bad
    assert any("reaches sqlalchemy" in b for b in bad), bad


def test_import_linter_reports_planted_breaches(tmp_path: Path) -> None:
    """A copy of the package with a layer turned upside down and the verifier reaching the
    database: import-linter must break exactly those contracts."""
    shutil.copytree(
        PACKAGE_DIR, tmp_path / "elicence", ignore=shutil.ignore_patterns("__pycache__")
    )
    shutil.copy(REPO / "pyproject.toml", tmp_path / "pyproject.toml")
    codes = tmp_path / "elicence" / "domain" / "codes.py"
    codes.write_text(codes.read_text() + "\nfrom elicence.app import service  # noqa\n")
    status = tmp_path / "elicence" / "verifier" / "status.py"
    status.write_text(status.read_text() + "\nimport elicence.registry.queries  # noqa\n")
    out = lint_imports(tmp_path, pythonpath=tmp_path)
    assert out.returncode == 1, out.stdout + out.stderr
    assert "elicence is layered" in out.stdout and "BROKEN" in out.stdout
    assert "elicence.domain.codes -> elicence.app.service" in out.stdout
    assert "the verifier needs no database" in out.stdout
    assert "3 kept, 2 broken" in out.stdout, out.stdout


# -- a module's name that repeats across layers says its layer first --------------------------

# the first words of the docstring of a module whose file name stands in more than one layer
# (holder.py, trail.py, web.py, …): the reader of a stack trace or a search result sees at once
# which holder.py it is. The command line's modules say "(command line)" in their first line.
LAYER_PREFIX = {
    "api": "HTTP: ",
    "app": "Application layer: ",
    "registry": "Registry: ",
    "domain": "Domain: ",
    "formats": "Wire format: ",
    "hall": "Hall (pure): ",
    "templates": "Templates: ",
    "verifier": "Verifier: ",
    "issuer": "Issuer: ",
    "keys": "Keys: ",
    "ratelimit": "Rate limits: ",
}


def unnamed_layers(root: Path) -> list[str]:
    """The modules under ``root`` (a package directory) whose file name repeats across its
    subpackages and whose docstring's first line does not name their layer."""
    by_name: dict[str, list[Path]] = {}
    for path in root.rglob("*.py"):
        if path.name != "__init__.py" and "migrations" not in path.parts:
            by_name.setdefault(path.name, []).append(path)
    bad = []
    for paths in by_name.values():
        for path in paths if len(paths) > 1 else ():
            parts = path.relative_to(root).parts
            if len(parts) < 2:
                continue  # a top-level module (errors.py) is its own layer
            doc = ast.get_docstring(ast.parse(path.read_text(encoding="utf-8"))) or ""
            first = doc.splitlines()[0] if doc else ""
            ok = (
                "(command line)" in first
                if parts[0] == "cli"
                else first.startswith(LAYER_PREFIX.get(parts[0], "\0"))
            )
            if not ok:
                bad.append(f"{path.relative_to(root)}: {first[:60]!r}")
    return sorted(bad)


def test_a_module_whose_name_repeats_names_its_layer_first() -> None:
    assert unnamed_layers(PACKAGE_DIR) == []


def test_the_layer_name_check_finds_a_planted_module(tmp_path: Path) -> None:
    for layer, doc in [("app", "Application layer: a"), ("registry", "The holder's rows.")]:
        (tmp_path / layer).mkdir()
        (tmp_path / layer / "holder.py").write_text(f'"""{doc}"""\n', encoding="utf-8")
    (tmp_path / "cli").mkdir()
    (tmp_path / "cli" / "holder.py").write_text('"""``elicence x`` (command line)."""\n')
    assert unnamed_layers(tmp_path) == ['registry/holder.py: "The holder\'s rows."']
