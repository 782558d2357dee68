"""Application layer: backups of a service: the registry database and the key store directory, in
one directory with a manifest of SHA-256 digests; and the restore of such a backup into a new
database and an empty key store directory (docs/deployment.md has the procedure).

Order is the invariant that keeps a backup whole: the database is dumped *before* the key store
is copied, and keys are never deleted (only retired or revoked), so every key that sealed a
licence in the dump is in the copy. The key store is copied as its encrypted files: the
passphrase is never in a backup (keep it apart, as docs/deployment.md says). A restore checks
every digest before it writes anything, and writes only into an empty database and an absent
or empty key store directory.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from elicence.app.production import lock_down
from elicence.app.trail import Trail, TrailAction
from elicence.errors import InputError, KeyCustodyError, RegistryError
from elicence.keys.store import KeyStore
from elicence.registry import Registry
from elicence.registry import backup as db_backup

FORMAT = "elicence-backup/1"
MANIFEST = "backup.json"
KEYS = "keys"


@dataclass(frozen=True, slots=True)
class BackupSummary:
    directory: Path
    schema: str | None
    licences: int
    events: int
    key_files: int


class Backups:
    """Make a backup of this service (database, then key store) into a new directory."""

    def __init__(
        self,
        registry: Registry,
        keystore: KeyStore,
        trail: Trail,
        *,
        clock: Callable[[], dt.datetime],
    ) -> None:
        self._registry = registry
        self._keystore = keystore
        self._trail = trail
        self._clock = clock

    def create(self, out: Path) -> BackupSummary:
        with self._trail.action(TrailAction.BACKUP_CREATE, client=None, target=str(out)) as rec:
            summary = self._create(out)
            rec.update(licences=summary.licences, events=summary.events, schema=summary.schema)
        return summary

    def _create(self, out: Path) -> BackupSummary:
        if out.exists() and any(out.iterdir()):
            raise InputError(f"{out} is not empty: back up into a new directory", field="out")
        if not self._keystore.initialised:
            raise KeyCustodyError(f"no key store at {self._keystore.directory} to back up")
        self._registry.flush_usage()
        try:
            out.mkdir(parents=True, exist_ok=True)
            out.chmod(0o700)
        except OSError as e:
            raise InputError(f"cannot write to {out}: {e}", field="out") from e
        counts = db_backup.counts(self._registry)
        schema = db_backup.schema_revision(self._registry)
        database_file = db_backup.dump_database(self._registry, out)  # first: see the docstring
        key_files = _copy_keys(self._keystore.directory, out / KEYS)
        files = {p.relative_to(out).as_posix(): _sha256(p) for p in sorted(_files(out))}
        manifest = {
            "format": FORMAT,
            "created_at": self._clock().isoformat(),
            "dialect": self._registry.dialect,
            "schema": schema,
            "database_file": database_file,
            "counts": counts,
            "files": files,
        }
        (out / MANIFEST).write_text(json.dumps(manifest, indent=2), encoding="utf-8")
        lock_down(out)  # 0700 directories, 0600 files: a backup holds the registry and the keys
        return BackupSummary(out, schema, counts["licences"], counts["events"], key_files)

    def record_restore(self, source: Path, summary: BackupSummary) -> None:
        """Write the restore into the restored registry's own audit trail."""
        with self._trail.action(TrailAction.BACKUP_RESTORE, client=None, target=str(source)) as r:
            r.update(licences=summary.licences, events=summary.events, schema=summary.schema)


def restore(source: Path, *, registry: Registry, keys_dir: Path) -> BackupSummary:
    """Restore the backup in ``source`` into ``registry`` (empty) and ``keys_dir`` (absent or
    empty). Checks every digest first; afterwards checks the restored row counts."""
    manifest = _read_manifest(source)
    if manifest["dialect"] != registry.dialect:
        raise InputError(
            f"the backup is of a {manifest['dialect']} registry; restore it into one",
            field="database",
        )
    for name, digest in manifest["files"].items():
        path = source / name
        if not path.is_file() or _sha256(path) != digest:
            raise InputError(f"{path} is missing or does not match the backup's digest")
    if keys_dir.exists() and any(keys_dir.iterdir()):
        raise InputError(f"{keys_dir} is not empty: restore keys only into a new directory")
    db_backup.restore_database(registry, source / manifest["database_file"])
    key_files = _copy_keys(source / KEYS, keys_dir)
    found = db_backup.counts(registry)
    for what in ("licences", "events"):
        if found[what] != manifest["counts"][what]:
            raise RegistryError(
                f"restored {found[what]} {what}, the backup recorded {manifest['counts'][what]}"
            )
    return BackupSummary(source, manifest["schema"], found["licences"], found["events"], key_files)


def _read_manifest(source: Path) -> dict[str, Any]:
    try:
        manifest: dict[str, Any] = json.loads((source / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise InputError(f"{source} holds no readable {MANIFEST}: {e}", field="source") from e
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise InputError(f"{source / MANIFEST} is not an {FORMAT} manifest", field="source")
    if not isinstance(manifest.get("files"), dict) or "database_file" not in manifest:
        raise InputError(f"{source / MANIFEST} lists no files", field="source")
    return manifest


def _copy_keys(source: Path, target: Path) -> int:
    """Copy a key store directory; again if its manifest changed meanwhile (a rotation)."""
    for _ in range(3):
        before = _manifest_digest(source)
        if target.exists():
            shutil.rmtree(target)
        try:
            shutil.copytree(source, target)
            target.chmod(0o700)
        except OSError as e:
            raise KeyCustodyError(f"cannot copy the key store {source} to {target}: {e}") from e
        if _manifest_digest(source) == before:
            return sum(1 for _ in _files(target))
    raise KeyCustodyError(f"the key store {source} kept changing while it was copied")


def _manifest_digest(directory: Path) -> str | None:
    path = directory / "manifest.json"
    return _sha256(path) if path.is_file() else None


def _files(directory: Path) -> list[Path]:
    return [p for p in directory.rglob("*") if p.is_file()]


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()
