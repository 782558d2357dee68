"""Verifier: verify an EL1 seal against a trust list and, where given, its status.

The status comes from the registry (a :class:`StatusSource`), from signed status lists held
offline (:class:`~elicence.verifier.status.OfflineStatus`), or nowhere
(:data:`UnsafeSkipStatusCheck`: steps 9 and 10 are skipped).

Steps (the numbers recur in the code):
1. the text is an EL1 seal whose COSE_Sign1 and CWT claims decode;
2. the trust list is current (not past its next update);
3. the seal's kid is in the trust list;
4. that certificate chains to the root;
5. it was valid when the seal was issued (iat), not retired before that time, and not revoked
   at all (a revoked key was compromised: its holder chooses iat, so no date can be trusted; the
   service re-sealed the genuine seals under a new key, ADR 0011);
6. the signature verifies under it: ES256, or SM2 with SM3 (ADR 0016); a COSE algorithm the
   verifier does not know is ``unsupported_algorithm``, never ``valid``;
7. the seal's issuer, the certificate's department and the identifier's issuer code agree, the
   identifier's check character is right and its type and version match the claims;
8. the department is allowed to issue this licence type;
9. the status is known: the registry holds a licence with this identifier and exactly this
   seal; or, offline, the seal carries a status index and the issuing department's revocation,
   suspension and supersession lists are held, checked against the trust list's root, current
   (not past valid until) and long enough to cover that index;
10. its status is neither revoked, suspended nor superseded: the registry's status, or, offline,
    the index's bit in each of the three lists;
11. today lies within its validity dates (before the first day: ``not_yet_valid``, the least
    grave verdict, said only when every other check passed).

Every check fails closed: the verdict is ``valid`` only when every one of these ran and passed.
"""

from __future__ import annotations

import datetime as dt
import functools
from typing import Final, Protocol

from elicence.domain.codes import parse_identifier
from elicence.domain.licence import LicenceStatus, RegistryRecord, china_today
from elicence.errors import InputError, SealError
from elicence.formats.seal import (
    ALG_NAMES,
    DecodedSeal,
    cose_bytes,
    decode_seal_text,
    expiry_instant,
    seal_text_from,
)
from elicence.formats.statuslist import Purpose, bit_set
from elicence.formats.trustlist import TrustEntry, TrustList
from elicence.verifier.report import Check, CheckName, Findings, Verdict, VerificationReport
from elicence.verifier.status import OfflineStatus, StatusList


class StatusSource(Protocol):
    """Where a verifier learns a licence's current status (the registry, a mirror)."""

    def lookup(self, identifier: str) -> RegistryRecord | None: ...


class _UnsafeSkipStatusCheck:
    """Verify signature and trust only: the verdict says nothing about revocation."""

    def __repr__(self) -> str:
        return "UnsafeSkipStatusCheck"


UnsafeSkipStatusCheck: Final = _UnsafeSkipStatusCheck()

_CRYPTO_CHECKS = frozenset(
    {
        CheckName.DECODE,
        CheckName.TRUST_LIST_CURRENT,
        CheckName.SIGNER_KNOWN,
        CheckName.SIGNER_CHAIN,
        CheckName.SIGNER_VALID_AT_ISSUANCE,
        CheckName.SIGNATURE,
        CheckName.ISSUER_CONSISTENT,
        CheckName.ISSUER_AUTHORISED,
        CheckName.VALIDITY_DATES,
    }
)
_STATUS_CHECKS = frozenset({CheckName.REGISTRY_RECORD, CheckName.REGISTRY_STATUS})
_OFFLINE_STATUS_CHECKS = frozenset({CheckName.STATUS_LISTS, CheckName.STATUS_LIST_BITS})
_REQUIRED_ONLINE = _CRYPTO_CHECKS | _STATUS_CHECKS
_REQUIRED_OFFLINE = _CRYPTO_CHECKS | _OFFLINE_STATUS_CHECKS
# the checks whose outcome says the same words every time, made once (a Check is immutable)
_SIGNATURE_CHECKS = {
    (algorithm, good): Check(
        CheckName.SIGNATURE,
        good,
        f"{algorithm} signature " + ("verifies" if good else "does not verify"),
    )
    for algorithm in ALG_NAMES.values()
    for good in (True, False)
}
_DECODED = Check(CheckName.DECODE, True, "EL1 COSE_Sign1 with CWT claims")
_CHAINED = Check(CheckName.SIGNER_CHAIN, True, "certificate issued by the root", Verdict.UNTRUSTED)
_NOT_CHAINED = Check(
    CheckName.SIGNER_CHAIN, False, "certificate not issued by the root", Verdict.UNTRUSTED
)
# a set bit, gravest first (revoked and superseded are final, a suspension may end)
_LIST_VERDICTS = (
    (Purpose.REVOCATION, Verdict.REVOKED),
    (Purpose.SUPERSESSION, Verdict.SUPERSEDED),
    (Purpose.SUSPENSION, Verdict.SUSPENDED),
)
_VERDICT_OF_PURPOSE = dict(_LIST_VERDICTS)
_VERDICT_OF_STATUS = {
    LicenceStatus.REVOKED: Verdict.REVOKED,
    LicenceStatus.SUSPENDED: Verdict.SUSPENDED,
    LicenceStatus.SUPERSEDED: Verdict.SUPERSEDED,
}


