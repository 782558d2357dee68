"""HTTP: the 三率一数 dashboard (``/dashboard``): the hall's metrics for anyone, no login (the seed
opens 效能监察 to the public's supervision), as server-rendered SVG bar charts with tables, and
``/dashboard/about``: what each figure means.

Plain GET forms choose the period (default: this month in Beijing time) and the grouping; a
group's name selects it for the trend. Each page is charged to the caller's address in the
``public`` bucket: the dashboard as many reads as the periods it computes (the period and its
trend: 13 for a month), as it costs about that many ``/api/v1/metrics`` calls; a bad query is
an error page naming the field (4xx), never a 500.
"""

from __future__ import annotations

import re
from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response

from elicence.api.auth import PublicLimit, Service
from elicence.api.context import client_address
from elicence.api.web import HtmlRoute, public_page
from elicence.errors import InputError
from elicence.hall.metrics import GroupBy, parse_period, period_kind
from elicence.templates import dashboard

router = APIRouter(route_class=HtmlRoute, include_in_schema=False)

_GROUP = re.compile(r"[0-9A-Za-z]{1,32}")

Text = Annotated[str | None, Query(max_length=64)]


@router.get("/dashboard")
def dashboard_page(
    request: Request,
    svc: Service,
    period: Text = None,
    group_by: Text = None,
    group: Text = None,
) -> Response:
    """三率一数 and the composite score per group in a period, and one group's trend."""
    label = (period or "").strip() or svc.hall.today().strftime("%Y-%m")
    by = (group_by or "").strip() or str(GroupBy.DEPARTMENT)
    chosen = (group or "").strip() or None
    if chosen is not None and not _GROUP.fullmatch(chosen):
        raise InputError("must be a group's code: 1 to 32 letters and digits", field="group")
    count = dashboard.TREND_LENGTH[period_kind(parse_period(label))]
    svc.guard.public(address=client_address(request), cost=1 + count)
    report = svc.hall.metrics(period=label, group_by=by)
    trend_group = "all" if report.group_by is GroupBy.ALL or chosen is None else chosen
    trend = svc.hall.metrics_trend(
        period=label,
        group_by=str(report.group_by) if trend_group != "all" else str(GroupBy.ALL),
        group=trend_group,
        count=count,
    )
    return public_page(
        request,
        "dashboard/index.html",
        **dashboard.view(
            period=report.period,
            group_by=report.group_by,
            rows=report.rows,
            trend=trend,
            trend_group=trend_group,
            today=svc.hall.today(),
        ),
    )


@router.get("/dashboard/about", dependencies=[PublicLimit])
def dashboard_about(request: Request) -> Response:
    """What 三率一数 and the composite score count (docs/metrics.md, in short)."""
    return public_page(request, "dashboard/about.html", measures=dashboard.MEASURES)
