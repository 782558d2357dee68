"""The hall's tables and the statements of the case path, built once (building a statement
costs about as much as running it).

Invariant: the columns a case's later steps change are listed once, in
:data:`~elicence.registry.hall.rows.MUTABLE` (name, and how a value goes to and comes from
the row); the update statements here are made from that list, so a column added there is
written, and read back, everywhere.
"""

from __future__ import annotations

from typing import cast

from sqlalchemy import Table, bindparam, insert, select, update

from elicence.registry.hall.rows import MUTABLE
from elicence.registry.models import (
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
EVENTS = cast(Table, HallCaseEvent.__table__)
RATINGS = cast(Table, HallRating.__table__)
RECTIFICATIONS = cast(Table, HallRectification.__table__)
COMPLAINTS = cast(Table, HallComplaint.__table__)

INSERT_CASE = insert(CASES)
INSERT_EVENT = insert(EVENTS)
INSERT_UPLOAD = insert(UPLOADS)
CASE_BY_NUMBER = select(CASES).where(CASES.c.number == bindparam("number"))
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
