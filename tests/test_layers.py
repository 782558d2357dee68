"""The layer rule of docs/DESIGN.md, enforced by reading every module's imports (AST, no import).

- only ``elicence/registry/`` imports SQLAlchemy or Alembic;
- only ``elicence/api/`` imports FastAPI or Starlette, and nothing else imports ``elicence.api``;
- ``elicence/verifier/`` imports none of those nor ``elicence.registry``, directly or through
  the elicence modules it imports (a hall verifies offline, with no database);
- domain modules never import ``elicence.settings`` nor read the environment.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

import elicence

PACKAGE_DIR = Path(elicence.__file__).parent
REPO = PACKAGE_DIR.parent

DB = ("sqlalchemy", "alembic")
WEB = ("fastapi", "starlette")
DOMAIN = (
    "elicence/codes.py",
    "elicence/catalogue.py",
    "elicence/licence.py",
    "elicence/seal.py",
    "elicence/issuer/",
    "elicence/verifier/",
    "elicence/keys/",
    "elicence/registry/",
)
ENV_NAMES = frozenset({"environ", "environb", "getenv", "getenvb", "putenv", "unsetenv"})


@dataclass(frozen=True, slots=True)
class Use:
    """Something a module does that a rule may forbid: import a module or read the environment."""

    what: str  # a dotted module name, or "os.environ" / "os.getenv" …
    line: int
    env: bool = False


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
    """Every import (absolute, relative, importlib, ``__import__``) and environment read."""
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
    forbidden: tuple[str, ...]
    no_env: bool = False


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
        "domain code is given what it needs: no settings, no environment",
        lambda p: p.startswith(DOMAIN),
        ("elicence.settings", "pydantic_settings"),
        no_env=True,
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
                if use.env and rule.no_env:
                    found.append(f"{path}:{use.line}: reads {use.what} ({rule.name})")
                elif not use.env and _under(use.what, rule.forbidden):
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
                if use.env:
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


# -- the rule holds for elicence ---------------------------------------------------------------


def test_every_module_keeps_the_layer_rule() -> None:
    sources = package_sources()
    assert len(sources) > 20
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
    """Not vacuous: the checker finds what the allowed layers really import."""
    sources = package_sources()
    store = {
        u.what for u in uses_of("elicence/registry/store.py", sources["elicence/registry/store.py"])
    }
    assert "sqlalchemy" in store
    app = {u.what for u in uses_of("elicence/api/app.py", sources["elicence/api/app.py"])}
    assert "fastapi" in app
    assert "elicence.settings" in app
    verifier = {
        u.what for u in uses_of("elicence/verifier/seal.py", sources["elicence/verifier/seal.py"])
    }
    assert "elicence.seal" in verifier


# -- the checker can fail ----------------------------------------------------------------------

BROKEN = {
    "elicence/verifier/offline.py": (
        "from elicence.registry import Registry\n"
        "import os\n"
        "URL = os.environ['ELICENCE_DATABASE_URL']\n"
    ),
    "elicence/issuer/extra.py": "from sqlalchemy import select\nfrom .. import settings\n",
    "elicence/codes.py": "from os import getenv\n",
    "elicence/keys/hsm.py": "import os as system\nPIN = system.getenv('PIN')\n",
    "elicence/seal.py": "import importlib\nimportlib.import_module('elicence.settings')\n",
    "elicence/cli.py": "import fastapi\n",
    "elicence/services.py": "from elicence.api.app import create_app\n",
    "elicence/templates/render.py": "from ..api import schemas\n",
}


def test_the_checker_reports_each_breach_with_its_file() -> None:
    bad = violations(BROKEN)
    expected = [
        "elicence/verifier/offline.py:1: imports elicence.registry",
        "elicence/verifier/offline.py:3: reads os.environ",
        "elicence/issuer/extra.py:1: imports sqlalchemy",
        "elicence/issuer/extra.py:2: imports elicence.settings",
        "elicence/codes.py:1: reads os.getenv",
        "elicence/keys/hsm.py:2: reads os.getenv",
        "elicence/seal.py:2: imports elicence.settings",
        "elicence/cli.py:1: imports fastapi",
        "elicence/services.py:1: imports elicence.api",
        "elicence/templates/render.py:1: imports elicence.api",
    ]
    for prefix in expected:
        assert any(line.startswith(prefix) for line in bad), (prefix, bad)
    offenders = {line.split(":", 1)[0] for line in bad}
    assert offenders == set(BROKEN)


def test_the_checker_allows_what_the_rule_allows() -> None:
    allowed = {
        "elicence/registry/store.py": "import sqlalchemy\nfrom alembic import command\n",
        "elicence/api/app.py": (
            "from fastapi import FastAPI\nfrom elicence.settings import Settings\n"
            "from starlette.exceptions import HTTPException\nfrom . import errors\n"
        ),
        "elicence/cli.py": "import os\nfrom elicence.settings import Settings\nos.environ.get('X')\n",
        "elicence/bootstrap.py": "from elicence.settings import Settings\n",
        "elicence/verifier/seal.py": "from elicence.seal import decode_seal\nimport os.path\n",
        "elicence/registry/models.py": "from elicence.verifier.seal import RegistryRecord\n",
    }
    assert violations(allowed) == []


def test_the_closure_check_follows_imports_through_other_modules() -> None:
    sources = {
        "elicence/__init__.py": "",
        "elicence/verifier/__init__.py": "from elicence.verifier.seal import verify\n",
        "elicence/verifier/seal.py": "from elicence.helpers import status\n",
        "elicence/helpers.py": "from elicence.registry.store import Registry\n",
        "elicence/registry/__init__.py": "",
        "elicence/registry/store.py": "import sqlalchemy\n",
    }
    assert violations(sources) == []  # no direct breach ...
    bad = verifier_closure_violations(sources)  # ... but the verifier reaches the database
    assert any(
        "elicence/verifier/seal.py: reaches elicence.registry.store via elicence.helpers" in b
        for b in bad
    ), bad
    assert any("reaches sqlalchemy" in b for b in bad), bad
