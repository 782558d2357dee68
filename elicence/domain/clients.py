"""Domain: API clients and their keys: roles, key generation and hashing.

Invariant: a key is shown once, at creation; the registry holds only its SHA-256 (keys are 256-bit
random, so a fast hash is enough: there is nothing to brute-force).
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from enum import StrEnum

from elicence.domain.licence import HolderRef

KEY_PREFIX = "elk_"


class Role(StrEnum):
    DEPARTMENT = "department"  # issues and manages its own licences
    HALL = "hall"  # a service hall that verifies licences
    ADMIN = "admin"  # operators: everything
    HOLDER = "holder"  # a citizen or an enterprise acting for itself (持证主体, 申请人)


@dataclass(frozen=True, slots=True)
class Client:
    """An authenticated caller."""

    id: str
    name: str
    role: Role
    department: str | None  # the USCC a department client is bound to
    holder: HolderRef | None = None  # who a holder client is
    # the holder's own name where the client knows it: a web sign-in's identity (an API key's
    # ``name`` is only the key's label, never a holder's name)
    holder_name: str | None = None


def new_api_key() -> str:
    return KEY_PREFIX + secrets.token_urlsafe(32)


def new_client_id() -> str:
    return "c_" + secrets.token_hex(8)


def hash_api_key(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8")).hexdigest()
