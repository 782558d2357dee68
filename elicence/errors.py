"""The error hierarchy: one root, one family per area, each family of one `Kind`.

Every message is fit to show a user. ``field`` names the input that was wrong, where there is one;
``code`` is a stable machine-readable word that clients may switch on; ``kind`` says what sort of
failure it is, and is the one thing the transports map: the HTTP status (``api/errors.py``), the
exit code (``cli/common.py``) and the audit trail's outcome (``app/trail.py``) all derive from it.
Every code, and each kind's status and exit code, is listed in docs/errors.md (a test checks it).
"""

from __future__ import annotations

from enum import StrEnum


class Kind(StrEnum):
    """What sort of failure an error is (docs/errors.md)."""

    BAD_INPUT = "bad_input"  # the input breaks a rule; it names the field and the rule
    UNREADABLE = "unreadable"  # a body or file not readable as its declared type
    TOO_LARGE = "too_large"  # more than the service accepts
    UNAUTHENTICATED = "unauthenticated"  # the caller could not be identified
    FORBIDDEN = "forbidden"  # the caller is known but may not do this
    NOT_FOUND = "not_found"  # no such thing (for this caller)
    CONFLICT = "conflict"  # the request conflicts with what is stored, or with its state
    RATE_LIMITED = "rate_limited"  # too many requests: try again later
    UNAVAILABLE = "unavailable"  # a dependency (registry, keys, documents, upstream, settings)
    INTEGRITY = "integrity"  # stored or received data fails its hash chain or signature


class Error(Exception):
    """Root of every error elicence raises on purpose."""

    code = "error"
    kind = Kind.BAD_INPUT

    def __init__(self, message: str, *, field: str | None = None, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field
        if code is not None:
            self.code = code

    def __str__(self) -> str:
        return f"{self.field}: {self.message}" if self.field else self.message


class InputError(Error):
    """The input is malformed: a wrong check character, a bad date, an unknown code."""

    code = "invalid_input"
    kind = Kind.BAD_INPUT


class CatalogueError(Error):
    """The catalogue file or a catalogue look-up is wrong."""

    code = "catalogue_error"
    kind = Kind.BAD_INPUT


class CatalogueUnavailableError(CatalogueError):
    """No catalogue is in force, or the stored one cannot be read: the service's, not the
    caller's, failure."""

    code = "catalogue_error"
    kind = Kind.UNAVAILABLE


class ConflictError(Error):
    """The request conflicts with what is stored (another body under the same source_ref)."""

    code = "conflict"
    kind = Kind.CONFLICT


class NotFoundError(Error):
    """The thing asked for does not exist, or the caller may not know that it does."""

    code = "not_found"
    kind = Kind.NOT_FOUND


class PermissionDeniedError(Error):
    """The caller is known but may not do this."""

    code = "forbidden"
    kind = Kind.FORBIDDEN


class AuthenticationError(Error):
    """The caller could not be identified (missing or unknown API key)."""

    code = "unauthenticated"
    kind = Kind.UNAUTHENTICATED


class RegistryError(Error):
    """The registry could not store or read what was asked."""

    code = "registry_error"
    kind = Kind.UNAVAILABLE


class KeyCustodyError(Error):
    """A key or certificate could not be created, loaded or used."""

    code = "key_custody_error"
    kind = Kind.UNAVAILABLE


class SignerUnavailableError(KeyCustodyError):
    """A signing key that exists could not be reached (its token is gone, locked or failing).

    The message is generic on purpose: no module path, slot or token label reaches a client.
    """

    code = "signer_unavailable"


class SealError(Error):
    """A seal could not be processed at all (not merely invalid: unreadable as input)."""

    code = "bad_seal"
    kind = Kind.BAD_INPUT


class TrustListError(Error):
    """A trust list is malformed or its signature does not verify."""

    code = "bad_trust_list"
    kind = Kind.BAD_INPUT


class StatusListError(Error):
    """A status list is malformed, not signed by the service key, or its signature fails."""

    code = "bad_status_list"
    kind = Kind.BAD_INPUT


class SettingsError(Error):
    """The settings are unsafe or inconsistent."""

    code = "bad_settings"
    kind = Kind.UNAVAILABLE


class DuplicateSourceRefError(RegistryError):
    """Another licence of this department already carries this source_ref."""

    code = "duplicate_source_ref"
    kind = Kind.CONFLICT


class IllegalTransitionError(ConflictError):
    """A lifecycle change that the licence's current status does not allow."""

    code = "illegal_transition"


class LogIntegrityError(Error):
    """The event log, a checkpoint or a change feed fails its hash chain or signature check."""

    code = "log_integrity"
    kind = Kind.INTEGRITY


class MirrorError(Error):
    """A mirror could not pull from its upstream (unreachable, refused, or not a mirror)."""

    code = "mirror_error"
    kind = Kind.UNAVAILABLE


class DocumentError(Error):
    """A licence document (PDF) could not be made: signing or time-stamping failed."""

    code = "document_unavailable"
    kind = Kind.UNAVAILABLE


class PayloadTooLargeError(InputError):
    """An upload is larger than the service accepts."""

    code = "payload_too_large"
    kind = Kind.TOO_LARGE


class MalformedBodyError(InputError):
    """A request body is not readable as its declared type (not JSON, not UTF-8)."""

    code = "invalid_json"
    kind = Kind.UNREADABLE

    def __init__(self, message: str, *, field: str | None = None, code: str | None = None) -> None:
        super().__init__(message, field=field, code=code)
        if field:  # JSON read, but a value inside it is not: that value's rule is broken
            self.kind = Kind.BAD_INPUT


# -- holders: presentations, sign-in (issue 8) ------------------------------------------------


class PresentationError(InputError):
    """A dynamic presentation (EP1) cannot be read at all (not merely refused: unreadable)."""

    code = "bad_presentation"


class LoginError(AuthenticationError):
    """A sign-in failed: the identity provider's answer, the session or the CSRF token."""

    code = "login_failed"


class RateLimitedError(Error):
    """Too many requests from one client or address; try again after ``retry_after`` seconds."""

    code = "rate_limited"
    kind = Kind.RATE_LIMITED

    def __init__(self, message: str, *, retry_after: int, field: str | None = None) -> None:
        super().__init__(message, field=field)
        self.retry_after = retry_after


class StockImportError(Error):
    """A stock conversion (`elicence import`) cannot start or go on: an unreadable file, another
    run of the same file at work, a file that changed under a resumed run."""

    code = "import_error"
    kind = Kind.BAD_INPUT
