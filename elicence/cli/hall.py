"""``elicence items …``, ``cases …`` and ``metrics`` (command line): the hall's case API
(issue 7)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from elicence.app.service import Elicence
from elicence.cli.common import (
    EXIT_INPUT,
    fail,
    handled,
    open_service,
    print_json,
    read_json,
)
from elicence.domain.clients import Client
from elicence.domain.inputs import check_text

items_app = typer.Typer(help="The hall's service-item catalogue (事项目录).", no_args_is_help=True)
cases_app = typer.Typer(
    help="Cases (办件): apply, accept, review, approve, complete; as an API client "
    "(--api-key or ELICENCE_API_KEY), with that client's rights.",
    no_args_is_help=True,
)

ApiKey = Annotated[
    str,
    typer.Option(
        "--api-key",
        envvar="ELICENCE_API_KEY",
        help="The API key of the client acting (applicant, clerk, hall or admin).",
    ),
]
Reason = Annotated[str | None, typer.Option(help="Why (shown to the applicant).")]


@items_app.command("import")
@handled
def items_import(
    file: Annotated[Path, typer.Argument(help="Service-item catalogue YAML file.")],
) -> None:
    """Check a service-item file against the licence catalogue in force and import it."""
    from elicence.hall.items_file import load_items

    items = load_items(file)
    version = open_service().hall.import_items(items)
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

    catalogue = open_service().hall.items()
    if code is None:
        print_json(items_to_dict(catalogue))
        return
    print_json(item_to_dict(catalogue.item(code, field="code")))


def _client(svc: Elicence, api_key: str) -> Client:
    return svc.clients.authenticate(api_key.strip())


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
    print_json(out)


def _uploads(specs: list[str] | None) -> list[Any]:
    import mimetypes

    from elicence.hall.cases import UploadIn

    out = []
    for spec in specs or []:
        material, sep, path = spec.partition("=")
        if not sep or not material or not path:
            raise fail(f"--upload {spec!r}: give MATERIAL=PATH", EXIT_INPUT)
        try:
            content = Path(path).read_bytes()
        except OSError as e:
            raise fail(f"--upload {material}: cannot read {path}: {e}", EXIT_INPUT) from None
        kind = mimetypes.guess_type(path)[0] or "application/octet-stream"
        out.append(UploadIn(material, Path(path).name, kind, content))
    return out


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
    svc = open_service()
    case = svc.hall.submit(_client(svc, api_key), read_json(file), _uploads(upload))
    _case_json(svc, case.number, api_key)


@cases_app.command("show")
@handled
def cases_show(number: Annotated[str, typer.Argument()], api_key: ApiKey) -> None:
    """A case with its timeline (as the client may see it)."""
    _case_json(open_service(), number, api_key, events=True)


@cases_app.command("list")
@handled
def cases_list(
    api_key: ApiKey,
    status: Annotated[str | None, typer.Option(help="Only cases in this status.")] = None,
    overdue: Annotated[bool, typer.Option(help="Only overdue cases (超期).")] = False,
    limit: Annotated[int, typer.Option(help="At most this many.")] = 100,
) -> None:
    """The cases this client may see: number, status, due date, item."""
    svc = open_service()
    found = svc.hall.cases(_client(svc, api_key), status=status, overdue=overdue, limit=limit)
    today = svc.hall.today()
    for c in found:
        late = " OVERDUE" if c.overdue(today) else ""
        typer.echo(f"{c.number}  {c.status:<20} due {c.due_on or '-'}{late}  {c.item.name_zh}")


def _step(number: str, api_key: str, action: str, reason: str | None = None) -> None:
    from elicence.hall.workflow import CaseAction

    reason = check_text(reason, field="reason") if reason is not None else None
    svc = open_service()
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
    svc = open_service()
    raw = read_json(file) if file is not None else {}
    case = svc.hall.supplement(_client(svc, api_key), number, raw, _uploads(upload))
    typer.echo(f"{case.number}: {case.status} ({case.status.label_zh}), due {case.due_on}")


@cases_app.command("approve")
@handled
def cases_approve(
    number: Annotated[str, typer.Argument()],
    api_key: ApiKey,
    licence_number: Annotated[
        str | None,
        typer.Option(
            help="The licence number (default: one the issuer makes: the department's "
            "division code, the year and ten random characters)."
        ),
    ] = None,
) -> None:
    """准予: an item that issues a licence issues it now (once per case)."""
    svc = open_service()
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
    svc = open_service()
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

    svc = open_service()
    p = svc.hall.progress(number, HolderRef.parse(holder, field="--holder"))
    case = p.case
    late = " (overdue)" if p.overdue else ""
    typer.echo(f"{case.number}  {case.item.name_zh}")
    typer.echo(f"status: {case.status} ({case.status.label_zh}), due {case.due_on or '-'}{late}")
    for e in p.events:
        typer.echo(f"  {e.at:%Y-%m-%d %H:%M}Z  {e.action}  -> {e.to_status.label_zh}")
    if case.licence:
        typer.echo(f"licence issued: {case.licence}")


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

    report = open_service().hall.metrics(period=period, group_by=group_by, group=group)
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