def verify_seal(
    seal: str,
    *,
    trust_list: TrustList,
    status: StatusSource | OfflineStatus | _UnsafeSkipStatusCheck,
    now: dt.datetime,
) -> VerificationReport:
    """Verify a seal text (or QR URL). Raises :class:`SealError` if it is not an EL1 seal at all."""
    found = seal_findings(seal, trust_list=trust_list, status=status, now=now)
    return VerificationReport.from_findings(found, checked_at=now)


def seal_findings(
    seal: str,
    *,
    trust_list: TrustList,
    status: StatusSource | OfflineStatus | _UnsafeSkipStatusCheck,
    now: dt.datetime,
) -> Findings:
    """The checks of :func:`verify_seal`, not yet judged (a PDF's verification absorbs them)."""
    text = seal_text_from(seal)
    skip_status = isinstance(status, _UnsafeSkipStatusCheck)
    if skip_status:
        required = _CRYPTO_CHECKS
    elif isinstance(status, OfflineStatus):
        required = _REQUIRED_OFFLINE
    else:
        required = _REQUIRED_ONLINE

    found = Findings(required, status_checked=not skip_status)
    checks = found.checks
    details = found.details  # what the report says of the licence, once the seal decodes

    # 1.
    try:
        decoded = decode_seal_text(text)
    except SealError as e:
        checks.append(Check(CheckName.DECODE, False, f"the seal does not decode: {e.message}"))
        return found
    claims = decoded.claims
    checks.append(_DECODED)
    issued_at = dt.datetime.fromtimestamp(claims.issued_at, dt.UTC)
    details["licence"] = claims.licence
    details["issuer"] = claims.issuer
    details["issued_at"] = issued_at
    # 2.
    current, stale = _list_checks(trust_list)
    checks.append(stale if trust_list.stale(now) else current)
    # 3.
    entry = trust_list.entry(decoded.kid)
    if entry is None:
        checks.append(
            Check(
                CheckName.SIGNER_KNOWN,
                False,
                f"key {decoded.kid.hex()} is not in the trust list",
                Verdict.UNTRUSTED,
            )
        )
        return found
    known, certificate_text = _entry_texts(entry)
    checks.append(known)
    # 4.
    # checked against the pinned root when the list was read
    checks.append(_CHAINED if entry.chains_to_root else _NOT_CHAINED)
    # 5.
    in_period = entry.not_before <= issued_at <= entry.not_after
    withdrawn = entry.status == "revoked" or (
        entry.status != "active" and issued_at >= entry.status_since
    )
    checks.append(
        Check(
            CheckName.SIGNER_VALID_AT_ISSUANCE,
            in_period and not withdrawn,
            f"sealed {_instant(issued_at)}; {certificate_text}",
            Verdict.UNTRUSTED,
        )
    )
    # 6.
    algorithm = ALG_NAMES.get(decoded.alg)
    if algorithm is None:
        checks.append(
            Check(
                CheckName.SIGNATURE,
                False,
                f"signed with COSE algorithm {decoded.alg}, which this verifier does not know: "
                "it cannot tell whether the seal is genuine",
                Verdict.UNSUPPORTED_ALGORITHM,
            )
        )
    else:
        good = decoded.signature_valid(entry.verification_key) is True  # anything else fails
        checks.append(_SIGNATURE_CHECKS[algorithm, good])
    # 7.
    checks.append(_issuer_consistent(decoded, entry.department))
    # 8.
    allowed = claims.licence.type_code in entry.licence_types
    checks.append(
        Check(
            CheckName.ISSUER_AUTHORISED,
            allowed,
            f"{entry.name} "
            + ("may" if allowed else "may not")
            + f" issue licence type {claims.licence.type_code}",
            Verdict.UNTRUSTED,
        )
    )
    valid_from, valid_until = claims.licence.valid_from, claims.licence.valid_until
    # 9. and 10.
    if isinstance(status, OfflineStatus):
        status_checks, details["status_valid_until"] = _offline_status(
            decoded, status, trust_list, now
        )
        checks.extend(status_checks)
    elif not isinstance(status, _UnsafeSkipStatusCheck):
        record = status.lookup(claims.licence.identifier)
        if record is None:
            checks.append(
                Check(
                    CheckName.REGISTRY_RECORD,
                    False,
                    "the registry holds no such licence",
                    Verdict.NOT_FOUND,
                )
            )
            return found
        # Compare the signed bytes, not the text: deflate has slack bits, so more than one text
        # inflates to the same COSE message.
        same = record.seal == decoded.text or _cose_of(record.seal) == decoded.cose
        if same:
            checks.append(
                Check(
                    CheckName.REGISTRY_RECORD,
                    True,
                    "the registry holds this licence with this seal",
                )
            )
        elif entry.status == "revoked":  # re-sealed, or forged with the compromised key
            checks.append(
                Check(
                    CheckName.REGISTRY_RECORD,
                    False,
                    "the registry holds a newer seal for this identifier: this one is signed by "
                    "a compromised key; verify by identifier or ask the holder for the new code",
                    Verdict.UNTRUSTED,
                )
            )
        else:
            checks.append(
                Check(
                    CheckName.REGISTRY_RECORD,
                    False,
                    "the registry holds a different seal for this identifier",
                )
            )
        valid_from, valid_until = record.valid_from, record.valid_until
        status_verdict = _VERDICT_OF_STATUS.get(record.status)
        detail = f"status {record.status}"
        if record.superseded_by:
            detail += f", superseded by {record.superseded_by}"
            details["superseded_by"] = record.superseded_by
        checks.append(
            Check(
                CheckName.REGISTRY_STATUS,
                record.status == LicenceStatus.VALID,
                detail,
                status_verdict or Verdict.INVALID,
            )
        )
    # 11.
    today = china_today(now)
    if today < valid_from:
        checks.append(
            Check(
                CheckName.VALIDITY_DATES,
                False,
                f"not yet in force: valid from {valid_from}",
                Verdict.NOT_YET_VALID,
            )
        )
    elif valid_until is not None and today > valid_until:
        checks.append(
            Check(CheckName.VALIDITY_DATES, False, f"expired after {valid_until}", Verdict.EXPIRED)
        )
    else:
        checks.append(
            Check(
                CheckName.VALIDITY_DATES,
                True,
                f"valid from {valid_from} "
                + (f"to {valid_until}" if valid_until else "with no end (long-term)"),
            )
        )
    return found


