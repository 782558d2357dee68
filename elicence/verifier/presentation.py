"""Verifier: verify a dynamic presentation (EP1, docs/formats.md §9): offline with a trust list, or
online with a replay check on its nonce.

Steps (the numbers recur in the code):
1. the text is an EP1 presentation whose COSE_Sign1 and payload decode (else PresentationError);
2. its kid is the kid of the service certificate that signed the trust list (which was checked
   against the pinned root, with the trust-list EKU), and that certificate was valid at
   not-before;
3. the ES256 signature verifies over ``["Signature1", protected, "EP1", payload]``;
4. the window lasts at most ``MAX_WINDOW``, and now lies within it, give or take ``CLOCK_SKEW``
   (a screenshot older than its window is ``expired``);
5. where the hall knows the presenter's id (id type and number), the holder binding matches it;
6. online only: the nonce was not presented before (``replayed``); an authenticated verifier's
   check uses it up (``first_use``), anyone else's only looks (``seen``), so a bystander who
   scans the code first does not spoil it for the hall;
7. the embedded seal verifies as any EL1 seal (docs/formats.md §5: every step, with the status
   the caller gives: the registry, status lists, or none).

The presentation's verdict and the seal's verdict are separate: a hall accepts the licence only
when the presentation is ``accepted`` *and* the seal is ``valid``. Every check fails closed.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import NamedTuple

from elicence.formats.presentation import (
    CLOCK_SKEW,
    MAX_WINDOW,
    DecodedPresentation,
    decode_presentation,
    holder_binding,
    service_key,
)
from elicence.formats.trustlist import TrustList
from elicence.verifier.report import VerificationReport, judge
from elicence.verifier.seal import StatusSource, _UnsafeSkipStatusCheck, verify_seal
from elicence.verifier.status import OfflineStatus


class PresentationVerdict(StrEnum):
    ACCEPTED = "accepted"
    INVALID = "invalid"  # bad signature, a window too long, another holder
    UNTRUSTED = "untrusted"  # not signed by this trust list's service key
    REPLAYED = "replayed"  # its nonce was presented before (online)
    EXPIRED = "expired"  # past its window: a screenshot
    NOT_YET_VALID = "not_yet_valid"  # before its window: a clock far ahead


GRAVITY = (
    PresentationVerdict.INVALID,
    PresentationVerdict.UNTRUSTED,
    PresentationVerdict.REPLAYED,
    PresentationVerdict.EXPIRED,
    PresentationVerdict.NOT_YET_VALID,
)


class PresentationCheckName(StrEnum):
    SIGNER = "presentation_signer"
    SIGNATURE = "presentation_signature"
    WINDOW = "presentation_window"
    HOLDER = "presentation_holder"
    NONCE = "presentation_nonce"


class PresentationCheck(NamedTuple):
    name: PresentationCheckName
    passed: bool
    detail: str
    verdict_if_failed: PresentationVerdict = PresentationVerdict.INVALID


_REQUIRED = frozenset(
    {PresentationCheckName.SIGNER, PresentationCheckName.SIGNATURE, PresentationCheckName.WINDOW}
)

# A hall's replay memory: True the first time a nonce is seen (until ``not_after``), else False.
FirstUse = Callable[[bytes, dt.datetime], bool]
# The same memory, read only: True if the nonce was used up before (nothing is recorded).
Seen = Callable[[bytes], bool]


@dataclass(frozen=True, slots=True)
class PresentationReport:
    """The presentation's verdict and checks, and the verification of the seal it carries."""

    verdict: PresentationVerdict
    checks: tuple[PresentationCheck, ...]
    seal: VerificationReport
    not_before: dt.datetime
    not_after: dt.datetime
    nonce: bytes

    @property
    def accepted(self) -> bool:
        """The presentation is good *and* the licence it carries is valid."""
        return self.verdict is PresentationVerdict.ACCEPTED and self.seal.valid


