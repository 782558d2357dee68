"""The trust list: every department signing certificate with its status, signed under the root.

Wire form: a tagged COSE_Sign1 (ES256) whose protected header carries ``alg``, ``kid`` and
``x5chain`` (33) = the service certificate DER, issued by the root with the trust-list EKU; its
payload a CBOR map (see docs/formats.md). A hall holding only the root certificate checks it with
:func:`verify_trust_list`. Invariant: a :class:`TrustList` value exists only after its signature,
its signer's chain to the pinned root and its signer's EKU were all checked. A list's sequence
number (payload key 6) never goes down from one list to the next the service signs; a list without
one (signed before sequence numbers) reads as sequence 0.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import cbor2
from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from elicence.errors import TrustListError
from elicence.formats.cose import sign_service_document, verify_service_document
from elicence.keys import pki
from elicence.keys.signer import Signer, kid_of
from elicence.keys.sm2cert import sm2_public_key

FORMAT = "EL-TL1"
_END_OF_TIME = dt.datetime.max.replace(tzinfo=dt.UTC)
_START_OF_TIME = dt.datetime.min.replace(tzinfo=dt.UTC)
# payload keys
T_FORMAT, T_ISSUED, T_NEXT_UPDATE, T_ROOT, T_ENTRIES, T_SEQUENCE = 1, 2, 3, 4, 5, 6
MAX_SEQUENCE = 2**63 - 1
# entry keys
E_KID, E_DEPT, E_NAME, E_CERT, E_STATUS, E_SINCE, E_TYPES = 1, 2, 3, 4, 5, 6, 7
STATUSES = ("active", "retired", "revoked")


@dataclass(frozen=True, slots=True)
class TrustEntry:
    """One department signing certificate as the trust list states it."""

    kid: bytes
    department: str
    name: str
    certificate: x509.Certificate
    status: str  # active | retired | revoked
    status_since: dt.datetime
    licence_types: tuple[str, ...]
    chains_to_root: bool = False  # checked once, when the list is read
    # the certificate's validity, read once (each read from the certificate makes a datetime)
    not_before: dt.datetime = _END_OF_TIME  # fail closed: an entry built without them is
    not_after: dt.datetime = _START_OF_TIME  # never within its validity
    public_key: ec.EllipticCurvePublicKey | None = None  # None: not a P-256 key
    sm2_public_key: bytes | None = None  # x || y of an SM2 key (ADR 0016); None: not SM2

    @property
    def verification_key(self) -> ec.EllipticCurvePublicKey | bytes | None:
        """The key a seal's signature is checked with: P-256, SM2 (bytes) or None (neither)."""
        return self.public_key if self.public_key is not None else self.sm2_public_key


@dataclass(frozen=True, slots=True)
class TrustList:
    """A verified trust list."""

    issued_at: dt.datetime
    next_update: dt.datetime
    root: x509.Certificate
    entries: tuple[TrustEntry, ...]
    signed: bytes  # the COSE_Sign1 it was read from
    sequence: int = 0  # payload key 6: grows whenever the content changes (0: none stated)

    def entry(self, kid: bytes) -> TrustEntry | None:
        for e in self.entries:
            if e.kid == kid:
                return e
        return None

    def stale(self, now: dt.datetime) -> bool:
        return now > self.next_update


def _ts(value: dt.datetime) -> int:
    return int(value.timestamp())


def _dt(value: object, what: str) -> dt.datetime:
    if not isinstance(value, int):
        raise TrustListError(f"{what} must be an integer time")
    return dt.datetime.fromtimestamp(value, dt.UTC)


def sign_trust_list(
    *,
    signer: Signer,
    root: x509.Certificate,
    entries: Iterable[TrustEntry],
    issued_at: dt.datetime,
    next_update: dt.datetime,
    sequence: int,
) -> bytes:
    """Build and sign a trust list; returns the COSE_Sign1 bytes."""
    if not 1 <= sequence <= MAX_SEQUENCE:
        raise TrustListError(f"a trust list's sequence must be 1 to {MAX_SEQUENCE}")
    payload = {
        T_FORMAT: FORMAT,
        T_ISSUED: _ts(issued_at),
        T_NEXT_UPDATE: _ts(next_update),
        T_ROOT: root.public_bytes(serialization.Encoding.DER),
        T_ENTRIES: _entries_payload(entries),
        T_SEQUENCE: sequence,
    }
    return sign_service_document(signer, payload)


