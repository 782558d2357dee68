"""The command line's shared parts (transport layer): the root Typer app, the one mapping of
errors to exit codes, the settings and the service a command opens, and the option parsers
more than one command group uses."""

from __future__ import annotations

import json
from collections.abc import Callable
from functools import wraps
from pathlib import Path
from typing import Annotated, Any, ParamSpec, TypeVar

import typer

from elicence import errors
from elicence.app.service import Elicence, utcnow
from elicence.bootstrap import build_service, check_ready
from elicence.domain.inputs import check_json
from elicence.settings import Settings

app = typer.Typer(
    help="elicence: electronic licences (电子证照) — issue, seal, verify.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)

P = ParamSpec("P")
R = TypeVar("R")

EXIT_INVALID, EXIT_INPUT, EXIT_UNAVAILABLE = 1, 2, 3
EXIT_INTERRUPTED = 130  # Ctrl-C (128 + SIGINT)


# The exit code of each kind of error (elicence.errors.Kind; docs/errors.md).
EXIT_CODE: dict[errors.Kind, int] = {
    errors.Kind.BAD_INPUT: EXIT_INPUT,
    errors.Kind.UNREADABLE: EXIT_INPUT,
    errors.Kind.TOO_LARGE: EXIT_INPUT,
    errors.Kind.UNAUTHENTICATED: EXIT_INPUT,
    errors.Kind.FORBIDDEN: EXIT_INPUT,
    errors.Kind.NOT_FOUND: EXIT_INPUT,
    errors.Kind.CONFLICT: EXIT_INPUT,
    errors.Kind.RATE_LIMITED: EXIT_INPUT,
    errors.Kind.UNAVAILABLE: EXIT_UNAVAILABLE,
    errors.Kind.INTEGRITY: EXIT_INVALID,  # the log or a feed failed its check: "not valid"
}


def exit_code(error: errors.Error) -> int:
    """The exit code of an error: its kind's (the one mapping of errors to exit codes)."""
    return EXIT_CODE[error.kind]


def fail(message: str, code: int) -> typer.Exit:
    """Print ``error: message`` on stderr; the exit to raise with ``code``."""
    typer.echo(f"error: {message}", err=True)
    return typer.Exit(code)


def handled(fn: Callable[P, R]) -> Callable[P, R]:
    """Turn elicence errors into a one-line message and the mapped exit code."""

    @wraps(fn)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return fn(*args, **kwargs)
        except errors.Error as e:
            raise fail(str(e), exit_code(e)) from None

    return wrapper


def load_settings() -> Settings:
    """The settings from the environment; a bad one exits 3."""
    try:
        return Settings()
    except errors.SettingsError as e:
        raise fail(str(e), EXIT_UNAVAILABLE) from None
    except Exception as e:  # pydantic's ValidationError: a malformed ELICENCE_* variable
        raise fail(f"bad settings: {e}", EXIT_UNAVAILABLE) from None


def open_service(
    settings: Settings | None = None, *, create: bool = False, root_dir: Path | None = None
) -> Elicence:
    """The service of the configured data dir, which must exist unless ``create`` (``init``,
    ``backup restore``); says on stderr which data dir it is. ``root_dir``: the offline root,
    for a key ceremony command alone."""
    settings = settings or load_settings()
    operator_context()
    typer.echo(f"elicence: data dir {settings.data_dir.resolve()}", err=True)
    return build_service(settings, create=create, root_dir=root_dir)


def ready(settings: Settings, svc: Elicence) -> None:
    """Refuse to serve what must not be served (demo data in production, keys that do not
    open); print what file modes were tightened."""
    for warning in check_ready(settings, svc):
        typer.echo(f"warning: {warning}", err=True)


def operator_context() -> None:
    """Privileged actions from the command line are recorded as ``cli:<OS user>``."""
    import getpass

    from elicence.app.trail import CONTEXT, RequestContext

    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = "unknown"
    CONTEXT.set(RequestContext(actor=f"cli:{user}"))


# The offline root (docs/deployment.md "The root offline"): given to a key ceremony command for
# that command alone; its passphrase only from ELICENCE_ROOT_PASSPHRASE.
RootDir = Annotated[
    Path | None,
    typer.Option(
        "--root-dir",
        help="Directory of the offline root (root.key, root.crt.pem) for this ceremony; its "
        "passphrase from ELICENCE_ROOT_PASSPHRASE.",
    ),
]


def print_json(data: Any) -> None:
    typer.echo(json.dumps(data, ensure_ascii=False, indent=2, default=str))


def read_json(file: Path) -> Any:
    """The JSON value of a file, under the text rule of a JSON body (docs/abuse.md)."""
    try:
        value = json.loads(file.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise fail(f"{file}: not a readable JSON file: {e}", EXIT_INPUT) from None
    return check_json(value)


EXPIRES_HELP = (
    "When the key stops working: an ISO 8601 time with a time zone "
    "(2027-06-30T00:00:00+08:00) or a duration from now (90d, 12h)."
)
_DURATION = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def duration(text: str, option: str) -> Any:
    """A duration such as 45s, 30m, 24h or 90d."""
    import datetime as dt
    import re

    m = re.fullmatch(r"\s*(\d{1,6})\s*([smhd])\s*", text.lower())
    if m is None:
        raise fail(f"{option}: {text!r} is not a duration like 45s, 30m, 24h or 90d", EXIT_INPUT)
    return dt.timedelta(seconds=int(m.group(1)) * _DURATION[m.group(2)])


def when(text: str, option: str) -> Any:
    """An ISO 8601 time with a time zone."""
    import datetime as dt

    try:
        at = dt.datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise fail(f"{option}: {text!r} is not an ISO 8601 time", EXIT_INPUT) from None
    if at.tzinfo is None:
        raise fail(f"{option}: give a time zone (2027-06-30T00:00:00+08:00)", EXIT_INPUT)
    return at


def expiry(text: str | None) -> Any:
    """``--expires``: an ISO 8601 time or a duration from now (None: no expiry)."""
    if text is None:
        return None
    if text.strip()[-1:].lower() in _DURATION and text.strip()[:-1].strip().isdigit():
        return utcnow() + duration(text, "--expires")
    return when(text, "--expires")
