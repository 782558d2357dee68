"""The ``elicence`` command line. The one place that maps errors to exit codes:
0 success (``verify``: valid), 1 ``verify``: not valid, 2 bad input, 3 configuration, keys or
database unavailable, 130 interrupted (`import`: run it again to resume).
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from functools import wraps
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, ParamSpec, TypeVar

import typer
from cryptography import x509

from elicence import errors
from elicence.app.service import Elicence, utcnow
from elicence.bootstrap import build_service, check_catalogue, check_ready, make_offline_root
from elicence.domain.clients import Client, Role
from elicence.domain.inputs import check_json, check_text
from elicence.formats.catalogue_file import DEMO_CATALOGUE, load_catalogue
from elicence.settings import Settings

if TYPE_CHECKING:
    from elicence.verifier import OfflineVerifier
    from elicence.verifier.report import VerificationReport

app = typer.Typer(
    help="elicence: electronic licences (电子证照) — issue, seal, verify.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
catalogue_app = typer.Typer(help="The unified licence catalogue.", no_args_is_help=True)
keys_app = typer.Typer(
    help="Root CA, department signing keys and the trust list.", no_args_is_help=True
)
clients_app = typer.Typer(help="API clients and their keys.", no_args_is_help=True)
db_app = typer.Typer(help="The registry database.", no_args_is_help=True)
app.add_typer(catalogue_app, name="catalogue")
app.add_typer(keys_app, name="keys")
app.add_typer(clients_app, name="clients")
app.add_typer(db_app, name="db")
registry_app = typer.Typer(help="The registry's event log: audit it.", no_args_is_help=True)
app.add_typer(registry_app, name="registry")

P = ParamSpec("P")
R = TypeVar("R")

EXIT_INVALID, EXIT_INPUT, EXIT_UNAVAILABLE = 1, 2, 3
EXIT_INTERRUPTED = 130  # Ctrl-C (128 + SIGINT)


def exit_code(error: errors.Error) -> int:
    """The exit code of an error (the one mapping of errors to exit codes)."""
    if isinstance(error, errors.LogIntegrityError):
        return EXIT_INVALID  # the log or a feed failed its check: "not valid"
    if isinstance(error, errors.MirrorError):
        return EXIT_UNAVAILABLE
    if isinstance(
        error, errors.KeyCustodyError | errors.RegistryError | errors.SettingsError
    ) and not isinstance(error, errors.DuplicateSourceRefError):
        return EXIT_UNAVAILABLE
    return EXIT_INPUT


def _fail(message: str, code: int) -> typer.Exit:
    typer.echo(f"error: {message}", err=True)
    return typer.Exit(code)


def handled(fn: Callable[P, R]) -> Callable[P, R]:
    """Turn elicence errors into a one-line message and the mapped exit code."""

    @wraps(fn)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return fn(*args, **kwargs)
        except errors.Error as e:
            raise _fail(str(e), exit_code(e)) from None

    return wrapper


def _settings() -> Settings:
    try:
        return Settings()
    except errors.SettingsError as e:
        raise _fail(str(e), EXIT_UNAVAILABLE) from None
    except Exception as e:  # pydantic's ValidationError: a malformed ELICENCE_* variable
        raise _fail(f"bad settings: {e}", EXIT_UNAVAILABLE) from None


def _service(
    settings: Settings | None = None, *, create: bool = False, root_dir: Path | None = None
) -> Elicence:
    """The service of the configured data dir, which must exist unless ``create`` (``init``,
    ``backup restore``); says on stderr which data dir it is. ``root_dir``: the offline root,
    for a key ceremony command alone."""
    settings = settings or _settings()
    _operator_context()
    typer.echo(f"elicence: data dir {settings.data_dir.resolve()}", err=True)
    return build_service(settings, create=create, root_dir=root_dir)


def _ready(settings: Settings, svc: Elicence) -> None:
    """Refuse to serve what must not be served (demo data in production, keys that do not
    open); print what file modes were tightened."""
    for warning in check_ready(settings, svc):
        typer.echo(f"warning: {warning}", err=True)


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


def _print_json(data: Any) -> None:
    typer.echo(json.dumps(data, ensure_ascii=False, indent=2, default=str))


# -- set-up ---------------------------------------------------------------------------------


@app.command()
@handled
def init(
    demo: Annotated[
        bool, typer.Option(help="Import the demo catalogue and make demo clients.")
    ] = True,
    root_dir: RootDir = None,
) -> None:
    """Set up a fresh installation: database, catalogue, keys (and demo clients)."""
    settings = _settings()
    if demo and settings.env != "development":
        # refuse before anything is written: the demo catalogue and keys are development only
        raise _fail(
            "the demo catalogue and clients exist only in development mode: "
            "run `elicence catalogue import FILE`, then `elicence init --no-demo`",
            EXIT_INPUT,
        )
    svc = _service(settings, create=True, root_dir=root_dir)
    if svc.catalogue_version() is None:
        if not demo:
            raise _fail("no catalogue yet: run `elicence catalogue import FILE`", EXIT_INPUT)
        version, created = svc.import_catalogue(load_catalogue(DEMO_CATALOGUE))
        typer.echo(f"imported the demo catalogue (version {version})")
    else:
        created = svc.init_keys()
    if demo and svc.hall.items_version() is None:
        _import_demo_items(svc)
    typer.echo(f"key store {settings.keys_dir}: {len(created)} keys created")
    if demo:
        _demo_clients(svc, settings.data_dir / "demo-clients.json")


def _demo_clients(svc: Elicence, path: Path) -> None:
    """Create (once) and print the demo clients. Their keys are kept in a file: development only."""
    if path.is_file():
        keys = json.loads(path.read_text(encoding="utf-8"))
    else:
        catalogue = svc.catalogue()
        dept = next(iter(sorted(catalogue.departments)))
        dept = "11440100MB2D00002M" if "11440100MB2D00002M" in catalogue.departments else dept
        made = {
            "department": svc.add_client(
                name="demo department", role=Role.DEPARTMENT, department=dept
            ),
            "hall": svc.add_client(name="demo hall", role=Role.HALL, department=None),
            "admin": svc.add_client(name="demo admin", role=Role.ADMIN, department=None),
        }
        keys = {
            k: {"api_key": v.api_key, "client_id": v.client.id, "department": v.client.department}
            for k, v in made.items()
        }
        path.write_text(json.dumps(keys, indent=2), encoding="utf-8")
        path.chmod(0o600)
    typer.echo("demo API keys (development only):")
    for role, info in keys.items():
        extra = f" for {info['department']}" if info.get("department") else ""
        typer.echo(f"  {role:<10} {info['api_key']}{extra}")


@app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="Interface to bind.")] = None,
    port: Annotated[int | None, typer.Option(help="Port to listen on.")] = None,
    workers: Annotated[int, typer.Option(help="Worker processes.")] = 1,
) -> None:
    """Run the HTTP API (uvicorn)."""
    import socket

    import uvicorn
    from uvicorn.supervisors import Multiprocess

    if host is not None or port is not None:
        # the workers read their settings from the environment: with another port (or host)
        # the public base URL of development follows it (QR codes, PDFs, sign-in redirect)
        if host is not None:
            os.environ["ELICENCE_HOST"] = host
        if port is not None:
            os.environ["ELICENCE_PORT"] = str(port)
    settings = _settings()
    try:
        svc = _service(settings)  # upgrade the schema once, before the workers start
        try:
            _ready(settings, svc)
        finally:
            svc.close()
    except errors.Error as e:
        raise _fail(str(e), exit_code(e)) from None
    typer.echo(
        f"elicence: serving {settings.base_url} on {settings.host}:{settings.port}", err=True
    )
    if settings.metrics_port is not None:  # before any worker starts: app/metrics.py
        from elicence.app import metrics

        metrics_dir = metrics.prepare_dir(settings.metrics_dir or settings.data_dir / "metrics")
        os.environ[metrics.MULTIPROC_ENV] = str(metrics_dir)
        metrics.serve(settings.metrics_host, settings.metrics_port, metrics_dir)
        typer.echo(
            f"elicence: metrics on http://{settings.metrics_host}:{settings.metrics_port}/metrics",
            err=True,
        )
    from elicence.app.logs import log_config

    config = uvicorn.Config(
        "elicence.api.asgi:app",
        host=settings.host,
        port=settings.port,
        workers=workers,
        log_level="info",
        log_config=log_config(settings.log_format),
        access_log=False,
        # X-Forwarded-For is believed only from ELICENCE_TRUSTED_PROXIES (app/guard.py), never
        # by uvicorn's own default of trusting 127.0.0.1
        proxy_headers=False,
        # a worker starting on a loaded machine (imports, keys opened) may take longer than
        # uvicorn's 5 s to answer the supervisor's ping, and was killed and restarted
        timeout_worker_healthcheck=60,
    )
    # the workers' metrics are in files only when they start with the directory set: the
    # supervisor then runs even a single worker
    if workers <= 1 and settings.metrics_port is None:
        uvicorn.Server(config).run()
        return
    # Bind with proto=IPPROTO_TCP: asyncio sets TCP_NODELAY only on sockets whose proto says TCP,
    # and uvicorn's own multi-worker socket leaves it 0 (40 ms Nagle/delayed-ACK stalls).
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((config.host, config.port))
    sock.set_inheritable(True)
    Multiprocess(config, sockets=[sock]).run()


@db_app.command("upgrade")
@handled
def db_upgrade() -> None:
    """Bring the database schema up to date."""
    settings = _settings()
    svc = _service(settings)
    try:
        _ready(settings, svc)
    finally:
        svc.close()
    typer.echo(f"database {_without_password(settings.effective_database_url)}: schema up to date")


def _without_password(url: str) -> str:
    """A database URL fit to print: its password, if any, replaced by ``***``."""
    from urllib.parse import urlsplit, urlunsplit

    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.netloc.rsplit("@", 1)[1]
    return urlunsplit(parts._replace(netloc=f"{parts.username}:***@{host}"))


# -- catalogue ------------------------------------------------------------------------------


@catalogue_app.command("import")
@handled
def catalogue_import(
    file: Annotated[Path, typer.Argument(help="Catalogue YAML file.")], root_dir: RootDir = None
) -> None:
    """Check and import a catalogue file; new departments get signing keys."""
    catalogue = load_catalogue(file)
    settings = _settings()
    check_catalogue(settings, catalogue)
    svc = _service(settings, root_dir=root_dir)
    version, created = svc.import_catalogue(catalogue)
    typer.echo(
        f"imported {len(catalogue.licence_types)} licence types and "
        f"{len(catalogue.departments)} departments as catalogue version {version}; "
        f"{len(created)} new keys"
    )


@catalogue_app.command("check")
@handled
def catalogue_check(file: Annotated[Path, typer.Argument(help="Catalogue YAML file.")]) -> None:
    """Check a catalogue file without importing it."""
    catalogue = load_catalogue(file)
    typer.echo(
        f"ok: {len(catalogue.licence_types)} licence types, "
        f"{len(catalogue.departments)} departments"
    )


@catalogue_app.command("show")
@handled
def catalogue_show() -> None:
    """Print the catalogue in force."""
    from elicence.formats.catalogue_file import catalogue_to_dict

    _print_json(catalogue_to_dict(_service().catalogue()))


# -- keys -----------------------------------------------------------------------------------


@keys_app.command("init")
@handled
def keys_init(root_dir: RootDir = None) -> None:
    """Create the root CA, the service key and a key for each department that has none."""
    created = _service(root_dir=root_dir).init_keys()
    for e in created:
        typer.echo(f"created {e.role} key {e.kid} {e.department or ''} {e.name}")
    typer.echo(f"{len(created)} keys created")


@keys_app.command("list")
@handled
def keys_list() -> None:
    """List every certificate with its status."""
    svc = _service()
    for e, cert in svc.certificates():
        typer.echo(
            f"{e.kid}  {e.role:<10} {e.department or '-':<18} {e.status:<8} since "
            f"{e.status_since:%Y-%m-%d %H:%M}Z  "
            f"valid to {cert.not_valid_after_utc:%Y-%m-%d}  {e.name}"
            + ("  [token]" if e.key_path.startswith("pkcs11:") else "")
            + ("  [SM2]" if e.algorithm == "SM2" else "")
        )


@keys_app.command("rotate")
@handled
def keys_rotate(
    department: Annotated[str, typer.Argument(help="Department USCC.")],
    root_dir: RootDir = None,
    algorithm: Annotated[
        str, typer.Option("--algorithm", help="Which of its keys: ES256 (default) or SM2.")
    ] = "ES256",
) -> None:
    """Give a department a new key; its old key is retired (what it sealed stays valid)."""
    svc = _service(root_dir=root_dir)
    old, new = svc.rotate_key(department.strip().upper(), algorithm=algorithm.strip().upper())
    if old:
        typer.echo(f"retired {old.kid}")
    typer.echo(f"active  {new.kid} for {department}")


@keys_app.command("root-create")
@handled
def keys_root_create(
    directory: Annotated[
        Path, typer.Option("--dir", help="Where the root goes (removable media, kept offline).")
    ],
) -> None:
    """Root ceremony, on a machine that is not the service host: make the root CA's key and
    certificate in DIR, the key sealed under ELICENCE_ROOT_PASSPHRASE. Then copy only
    root.crt.pem's DIR to the ceremonies that need it (`--root-dir`)."""
    settings = _settings()
    cert_path = make_offline_root(directory, settings)
    typer.echo(f"root certificate {cert_path}; the root key stays in {directory} (offline)")