def verify_presentation(
    text: str,
    *,
    trust_list: TrustList,
    status: StatusSource | OfflineStatus | _UnsafeSkipStatusCheck,
    now: dt.datetime,
    holder: tuple[str, str] | None = None,
    first_use: FirstUse | None = None,
    seen: Seen | None = None,
) -> PresentationReport:
    """Verify an EP1 text; raises :class:`~elicence.errors.PresentationError` if unreadable.

    ``first_use`` checks the nonce and uses it up (an authenticated verifier, online); ``seen``
    only looks whether it was used up (anyone else, online); with neither, step 6 is skipped.
    """
    # 1.
    decoded = decode_presentation(text)
    checks = _checks(decoded, trust_list=trust_list, now=now, holder=holder)
    # 6. only for presentations that are otherwise good: a forged or stale one burns no nonce
    if first_use is not None and all(c.passed for c in checks):
        fresh = first_use(decoded.nonce, decoded.not_after + CLOCK_SKEW)
        checks.append(
            PresentationCheck(
                PresentationCheckName.NONCE,
                fresh,
                "first use of this presentation"
                if fresh
                else "this presentation was already used: show the live code, not a copy",
                PresentationVerdict.REPLAYED,
            )
        )
    elif seen is not None and all(c.passed for c in checks):
        used = seen(decoded.nonce)
        checks.append(
            PresentationCheck(
                PresentationCheckName.NONCE,
                not used,
                "this presentation was already used: show the live code, not a copy"
                if used
                else "not used yet, and this check (not a hall's) did not use it up",
                PresentationVerdict.REPLAYED,
            )
        )
    verdict = judge(
        checks,
        required=_REQUIRED,
        gravity=GRAVITY,
        good=PresentationVerdict.ACCEPTED,
        incomplete=PresentationVerdict.INVALID,  # fail closed: a check that did not run
    )
    # 7.
    seal = verify_seal(decoded.seal_text, trust_list=trust_list, status=status, now=now)
    return PresentationReport(
        verdict=verdict,
        checks=tuple(checks),
        seal=seal,
        not_before=decoded.not_before,
        not_after=decoded.not_after,
        nonce=decoded.nonce,
    )


def _checks(
    decoded: DecodedPresentation,
    *,
    trust_list: TrustList,
    now: dt.datetime,
    holder: tuple[str, str] | None,
) -> list[PresentationCheck]:
    checks: list[PresentationCheck] = []
    # 2.
    service = service_key(trust_list)
    key = service.public_key
    known = decoded.kid == service.kid
    in_period = service.not_before <= decoded.not_before <= service.not_after
    checks.append(
        PresentationCheck(
            PresentationCheckName.SIGNER,
            known and in_period,
            "signed by the service key of the trust list"
            if known and in_period
            else (
                f"key {decoded.kid.hex()} is not the trust list's service key"
                if not known
                else "the service certificate was not valid at the presentation's time"
            ),
            PresentationVerdict.UNTRUSTED,
        )
    )
    if not known:
        return checks  # no key to check the signature with: untrusted, and nothing more to say
    # 3.
    good = key is not None and decoded.signature_valid(key)
    checks.append(
        PresentationCheck(
            PresentationCheckName.SIGNATURE,
            good,
            "ES256 signature " + ("verifies" if good else "does not verify"),
        )
    )
    # 4.
    window = decoded.not_after - decoded.not_before
    if window > MAX_WINDOW:
        checks.append(
            PresentationCheck(
                PresentationCheckName.WINDOW,
                False,
                f"its window lasts {window.total_seconds():.0f} s, more than the "
                f"{MAX_WINDOW.total_seconds():.0f} s a presentation may",
            )
        )
    elif now > decoded.not_after + CLOCK_SKEW:
        late = (now - decoded.not_after).total_seconds()
        checks.append(
            PresentationCheck(
                PresentationCheckName.WINDOW,
                False,
                f"expired {late:.0f} s ago (valid {_hms(decoded.not_before)}-"
                f"{_hms(decoded.not_after)} UTC): a copy or screenshot, ask for the live code",
                PresentationVerdict.EXPIRED,
            )
        )
    elif now < decoded.not_before - CLOCK_SKEW:
        checks.append(
            PresentationCheck(
                PresentationCheckName.WINDOW,
                False,
                f"not valid before {_hms(decoded.not_before)} UTC: check this device's clock",
                PresentationVerdict.NOT_YET_VALID,
            )
        )
    else:
        checks.append(
            PresentationCheck(
                PresentationCheckName.WINDOW,
                True,
                f"within its window {_hms(decoded.not_before)}-{_hms(decoded.not_after)} UTC",
            )
        )
    # 5.
    if holder is not None:
        same = holder_binding(decoded.nonce, *holder) == decoded.holder_binding
        checks.append(
            PresentationCheck(
                PresentationCheckName.HOLDER,
                same,
                "made for the holder with this id"
                if same
                else "made for another holder than the id shown",
            )
        )
    return checks


def _hms(t: dt.datetime) -> str:
    return t.strftime("%Y-%m-%d %H:%M:%S")