def _offline_status(
    decoded: DecodedSeal, status: OfflineStatus, trust_list: TrustList, now: dt.datetime
) -> tuple[list[Check], dt.datetime | None]:
    """Steps 9 and 10 from status lists: the lists are usable, then the seal's bit in each;
    and the earliest ``valid until`` of the lists read (None when none was usable)."""
    department, index = decoded.claims.issuer, decoded.claims.licence.status_index
    # 9.
    if index is None:
        return [
            Check(
                CheckName.STATUS_LISTS,
                False,
                "the seal carries no status index (it was made before status lists): only an "
                "online check (POST /api/v1/verify) can tell whether it was revoked",
                Verdict.INDETERMINATE,
            )
        ], None
    problems: list[str] = []
    usable: list[StatusList] = []  # gravest purpose first (_LIST_VERDICTS)
    root = trust_list.root
    for purpose, _verdict in _LIST_VERDICTS:
        sl = status.lists.get((department, purpose))
        if sl is None:
            problems.append(f"no {purpose} list of {department} is held")
        elif sl.root is not root and sl.root != root:
            problems.append(f"the {purpose} list was checked against another root")
        elif now > sl.valid_until:
            problems.append(
                f"the {purpose} list is stale (valid until {_instant(sl.valid_until)}): "
                "fetch a fresh one"
            )
        elif index >= sl.size:
            problems.append(
                f"the {purpose} list ({sl.size} bits) does not cover index {index}: "
                "fetch a fresh one"
            )
        else:
            usable.append(sl)
    if problems:
        detail = "; ".join(problems)
    else:
        oldest = min(usable[0].issued_at, usable[1].issued_at, usable[2].issued_at)
        detail = f"the lists of {department} are current (the oldest issued {_instant(oldest)})"
    checks = [Check(CheckName.STATUS_LISTS, not problems, detail, Verdict.INDETERMINATE)]
    # 10.
    if usable:
        hit = next((sl for sl in usable if bit_set(sl.bits, index)), None)
        if hit is not None:
            verdict = _VERDICT_OF_PURPOSE[hit.purpose]
            checks.append(
                Check(
                    CheckName.STATUS_LIST_BITS,
                    False,
                    f"index {index} is set in the {hit.purpose} list",
                    verdict,
                )
            )
        else:
            consulted = (
                "the three lists"
                if len(usable) == 3
                else " and ".join(f"the {sl.purpose} list" for sl in usable)
            )
            checks.append(
                Check(CheckName.STATUS_LIST_BITS, True, f"index {index} is clear in {consulted}")
            )
    return checks, min((sl.valid_until for sl in usable), default=None)


