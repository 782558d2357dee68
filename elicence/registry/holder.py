"""Registry: the registry's part for holders: grants of authorised use, the holder's usage records,
the nonces of presentations verified online, and the client look-ups sign-in needs.

Invariants: grants are inserted and withdrawn, never updated otherwise or deleted; a nonce is
inserted once (the primary key refuses the second, which is how a replay is caught on every
worker at once); no SQLAlchemy exception leaves this module.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any, cast

from sqlalchemy import Table, and_, bindparam, delete, insert, or_, select, update
from sqlalchemy.exc import IntegrityError, SQLAlchemyError

from elicence.domain.catalogue import HolderIdType
from elicence.domain.grants import Grant, Grantee, GranteeKind, UsageEntry
from elicence.domain.licence import HolderRef
from elicence.errors import RegistryError
from elicence.registry.models import GrantRow, HallFavourite, HallNoticeSeen, PresentationNonce
from elicence.registry.queries import Registry
from elicence.registry.tables import CLIENTS, LICENCES, USAGE, ClientRecord, client_of

GRANTS = cast(Table, GrantRow.__table__)


def web_client_row(
    *, client_id: str, name: str, holder: HolderRef, now: dt.datetime
) -> dict[str, Any]:
    """The keyless, disabled ``api_clients`` row of a holder signed in on the web (its
    ``key_hash`` is no SHA-256, so no key matches it)."""
    return {
        "id": client_id,
        "name": name[:200],
        "role": "holder",
        "department": None,
        "key_hash": f"web:{client_id}",
        "created_at": now,
        "disabled_at": now,
        "holder_id_type": str(holder.id_type),
        "holder_id": holder.id_number,
    }


# built once: a hall's every verification asks it (the statement's cache key is then not made
# anew per call; issue 20)
_GRANT_IN_FORCE = (
    select(GRANTS)
    .where(
        GRANTS.c.identifier == bindparam("identifier"),
        GRANTS.c.grantee_kind == bindparam("grantee_kind"),
        GRANTS.c.grantee == bindparam("grantee"),
        GRANTS.c.valid_from <= bindparam("at"),
        GRANTS.c.valid_until > bindparam("at"),
        or_(GRANTS.c.withdrawn_at.is_(None), GRANTS.c.withdrawn_at > bindparam("at")),
    )
    .order_by(GRANTS.c.created_at.desc())
    .limit(1)
)

FAVOURITES = cast(Table, HallFavourite.__table__)
NOTICES_SEEN = cast(Table, HallNoticeSeen.__table__)
MAX_NOTICE_KEY = 160
NONCES = cast(Table, PresentationNonce.__table__)
NONCE_PURGE_EVERY = 500  # inserts between purges of expired nonces


def _grant_of(r: Any) -> Grant:
    return Grant(
        id=r.id,
        identifier=r.identifier,
        holder=HolderRef(HolderIdType(r.holder_id_type), r.holder_id),
        grantee=Grantee(GranteeKind(r.grantee_kind), r.grantee),
        purpose=r.purpose,
        valid_from=r.valid_from,
        valid_until=r.valid_until,
        created_at=r.created_at,
        created_by=r.created_by,
        withdrawn_at=r.withdrawn_at,
        withdrawn_by=r.withdrawn_by,
    )


class HolderStore:
    """Grants, holders' usage records and presentation nonces, over the :class:`Registry`."""

    def __init__(self, registry: Registry) -> None:
        self._registry = registry
        self._inserts = 0

    # -- grants -------------------------------------------------------------------------------

    def add_grant(self, grant: Grant) -> None:
        row = {
            "id": grant.id,
            "identifier": grant.identifier,
            "holder_id_type": str(grant.holder.id_type),
            "holder_id": grant.holder.id_number,
            "grantee_kind": str(grant.grantee.kind),
            "grantee": grant.grantee.ref,
            "purpose": grant.purpose,
            "valid_from": grant.valid_from,
            "valid_until": grant.valid_until,
            "created_at": grant.created_at,
            "created_by": grant.created_by,
            "withdrawn_at": None,
            "withdrawn_by": None,
        }
        with self._registry.unit_of_work() as uow:
            uow.insert(GRANTS, [row])
            uow.commit()

    def ensure_web_client(
        self, *, client_id: str, name: str, holder: HolderRef, now: dt.datetime
    ) -> None:
        """The ``api_clients`` row of a holder signed in on the web, made once: what the holder
        does on the hall's pages (usage records of its citations, ratings) names it as it names an
        API client. It has no key (its ``key_hash`` is no SHA-256, so no key matches it) and is
        disabled, so it never authenticates."""
        with self._registry.read() as c:
            if c.execute(select(CLIENTS.c.id).where(CLIENTS.c.id == client_id)).first():
                return
        row = web_client_row(client_id=client_id, name=name, holder=holder, now=now)
        try:
            with self._registry.write() as c:
                c.execute(insert(CLIENTS), [row])
        except IntegrityError:  # made meanwhile by another request of the same holder
            return

    def favourites(self, holder: HolderRef) -> list[str]:
        """The item codes a holder marked as favourites, oldest first."""
        with self._registry.read() as c:
            rows = c.execute(
                select(FAVOURITES.c.item_code)
                .where(
                    FAVOURITES.c.holder_id_type == str(holder.id_type),
                    FAVOURITES.c.holder_id == holder.id_number,
                )
                .order_by(FAVOURITES.c.created_at, FAVOURITES.c.item_code)
            )
            return [r.item_code for r in rows]

    def set_favourite(
        self, holder: HolderRef, item_code: str, *, on: bool, now: dt.datetime
    ) -> None:
        """Mark (``on``) or unmark an item; doing either twice changes nothing."""
        key = {"holder_id_type": str(holder.id_type), "holder_id": holder.id_number}
        try:
            with self._registry.write() as c:
                if on:
                    c.execute(
                        insert(FAVOURITES), [{**key, "item_code": item_code, "created_at": now}]
                    )
                else:
                    c.execute(
                        delete(FAVOURITES).where(
                            FAVOURITES.c.holder_id_type == key["holder_id_type"],
                            FAVOURITES.c.holder_id == key["holder_id"],
                            FAVOURITES.c.item_code == item_code,
                        )
                    )
        except IntegrityError:  # marked already
            return

    def seen_notices(self, holder: HolderRef) -> set[str]:
        """The keys of the notices the holder has seen (in any browser)."""
        with self._registry.read() as c:
            rows = c.execute(
                select(NOTICES_SEEN.c.notice_key).where(
                    NOTICES_SEEN.c.holder_id_type == str(holder.id_type),
                    NOTICES_SEEN.c.holder_id == holder.id_number,
                )
            )
            return {r.notice_key for r in rows}

    def mark_notices_seen(
        self, holder: HolderRef, keys: Sequence[str], *, now: dt.datetime
    ) -> None:
        """The holder has now seen exactly ``keys`` (the notices current at this visit): keys
        no longer current are dropped, so the table holds a holder's current notices at most,
        and a notice that comes back later (a second supplement request) counts as new."""
        wanted = {k for k in keys if len(k) <= MAX_NOTICE_KEY}
        mine = and_(
            NOTICES_SEEN.c.holder_id_type == str(holder.id_type),
            NOTICES_SEEN.c.holder_id == holder.id_number,
        )
        try:
            with self._registry.write() as c:
                had = {
                    r.notice_key for r in c.execute(select(NOTICES_SEEN.c.notice_key).where(mine))
                }
                gone = had - wanted
                if gone:
                    c.execute(delete(NOTICES_SEEN).where(mine, NOTICES_SEEN.c.notice_key.in_(gone)))
                new = sorted(wanted - had)
                if new:
                    c.execute(
                        insert(NOTICES_SEEN),
                        [
                            {
                                "holder_id_type": str(holder.id_type),
                                "holder_id": holder.id_number,
                                "notice_key": k,
                                "seen_at": now,
                            }
                            for k in new
                        ],
                    )
        except IntegrityError:  # the same visit in another tab meanwhile: its marks stand
            return

    def grant(self, grant_id: str) -> Grant | None:
        with self._registry.read() as c:
            row = c.execute(select(GRANTS).where(GRANTS.c.id == grant_id)).first()
        return _grant_of(row) if row else None

    def grants_of(
        self, holder: HolderRef, *, identifier: str | None = None, limit: int = 200
    ) -> list[Grant]:
        """A holder's grants, newest first (of one licence, where ``identifier`` is given)."""
        q = select(GRANTS).where(
            GRANTS.c.holder_id_type == str(holder.id_type), GRANTS.c.holder_id == holder.id_number
        )
        if identifier is not None:
            q = q.where(GRANTS.c.identifier == identifier)
        q = q.order_by(GRANTS.c.created_at.desc(), GRANTS.c.id).limit(limit)
        with self._registry.read() as c:
            return [_grant_of(r) for r in c.execute(q)]

    def grants_to(self, grantee: Grantee, *, at: dt.datetime, limit: int = 200) -> list[Grant]:
        """The grants in force for ``grantee`` at ``at`` (a hall's own list), newest first."""
        q = (
            select(GRANTS)
            .where(
                GRANTS.c.grantee_kind == str(grantee.kind),
                GRANTS.c.grantee == grantee.ref,
                GRANTS.c.valid_from <= at,
                GRANTS.c.valid_until > at,
                or_(GRANTS.c.withdrawn_at.is_(None), GRANTS.c.withdrawn_at > at),
            )
            .order_by(GRANTS.c.created_at.desc())
            .limit(limit)
        )
        with self._registry.read() as c:
            return [_grant_of(r) for r in c.execute(q)]

    def grant_in_force(self, identifier: str, grantee: Grantee, *, at: dt.datetime) -> Grant | None:
        """A grant of ``identifier`` to ``grantee`` in force at ``at`` (the latest made)."""
        params = {
            "identifier": identifier,
            "grantee_kind": str(grantee.kind),
            "grantee": grantee.ref,
            "at": at,
        }
        with self._registry.read() as c:
            row = c.execute(_GRANT_IN_FORCE, params).first()
        return _grant_of(row) if row else None

    def withdraw_grant(self, grant_id: str, *, at: dt.datetime, by: str) -> bool:
        """Withdraw a grant not withdrawn yet; False if it already was (or does not exist)."""
        try:
            with self._registry.write() as c:
                done = c.execute(
                    update(GRANTS)
                    .where(GRANTS.c.id == grant_id, GRANTS.c.withdrawn_at.is_(None))
                    .values(withdrawn_at=at, withdrawn_by=by)
                )
                return bool(done.rowcount)
        except SQLAlchemyError as e:
            raise RegistryError(f"could not withdraw the grant: {e}") from e

    # -- usage records ------------------------------------------------------------------------

    def usage_of(
        self, holder: HolderRef, *, identifier: str | None = None, limit: int = 200
    ) -> list[UsageEntry]:
        """Uses of a holder's licences, newest first, with who used them and the grant (if any)
        in force for that client at that moment."""
        self._registry.flush_usage()
        q = (
            select(
                USAGE.c.at,
                USAGE.c.identifier,
                USAGE.c.channel,
                USAGE.c.verdict,
                USAGE.c.client_id,
                CLIENTS.c.name,
                CLIENTS.c.role,
            )
            .select_from(
                USAGE.join(LICENCES, LICENCES.c.identifier == USAGE.c.identifier).outerjoin(
                    CLIENTS, CLIENTS.c.id == USAGE.c.client_id
                )
            )
            .where(
                LICENCES.c.holder_id_type == str(holder.id_type),
                LICENCES.c.holder_id == holder.id_number,
            )
            .order_by(USAGE.c.id.desc())
            .limit(limit)
        )
        if identifier is not None:
            q = q.where(USAGE.c.identifier == identifier)
        with self._registry.read() as c:
            rows = c.execute(q).all()
        grants = [g for g in self.grants_of(holder, limit=10_000) if g.grantee.kind == "hall"]
        out = []
        for r in rows:
            used = next(
                (
                    g.id
                    for g in grants
                    if g.grantee.ref == r.client_id
                    and g.identifier == r.identifier
                    and g.in_force(r.at)
                ),
                None,
            )
            out.append(
                UsageEntry(r.at, r.identifier, r.channel, r.verdict, r.client_id, r[5], r[6], used)
            )
        return out

    # -- presentation nonces ------------------------------------------------------------------

    def first_use(self, nonce: bytes, *, seen_at: dt.datetime, expires_at: dt.datetime) -> bool:
        """Record a presentation nonce; False if it was recorded before (a replay)."""
        try:
            with self._registry.write() as c:
                c.execute(
                    insert(NONCES),
                    [{"nonce": nonce.hex(), "seen_at": seen_at, "expires_at": expires_at}],
                )
        except IntegrityError:
            return False
        except SQLAlchemyError as e:
            raise RegistryError(f"could not record a presentation nonce: {e}") from e
        self._inserts += 1
        if self._inserts % NONCE_PURGE_EVERY == 0:
            self.purge_nonces(before=seen_at - dt.timedelta(minutes=10))
        return True

    def nonce_used(self, nonce: bytes) -> bool:
        """Whether a presentation nonce was recorded (used up), without recording it."""
        try:
            with self._registry.read() as c:
                row = c.execute(select(NONCES.c.nonce).where(NONCES.c.nonce == nonce.hex())).first()
        except SQLAlchemyError as e:
            raise RegistryError(f"could not read a presentation nonce: {e}") from e
        return row is not None

    def purge_nonces(self, *, before: dt.datetime) -> int:
        """Forget nonces whose windows ended before ``before`` (they can no longer verify)."""
        try:
            with self._registry.write() as c:
                return int(c.execute(delete(NONCES).where(NONCES.c.expires_at < before)).rowcount)
        except SQLAlchemyError as e:
            raise RegistryError(f"could not purge presentation nonces: {e}") from e

    # -- clients ------------------------------------------------------------------------------

    def client(self, client_id: str) -> ClientRecord | None:
        with self._registry.read() as c:
            row = c.execute(select(CLIENTS).where(CLIENTS.c.id == client_id)).first()
        return client_of(row) if row else None

    def halls(self) -> list[ClientRecord]:
        """Hall clients that are not disabled (the grantees a holder may choose)."""
        with self._registry.read() as c:
            rows = c.execute(
                select(CLIENTS)
                .where(and_(CLIENTS.c.role == "hall", CLIENTS.c.disabled_at.is_(None)))
                .order_by(CLIENTS.c.name)
            )
            return [client_of(r) for r in rows]

    def holder_clients(self, holder: HolderRef) -> list[ClientRecord]:
        """A holder's API clients (its tokens), newest first."""
        with self._registry.read() as c:
            rows = c.execute(
                select(CLIENTS)
                .where(
                    CLIENTS.c.role == "holder",
                    CLIENTS.c.holder_id_type == str(holder.id_type),
                    CLIENTS.c.holder_id == holder.id_number,
                )
                .order_by(CLIENTS.c.created_at.desc())
            )
            return [client_of(r) for r in rows]

    def identifiers_of(self, holder: HolderRef, identifiers: Sequence[str]) -> set[str]:
        """Which of ``identifiers`` name licences of ``holder``."""
        if not identifiers:
            return set()
        with self._registry.read() as c:
            rows = c.execute(
                select(LICENCES.c.identifier).where(
                    LICENCES.c.identifier.in_(list(identifiers)),
                    LICENCES.c.holder_id_type == str(holder.id_type),
                    LICENCES.c.holder_id == holder.id_number,
                )
            )
            return {r[0] for r in rows}
