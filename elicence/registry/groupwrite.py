"""Rows written durably by a group commit: concurrent callers share one transaction.

Used for usage records (用证记录): a verification is answered only after its record is
committed (issue 16: the earlier 50 ms write-behind queue lost the records of answered
verifications when the process was killed). Concurrent verifications share one write through
the leader/follower committer of ``domain/groupcommit.py`` (ADR 0008, the issuer's discipline):
whoever finds no write in progress leads and writes every row queued meanwhile in one
transaction; the others wait for that commit (or lead the next group).

Invariants (beside the committer's): :meth:`RowGroupCommit.add` returns only after the write
that holds its row committed, and raises that write's exception otherwise (the row is then not
recorded, and the caller must not answer as if it were).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from elicence.domain.groupcommit import GroupCommit

MAX_GROUP = 1000

Row = dict[str, Any]


class RowGroupCommit(GroupCommit[Row, None]):
    """Leader/follower group commit of rows through ``write(rows)`` (one transaction).

    Observers are told of each group as ``(rows, outcomes)``; a failed write's outcomes are its
    exception, once per row.
    """

    def __init__(self, write: Callable[[list[Row]], None], *, max_group: int = MAX_GROUP) -> None:
        def write_group(rows: Sequence[Row]) -> Sequence[None]:
            write(list(rows))
            return [None] * len(rows)

        super().__init__(write_group, max_group=max_group)

    def add(self, row: Row) -> None:
        """Write ``row`` (alone or with concurrent ones); return once it is committed."""
        self.submit(row)

    @property
    def rows(self) -> int:
        """Rows written."""
        return self.items