@keys_app.command("crl")
@handled
def keys_crl(root_dir: RootDir = None) -> None:
    """Sign the root's CRL anew (with the root offline: a ceremony, due before it runs out)."""
    until = _service(root_dir=root_dir).resign_crl()
    typer.echo(f"CRL signed, next update {until:%Y-%m-%d %H:%M}Z")


@keys_app.command("enrol-token")
@handled
def keys_enrol_token(
    department: Annotated[
        str | None, typer.Argument(help="Department USCC (omit with --service).")
    ] = None,
    service: Annotated[
        bool, typer.Option("--service", help="Move the service key (trust and status lists).")
    ] = False,
    root_dir: RootDir = None,
) -> None:
    """Key ceremony: make a new key pair on the PKCS#11 token (ELICENCE_PKCS11_*), have the
    root certify it and store the certificate on the token and in the key store. The old key
    is retired: what it sealed stays valid. The PIN is read from the environment or its file."""
    if (department is None) == (not service):
        raise _fail("name a department USCC, or --service, not both", EXIT_INPUT)
    svc = _service(root_dir=root_dir)
    old, new = svc.enrol_token_key(department.strip().upper() if department else None)
    if old:
        typer.echo(f"retired {old.kid}")
    typer.echo(f"active  {new.kid} for {department or 'the service'} (on the token)")