def _cose_of(seal: str) -> bytes | None:
    try:
        return cose_bytes(seal)
    except SealError:
        return None


# What a verification says of a trust list and of its entries depends on them alone: written once
# per object (issue 20). Both are immutable; the cache holds the object itself, so its id() cannot
# be reused by another while it is cached.
_LIST_CHECKS: dict[int, tuple[TrustList, Check, Check]] = {}
_ENTRY_TEXTS: dict[int, tuple[TrustEntry, Check, str]] = {}
_MAX_LISTS, _MAX_ENTRIES = 8, 4096


def _list_checks(trust_list: TrustList) -> tuple[Check, Check]:
    """Step 2's check when the list is current, and when it is stale."""
    hit = _LIST_CHECKS.get(id(trust_list))
    if hit is not None and hit[0] is trust_list:
        return hit[1], hit[2]
    detail = (
        f"trust list issued {_instant(trust_list.issued_at)}, "
        f"next update {_instant(trust_list.next_update)}"
    )
    current = Check(CheckName.TRUST_LIST_CURRENT, True, detail, Verdict.INDETERMINATE)
    stale = Check(CheckName.TRUST_LIST_CURRENT, False, detail, Verdict.INDETERMINATE)
    if len(_LIST_CHECKS) >= _MAX_LISTS:
        _LIST_CHECKS.clear()
    _LIST_CHECKS[id(trust_list)] = (trust_list, current, stale)
    return current, stale


def _entry_texts(entry: TrustEntry) -> tuple[Check, str]:
    """Step 3's check for a known key, and what step 5 says of its certificate and status."""
    hit = _ENTRY_TEXTS.get(id(entry))
    if hit is not None and hit[0] is entry:
        return hit[1], hit[2]
    known = Check(CheckName.SIGNER_KNOWN, True, f"key {entry.kid.hex()} of {entry.name}")
    certificate = (
        f"certificate valid {_instant(entry.not_before)} to {_instant(entry.not_after)}"
        + (
            "; key revoked (compromised): none of its seals is trusted, whatever its date"
            if entry.status == "revoked"
            else f"; key {entry.status} since {_instant(entry.status_since)}"
            if entry.status != "active"
            else ""
        )
    )
    if len(_ENTRY_TEXTS) >= _MAX_ENTRIES:
        _ENTRY_TEXTS.clear()
    _ENTRY_TEXTS[id(entry)] = (entry, known, certificate)
    return known, certificate


@functools.lru_cache(maxsize=1024)  # the same certificate and trust-list times recur
def _instant(t: dt.datetime) -> str:
    """A UTC instant for a check's detail (isoformat: strftime costs more than a signature)."""
    return t.isoformat(timespec="seconds").replace("+00:00", "Z")


def _issuer_consistent(decoded: DecodedSeal, cert_department: str) -> Check:
    claims, lic = decoded.claims, decoded.claims.licence
    try:
        ident = parse_identifier(lic.identifier)
    except InputError as e:
        return Check(CheckName.ISSUER_CONSISTENT, False, f"identifier: {e.message}")
    problems = []
    if claims.issuer != cert_department:
        problems.append(f"seal issuer {claims.issuer} is not the signer {cert_department}")
    if ident.issuer_code != claims.issuer:
        problems.append(f"identifier issuer {ident.issuer_code} is not the seal issuer")
    if ident.type_code != lic.type_code:
        problems.append("identifier type code differs from the seal's")
    if ident.version != lic.version:
        problems.append("identifier version differs from the seal's")
    if claims.expires_at != expiry_instant(lic.valid_until):
        problems.append("exp does not match the licence's last valid day")
    if problems:
        return Check(CheckName.ISSUER_CONSISTENT, False, "; ".join(problems))
    return Check(
        CheckName.ISSUER_CONSISTENT,
        True,
        f"issuer {claims.issuer} signed, and the identifier's check character is right",
    )
