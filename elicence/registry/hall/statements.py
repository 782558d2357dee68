"""The hall's tables and the statements of the case path, built once (building a statement
costs about as much as running it).

Invariant: the columns a case's later steps change are listed once, in
:data:`~elicence.registry.hall.rows.MUTABLE` (name, and how a value goes to and comes from
the row); the update statements here are made from that list, so a column added there is
written, and read back, everywhere.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, cast

from sqlalchemy import (
    String,
    Table,
    any_,
    bindparam,
    column,
    exists,
    func,
    insert,
    select,
    union_all,
    update,
)
from sqlalchemy.dialects.postgresql import ARRAY

from elicence.domain.licence import LicenceStatus
from elicence.registry.hall.rows import MUTABLE
from elicence.registry.models import (
    HallBlob,
    HallCase,
    HallCaseEvent,
    HallComplaint,
    HallItemCatalogue,
    HallRating,
    HallRectification,
    HallUpload,
)
from elicence.registry.tables import CLIENTS, LICENCES, USAGE

ITEM_CATALOGUES = cast(Table, HallItemCatalogue.__table__)
CASES = cast(Table, HallCase.__table__)
UPLOADS = cast(Table, HallUpload.__table__)
BLOBS = cast(Table, HallBlob.__table__)
EVENTS = cast(Table, HallCaseEvent.__table__)
RATINGS = cast(Table, HallRating.__table__)
RECTIFICATIONS = cast(Table, HallRectification.__table__)
COMPLAINTS = cast(Table, HallComplaint.__table__)

INSERT_CASE = insert(CASES)
INSERT_EVENT = insert(EVENTS)
INSERT_UPLOAD = insert(UPLOADS)
INSERT_BLOB = insert(BLOBS).returning(BLOBS.c.id)
# An applicant's blob of a content (uploads are content-addressed per applicant).
BLOB_OF = select(BLOBS.c.id).where(
    BLOBS.c.holder_id_type == bindparam("id_type"),
    BLOBS.c.holder_id == bindparam("id_number"),
    BLOBS.c.sha256 == bindparam("sha256"),
)
# An upload's row with its bytes (from its blob; a row the migration could not move keeps its own).
UPLOAD_WITH_BYTES = select(
    UPLOADS.c.material,
    UPLOADS.c.filename,
    UPLOADS.c.content_type,
    UPLOADS.c.size,
    UPLOADS.c.sha256,
    UPLOADS.c.uploaded_at,
    func.coalesce(BLOBS.c.content, UPLOADS.c.content).label("content"),
).select_from(UPLOADS.outerjoin(BLOBS, BLOBS.c.id == UPLOADS.c.blob_id))
CASE_BY_NUMBER = select(CASES).where(CASES.c.number == bindparam("number"))
LIST_COLUMNS = tuple(c for c in CASES.c if c.name != "item")  # a list: snapshots from the cache
ITEM_OF_CASE = select(CASES.c.item).where(CASES.c.number == bindparam("number"))
CASE_FOR_UPDATE = CASE_BY_NUMBER.with_for_update()
# What a citation check reads of each cited licence: the verifier's view and the holder, for all
# of a case's citations in one statement.
# The cited licences of a step: their identifiers bound as one value, so that the statement is
# the same whatever their number (compiled once, prepared by the driver; an expanding ``IN`` was
# rendered anew at each run: 7 % of a complete case's CPU). PostgreSQL takes an array
# (``= ANY``), SQLite a JSON array (``IN (SELECT value FROM json_each(...))``).
_CITED = select(
    LICENCES.c.identifier,
    LICENCES.c.seal,
    LICENCES.c.status,
    LICENCES.c.valid_from,
    LICENCES.c.valid_until,
    LICENCES.c.superseded_by,
    LICENCES.c.type_code,
    LICENCES.c.department,
    LICENCES.c.holder_id_type,
    LICENCES.c.holder_id,
)
CITED_PG = _CITED.where(LICENCES.c.identifier == any_(bindparam("ids", type_=ARRAY(String))))
CITED_SQLITE = _CITED.where(
    LICENCES.c.identifier.in_(
        select(column("value")).select_from(func.json_each(bindparam("ids", type_=String)))
    )
)
# The name an applicant's licences give it: on its latest licence in force.
REGISTERED_NAME = (
    select(LICENCES.c.holder_name)
    .where(
        LICENCES.c.holder_id_type == bindparam("id_type"),
        LICENCES.c.holder_id == bindparam("id_number"),
        LICENCES.c.status == str(LicenceStatus.VALID),
    )
    .order_by(LICENCES.c.issued_at.desc())
    .limit(1)
)
# Every mutable column; and only the state (no JSON document), when the documents are unchanged.
UPDATE_CASE = (
    update(CASES)
    .where(CASES.c.number == bindparam("n"))
    .values({c.name: bindparam(f"v_{c.name}") for c in MUTABLE})
)
UPDATE_CASE_IF = UPDATE_CASE.where(CASES.c.version == bindparam("expected"))
UPDATE_STATE = (
    update(CASES)
    .where(CASES.c.number == bindparam("n"))
    .values({c.name: bindparam(f"v_{c.name}") for c in MUTABLE if not c.document})
)


def _and_event(changed: Any) -> Any:
    """PostgreSQL: ``changed`` (an insert or an update of one case) and the insert of its one
    event in one statement, ``WITH moved AS (UPDATE … RETURNING number) INSERT INTO
    hall_case_events SELECT …``: one round trip a step instead of two (issue 20). The event is
    written only if the case row was (an update whose condition failed writes neither)."""
    moved = changed.returning(CASES.c.number).cte("moved")
    columns = ("at", "action", "from_status", "to_status", "actor", "detail")
    rows = select(moved.c.number, *(bindparam(f"e_{c}", type_=EVENTS.c[c].type) for c in columns))
    return insert(EVENTS).from_select(["case_number", *columns], rows)


UPDATE_STATE_AND_EVENT = _and_event(UPDATE_STATE)
UPDATE_CASE_AND_EVENT = _and_event(UPDATE_CASE)
# returns the event's case number: no row when the case had not the expected version (the
# driver reports no row count for a statement with a data-modifying CTE)
UPDATE_CASE_IF_AND_EVENT = _and_event(UPDATE_CASE_IF).returning(EVENTS.c.case_number)
# a new case (every column, bound as ``c_<column>``) and its first event
INSERT_CASE_AND_EVENT = _and_event(
    insert(CASES).values({c.name: bindparam(f"c_{c.name}", type_=c.type) for c in CASES.c})
)


_USAGE_COLUMNS = ("at", "client_id", "identifier", "channel", "verdict", "authenticated")


@functools.cache
def usage_insert(count: int) -> Any:
    """The usage records of ``count`` checks by one client for one case in one statement
    (``INSERT … SELECT … WHERE EXISTS (the client) … RETURNING id``), bound as ``at``,
    ``client_id``, ``case_number`` and ``identifier_<i>``, ``channel_<i>``, ``verdict_<i>``.

    A client the ``api_clients`` table does not hold (a web sign-in never enrolled) gets no
    record, as ``Registry.record_usage`` drops and logs a record its foreign key refuses: the
    step that cited the licences is not failed by it (the caller sees fewer ids, and logs)."""
    known = exists().where(CLIENTS.c.id == bindparam("client_id"))

    def one(i: int) -> Any:
        shared = {"at", "client_id", "authenticated"}
        return select(
            *(
                bindparam(c if c in shared else f"{c}_{i}", type_=USAGE.c[c].type)
                for c in _USAGE_COLUMNS
            ),
            bindparam("case_number", type_=USAGE.c.case_number.type),
        ).where(known)

    rows = [one(i) for i in range(count)]
    # union_all's generic signature taken as plain: mypy 2.4 crashes inferring it over *rows
    union: Callable[..., Any] = union_all
    source = rows[0] if count == 1 else union(*rows)
    return insert(USAGE).from_select([*_USAGE_COLUMNS, "case_number"], source).returning(USAGE.c.id)
