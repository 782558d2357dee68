"""What the hall shows without a login: a case's progress and result (by case number and the
applicant's id, rate-limited, the applicant masked), and 三率一数 (the seed opens 效能监察 to
the public's supervision), as JSON or CSV."""

from __future__ import annotations

import csv
import io
from typing import Annotated, Any

from fastapi import APIRouter, Query
from fastapi.responses import Response

from elicence.api.auth import RATE_LIMITED, PublicLimit, Service
from elicence.api.edge import SMALL, Charge, EdgeRoute, edge
from elicence.api.hall_schemas import ProgressIn, ProgressOut, metrics_rows, progress_out
from elicence.app.service import Elicence
from elicence.domain.licence import holder_ref
from elicence.hall.metrics import CSV_COLUMNS, GroupBy
from elicence.hall.numbers import case_number

router = APIRouter(route_class=EdgeRoute, prefix="/api/v1", tags=["hall: progress and metrics"])

# The shapes of the metrics queries, declared so that clients (and schemathesis) know them. The
# pattern is documented, not enforced here: the domain (hall/metrics.parse_period) checks the
# form and that the dates are real, and names the rule in words rather than as a regex.
PERIOD_PATTERN = r"^(\d{4}(-(0[1-9]|1[0-2])|-Q[1-4])?|\d{4}-\d{2}-\d{2}\.\.\d{4}-\d{2}-\d{2})$"
Period = Annotated[
    str | None,
    Query(
        max_length=32,
        json_schema_extra={"pattern": PERIOD_PATTERN},
        description="2026-11 (a month), 2026-Q4, 2026 or 2026-11-01..2026-11-30; "
        "default: this month, China time (as the dashboard)",
        examples=["2026-11"],
    ),
]
By = Annotated[GroupBy, Query(description="one row per department, division, city, or all")]
Group = Annotated[str | None, Query(max_length=32, description="only this group's row")]


@router.post(
    "/progress",
    response_model=ProgressOut,
    responses={404: {"description": "no case with this number for this applicant"}, **RATE_LIMITED},
)
@edge(SMALL, charge=Charge.PROGRESS)
def progress(body: ProgressIn, svc: Service) -> Any:
    """A case's progress and result, by its number and the applicant's id: no login (the
    seed's 进度查询, 结果查询). An unknown number and a wrong id get the same 404."""
    number = case_number(body.case_number)
    holder = holder_ref(body.holder_id_type, body.holder_id, field="holder")
    svc.guard.progress_for(case_number=number)  # its address was charged before the read
    return progress_out(svc.hall.progress(number, holder), catalogue=svc.hall.items())


def _period(svc: Elicence, period: str | None) -> str:
    """The period asked for, or this month in China time (the dashboard's default) when none is
    given; an empty one is asked for and refused by the domain's rule (422 naming ``period``)."""
    return svc.hall.today().strftime("%Y-%m") if period is None else period


@router.get("/metrics", dependencies=[PublicLimit], responses=RATE_LIMITED)
def metrics(
    svc: Service, period: Period = None, group_by: By = GroupBy.DEPARTMENT, group: Group = None
) -> dict[str, Any]:
    """三率一数 and the composite score per department, division or city (or all) in a period:
    ``2026-11``, ``2026-Q4``, ``2026`` or ``2026-11-01..2026-11-30`` (default: this month,
    China time). docs/metrics.md gives every formula."""
    report = svc.hall.metrics(period=_period(svc, period), group_by=group_by, group=group)
    return {
        "period": {
            "label": report.period.label,
            "first": report.period.first,
            "last": report.period.last,
        },
        "group_by": str(report.group_by),
        "rows": metrics_rows(report.rows, report.period),
    }


@router.get(
    "/metrics.csv",
    response_class=Response,
    dependencies=[PublicLimit],
    responses={200: {"content": {"text/csv": {}}}, **RATE_LIMITED},
)
def metrics_csv(
    svc: Service, period: Period = None, group_by: By = GroupBy.DEPARTMENT, group: Group = None
) -> Response:
    """The same rows as CSV (UTF-8 with a byte-order mark, so that spreadsheets read 中文)."""
    report = svc.hall.metrics(period=_period(svc, period), group_by=group_by, group=group)
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=CSV_COLUMNS, lineterminator="\r\n")
    writer.writeheader()
    for row in metrics_rows(report.rows, report.period):
        writer.writerow({k: "" if v is None else v for k, v in row.items()})
    return Response(
        "\ufeff" + buf.getvalue(),
        media_type="text/csv; charset=utf-8",
        headers={
            "Content-Disposition": f'attachment; filename="metrics-{report.period.label}.csv"'
        },
    )
