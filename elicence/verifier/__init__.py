"""Verification of seals (and later PDFs) against a trust list, with or without registry status.

Works with no database: a hall that is offline verifies with a trust list alone. Public API:
:func:`verify_seal`, :class:`VerificationReport`, :class:`Verdict`, :class:`StatusSource`.
"""

from elicence.verifier.report import Check, Verdict, VerificationReport
from elicence.verifier.seal import (
    RegistryRecord,
    StatusSource,
    UnsafeSkipStatusCheck,
    verify_seal,
)

__all__ = [
    "Check",
    "RegistryRecord",
    "StatusSource",
    "UnsafeSkipStatusCheck",
    "Verdict",
    "VerificationReport",
    "verify_seal",
]
