"""The ``elicence`` command line. The one place that maps errors to exit codes:
0 success (``verify``: valid), 1 ``verify``: not valid, 2 bad input, 3 configuration, keys or
database unavailable, 130 interrupted (`import`: run it again to resume).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from functools import wraps
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, ParamSpec, TypeVar

import typer
from cryptography import x509

from elicence import errors
from elicence.app.service import Elicence, utcnow
from elicence.bootstrap import build_service
from elicence.domain.clients import Role
from elicence.formats.catalogue_file import DEMO_CATALOGUE, load_catalogue
from elicence.settings import Settings

if TYPE_CHECKING:
    pass

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


def _service(settings: Settings | None = None) -> Elicence:
    return build_service(settings or _settings())


def _print_json(data: Any) -> None:
    typer.echo(json.dumps(data, ensure_ascii=False, indent=2, default=str))


# -- set-up ---------------------------------------------------------------------------------


@app.command()
@handled
def init(
    demo: Annotated[
        bool, typer.Option(help="Import the demo catalogue and make demo clients.")
    ] = True,
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
    svc = _service(settings)
    if svc.catalogue_version() is None:
        if not demo:
            raise _fail("no catalogue yet: run `elicence catalogue import FILE`", EXIT_INPUT)
        version, created = svc.import_catalogue(load_catalogue(DEMO_CATALOGUE))
        typer.echo(f"imported the demo catalogue (version {version})")
    else:
        created = svc.init_keys()
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

    settings = _settings()
    _service(settings).close()  # upgrade the schema once, before the workers start
    config = uvicorn.Config(
        "elicence.api.asgi:app",
        host=host or settings.host,
        port=port or settings.port,
        workers=workers,
        log_level="info",
        access_log=False,
    )
    if workers <= 1:
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
    build_service(settings, upgrade=True)
    typer.echo(f"database {settings.effective_database_url}: schema up to date")


# -- catalogue ------------------------------------------------------------------------------


@catalogue_app.command("import")
@handled
def catalogue_import(file: Annotated[Path, typer.Argument(help="Catalogue YAML file.")]) -> None:
    """Check and import a catalogue file; new departments get signing keys."""
    catalogue = load_catalogue(file)
    svc = _service()
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
def keys_init() -> None:
    """Create the root CA, the service key and a key for each department that has none."""
    created = _service().init_keys()
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
        )


@keys_app.command("rotate")
@handled
def keys_rotate(department: Annotated[str, typer.Argument(help="Department USCC.")]) -> None:
    """Give a department a new key; its old key is retired (what it sealed stays valid)."""
    old, new = _service().rotate_key(department.strip().upper())
    if old:
        typer.echo(f"retired {old.kid}")
    typer.echo(f"active  {new.kid} for {department}")


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
) -> None:
    """Create an API client and print its key (shown once)."""
    from elicence.domain.licence import HolderRef

    made = _service().add_client(
        name=name,
        role=role,
        department=department.strip().upper() if department else None,
        holder=HolderRef.parse(holder, field="--holder") if holder is not None else None,
    )
    typer.echo(f"client {made.client.id} ({made.client.role}) created; its API key, shown once:")
    typer.echo(made.api_key)


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
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
) -> None:
    """Verify a licence. Exit 0 when valid, 1 when not, 2 on bad input.

    Offline (--trust-list, --root) without --status-lists, "valid" says nothing of revocation;
    with --status-lists, it is "valid" only when the department's lists are current and clear.
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
            from elicence.verifier import OfflineVerifier

            if status_lists is not None and not status_lists.is_dir():
                raise _fail(f"--status-lists: {status_lists} is not a directory", EXIT_INPUT)
            offline = OfflineVerifier.from_files(
                trust_list=trust_list, root=root, status_lists=status_lists
            )
            for problem in offline.refused:
                typer.echo(f"warning: {problem}", err=True)
            if pdf is not None:
                report = offline.verify_pdf(pdf, now=utcnow())
            else:
                report = offline.verify(value, now=utcnow())
        else:
            svc = _service()
            if pdf is not None:
                report = svc.verify_pdf(pdf, client=None)
            elif value.strip().startswith("1.2.156.3005.2."):
                report = svc.verify(identifier=value, client=None)
            else:
                report = svc.verify(seal=value, client=None)
    except errors.Error as e:
        raise _fail(str(e), exit_code(e)) from None
    if as_json:
        _print_json(
            {
                "verdict": str(report.verdict),
                "checks": [
                    {"name": c.name, "passed": c.passed, "detail": c.detail} for c in report.checks
                ],
            }
        )
    else:
        typer.echo(f"verdict: {report.verdict}")
        for c in report.checks:
            typer.echo(f"  [{'ok' if c.passed else 'FAIL'}] {c.name}: {c.detail}")
        if report.licence:
            lic = report.licence
            typer.echo(
                f"  licence {lic.identifier} ({lic.licence_number}), holder {lic.holder_name}"
            )
    raise typer.Exit(0 if report.valid else EXIT_INVALID)


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
) -> None:
    """Mark a department key compromised: its seals made at or after SINCE become untrusted."""
    import datetime as dt

    try:
        when = dt.datetime.fromisoformat(since.strip().replace("Z", "+00:00"))
    except ValueError:
        raise _fail(f"--since: {since!r} is not an ISO 8601 time", EXIT_INPUT) from None
    if when.tzinfo is None:
        raise _fail("--since: give a time zone (for example 2026-11-28T10:00:00+08:00)", EXIT_INPUT)
    revoked, new = _service().compromise_key(department.strip().upper(), since=when, kid=kid)
    typer.echo(f"revoked {revoked.kid} since {revoked.status_since.isoformat()}")
    if new is not None:
        typer.echo(f"active  {new.kid} for {department}")


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
