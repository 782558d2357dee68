"""``elicence verify`` and ``elicence presentation verify`` (command line), online or offline:
one offline set-up (`offline_verifier`) and one report printer (`print_report`) for both."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from elicence.app.service import utcnow
from elicence.cli.common import (
    EXIT_INPUT,
    EXIT_INVALID,
    fail,
    handled,
    open_service,
    print_json,
)

if TYPE_CHECKING:
    from elicence.verifier import OfflineVerifier
    from elicence.verifier.report import VerificationReport

presentation_app = typer.Typer(
    help="Live presentations (EP1, docs/formats.md §9): the holder's changing QR code.",
    no_args_is_help=True,
)

NOT_CHECKED = (
    "  caveat: revocation was NOT checked (no status lists): this verdict says nothing of "
    "revocation, suspension or supersession; add --status-lists DIR (and --require-status)"
)


def offline_verifier(
    trust_list: Path | None, root: Path | None, status_lists: Path | None, state: Path | None
) -> OfflineVerifier | None:
    """The offline verifier of the files given, or None to verify online (no ``--trust-list``).

    ``--root`` goes with ``--trust-list``; ``--status-lists`` and ``--state`` need both. With a
    state file, lists older than ones seen before are refused, and the sequence numbers of the
    lists used are remembered."""
    if trust_list is None:
        if status_lists is not None or state is not None:
            raise fail(
                "--status-lists and --state need --trust-list and --root (offline verification)",
                EXIT_INPUT,
            )
        return None
    if root is None:
        raise fail("--trust-list needs --root, the pinned root certificate", EXIT_INPUT)
    if status_lists is not None and not status_lists.is_dir():
        raise fail(f"--status-lists: {status_lists} is not a directory", EXIT_INPUT)
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


def print_report(
    seal: VerificationReport,
    *,
    headline: str,
    checks: Iterable[tuple[str, bool, str]],
    as_json: bool,
    fields: Mapping[str, Any],
) -> None:
    """One report on stdout: JSON (``fields`` and the checks), or the headline, whether
    revocation was checked (from the seal's report), one line a check."""
    checks = list(checks)
    if as_json:
        print_json(
            {
                **fields,
                "checks": [
                    {"name": str(name), "passed": passed, "detail": detail}
                    for name, passed, detail in checks
                ],
            }
        )
        return
    typer.echo(headline)
    if seal.verdict == "not_yet_valid" and seal.licence:
        typer.echo(f"  genuine, in force from {seal.licence.valid_from}: not valid today")
    if not seal.status_checked:
        typer.echo(NOT_CHECKED)
    elif seal.status_valid_until is not None:
        typer.echo(f"  status lists valid until {seal.status_valid_until.isoformat()}")
    for name, passed, detail in checks:
        typer.echo(f"  [{'ok' if passed else 'FAIL'}] {name}: {detail}")


def _status_problem(report: VerificationReport) -> str | None:
    """Why ``report`` does not rest on checked status (None when it does)."""
    if not report.status_checked:
        return "revocation was not checked: no status lists (--status-lists DIR)"
    failed = [c.detail for c in report.checks if c.name == "status_lists" and not c.passed]
    return failed[0] if failed else None


def _read_pdf_argument(value: str) -> bytes | None:
    """The bytes of ``value`` when it names a PDF file (``*.pdf``), else None."""
    if not value.strip().lower().endswith(".pdf"):
        return None
    try:
        return Path(value.strip()).read_bytes()
    except OSError as e:
        raise fail(f"cannot read {value}: {e}", EXIT_INPUT) from None


@handled
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
    offline = offline_verifier(trust_list, root, status_lists, state)
    if offline is not None:
        if pdf is not None:
            report = offline.verify_pdf(pdf, now=utcnow())
        else:
            report = offline.verify(value, now=utcnow())
    else:
        svc = open_service()
        if pdf is not None:
            report = svc.verification.verify_pdf(pdf, client=None)
        elif value.strip().startswith("1.2.156.3005.2."):
            report = svc.verification.verify(identifier=value, client=None)
        else:
            report = svc.verification.verify(seal=value, client=None)
    valid_until = report.status_valid_until
    lic = report.licence
    print_report(
        report,
        headline=f"verdict: {report.verdict}",
        checks=[(c.name, c.passed, c.detail) for c in report.checks],
        as_json=as_json,
        fields={
            "verdict": str(report.verdict),
            "status_checked": report.status_checked,
            "status_lists_valid_until": valid_until.isoformat() if valid_until else None,
            "checked_at": report.checked_at.isoformat(),
            "valid_from": lic.valid_from.isoformat() if lic else None,
        },
    )
    if lic and not as_json:
        typer.echo(f"  licence {lic.identifier} ({lic.licence_number}), holder {lic.holder_name}")
    status_problem = _status_problem(report)
    if require_status and status_problem is not None:
        raise fail(f"--require-status: {status_problem}", EXIT_INVALID)
    raise typer.Exit(0 if report.valid else EXIT_INVALID)


@presentation_app.command("verify")
@handled
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

    ref = HolderRef.parse(holder) if holder is not None else None
    offline = offline_verifier(trust_list, root, status_lists, state)
    if offline is not None:
        report = verify_presentation(
            text,
            trust_list=offline.trust_list,
            status=offline.status,
            now=utcnow(),
            holder=(str(ref.id_type), ref.id_number) if ref else None,
        )
    else:
        report = open_service().holder.verify_presentation(
            text, client=None, holder=ref, operator=True
        )
    print_report(
        report.seal,
        headline=f"presentation: {report.verdict}; licence: {report.seal.verdict}",
        checks=[(c.name, c.passed, c.detail) for c in report.checks]
        + [(c.name, c.passed, c.detail) for c in report.seal.checks],
        as_json=as_json,
        fields={
            "accepted": report.accepted,
            "presentation": str(report.verdict),
            "verdict": str(report.seal.verdict),
            "not_before": report.not_before.isoformat(),
            "not_after": report.not_after.isoformat(),
        },
    )
    raise typer.Exit(0 if report.accepted else EXIT_INVALID)