def content_digest(*, root: x509.Certificate, entries: Iterable[TrustEntry]) -> str:
    """SHA-256 (hex) of what a trust list states, its times and sequence aside: the same
    content keeps its sequence number when the list is re-signed."""
    body = [root.public_bytes(serialization.Encoding.DER), _entries_payload(entries)]
    return hashlib.sha256(cbor2.dumps(body, canonical=True)).hexdigest()


def _entries_payload(entries: Iterable[TrustEntry]) -> list[dict[int, object]]:
    der = serialization.Encoding.DER
    return [
        {
            E_KID: e.kid,
            E_DEPT: e.department,
            E_NAME: e.name,
            E_CERT: e.certificate.public_bytes(der),
            E_STATUS: e.status,
            E_SINCE: _ts(e.status_since),
            E_TYPES: list(e.licence_types),
        }
        for e in entries
    ]


def verify_trust_list(signed: bytes, *, root: x509.Certificate) -> TrustList:
    """Check a signed trust list against the pinned ``root`` and return its content.

    Steps:
    1. the bytes are a tagged COSE_Sign1 with ES256 and an x5chain certificate;
    2. that certificate is issued by the pinned root and carries the trust-list EKU;
    3. it was valid when the list was issued;
    4. the signature verifies under it;
    5. the payload is a well-formed EL-TL1 list whose root is the pinned root, and its
       sequence, if stated, an integer from 1 to 2**63 - 1.
    """
    # 1.-4.
    body = verify_service_document(
        signed,
        root=root,
        signed_at=lambda b: _dt(b.get(T_ISSUED), "issued_at"),
        error=TrustListError,
        what="trust list",
    )
    issued_at = _dt(body.get(T_ISSUED), "issued_at")
    # 5.
    if body.get(T_FORMAT) != FORMAT:
        raise TrustListError(f"trust list format is not {FORMAT}")
    if body.get(T_ROOT) != root.public_bytes(serialization.Encoding.DER):
        raise TrustListError("trust list names a different root")
    sequence = body.get(T_SEQUENCE, 0)
    if type(sequence) is not int or not (1 <= sequence <= MAX_SEQUENCE or T_SEQUENCE not in body):
        raise TrustListError(f"the trust list's sequence must be an integer 1 to {MAX_SEQUENCE}")
    return TrustList(
        issued_at=issued_at,
        next_update=_dt(body.get(T_NEXT_UPDATE), "next_update"),
        root=root,
        entries=tuple(_entry(e, root) for e in _list(body.get(T_ENTRIES))),
        signed=signed,
        sequence=sequence,
    )


def _list(value: object) -> list[Mapping[int, object]]:
    if not isinstance(value, list | tuple) or not all(isinstance(e, Mapping) for e in value):
        raise TrustListError("trust list entries must be a list of maps")
    return list(value)


def _entry(raw: Mapping[int, object], root: x509.Certificate) -> TrustEntry:
    try:
        cert = x509.load_der_x509_certificate(raw[E_CERT])  # type: ignore[arg-type]
        kid, dept, name, status = raw[E_KID], raw[E_DEPT], raw[E_NAME], raw[E_STATUS]
        types = raw[E_TYPES]
    except (KeyError, TypeError, ValueError) as e:
        raise TrustListError("a trust list entry is incomplete or malformed") from e
    if not (
        isinstance(kid, bytes)
        and isinstance(dept, str)
        and isinstance(name, str)
        and status in STATUSES
        and isinstance(types, list | tuple)
        and all(isinstance(t, str) for t in types)
    ):
        raise TrustListError("a trust list entry has a field of the wrong type")
    if kid != kid_of(cert):
        raise TrustListError("a trust list entry's kid does not match its certificate")
    try:
        key: object = cert.public_key()
    except UnsupportedAlgorithm:  # SM2: cryptography reads its certificate, not its key
        key = None
    p256 = key if isinstance(key, ec.EllipticCurvePublicKey) else None
    return TrustEntry(
        kid=kid,
        department=dept,
        name=name,
        certificate=cert,
        status=str(status),
        status_since=_dt(raw.get(E_SINCE), "status_since"),
        licence_types=tuple(types),
        chains_to_root=pki.issued_by(cert, root),
        not_before=cert.not_valid_before_utc,
        not_after=cert.not_valid_after_utc,
        public_key=p256 if p256 is not None and isinstance(p256.curve, ec.SECP256R1) else None,
        sm2_public_key=sm2_public_key(cert) if key is None else None,
    )
