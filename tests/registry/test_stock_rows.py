"""The stock conversion's rows encoded in worker processes (registry/stock.py ``StockRows``):
``COPY``'s text format written out stores exactly what the driver's own ``COPY`` stores, and the
events chained from their prefixes carry the hashes ``chain`` gives.

The PostgreSQL tests need a server (``postgres_url`` creates a throwaway database).
"""

from __future__ import annotations

import datetime as dt
import pickle

import pytest
from sqlalchemy import text

from elicence.app.service import Elicence
from elicence.domain.catalogue import HolderIdType
from elicence.domain.licence import EventKind, Holder, Licence, LicenceEvent, LicenceStatus
from elicence.formats.eventlog import GENESIS, chain, place
from elicence.registry.pgcopy import (
    EVENT_COLUMNS,
    LICENCE_COLUMNS,
    copy_licences,
    copy_lines,
    copy_text,
    copy_text_line,
    event_copy_line,
    event_copy_middle,
    licence_copy_line,
)
from elicence.registry.stock import StockRows
from tests.conftest import GZ_AMR

# text the COPY format must escape (backslash, tab, newline, carriage return), a "\." line,
# and characters beyond the BMP
AWKWARD = "a\\b\tc\nd\re\\.\n\\N 𠀀 广州"


def _licence(n: int, *, awkward: bool) -> Licence:
    text_ = AWKWARD if awkward else "广州市天河区天河路385号"
    return Licence(
        identifier=f"11100000000013338W011.{GZ_AMR}.{n:020d}.1.X",
        type_code="11100000000013338W011",
        department_uscc=GZ_AMR,
        licence_number=f"JY{n:014d}",
        holder=Holder(f"某某餐饮管理有限公司{text_}", HolderIdType.USCC, "91350100M000100Y43"),
        valid_from=dt.date(2019, 11, 28),
        valid_until=None if n % 2 else dt.date(2029, 11, 27),
        data={"residence": text_, "legal_representative": "张三"},
        status=LicenceStatus.VALID,
        version=1,
        issued_at=dt.datetime(2026, 12, 6, 5, 15, 0, 123456 * (n % 2), tzinfo=dt.UTC),
        seal="EL1:" + "A" * 700,
        kid="k" * 16,
        source_ref=f"PAPER-{n}{text_ if awkward else ''}",
        request_hash=f"{n:064x}",
        superseded_by=None,
        status_index=n,
    )


def _event(lic: Licence) -> LicenceEvent:
    return LicenceEvent(
        kind=EventKind.ISSUED,
        identifier=lic.identifier,
        department=lic.department_uscc,
        actor="import:0123456789ab",
        at=lic.issued_at,
        detail={"seal": lic.seal, "version": 1, "note": lic.data["residence"], "none": None},
    )


@pytest.mark.parametrize(
    "values",
    [
        ["plain", "广州", None, 7, dt.date(2019, 11, 28), None],
        ["\\N", None],  # the text \N is not a NULL
        ["a\tb", None, "c"],
        ["a\\", None, None],
        ["line\nbreak", "cr\r"],
        [None, None],
        [dt.datetime(2026, 12, 6, 5, 15, tzinfo=dt.UTC), EventKind.ISSUED, LicenceStatus.VALID],
        [AWKWARD, "x"],
    ],
)
def test_a_copy_line_escapes_what_copy_text_escapes(values: list[object]) -> None:
    assert copy_text_line(values) == "\t".join(copy_text(v) for v in values)


def test_events_placed_from_their_prefixes_chain_as_chain_does() -> None:
    events = [_event(_licence(n, awkward=n == 2)) for n in range(1, 6)]
    encoded = [StockRows(postgres=True).encode(_licence(n, awkward=n == 2), e) for n, e in
               zip(range(1, 6), events, strict=True)]  # fmt: skip
    for head in ((0, GENESIS), (41, "ab" * 32)):
        chained = chain(events, head_seq=head[0], head_hash=head[1])
        placed = place([e[5] for e in encoded], head_seq=head[0], head_hash=head[1])
        assert placed == [(e.seq, e.prev_hash, e.hash) for e in chained]
        assert all(e.computed_hash() == e.hash for e in chained)


def test_encoded_rows_survive_pickling() -> None:
    lic = _licence(1, awkward=True)
    for postgres in (True, False):
        encoded = StockRows(postgres=postgres).encode(lic, _event(lic))
        assert pickle.loads(pickle.dumps(encoded)) == encoded
        assert encoded[:4] == (lic.identifier, GZ_AMR, lic.source_ref, lic.request_hash)


@pytest.mark.postgres
def test_copy_text_lines_store_what_the_drivers_copy_stores(pg_service: Elicence) -> None:
    licences = [_licence(n, awkward=n % 3 == 0) for n in range(1, 7)]
    events = chain([_event(lic) for lic in licences], head_seq=0, head_hash=GENESIS)
    with pg_service.registry.engine.begin() as conn:
        for name, like in (("lic_a", "licences"), ("lic_b", "licences"), ("ev_a", "events"),
                           ("ev_b", "events")):  # fmt: skip
            conn.execute(text(f"CREATE TEMPORARY TABLE {name} (LIKE {like} INCLUDING ALL)"))
        copy_licences(conn, licences, into="lic_a")
        copy_lines(conn, [licence_copy_line(lic) for lic in licences], table="licences",
                   into="lic_b")  # fmt: skip
        _copy_events_into(conn, events, "ev_a")
        copy_lines(
            conn,
            [
                event_copy_line(e.seq, event_copy_middle(_event(lic)), e.prev_hash, e.hash)
                for lic, e in zip(licences, events, strict=True)
            ],
            table="events",
            into="ev_b",
        )
        for a, b, columns in (("lic_a", "lic_b", LICENCE_COLUMNS),
                              ("ev_a", "ev_b", EVENT_COLUMNS)):  # fmt: skip
            # json has no equality operator: compare its text, which json keeps as given
            cols = ", ".join(f"{c}::text" if c in ("data", "detail") else c for c in columns)
            rows_a = conn.execute(text(f"SELECT {cols} FROM {a} ORDER BY 1")).all()
            rows_b = conn.execute(text(f"SELECT {cols} FROM {b} ORDER BY 1")).all()
            assert len(rows_a) == len(licences)
            assert rows_a == rows_b
        stored = conn.execute(text("SELECT holder_name, source_ref FROM lic_b ORDER BY 1")).all()
        assert any(AWKWARD in name and AWKWARD in ref for name, ref in stored)


def _copy_events_into(conn: object, events: list, into: str) -> None:  # type: ignore[type-arg]
    """The driver's COPY of events (pgcopy.copy_events), into a scratch table."""
    from elicence.registry import pgcopy

    statement = pgcopy.COPY_EVENTS.replace("events", into, 1)
    with pgcopy.driver(conn).cursor() as cur, cur.copy(statement) as copy:  # type: ignore[arg-type]
        for e in events:
            copy.write_row(pgcopy.event_row(e))
