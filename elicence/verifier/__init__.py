"""Verification of seals and signed PDFs against a trust list, with or without status.

Works with no database: a hall that is offline verifies with a trust list alone, or with a trust
list and the departments' signed status lists. Public API: :func:`verify_seal`,
:class:`VerificationReport`, :class:`Verdict`, :class:`StatusSource`,
:func:`verify_status_list`, :class:`StatusList`, :class:`OfflineStatus`, and
:class:`OfflineVerifier` (a trust list and status lists read from files, as the CLI uses them).
"""

from elicence.domain.licence import RegistryRecord
from elicence.verifier.offline import OfflineVerifier
from elicence.verifier.report import Check, CheckName, Verdict, VerificationReport
from elicence.verifier.seal import (
    StatusSource,
    UnsafeSkipStatusCheck,
    verify_seal,
)
from elicence.verifier.status import OfflineStatus, StatusList, verify_status_list

__all__ = [
    "Check",
    "CheckName",
    "OfflineStatus",
    "OfflineVerifier",
    "RegistryRecord",
    "StatusList",
    "StatusSource",
    "UnsafeSkipStatusCheck",
    "Verdict",
    "VerificationReport",
    "verify_seal",
    "verify_status_list",
]
