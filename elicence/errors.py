"""The error hierarchy: one root, one family per area.

Every message is fit to show a user. ``field`` names the input that was wrong, where there is one;
``code`` is a stable machine-readable word that clients may switch on.
"""

from __future__ import annotations


class Error(Exception):
    """Root of every error elicence raises on purpose."""

    code = "error"

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


class CatalogueError(Error):
    """The catalogue file or a catalogue look-up is wrong."""

    code = "catalogue_error"


class ConflictError(Error):
    """The request conflicts with what is stored (another body under the same source_ref)."""

    code = "conflict"


class NotFoundError(Error):
    """The thing asked for does not exist, or the caller may not know that it does."""

    code = "not_found"


class PermissionDeniedError(Error):
    """The caller is known but may not do this."""

    code = "forbidden"


class AuthenticationError(Error):
    """The caller could not be identified (missing or unknown API key)."""

    code = "unauthenticated"


class RegistryError(Error):
    """The registry could not store or read what was asked."""

    code = "registry_error"


class KeyCustodyError(Error):
    """A key or certificate could not be created, loaded or used."""

    code = "key_custody_error"


class SignerUnavailableError(KeyCustodyError):
    """A signing key that exists could not be reached (its token is gone, locked or failing).

    The message is generic on purpose: no module path, slot or token label reaches a client.
    """

    code = "signer_unavailable"


class SealError(Error):
    """A seal could not be processed at all (not merely invalid: unreadable as input)."""

    code = "bad_seal"


class TrustListError(Error):
    """A trust list is malformed or its signature does not verify."""

    code = "bad_trust_list"


class StatusListError(Error):
    """A status list is malformed, not signed by the service key, or its signature fails."""

    code = "bad_status_list"


class SettingsError(Error):
    """The settings are unsafe or inconsistent."""

    code = "bad_settings"


class DuplicateSourceRefError(RegistryError):
    """Another licence of this department already carries this source_ref."""

    code = "duplicate_source_ref"


class IllegalTransitionError(ConflictError):
    """A lifecycle change that the licence's current status does not allow."""

    code = "illegal_transition"


class LogIntegrityError(Error):
    """The event log, a checkpoint or a change feed fails its hash chain or signature check."""

    code = "log_integrity"


class MirrorError(Error):
    """A mirror could not pull from its upstream (unreachable, refused, or not a mirror)."""

    code = "mirror_error"


class DocumentError(Error):
    """A licence document (PDF) could not be made: signing or time-stamping failed."""

    code = "document_unavailable"


class PayloadTooLargeError(InputError):
    """An upload is larger than the service accepts."""

    code = "payload_too_large"


class MalformedBodyError(InputError):
    """A request body is not readable as its declared type (not JSON, not UTF-8)."""

    code = "invalid_json"


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

    def __init__(self, message: str, *, retry_after: int, field: str | None = None) -> None:
        super().__init__(message, field=field)
        self.retry_after = retry_after


class StockImportError(Error):
    """A stock conversion (`elicence import`) cannot start or go on: an unreadable file, another
    run of the same file at work, a file that changed under a resumed run."""

    code = "import_error"
