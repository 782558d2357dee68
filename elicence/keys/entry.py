"""The key store's manifest entries: who holds which certificate, with what status.

A :class:`KeyEntry` is one line of ``manifest.json``: a certificate's kid, role, department and
status, and where its certificate and key are (a key file under the store, or a PKCS#11 URI).
:class:`NewKey` is one key ceremony: the root's certificate for the new key and its manifest entry.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec

from elicence.domain.catalogue import Catalogue
from elicence.keys import pki
from elicence.keys.signer import ALGORITHMS, ES256, kid_of


class KeyStatus(StrEnum):
    ACTIVE = "active"  # signs new seals
    RETIRED = "retired"  # no longer signs; what it signed stays valid
    REVOKED = "revoked"  # compromised since ``status_since``: every seal of it is untrusted


class KeyRole(StrEnum):
    DEPARTMENT = "department"
    SERVICE = "service"


@dataclass(frozen=True, slots=True)
class KeyEntry:
    """One certificate in the store."""

    kid: str  # hex
    role: KeyRole
    department: str | None
    name: str
    certificate_path: str
    key_path: str
    status: KeyStatus
    status_since: dt.datetime
    created_at: dt.datetime
    # what the key signs: ES256, or SM2 with SM3 (absent in manifests before SM2: ES256)
    algorithm: str = ES256

    def to_json(self) -> dict[str, Any]:
        return {
            "algorithm": self.algorithm,
            "kid": self.kid,
            "role": str(self.role),
            "department": self.department,
            "name": self.name,
            "certificate": self.certificate_path,
            "key": self.key_path,
            "status": str(self.status),
            "status_since": self.status_since.isoformat(),
            "created_at": self.created_at.isoformat(),
        }

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> KeyEntry:
        return cls(
            kid=d["kid"],
            role=KeyRole(d["role"]),
            department=d["department"],
            name=d["name"],
            certificate_path=d["certificate"],
            key_path=d["key"],
            status=KeyStatus(d["status"]),
            status_since=dt.datetime.fromisoformat(d["status_since"]),
            created_at=dt.datetime.fromisoformat(d["created_at"]),
            algorithm=_algorithm(d.get("algorithm", ES256)),
        )


def _algorithm(value: object) -> str:
    if value not in ALGORITHMS:
        raise ValueError(f"unknown key algorithm {value!r}")
    return str(value)


@dataclass(frozen=True, slots=True)
class DepartmentName:
    uscc: str
    name: str
    # the algorithms its licence types sign with: a key for each (SM2 beside ES256, which its
    # PDFs are always signed with)
    algorithms: tuple[str, ...] = (ES256,)


def departments_of(catalogue: Catalogue) -> list[DepartmentName]:
    """Every department of ``catalogue`` with the algorithms it needs a key for."""
    return [
        DepartmentName(d.uscc, d.name_zh, tuple(catalogue.algorithms(d.uscc)))
        for d in catalogue.departments.values()
    ]


@dataclass(frozen=True, slots=True)
class NewKey:
    """One key ceremony: which root certifies, whose key it is (``role``, ``department``,
    ``name``), when, and the CRL its certificate names. Every way a key is made (a key file,
    a token, SM2) certifies and enters it through this one value."""

    root_key: ec.EllipticCurvePrivateKey
    root: x509.Certificate
    role: KeyRole
    department: str | None
    name: str
    now: dt.datetime
    crl_url: str | None

    def certify(self, public_key: ec.EllipticCurvePublicKey) -> x509.Certificate:
        """The root's certificate for the new key (on a token or in a file)."""
        return pki.make_end_entity(
            root_key=self.root_key,
            root=self.root,
            public_key=public_key,
            common_name=self.name,
            uscc=self.department,
            now=self.now,
            validity=(
                pki.SERVICE_VALIDITY if self.role is KeyRole.SERVICE else pki.DEPARTMENT_VALIDITY
            ),
            crl_url=self.crl_url,
            trust_list_signer=self.role is KeyRole.SERVICE,
        )

    def entry(
        self, cert: x509.Certificate, *, key_path: str | None = None, algorithm: str = ES256
    ) -> KeyEntry:
        """The manifest entry of the new active key: its files under the role's folder, named
        by kid (``key_path``: where a token keeps the key instead of a key file)."""
        kid = kid_of(cert).hex()
        folder = "service" if self.role is KeyRole.SERVICE else f"departments/{self.department}"
        return KeyEntry(
            kid=kid,
            role=self.role,
            department=self.department,
            name=self.name,
            certificate_path=f"{folder}/{kid}.crt.pem",
            key_path=key_path or f"{folder}/{kid}.key",
            status=KeyStatus.ACTIVE,
            status_since=self.now,
            created_at=self.now,
            algorithm=algorithm,
        )
