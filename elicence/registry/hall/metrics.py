"""Registry: the facts 三率一数 is computed from (``hall/metrics.py`` computes; this only reads):
the cases completed, the ratings given and the complaints filed in a period, read in one snapshot,
and the items of the catalogue in force at its end."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import and_, select

from elicence.domain.licence import china_today
from elicence.hall.cases import Channel
from elicence.hall.metrics import CaseFact, ComplaintFact, Facts, ItemFact, RatingFact
from elicence.hall.workflow import CaseStatus
from elicence.registry.engine import Database
from elicence.registry.hall.items import at as items_at
from elicence.registry.hall.statements import CASES, COMPLAINTS, RATINGS


def facts(db: Database, *, start: dt.datetime, end: dt.datetime) -> Facts:
    """Cases completed, ratings given and complaints filed in [start, end), and the items
    of the catalogue in force at ``end``."""
    with db.snapshot() as c:
        cases = c.execute(
            select(
                CASES.c.number,
                CASES.c.department,
                CASES.c.division,
                CASES.c.channel,
                CASES.c.visits,
                CASES.c.decided_at,
                CASES.c.due_on,
            ).where(
                CASES.c.status == str(CaseStatus.COMPLETED),
                CASES.c.completed_at >= start,
                CASES.c.completed_at < end,
            )
        ).all()
        ratings = c.execute(
            select(CASES.c.department, CASES.c.division, RATINGS.c.stars)
            .join(CASES, CASES.c.number == RATINGS.c.case_number)
            .where(and_(RATINGS.c.at >= start, RATINGS.c.at < end))
        ).all()
        complaints = c.execute(
            select(CASES.c.department, CASES.c.division, COMPLAINTS.c.substantiated)
            .join(CASES, CASES.c.number == COMPLAINTS.c.case_number)
            .where(and_(COMPLAINTS.c.at >= start, COMPLAINTS.c.at < end))
        ).all()
    case_facts = [
        CaseFact(
            r.number,
            r.department,
            r.division,
            r.channel == str(Channel.ONLINE),
            r.visits,
            None
            if r.due_on is None or r.decided_at is None
            else china_today(r.decided_at) <= r.due_on,
        )
        for r in cases
    ]
    catalogue = items_at(db, end)
    item_facts = []
    if catalogue is not None:
        for i in catalogue.items.values():
            dept = catalogue.departments[i.department]
            item_facts.append(
                ItemFact(
                    i.code,
                    i.department,
                    dept.division_code,
                    i.depth,
                    i.max_visits,
                    i.promised_days,
                    i.statutory_days,
                )
            )
    return Facts(
        items=item_facts,
        cases=case_facts,
        ratings=[RatingFact(r[0], r[1], r[2]) for r in ratings],
        complaints=[ComplaintFact(r[0], r[1], bool(r[2])) for r in complaints],
    )
