"""The hall's tables and the statements of the case path, built once (building a statement
costs about as much as running it).

Invariant: the columns a case's later steps change are listed once, in
:data:`~elicence.registry.hall.rows.MUTABLE` (name, and how a value goes to and comes from
the row); the update statements here are made from that list, so a column added there is
written, and read back, everywhere.
"""

from __future__ import annotations

from typing import Any, cast

from sqlalchemy import Table, bindparam, func, insert, select, update

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
from elicence.registry.tables import LICENCES

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
CITED = select(
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
).where(LICENCES.c.identifier.in_(bindparam("ids", expanding=True)))
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
    """PostgreSQL: ``changed`` (an update of one case) and the insert of its one event in one
    statement, ``WITH moved AS (UPDATE … RETURNING number) INSERT INTO hall_case_events SELECT
    …``: one round trip a step instead of two (issue 20). The event is written only if the case
    row was."""
    moved = changed.returning(CASES.c.number).cte("moved")
    columns = ("at", "action", "from_status", "to_status", "actor", "detail")
    rows = select(moved.c.number, *(bindparam(f"e_{c}", type_=EVENTS.c[c].type) for c in columns))
    return insert(EVENTS).from_select(["case_number", *columns], rows)


UPDATE_STATE_AND_EVENT = _and_event(UPDATE_STATE)
UPDATE_CASE_AND_EVENT = _and_event(UPDATE_CASE)
