"""The checks a service passes before it starts serving (``elicence serve``, ``elicence db
upgrade``: the unit's pre-start): every active key opens, and in production no demo data.

Demo data is recognised by content, not by file name: the demo clients' key file
(``demo-clients.json``) or an enabled client the demo made, a department of the demo catalogue
in the catalogue in force (its USCCs are made up, so a copy of the demo catalogue imported under
another name is caught too), and keys sealed under the development passphrase. Each refusal says
what was found and what to do; none names a key file.

Invariants: nothing here changes the registry or the key store; the key check names who cannot
sign (department USCCs, ``service``, ``root``), never a path.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING

from elicence.domain.catalogue import Catalogue
from elicence.errors import KeyCustodyError, SettingsError
from elicence.formats.catalogue_file import DEMO_CATALOGUE, load_catalogue

if TYPE_CHECKING:
    from elicence.app.service import Elicence

DEMO_CLIENTS_FILE = "demo-clients.json"
DEMO_CLIENT_NAMES = frozenset({"demo department", "demo hall", "demo admin"})
_WHAT_TO_DO = (
    "a data dir made by `elicence init --demo` is for development only. For production, set "
    "ELICENCE_DATA_DIR to a new directory (and ELICENCE_DATABASE_URL to a new database), then "
    "run `elicence catalogue import YOUR-CATALOGUE.yaml` and `elicence init --no-demo`"
)


@cache
def demo_departments() -> frozenset[str]:
    """The demo catalogue's departments (made-up USCCs): its fingerprint."""
    return frozenset(load_catalogue(DEMO_CATALOGUE).departments)


def demo_data(
    svc: Elicence, *, data_dir: Path, opens_with_development_passphrase: Callable[[], list[str]]
) -> list[str]:
    """What in this installation is demo data (empty: none)."""
    found: list[str] = []
    if (data_dir / DEMO_CLIENTS_FILE).exists():
        found.append(f"the demo clients' keys ({DEMO_CLIENTS_FILE} in the data dir)")
    demo_clients = [
        c.id for c in svc.clients.all() if c.disabled_at is None and c.name in DEMO_CLIENT_NAMES
    ]
    if demo_clients:
        found.append(f"enabled demo clients ({', '.join(sorted(demo_clients))})")
    if svc.catalogue_version() is not None:
        shared = sorted(demo_departments() & set(svc.catalogue().departments))
        if shared:
            found.append(
                f"the demo catalogue (its departments {', '.join(shared[:3])}"
                + (f" and {len(shared) - 3} more" if len(shared) > 3 else "")
                + " are in the catalogue in force)"
            )
    demo_keys = opens_with_development_passphrase()
    if demo_keys:
        found.append(
            "keys sealed under the development passphrase (" + ", ".join(demo_keys[:3]) + ")"
        )
    return found


def refuse_demo_data(
    svc: Elicence, *, data_dir: Path, opens_with_development_passphrase: Callable[[], list[str]]
) -> None:
    """Raise :class:`SettingsError` if this installation holds demo data (production only)."""
    found = demo_data(
        svc, data_dir=data_dir, opens_with_development_passphrase=opens_with_development_passphrase
    )
    if found:
        raise SettingsError(
            "ELICENCE_ENV=production refuses demo data: found " + "; ".join(found) + ". "
            + _WHAT_TO_DO,
            field="data_dir",
        )  # fmt: skip


def refuse_demo_catalogue(catalogue: Catalogue) -> None:
    """Raise :class:`SettingsError` if ``catalogue`` has a department of the demo catalogue
    (production only: its USCCs are made up, whatever the file is called)."""
    shared = sorted(demo_departments() & set(catalogue.departments))
    if shared:
        raise SettingsError(
            "this is the demo catalogue (or a copy of it): its departments "
            f"{', '.join(shared[:3])} are made up. Import the real catalogue in production",
            field="file",
        )


def refuse_unusable_keys(svc: Elicence) -> None:
    """Raise :class:`KeyCustodyError` if an active key does not open (no file named)."""
    down = svc.keys.unusable()
    if down:
        who = ", ".join(down)
        raise KeyCustodyError(
            f"the active keys of {who} do not open with ELICENCE_KEY_PASSPHRASE (a wrong "
            "passphrase, or a damaged key file): every signing request would fail. Set the "
            "passphrase the key store was made with, or restore the key store from its backup",
            field="key_passphrase",
        )


# -- file modes -------------------------------------------------------------------------------

PRIVATE_DIR, PRIVATE_FILE = 0o700, 0o600


def tighten_modes(*, data_dir: Path, database_files: list[str], keys_dir: Path) -> list[str]:
    """Make the data dir and the key store directory 0700, the database files and the key files
    0600, where they are more open; one warning per change (what it was). Never loosens a mode.

    Chosen over refusing to start: the service's own files are the operator's, and the fix is
    the same every time; a file it cannot change (another owner) is refused instead.
    """
    wanted: list[tuple[Path, int]] = [(data_dir, PRIVATE_DIR), (keys_dir, PRIVATE_DIR)]
    wanted += [(Path(f), PRIVATE_FILE) for f in database_files]
    if keys_dir.is_dir():
        wanted += [(p, PRIVATE_FILE) for p in sorted(keys_dir.rglob("*.key"))]
    warnings = []
    for path, mode in wanted:
        try:
            current = path.stat().st_mode & 0o777
        except FileNotFoundError:
            continue
        except OSError as e:
            raise SettingsError(f"cannot check the mode of {path}: {e}") from e
        if current & ~mode:
            try:
                path.chmod(current & mode)
            except OSError as e:
                raise SettingsError(
                    f"{path} is mode {current:o}, readable by others, and cannot be made "
                    f"{mode:o}: {e}. Make the service's user its owner"
                ) from e
            warnings.append(f"{path} was mode {current:o}: made it {current & mode:o}")
    return warnings


def lock_down(directory: Path) -> None:
    """A backup: every directory 0700, every file 0600 (keys, the database dump, manifests)."""
    directory.chmod(PRIVATE_DIR)
    for p in directory.rglob("*"):
        p.chmod(PRIVATE_DIR if p.is_dir() else PRIVATE_FILE)
