"""What a verifier that keeps state remembers: the highest sequence number it has seen of each
signed list, so that an older trust list or status list replayed to it is refused
(docs/formats.md §4.2 and §8.2).

The state file is JSON, ``{"format": "elicence-verifier-state/1", "lists": {name: sequence}}``,
a list named ``trust-list <root>`` or ``status-list <root> <USCC> <purpose>``, ``<root>`` being
the first 16 hex digits of SHA-256 over the pinned root's DER (two roots never share a number).

Invariants: a number only ever goes up (:meth:`SeenSequences.remember` keeps the higher); the
file is replaced atomically (write, fsync, rename), so a verifier stopped at any moment leaves
the old state or the new one; a file that cannot be read is an error, never an empty state (that
would silently re-open the replay it exists to close).
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from elicence.errors import InputError, TrustListError
from elicence.formats.trustlist import TrustList
from elicence.verifier.status import StatusList

FORMAT = "elicence-verifier-state/1"


def _root_id(root: x509.Certificate) -> str:
    return hashlib.sha256(root.public_bytes(serialization.Encoding.DER)).hexdigest()[:16]


def trust_list_name(trust_list: TrustList) -> str:
    return f"trust-list {_root_id(trust_list.root)}"


def status_list_name(status_list: StatusList) -> str:
    return (
        f"status-list {_root_id(status_list.root)} {status_list.department} {status_list.purpose}"
    )


class SeenSequences:
    """The highest sequence number seen per list, read from and saved to a state file."""

    def __init__(self, path: Path, seen: dict[str, int] | None = None) -> None:
        self.path = path
        self.seen: dict[str, int] = dict(seen or {})

    @classmethod
    def load(cls, path: Path) -> SeenSequences:
        """The state in ``path``; an empty state if the file does not exist yet."""
        try:
            raw = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return cls(path)
        except (OSError, ValueError) as e:
            raise InputError(f"the state file {path} is unreadable: {e}", field="state") from e
        lists = raw.get("lists") if isinstance(raw, dict) else None
        if (
            not isinstance(raw, dict)
            or raw.get("format") != FORMAT
            or not isinstance(lists, dict)
            or not all(isinstance(k, str) and type(v) is int for k, v in lists.items())
        ):
            raise InputError(f"the state file {path} is not a {FORMAT} file", field="state")
        return cls(path, lists)

    def check_trust_list(self, trust_list: TrustList) -> None:
        """Refuse a trust list older than one already seen (:class:`TrustListError`)."""
        seen = self.seen.get(trust_list_name(trust_list), 0)
        if trust_list.sequence < seen:
            raise TrustListError(
                f"the trust list has sequence {trust_list.sequence} (issued "
                f"{trust_list.issued_at:%Y-%m-%d %H:%M}Z) but this verifier has already seen "
                f"sequence {seen}: it is an older list, replayed; fetch the current one"
            )

    def status_list_problem(self, status_list: StatusList) -> str | None:
        """Why a status list is refused as older than one already seen, or None."""
        seen = self.seen.get(status_list_name(status_list), 0)
        if status_list.sequence < seen:
            return (
                f"its sequence {status_list.sequence} is older than sequence {seen} already "
                "seen: a replayed list; fetch the current one"
            )
        return None

    def remember(self, trust_list: TrustList, status_lists: list[StatusList]) -> None:
        """Remember the sequence numbers of lists that were used (each only goes up)."""
        named = [(trust_list_name(trust_list), trust_list.sequence)] + [
            (status_list_name(sl), sl.sequence) for sl in status_lists
        ]
        for name, sequence in named:
            self.seen[name] = max(self.seen.get(name, 0), sequence)

    def save(self) -> None:
        """Write the state file atomically."""
        body = json.dumps({"format": FORMAT, "lists": self.seen}, indent=2, sort_keys=True)
        directory = self.path.parent
        try:
            directory.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=directory, prefix=".state-")
            try:
                with os.fdopen(fd, "w", encoding="utf-8") as f:
                    f.write(body + "\n")
                    f.flush()
                    os.fsync(f.fileno())
                os.replace(tmp, self.path)
            except BaseException:
                Path(tmp).unlink(missing_ok=True)
                raise
        except OSError as e:
            raise InputError(f"cannot write the state file {self.path}: {e}", field="state") from e