@keys_app.command("export-trust-list")
@handled
def keys_export_trust_list(
    out: Annotated[Path, typer.Argument(help="Where to write the signed trust list (COSE).")],
) -> None:
    """Write the signed trust list and the root certificate for offline halls."""
    from cryptography.hazmat.primitives import serialization

    svc = _service()
    tl = svc.trust_list()
    out.write_bytes(tl.signed)
    root = out.with_suffix(".root.pem")
    root.write_bytes(tl.root.public_bytes(serialization.Encoding.PEM))
    typer.echo(f"wrote {out} ({len(tl.signed)} bytes, {len(tl.entries)} certificates) and {root}")


@keys_app.command("export-status-lists")
@handled
def keys_export_status_lists(
    out: Annotated[Path, typer.Argument(help="Directory to write the signed status lists to.")],
) -> None:
    """Write every department's signed status lists (DEPT.PURPOSE.cose) for offline halls."""
    svc = _service()
    lists = svc.status_lists()
    try:
        out.mkdir(parents=True, exist_ok=True)
        for sl in lists:
            (out / f"{sl.department}.{sl.purpose}.cose").write_bytes(sl.signed)
    except OSError as e:
        raise _fail(f"cannot write to {out}: {e}", EXIT_INPUT) from None
    departments = len({sl.department for sl in lists})
    total = sum(len(sl.signed) for sl in lists)
    valid_until = min((sl.valid_until for sl in lists), default=None)
    typer.echo(
        f"wrote {len(lists)} status lists of {departments} departments to {out} "
        f"({total:,} bytes), valid until {valid_until:%Y-%m-%d %H:%M}Z"
        if valid_until
        else f"no departments: nothing written to {out}"
    )


# -- clients --------------------------------------------------------------------------------


@clients_app.command("add")
@handled
def clients_add(
    name: Annotated[str, typer.Option(help="Who the client is.")],
    role: Annotated[Role, typer.Option(help="department, hall, admin or holder.")],
    department: Annotated[str | None, typer.Option(help="USCC, for department clients.")] = None,
    holder: Annotated[
        str | None,
        typer.Option(help="For holder clients: ID_TYPE:ID_NUMBER, e.g. 001:91350100M000100Y43."),
    ] = None,
    expires: Annotated[str | None, typer.Option(help=EXPIRES_HELP)] = None,
) -> None:
    """Create an API client and print its key (shown once)."""
    from elicence.domain.licence import HolderRef

    made = _service().add_client(
        name=check_text(name, field="--name", max_length=200),
        role=role,
        department=department.strip().upper() if department else None,
        holder=HolderRef.parse(holder, field="--holder") if holder is not None else None,
        expires_at=_expiry(expires),
    )
    typer.echo(f"client {made.client.id} ({made.client.role}) created; its API key, shown once:")
    typer.echo(made.api_key)
    if made.expires_at is not None:
        typer.echo(f"it expires at {made.expires_at:%Y-%m-%d %H:%M:%S}Z")


@clients_app.command("list")
@handled
def clients_list() -> None:
    """List API clients."""
    for c in _service().clients():
        state = "disabled" if c.disabled_at else "active"
        bound = c.department or (f"{c.holder_id_type}:{c.holder_id}" if c.holder_id else "-")
        typer.echo(f"{c.id}  {c.role:<10} {bound:<18} {state:<8} {c.name}")


@clients_app.command("disable")
@handled
def clients_disable(client_id: Annotated[str, typer.Argument()]) -> None:
    """Disable a client; its key stops working."""
    _service().disable_client(client_id)
    typer.echo(f"disabled {client_id}")


# -- issue and verify -----------------------------------------------------------------------


