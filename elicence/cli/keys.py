"""``elicence keys …`` (command line): the root, department keys, key ceremonies, the trust and
status lists exported for offline halls."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from elicence.bootstrap import make_offline_root
from elicence.cli.common import (
    EXIT_INPUT,
    RootDir,
    fail,
    handled,
    load_settings,
    open_service,
    when,
)

keys_app = typer.Typer(
    help="Root CA, department signing keys and the trust list.", no_args_is_help=True
)


@keys_app.command("init")
@handled
def keys_init(root_dir: RootDir = None) -> None:
    """Create the root CA, the service key and a key for each department that has none."""
    created = open_service(root_dir=root_dir).keys.init()
    for e in created:
        typer.echo(f"created {e.role} key {e.kid} {e.department or ''} {e.name}")
    typer.echo(f"{len(created)} keys created")


@keys_app.command("list")
@handled
def keys_list() -> None:
    """List every certificate with its status."""
    svc = open_service()
    for e, cert in svc.keys.certificates():
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
    svc = open_service(root_dir=root_dir)
    old, new = svc.keys.rotate(department.strip().upper(), algorithm=algorithm.strip().upper())
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
    settings = load_settings()
    cert_path = make_offline_root(directory, settings)
    typer.echo(f"root certificate {cert_path}; the root key stays in {directory} (offline)")


@keys_app.command("crl")
@handled
def keys_crl(root_dir: RootDir = None) -> None:
    """Sign the root's CRL anew (with the root offline: a ceremony, due before it runs out)."""
    until = open_service(root_dir=root_dir).keys.resign_crl()
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
        raise fail("name a department USCC, or --service, not both", EXIT_INPUT)
    svc = open_service(root_dir=root_dir)
    old, new = svc.keys.enrol_token(department.strip().upper() if department else None)
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

    svc = open_service()
    tl = svc.keys.trust_list()
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
    svc = open_service()
    lists = svc.keys.status_lists()
    try:
        out.mkdir(parents=True, exist_ok=True)
        for sl in lists:
            (out / f"{sl.department}.{sl.purpose}.cose").write_bytes(sl.signed)
    except OSError as e:
        raise fail(f"cannot write to {out}: {e}", EXIT_INPUT) from None
    departments = len({sl.department for sl in lists})
    total = sum(len(sl.signed) for sl in lists)
    valid_until = min((sl.valid_until for sl in lists), default=None)
    typer.echo(
        f"wrote {len(lists)} status lists of {departments} departments to {out} "
        f"({total:,} bytes), valid until {valid_until:%Y-%m-%d %H:%M}Z"
        if valid_until
        else f"no departments: nothing written to {out}"
    )


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
    revoked, new, resealed = open_service(root_dir=root_dir).keys.compromise(
        department.strip().upper(), since=when(since, "--since"), kid=kid
    )
    typer.echo(f"revoked {revoked.kid} (compromised since {revoked.status_since.isoformat()})")
    if new is not None:
        typer.echo(f"active  {new.kid} for {department}")
    typer.echo(
        f"re-sealed {resealed} licences under the department's active key: publish the new "
        "trust list and tell holders to fetch their new codes (the old ones now verify untrusted)"
    )