@app.command()
@handled
def issue(
    file: Annotated[Path, typer.Argument(help="JSON: one issuance request, or a list of them.")],
    department: Annotated[str, typer.Option(help="The issuing department's USCC.")],
) -> None:
    """Issue licences from a JSON file as a department (prints the results as JSON)."""
    try:
        body = json.loads(file.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise _fail(f"{file}: not a readable JSON file: {e}", EXIT_INPUT) from None
    body = check_json(body)  # the text rule, as for a JSON body (docs/abuse.md)
    from elicence.domain.clients import Client

    svc = _service()
    dept = department.strip().upper()
    client = Client(id="cli", name="command line", role=Role.DEPARTMENT, department=dept)
    if isinstance(body, list):
        results = svc.issue_batch(client, body)
        out = [
            {
                "index": r.index,
                "identifier": r.result.licence.identifier,
                "created": r.result.created,
                "seal": r.result.licence.seal,
            }
            if r.result
            else {
                "index": r.index,
                "error": {
                    "code": r.error.code if r.error else "",
                    "message": r.error.message if r.error else "",
                    "field": r.error.field if r.error else None,
                },
            }
            for r in results
        ]
        _print_json(out)
        if any("error" in o for o in out):
            raise typer.Exit(EXIT_INPUT)
        return
    result = svc.issue(client, body)
    lic = result.licence
    _print_json(
        {
            "identifier": lic.identifier,
            "created": result.created,
            "seal": lic.seal,
            "verification_url": svc.verification_url(lic.seal),
            "status": str(lic.status),
            "version": lic.version,
        }
    )


@app.command()
def verify(
    value: Annotated[
        str, typer.Argument(help="Seal text, QR URL, identifier, or a signed licence PDF file.")
    ],
    trust_list: Annotated[
        Path | None,
        typer.Option(help="Verify offline against this signed trust list (no database)."),
    ] = None,
    root: Annotated[
        Path | None, typer.Option(help="The pinned root certificate (PEM), with --trust-list.")
    ] = None,
    status_lists: Annotated[
        Path | None,
        typer.Option(
            help="With --trust-list: a directory of signed status lists (DEPT.PURPOSE.cose, "
            "from `keys export-status-lists` or GET /api/v1/status-lists/…): revoked, "
            "suspended and superseded licences are found offline."
        ),
    ] = None,
    require_status: Annotated[
        bool,
        typer.Option(
            "--require-status",
            help="Offline: exit 1 unless revocation was checked against current status lists "
            "(without --status-lists, or with a list missing or stale).",
        ),
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
    state: Annotated[
        Path | None,
        typer.Option(
            help="With --trust-list: a state file (created if missing) remembering the highest "
            "sequence number seen of each trust list and status list; an older list is refused."
        ),
    ] = None,
) -> None:
    """Verify a licence. Exit 0 when valid, 1 when not (not_yet_valid included), 2 on bad input.

    Offline (--trust-list, --root) without --status-lists, "valid" says nothing of revocation
    (the output says so; --require-status makes it exit 1); with --status-lists, it is "valid"
    only when the department's lists are current and clear. With --state, a trust list older
    than one already seen is refused (exit 2) and an older status list is not used.
    """
    pdf = _read_pdf_argument(value)
    if status_lists is not None and trust_list is None:
        raise _fail(
            "--status-lists needs --trust-list and --root (offline verification)", EXIT_INPUT
        )
    try:
        if trust_list is not None:
            if root is None:
                raise _fail("--trust-list needs --root, the pinned root certificate", EXIT_INPUT)
            if status_lists is not None and not status_lists.is_dir():
                raise _fail(f"--status-lists: {status_lists} is not a directory", EXIT_INPUT)
            offline = _offline_verifier(trust_list, root, status_lists, state)
            if pdf is not None:
                report = offline.verify_pdf(pdf, now=utcnow())
            else:
                report = offline.verify(value, now=utcnow())
        else:
            if state is not None:
                raise _fail(
                    "--state needs --trust-list and --root (offline verification)", EXIT_INPUT
                )
            svc = _service()
            if pdf is not None:
                report = svc.verify_pdf(pdf, client=None)
            elif value.strip().startswith("1.2.156.3005.2."):
                report = svc.verify(identifier=value, client=None)
            else:
                report = svc.verify(seal=value, client=None)
    except errors.Error as e:
        raise _fail(str(e), exit_code(e)) from None
    status_problem = _status_problem(report)
    if as_json:
        valid_until = report.status_valid_until
        _print_json(
            {
                "verdict": str(report.verdict),
                "status_checked": report.status_checked,
                "status_lists_valid_until": valid_until.isoformat() if valid_until else None,
                "checked_at": report.checked_at.isoformat(),
                "valid_from": report.licence.valid_from.isoformat() if report.licence else None,
                "checks": [
                    {"name": c.name, "passed": c.passed, "detail": c.detail} for c in report.checks
                ],
            }
        )
    else:
        typer.echo(f"verdict: {report.verdict}")
        if report.verdict == "not_yet_valid" and report.licence:
            typer.echo(f"  genuine, in force from {report.licence.valid_from}: not valid today")
        if not report.status_checked:
            typer.echo(NOT_CHECKED)
        elif report.status_valid_until is not None:
            typer.echo(f"  status lists valid until {report.status_valid_until.isoformat()}")
        for c in report.checks:
            typer.echo(f"  [{'ok' if c.passed else 'FAIL'}] {c.name}: {c.detail}")
        if report.licence:
            lic = report.licence
            typer.echo(
                f"  licence {lic.identifier} ({lic.licence_number}), holder {lic.holder_name}"
            )
    if require_status and status_problem is not None:
        raise _fail(f"--require-status: {status_problem}", EXIT_INVALID)
    raise typer.Exit(0 if report.valid else EXIT_INVALID)


def _offline_verifier(
    trust_list: Path, root: Path, status_lists: Path | None, state: Path | None
) -> OfflineVerifier:
    """The offline verifier of the files given; with a state file, lists older than ones seen
    before are refused, and the sequence numbers of the lists used are remembered."""
    from elicence.verifier import OfflineVerifier
    from elicence.verifier.state import SeenSequences

    seen = SeenSequences.load(state) if state is not None else None
    offline = OfflineVerifier.from_files(
        trust_list=trust_list, root=root, status_lists=status_lists, seen=seen
    )
    for problem in offline.refused:
        typer.echo(f"warning: {problem}", err=True)
    if seen is not None:
        offline.remember(seen)
        seen.save()
    return offline


NOT_CHECKED = (
    "  caveat: revocation was NOT checked (no status lists): this verdict says nothing of "
    "revocation, suspension or supersession; add --status-lists DIR (and --require-status)"
)


def _status_problem(report: VerificationReport) -> str | None:
    """Why ``report`` does not rest on checked status (None when it does)."""
    if not report.status_checked:
        return "revocation was not checked: no status lists (--status-lists DIR)"
    failed = [c.detail for c in report.checks if c.name == "status_lists" and not c.passed]
    return failed[0] if failed else None


# -- the event log, mirrors and key compromise ------------------------------------------------


@registry_app.command("audit")
@handled
def registry_audit() -> None:
    """Check the event log's hash chain, its signed checkpoints and the licences' statuses.

    Exit 0 when everything holds, 1 when tampering is found.
    """
    report = _service().audit()
    typer.echo(f"{report.events} events, head {report.head_hash}, {report.checkpoints} checkpoints")
    for problem in report.problems:
        typer.echo(f"TAMPERED: {problem}")
    if not report.ok:
        raise typer.Exit(EXIT_INVALID)
    typer.echo("ok: the chain, every checkpoint and every licence status agree")


@app.command()
@handled
def mirror(
    upstream: Annotated[str, typer.Option("--from", help="The upstream hall's base URL.")],
    root: Annotated[
        Path | None,
        typer.Option(help="The upstream's root certificate (PEM) to pin; needed on first pull."),
    ] = None,
    api_key: Annotated[
        str | None,
        typer.Option(envvar="ELICENCE_MIRROR_API_KEY", help="A hall API key at the upstream."),
    ] = None,
    once: Annotated[bool, typer.Option(help="Pull once and stop.")] = False,
    interval: Annotated[float, typer.Option(help="Seconds between pulls.")] = 5.0,
    page_size: Annotated[int, typer.Option(help="Events per feed page (1-1000).")] = 500,
) -> None:
    """Keep this registry (its own database) in step with an upstream hall's change feed."""
    import time

    from elicence.app.mirror import HttpUpstream

    pinned = None
    if root is not None:
        try:
            pinned = x509.load_pem_x509_certificate(root.read_bytes())
        except (OSError, ValueError) as e:
            raise _fail(f"cannot read the root certificate {root}: {e}", EXIT_INPUT) from None
    svc = _service()
    source = HttpUpstream(upstream, api_key=api_key)
    try:
        while True:
            try:
                result = svc.mirror_pull(source, root=pinned, page_size=page_size)
            except errors.MirrorError as e:
                if once:
                    raise
                typer.echo(f"warning: {e}; retrying in {interval:g} s", err=True)
            else:
                if result.applied or once:
                    typer.echo(
                        f"mirrored {result.applied} events; holding {result.head} "
                        f"of the upstream's {result.upstream_size}"
                    )
            if once:
                return
            time.sleep(interval)
    finally:
        source.close()


@keys_app.command("compromise")
@handled
def keys_compromise(
    department: Annotated[str, typer.Argument(help="Department USCC.")],
    since: Annotated[
        str, typer.Option(help="When the key was compromised: ISO 8601 with a time zone.")
    ],
    kid: Annotated[str | None, typer.Option(help="The key (default: the active one).")] = None,
    root_dir: RootDir = None,
) -> None:
    """Mark a department key compromised: every seal it made becomes untrusted, whatever its
    date, and every licence it sealed is re-sealed under the department's active key (a new key
    if it was the active one). Run it again with --kid to finish an interrupted re-sealing."""
    import datetime as dt

    try:
        when = dt.datetime.fromisoformat(since.strip().replace("Z", "+00:00"))
    except ValueError:
        raise _fail(f"--since: {since!r} is not an ISO 8601 time", EXIT_INPUT) from None
    if when.tzinfo is None:
        raise _fail("--since: give a time zone (for example 2026-11-28T10:00:00+08:00)", EXIT_INPUT)
    revoked, new, resealed = _service(root_dir=root_dir).compromise_key(
        department.strip().upper(), since=when, kid=kid
    )
    typer.echo(f"revoked {revoked.kid} (compromised since {revoked.status_since.isoformat()})")
    if new is not None:
        typer.echo(f"active  {new.kid} for {department}")
    typer.echo(
        f"re-sealed {resealed} licences under the department's active key: publish the new "
        "trust list and tell holders to fetch their new codes (the old ones now verify untrusted)"
    )


def _read_pdf_argument(value: str) -> bytes | None:
    """The bytes of ``value`` when it names a PDF file (``*.pdf``), else None."""
    if not value.strip().lower().endswith(".pdf"):
        return None
    try:
        return Path(value.strip()).read_bytes()
    except OSError as e:
        raise _fail(f"cannot read {value}: {e}", EXIT_INPUT) from None


@app.command()
@handled
def pdf(
    identifier: Annotated[str, typer.Argument(help="The licence's identifier.")],
    out: Annotated[Path, typer.Option(help="Where to write the signed PDF.")],
) -> None:
    """Write a licence's signed PDF (made and kept at the first request)."""
    from elicence.domain.clients import Client

    svc = _service()
    operator = Client(id="cli", name="command line", role=Role.ADMIN, department=None)
    data = svc.licence_pdf(operator, identifier.strip())
    out.write_bytes(data)
    typer.echo(f"wrote {out} ({len(data):,} bytes)")


# -- holders: live presentations (issue 8) ---------------------------------------------------

presentation_app = typer.Typer(
    help="Live presentations (EP1, docs/formats.md §9): the holder's changing QR code.",
    no_args_is_help=True,
)
app.add_typer(presentation_app, name="presentation")


@presentation_app.command("verify")
def presentation_verify(
    text: Annotated[str, typer.Argument(help="The presentation as scanned: EP1:…")],
    trust_list: Annotated[
        Path | None, typer.Option(help="Verify offline against this signed trust list.")
    ] = None,
    root: Annotated[
        Path | None, typer.Option(help="The pinned root certificate (PEM), with --trust-list.")
    ] = None,
    status_lists: Annotated[
        Path | None, typer.Option(help="With --trust-list: a directory of signed status lists.")
    ] = None,
    holder: Annotated[
        str | None,
        typer.Option(help="The presenter's id as on their ID card, e.g. 111:11010519491231002X."),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
    state: Annotated[
        Path | None,
        typer.Option(
            help="With --trust-list: a state file; lists older than ones seen are refused."
        ),
    ] = None,
) -> None:
    """Verify a live presentation. Exit 0 when accepted and the licence valid, else 1; 2 on bad
    input. Online (the service's database) the check uses the live code up, as a hall's does.
    Offline (--trust-list, --root) a replay within its 90 s cannot be told; a copy older than its
    window is refused as expired."""
    from elicence.domain.licence import HolderRef
    from elicence.verifier.presentation import verify_presentation

    try:
        ref = HolderRef.parse(holder) if holder is not None else None
        if trust_list is not None:
            if root is None:
                raise _fail("--trust-list needs --root, the pinned root certificate", EXIT_INPUT)
            offline = _offline_verifier(trust_list, root, status_lists, state)
            report = verify_presentation(
                text,
                trust_list=offline.trust_list,
                status=offline.status,
                now=utcnow(),
                holder=(str(ref.id_type), ref.id_number) if ref else None,
            )
        elif status_lists is not None or state is not None:
            raise _fail("--status-lists and --state need --trust-list and --root", EXIT_INPUT)
        else:
            report = _service().holder.verify_presentation(
                text, client=None, holder=ref, operator=True
            )
    except errors.Error as e:
        raise _fail(str(e), exit_code(e)) from None
    checks = [(c.name, c.passed, c.detail) for c in report.checks] + [
        (c.name, c.passed, c.detail) for c in report.seal.checks
    ]
    if as_json:
        _print_json(
            {
                "accepted": report.accepted,
                "presentation": str(report.verdict),
                "verdict": str(report.seal.verdict),
                "not_before": report.not_before.isoformat(),
                "not_after": report.not_after.isoformat(),
                "checks": [
                    {"name": str(name), "passed": passed, "detail": detail}
                    for name, passed, detail in checks
                ],
            }
        )
    else:
        typer.echo(f"presentation: {report.verdict}; licence: {report.seal.verdict}")
        if not report.seal.status_checked:
            typer.echo(NOT_CHECKED)
        for name, passed, detail in checks:
            typer.echo(f"  [{'ok' if passed else 'FAIL'}] {name}: {detail}")
    raise typer.Exit(0 if report.accepted else EXIT_INVALID)


# -- abuse resistance: API key rotation and expiry, the audit trail, backups (docs/abuse.md) --

EXPIRES_HELP = (
    "When the key stops working: an ISO 8601 time with a time zone "
    "(2027-06-30T00:00:00+08:00) or a duration from now (90d, 12h)."
)
trail_app = typer.Typer(help="The audit trail of privileged actions.", no_args_is_help=True)
backup_app = typer.Typer(
    help="Back up and restore the registry database and the key store.", no_args_is_help=True
)
app.add_typer(trail_app, name="trail")
app.add_typer(backup_app, name="backup")
_DURATION = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def _operator_context() -> None:
    """Privileged actions from the command line are recorded as ``cli:<OS user>``."""
    import getpass

    from elicence.app.trail import CONTEXT, RequestContext

    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = "unknown"
    CONTEXT.set(RequestContext(actor=f"cli:{user}"))


def _duration(text: str, option: str) -> Any:
    import datetime as dt
    import re

    m = re.fullmatch(r"\s*(\d{1,6})\s*([smhd])\s*", text.lower())
    if m is None:
        raise _fail(f"{option}: {text!r} is not a duration like 45s, 30m, 24h or 90d", EXIT_INPUT)
    return dt.timedelta(seconds=int(m.group(1)) * _DURATION[m.group(2)])


def _when(text: str, option: str) -> Any:
    import datetime as dt

    try:
        when = dt.datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise _fail(f"{option}: {text!r} is not an ISO 8601 time", EXIT_INPUT) from None
    if when.tzinfo is None:
        raise _fail(f"{option}: give a time zone (2027-06-30T00:00:00+08:00)", EXIT_INPUT)
    return when


def _expiry(text: str | None) -> Any:
    if text is None:
        return None
    if text.strip()[-1:].lower() in _DURATION and text.strip()[:-1].strip().isdigit():
        return utcnow() + _duration(text, "--expires")
    return _when(text, "--expires")


@clients_app.command("rotate")
@handled
def clients_rotate(
    client_id: Annotated[str, typer.Argument()],
    overlap: Annotated[
        str | None,
        typer.Option(
            help="How long the old key keeps working (default ELICENCE_API_KEY_OVERLAP_HOURS, "
            "24h; at least 30s)."
        ),
    ] = None,
    expires: Annotated[str | None, typer.Option(help=EXPIRES_HELP)] = None,
) -> None:
    """Give a client a new API key (shown once); the old one stops after the overlap."""
    import datetime as dt

    settings = _settings()
    window = (
        _duration(overlap, "--overlap")
        if overlap is not None
        else dt.timedelta(hours=settings.api_key_overlap_hours)
    )
    rotation = _service(settings).rotate_client_key(
        client_id.strip(), overlap=window, expires_at=_expiry(expires)
    )
    new = rotation.new
    typer.echo(f"client {new.client.id}: new API key, shown once:")
    typer.echo(new.api_key)
    typer.echo(
        f"{rotation.old_keys} old key(s) keep working until "
        f"{rotation.retires_at:%Y-%m-%d %H:%M:%S}Z"
    )
    if new.expires_at is not None:
        typer.echo(f"the new key expires at {new.expires_at:%Y-%m-%d %H:%M:%S}Z")


@clients_app.command("keys")
@handled
def clients_keys() -> None:
    """List every client's keys: their hash prefix, expiry and the end of a rotation overlap."""
    now = utcnow()
    for client_id, keys in _service().client_keys().items():
        for k in keys:
            deadline = k.deadline
            state = "active" if deadline is None or deadline > now else "stopped"
            until = f"until {deadline:%Y-%m-%d %H:%M}Z" if deadline else "no expiry"
            why = " (rotated out)" if k.retires_at is not None and deadline == k.retires_at else ""
            typer.echo(
                f"{client_id}  sha256:{k.key_hash[:12]}  created {k.created_at:%Y-%m-%d %H:%M}Z  "
                f"{state:<7} {until}{why}"
            )


@trail_app.command("list")
@handled
def trail_list(
    actor: Annotated[str | None, typer.Option(help="A client id, or cli:<user>.")] = None,
    action: Annotated[
        str | None, typer.Option(help="e.g. licence.revoke, or licence for every licence.*.")
    ] = None,
    target: Annotated[str | None, typer.Option(help="An identifier, client id, USCC …")] = None,
    outcome: Annotated[str | None, typer.Option(help="ok, refused or failed.")] = None,
    since: Annotated[str | None, typer.Option(help="ISO 8601 time with a time zone.")] = None,
    until: Annotated[str | None, typer.Option(help="ISO 8601 time with a time zone.")] = None,
    after: Annotated[int, typer.Option(help="Records after this id.")] = 0,
    limit: Annotated[int, typer.Option(help="At most this many (1-1000).")] = 100,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Print privileged actions, oldest first."""
    records = _service().trail.records(
        None,
        after=after,
        limit=limit,
        actor=actor,
        action=action,
        target=target,
        outcome=outcome,
        since=_when(since, "--since") if since else None,
        until=_when(until, "--until") if until else None,
    )
    if as_json:
        _print_json(
            [
                {
                    "id": r.id,
                    "at": r.at.isoformat(),
                    "actor": r.actor,
                    "role": r.role,
                    "action": r.action,
                    "target": r.target,
                    "outcome": r.outcome,
                    "detail": dict(r.detail),
                    "request_id": r.request_id,
                    "address": r.address,
                }
                for r in records
            ]
        )
        return
    for r in records:
        where = f" from {r.address}" if r.address else ""
        typer.echo(
            f"{r.id:>6}  {r.at:%Y-%m-%d %H:%M:%S}Z  {r.outcome:<7} {r.action:<18} "
            f"{r.target or '-'}  by {r.actor}{where}"
        )


@backup_app.command("create")
@handled
def backup_create(
    out: Annotated[Path, typer.Argument(help="A new directory to write the backup to.")],
) -> None:
    """Back up the registry database and the key store (not the passphrase) into OUT."""
    settings = _settings()
    made = _service(settings).backups.create(out)
    typer.echo(
        f"backed up {made.licences} licences, {made.events} events and "
        f"{made.key_files} key store files to {out} (schema {made.schema})"
    )


@backup_app.command("restore")
@handled
def backup_restore(
    source: Annotated[Path, typer.Argument(help="A directory written by `backup create`.")],
) -> None:
    """Restore a backup into the configured (empty) database and (absent or empty) key store."""
    settings = _settings()
    _operator_context()
    from elicence.bootstrap import restore_backup

    settings.data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)  # a restore makes one
    typer.echo(f"elicence: data dir {settings.data_dir.resolve()}", err=True)
    made = restore_backup(
        source, database_url=settings.effective_database_url, keys_dir=settings.keys_dir
    )
    svc = _service(settings)
    svc.backups.record_restore(source, made)
    typer.echo(
        f"restored {made.licences} licences, {made.events} events and {made.key_files} key "
        f"store files from {source}; run `elicence registry audit` to check the log"
    )


# -- the hall's case API (issue 7): service items, cases, 三率一数 ------------------------------

items_app = typer.Typer(help="The hall's service-item catalogue (事项目录).", no_args_is_help=True)
cases_app = typer.Typer(
    help="Cases (办件): apply, accept, review, approve, complete; as an API client "
    "(--api-key or ELICENCE_API_KEY), with that client's rights.",
    no_args_is_help=True,
)
app.add_typer(items_app, name="items")
app.add_typer(cases_app, name="cases")

ApiKey = Annotated[
    str,
    typer.Option(
        "--api-key",
        envvar="ELICENCE_API_KEY",
        help="The API key of the client acting (applicant, clerk, hall or admin).",
    ),
]
Reason = Annotated[str | None, typer.Option(help="Why (shown to the applicant).")]


def _import_demo_items(svc: Elicence) -> None:
    from elicence.hall.items_file import DEMO_ITEMS, load_items

    items = load_items(DEMO_ITEMS)
    version = svc.hall.import_items(items)
    typer.echo(f"imported the demo service items ({len(items.items)} items, version {version})")


@items_app.command("import")
@handled
def items_import(
    file: Annotated[Path, typer.Argument(help="Service-item catalogue YAML file.")],
) -> None:
    """Check a service-item file against the licence catalogue in force and import it."""
    from elicence.hall.items_file import load_items

    items = load_items(file)
    version = _service().hall.import_items(items)
    typer.echo(
        f"imported {len(items.items)} service items of {len(items.departments)} departments "
        f"and {len(items.scenarios)} scenarios as service-item catalogue version {version}"
    )


@items_app.command("show")
@handled
def items_show(
    code: Annotated[str | None, typer.Argument(help="One item's code (default: all).")] = None,
) -> None:
    """Print the service-item catalogue in force (or one item) as JSON."""
    from elicence.hall.items_file import item_to_dict, items_to_dict

    catalogue = _service().hall.items()
    if code is None:
        _print_json(items_to_dict(catalogue))
        return
    _print_json(item_to_dict(catalogue.item(code, field="code")))


def _client(svc: Elicence, api_key: str) -> Client:
    return svc.authenticate(api_key.strip())


def _case_json(svc: Elicence, number: str, api_key: str, *, events: bool = False) -> None:
    client = _client(svc, api_key)
    case, timeline = svc.hall.timeline(client, number)
    today = svc.hall.today()
    out: dict[str, Any] = {
        "number": case.number,
        "item": {"code": case.item.code, "name_zh": case.item.name_zh},
        "department": case.department,
        "applicant": {
            "name": case.applicant.name,
            "id_type": str(case.applicant.ref.id_type),
            "id_number": case.applicant.ref.id_number,
        },
        "channel": str(case.channel),
        "status": str(case.status),
        "status_zh": case.status.label_zh,
        "accepted_on": case.accepted_on,
        "due_on": case.due_on,
        "overdue": case.overdue(today),
        "reason": case.reason,
        "licence": case.licence,
        "visits": case.visits,
        "citations": [
            {"material": c.material, "identifier": c.identifier, "verdict": c.verdict}
            for c in case.citations
        ],
        "uploads": [{"material": u.material, "sha256": u.sha256} for u in case.uploads],
    }
    if events:
        out["events"] = [
            {"at": e.at, "action": str(e.action), "to": str(e.to_status), "actor": e.actor}
            for e in timeline
        ]
    _print_json(out)


def _uploads(specs: list[str] | None) -> list[Any]:
    import mimetypes

    from elicence.hall.cases import UploadIn

    out = []
    for spec in specs or []:
        material, sep, path = spec.partition("=")
        if not sep or not material or not path:
            raise _fail(f"--upload {spec!r}: give MATERIAL=PATH", EXIT_INPUT)
        try:
            content = Path(path).read_bytes()
        except OSError as e:
            raise _fail(f"--upload {material}: cannot read {path}: {e}", EXIT_INPUT) from None
        kind = mimetypes.guess_type(path)[0] or "application/octet-stream"
        out.append(UploadIn(material, Path(path).name, kind, content))
    return out


def _read_json(file: Path) -> Any:
    try:
        value = json.loads(file.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise _fail(f"{file}: not a readable JSON file: {e}", EXIT_INPUT) from None
    return check_json(value)  # the text rule, as for a JSON body (docs/abuse.md)


Uploads = Annotated[
    list[str] | None,
    typer.Option("--upload", help="MATERIAL=PATH of a file to upload (repeatable)."),
]


@cases_app.command("submit")
@handled
def cases_submit(
    file: Annotated[Path, typer.Argument(help="JSON: the application (docs/hall.md).")],
    api_key: ApiKey,
    upload: Uploads = None,
) -> None:
    """Apply for a service item; prints the case."""
    svc = _service()
    case = svc.hall.submit(_client(svc, api_key), _read_json(file), _uploads(upload))
    _case_json(svc, case.number, api_key)


@cases_app.command("show")
@handled
def cases_show(number: Annotated[str, typer.Argument()], api_key: ApiKey) -> None:
    """A case with its timeline (as the client may see it)."""
    _case_json(_service(), number, api_key, events=True)


@cases_app.command("list")
@handled
def cases_list(
    api_key: ApiKey,
    status: Annotated[str | None, typer.Option(help="Only cases in this status.")] = None,
    overdue: Annotated[bool, typer.Option(help="Only overdue cases (超期).")] = False,
    limit: Annotated[int, typer.Option(help="At most this many.")] = 100,
) -> None:
    """The cases this client may see: number, status, due date, item."""
    svc = _service()
    found = svc.hall.cases(_client(svc, api_key), status=status, overdue=overdue, limit=limit)
    today = svc.hall.today()
    for c in found:
        late = " OVERDUE" if c.overdue(today) else ""
        typer.echo(f"{c.number}  {c.status:<20} due {c.due_on or '-'}{late}  {c.item.name_zh}")


def _step(number: str, api_key: str, action: str, reason: str | None = None) -> None:
    from elicence.hall.workflow import CaseAction

    reason = check_text(reason, field="reason") if reason is not None else None
    svc = _service()
    case = svc.hall.act(_client(svc, api_key), number, CaseAction(action), reason=reason)
    typer.echo(f"{case.number}: {case.status} ({case.status.label_zh})")


@cases_app.command("accept")
@handled
def cases_accept(number: Annotated[str, typer.Argument()], api_key: ApiKey) -> None:
    """受理: the promised deadline starts."""
    _step(number, api_key, "accept")


@cases_app.command("reject")
@handled
def cases_reject(number: Annotated[str, typer.Argument()], api_key: ApiKey, reason: Reason) -> None:
    """不予受理 (final), with a reason."""
    _step(number, api_key, "reject", reason)


@cases_app.command("request-correction")
@handled
def cases_request_correction(
    number: Annotated[str, typer.Argument()], api_key: ApiKey, reason: Reason
) -> None:
    """受理前补正: tell the applicant, once, everything to correct."""
    _step(number, api_key, "request_correction", reason)


@cases_app.command("review")
@handled
def cases_review(number: Annotated[str, typer.Argument()], api_key: ApiKey) -> None:
    """Start the review of an accepted case."""
    _step(number, api_key, "start_review")


@cases_app.command("request-supplement")
@handled
def cases_request_supplement(
    number: Annotated[str, typer.Argument()], api_key: ApiKey, reason: Reason
) -> None:
    """补正 during review: the clock stops until the applicant hands it in."""
    _step(number, api_key, "request_supplement", reason)


@cases_app.command("supplement")
@handled
def cases_supplement(
    number: Annotated[str, typer.Argument()],
    api_key: ApiKey,
    file: Annotated[Path | None, typer.Option(help="JSON: form, licences, note.")] = None,
    upload: Uploads = None,
) -> None:
    """Hand in what was asked (the applicant)."""
    svc = _service()
    raw = _read_json(file) if file is not None else {}
    case = svc.hall.supplement(_client(svc, api_key), number, raw, _uploads(upload))
    typer.echo(f"{case.number}: {case.status} ({case.status.label_zh}), due {case.due_on}")


@cases_app.command("approve")
@handled
def cases_approve(
    number: Annotated[str, typer.Argument()],
    api_key: ApiKey,
    licence_number: Annotated[
        str | None, typer.Option(help="The licence number (default: the case number).")
    ] = None,
) -> None:
    """准予: an item that issues a licence issues it now (once per case)."""
    svc = _service()
    raw = {"licence_number": licence_number} if licence_number else None
    approval = svc.hall.approve(_client(svc, api_key), number, raw)
    case = approval.case
    issued = f", licence {approval.licence}" if approval.licence else ""
    typer.echo(f"{case.number}: {case.status} ({case.status.label_zh}){issued}")


@cases_app.command("refuse")
@handled
def cases_refuse(number: Annotated[str, typer.Argument()], api_key: ApiKey, reason: Reason) -> None:
    """不予许可, with a reason."""
    _step(number, api_key, "refuse", reason)


@cases_app.command("complete")
@handled
def cases_complete(number: Annotated[str, typer.Argument()], api_key: ApiKey) -> None:
    """办结: the result is delivered."""
    _step(number, api_key, "complete")


@cases_app.command("visit")
@handled
def cases_visit(
    number: Annotated[str, typer.Argument()],
    api_key: ApiKey,
    note: Annotated[str | None, typer.Option(help="What the visit was for.")] = None,
) -> None:
    """Count an on-site visit of the applicant (到现场次数)."""
    note = check_text(note, field="note") if note is not None else None
    svc = _service()
    case = svc.hall.record_visit(_client(svc, api_key), number, note=note)
    typer.echo(f"{case.number}: {case.visits} on-site visits")


@cases_app.command("progress")
@handled
def cases_progress(
    number: Annotated[str, typer.Argument()],
    holder: Annotated[str, typer.Option(help="The applicant: ID_TYPE:ID_NUMBER.")],
) -> None:
    """Progress and result by case number and the applicant's id (no API key needed)."""
    from elicence.domain.licence import HolderRef

    svc = _service()
    p = svc.hall.progress(number, HolderRef.parse(holder, field="--holder"))
    case = p.case
    late = " (overdue)" if p.overdue else ""
    typer.echo(f"{case.number}  {case.item.name_zh}")
    typer.echo(f"status: {case.status} ({case.status.label_zh}), due {case.due_on or '-'}{late}")
    for e in p.events:
        typer.echo(f"  {e.at:%Y-%m-%d %H:%M}Z  {e.action}  -> {e.to_status.label_zh}")
    if case.licence:
        typer.echo(f"licence issued: {case.licence}")


@app.command()
@handled
def metrics(
    period: Annotated[str, typer.Option(help="2026-11, 2026-Q4, 2026 or 2026-11-01..2026-11-30.")],
    group_by: Annotated[
        str, typer.Option(help="department, division, city or all.")
    ] = "department",
    group: Annotated[str | None, typer.Option(help="Only this group.")] = None,
    as_csv: Annotated[bool, typer.Option("--csv", help="Print CSV (the API's columns).")] = False,
) -> None:
    """三率一数 and the composite score per group in a period (docs/metrics.md)."""
    import csv
    import sys

    from elicence.hall.metrics import CSV_COLUMNS, as_row

    report = _service().hall.metrics(period=period, group_by=group_by, group=group)
    rows = [as_row(m, report.period) for m in report.rows]
    if as_csv:
        writer = csv.DictWriter(sys.stdout, fieldnames=CSV_COLUMNS, lineterminator="\n")
        writer.writeheader()
        for row in rows:
            writer.writerow({k: "" if v is None else v for k, v in row.items()})
        return

    def f(v: object) -> str:
        return "-" if v is None else str(v)

    typer.echo(
        f"{report.period.label} by {report.group_by}: 深化率 办结率 满意率 到现场次数 综合计分"
    )
    for r in rows:
        typer.echo(
            f"{r['group']:<18} {f(r['depth_rate']):>6} {f(r['online_completion_rate']):>6} "
            f"{f(r['satisfaction_rate']):>6} {f(r['visits_per_case']):>6} "
            f"{f(r['composite']):>6}  {r['name']}"
        )


# -- stock conversion (存量转换): `elicence import` ------------------------------------------


@app.command("import")
@handled
def import_(
    file: Annotated[Path, typer.Argument(help="Existing licences: a .csv or .jsonl file.")],
    department: Annotated[
        str | None,
        typer.Option(help="The issuing department's USCC, for rows that name none."),
    ] = None,
    errors_file: Annotated[
        Path | None,
        typer.Option("--errors", help="The error report (default: FILE.errors.csv)."),
    ] = None,
    workers: Annotated[
        int | None, typer.Option(help="Sealing processes (default: one per CPU).")
    ] = None,
    chunk: Annotated[int, typer.Option(help="Rows per transaction.")] = 1000,
) -> None:
    """Convert existing paper licences into e-licences (docs/import.md).

    Resumable: after a crash or Ctrl-C, run the same command again; rows are never stored twice.
    Bad rows go to the error report and do not stop the run.
    """
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TaskProgressColumn,
        TextColumn,
        TimeRemainingColumn,
    )

    from elicence.app.stock import ImportProgress

    if chunk < 1:
        raise _fail("--chunk: give at least 1 row", EXIT_INPUT)
    svc = _service()
    seen: list[ImportProgress] = []
    with Progress(
        TextColumn("importing"),
        BarColumn(),
        MofNCompleteColumn(),
        TaskProgressColumn(),
        TextColumn("{task.fields[rate]} rows/s"),
        TextColumn("{task.fields[failed]} errors"),
        TextColumn("ETA"),
        TimeRemainingColumn(),
        transient=False,
    ) as bar:
        task = bar.add_task("import", total=None, rate="-", failed=0)

        def on_progress(p: ImportProgress) -> None:
            if not seen:
                bar.update(task, total=p.rows_total, completed=p.rows_done)
            seen.append(p)
            speed = bar.tasks[task].speed
            bar.update(
                task,
                completed=p.rows_done,
                rate=f"{speed:,.0f}" if speed else "-",
                failed=p.failed,
            )

        try:
            summary = svc.stock.run(
                file,
                department=department.strip().upper() if department else None,
                report=errors_file,
                workers=workers,
                chunk_rows=chunk,
                progress=on_progress,
            )
        except KeyboardInterrupt:
            done = seen[-1].rows_done if seen else 0
            raise _fail(
                f"interrupted after {done:,} rows stored; run the same command again to resume",
                EXIT_INTERRUPTED,
            ) from None
        finally:
            svc.close()
    rate = (summary.rows_done - summary.resumed_from) / summary.seconds if summary.seconds else 0
    resumed = f", resumed at row {summary.resumed_from:,}" if summary.resumed_from else ""
    if summary.finished and summary.resumed_from == summary.rows_done:
        resumed = " (imported before: nothing left to do)"
    typer.echo(
        f"{summary.rows_done:,} of {summary.rows_total:,} rows done{resumed}: "
        f"{summary.created:,} licences issued, {summary.existing:,} already stored, "
        f"{summary.failed:,} errors in {summary.report} ({summary.seconds:.1f} s, "
        f"{rate:,.0f} rows/s)"
    )
    if summary.failed:
        raise typer.Exit(EXIT_INPUT)


def main() -> None:
    import logging

    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    app(prog_name="elicence")


if __name__ == "__main__":  # pragma: no cover
    main()
