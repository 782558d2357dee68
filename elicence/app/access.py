"""Who may do what: API clients, their keys, and the role rules every use case asks.

Roles (``elicence.domain.clients.Role``): a department issues and manages its own licences, a
hall verifies and follows the change feed, an admin does everything, a holder (a citizen or an
enterprise) reads and downloads its own licences. Invariants: a disabled client's key stops
working at once, in every process (a cached key's client is re-read by primary key on every
request, or, on the verification route, by the verification's own registry read before it
answers); an expired or rotated-out key stops at its deadline exactly (docs/abuse.md); a
department never learns that another department's licence exists, nor a holder another
holder's (404, not 403); a hall never reads the registry.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable
from dataclasses import dataclass

from elicence.domain.catalogue import Catalogue, HolderIdType
from elicence.domain.clients import Client, Role, hash_api_key, new_api_key, new_client_id
from elicence.domain.codes import check_uscc
from elicence.domain.licence import HolderRef, Licence
from elicence.errors import (
    AuthenticationError,
    InputError,
    NotFoundError,
    PermissionDeniedError,
)
from elicence.registry import Registry
from elicence.registry.apikeys import ApiKeyStore, KeyRecord
from elicence.registry.queries import ClientRecord


@dataclass(frozen=True, slots=True)
class NewClient:
    client: ClientRecord
    api_key: str  # shown once
    expires_at: dt.datetime | None = None


@dataclass(frozen=True, slots=True)
class Rotation:
    """A rotated key: the new key (shown once) and until when the old ones work."""

    new: NewClient
    old_keys: int
    retires_at: dt.datetime


@dataclass(frozen=True, slots=True)
class _Cached:
    """What a key look-up found: the client, or why the key does not work, and its deadline."""

    fetched: float
    client: Client | None
    refusal: AuthenticationError | None
    deadline: dt.datetime | None
    retired: bool  # the deadline is a rotation's (not an expiry's)

    @classmethod
    def of(cls, record: KeyRecord | None, *, fetched: float) -> _Cached:
        if record is None:
            refusal = AuthenticationError("the API key is not valid", field="Authorization")
            return cls(fetched, None, refusal, None, False)
        c = record.client
        if c.disabled_at is not None:
            refusal = AuthenticationError(
                "this API key's client is disabled", field="Authorization"
            )
            return cls(fetched, None, refusal, None, False)
        client = Client(c.id, c.name, Role(c.role), c.department, _holder_of(c))
        deadline = record.deadline
        retired = deadline is not None and deadline == record.retires_at
        return cls(fetched, client, None, deadline, retired)

    def client_at(self, now: dt.datetime) -> Client:
        if self.refusal is not None:
            raise self.refusal
        assert self.client is not None
        if self.deadline is not None and now >= self.deadline:
            when = self.deadline.strftime("%Y-%m-%d %H:%M:%SZ")
            if self.retired:
                raise AuthenticationError(
                    f"this API key was replaced by a rotation and stopped working at {when}; "
                    "use the client's new key",
                    field="Authorization",
                    code="api_key_rotated",
                )
            raise AuthenticationError(
                f"this API key expired at {when}; ask the operator for a new one "
                "(elicence clients rotate)",
                field="Authorization",
                code="api_key_expired",
            )
        return self.client


class Access:
    """API clients: create, list, disable, and authenticate by key (cached briefly)."""

    CLIENT_CACHE_SECONDS = 30.0

    def __init__(
        self,
        registry: Registry,
        *,
        catalogue: Callable[[], Catalogue],
        clock: Callable[[], dt.datetime],
        keys: ApiKeyStore | None = None,
        other_departments: Callable[[str], bool] | None = None,
    ) -> None:
        keys = keys or ApiKeyStore(registry)
        self._registry = registry
        self._catalogue = catalogue
        self._clock = clock
        self._keys = keys
        # departments known elsewhere (the hall's item catalogue): their clerks may exist too
        self._other_departments = other_departments
        self._cache: dict[str, _Cached] = {}

    def authenticate(self, api_key: str) -> Client:
        """The client an API key belongs to, or :class:`AuthenticationError` saying why not.

        A cached key is still checked against its deadline (expiry or end of a rotation's
        overlap) with the service clock on every call, so the cache never keeps a key alive
        beyond it; a rotation's overlap is at least the cache time, so a worker that cached a
        key before another worker rotated it learns the deadline before it passes. A cached
        key's client is re-read (one column by primary key) on every call, so disabling a
        client stops its keys at once in every worker and process.
        """
        digest = hash_api_key(api_key)
        now = time.monotonic()
        hit = self._cache.get(digest)
        if hit is None or now - hit.fetched > self.CLIENT_CACHE_SECONDS:
            hit = _Cached.of(self._keys.lookup(digest), fetched=now)
            if len(self._cache) > 10_000:
                self._cache.clear()
            self._cache[digest] = hit
        elif hit.client is not None and not self._keys.usable(hit.client.id):
            hit = _Cached.of(self._keys.lookup(digest), fetched=now)  # disabled meanwhile
            self._cache[digest] = hit
        return hit.client_at(self._clock())

    def cached(self, api_key: str) -> Client | None:
        """The client of a key whose look-up is cached and working now, without a database
        trip, else None (then call :meth:`authenticate`). Its client's disabled flag is not
        re-read: the caller must re-check it before it answers (the verification does, in
        its own query: ``Registry.verification_lookup``)."""
        hit = self._cache.get(hash_api_key(api_key))
        if (
            hit is None
            or hit.client is None
            or time.monotonic() - hit.fetched > self.CLIENT_CACHE_SECONDS
            or (hit.deadline is not None and self._clock() >= hit.deadline)
        ):
            return None
        return hit.client

    def add_client(
        self,
        *,
        name: str,
        role: Role,
        department: str | None,
        holder: HolderRef | None = None,
        expires_at: dt.datetime | None = None,
    ) -> NewClient:
        expires_at = self._check_expiry(expires_at)
        if (role is Role.HOLDER) != (holder is not None):
            raise InputError(
                "a holder client needs its holder (id type and number), and only it has one",
                field="holder",
            )
        if role is Role.DEPARTMENT:
            if department is None:
                raise InputError(
                    "a department client needs its department USCC", field="department"
                )
            check_uscc(department, field="department")
            if self._other_departments is None or not self._other_departments(department):
                self._catalogue().department(department)
        elif department is not None:
            raise InputError(
                "only department clients are bound to a department", field="department"
            )
        if not name.strip():
            raise InputError("is required", field="name")
        key = new_api_key()
        record = self._keys.add_client(
            client_id=new_client_id(),
            name=name.strip(),
            role=str(role),
            department=department,
            key_hash=hash_api_key(key),
            now=self._clock(),
            holder=(str(holder.id_type), holder.id_number) if holder else None,
            expires_at=expires_at,
        )
        return NewClient(record, key, expires_at)

    def rotate_key(
        self,
        client_id: str,
        *,
        overlap: dt.timedelta,
        expires_at: dt.datetime | None = None,
    ) -> Rotation:
        """A new key for a client (shown once); its old keys keep working for ``overlap``."""
        if overlap < dt.timedelta(seconds=self.CLIENT_CACHE_SECONDS):
            raise InputError(
                f"must be at least {self.CLIENT_CACHE_SECONDS:g} s, the time a worker may keep "
                "a key cached; to cut a leaked key off now, disable the client",
                field="overlap",
            )
        expires_at = self._check_expiry(expires_at)
        now = self._clock()
        key = new_api_key()
        record, live = self._keys.rotate(
            client_id,
            new_hash=hash_api_key(key),
            now=now,
            retire_at=now + overlap,
            expires_at=expires_at,
        )
        self._cache.clear()
        return Rotation(NewClient(record, key, expires_at), old_keys=live, retires_at=now + overlap)

    def keys(self) -> dict[str, list[KeyRecord]]:
        """Every client's keys (hashes, expiry, retirement), newest first."""
        return self._keys.keys()

    def _check_expiry(self, expires_at: dt.datetime | None) -> dt.datetime | None:
        """``expires_at`` in UTC, if it is an aware time in the future."""
        if expires_at is None:
            return None
        if expires_at.tzinfo is None:
            raise InputError("give a time zone", field="expires")
        if expires_at <= self._clock():
            raise InputError("must be in the future", field="expires")
        return expires_at.astimezone(dt.UTC)

    def clients(self) -> list[ClientRecord]:
        return self._registry.clients()

    def disable_client(self, client_id: str) -> None:
        if not self._registry.disable_client(client_id, now=self._clock()):
            raise NotFoundError(f"no client {client_id}", field="client_id")
        self._cache.clear()


def _holder_of(record: ClientRecord) -> HolderRef | None:
    if record.holder_id_type is None or record.holder_id is None:
        return None
    return HolderRef(HolderIdType(record.holder_id_type), record.holder_id)


# -- the role rules ---------------------------------------------------------------------------


def issuing_department(client: Client) -> str:
    """The department a client issues for; only department clients issue."""
    if client.role is not Role.DEPARTMENT or client.department is None:
        raise PermissionDeniedError("only a department client may issue licences")
    return client.department


def acting_department(client: Client) -> str | None:
    """The department a client changes licences for, None for an admin; halls may not."""
    if client.role is Role.ADMIN:
        return None
    if client.role is Role.DEPARTMENT and client.department is not None:
        return client.department
    raise PermissionDeniedError("only the issuing department (or an admin) may change a licence")


def check_may_read(client: Client, licence: Licence | None, identifier: str) -> Licence:
    """The licence if ``client`` may read it from the registry; another department's is 404."""
    if client.role is Role.HALL:
        raise PermissionDeniedError("halls verify licences; they do not read the registry")
    if (
        licence is None
        or (client.role is Role.DEPARTMENT and licence.department_uscc != client.department)
        or (client.role is Role.HOLDER and licence.holder.ref != client.holder)
    ):
        raise NotFoundError(f"no licence {identifier} for this client", field="identifier")
    return licence


@dataclass(frozen=True, slots=True)
class SearchScope:
    """What a client's registry search may cover: nothing, or these filters forced."""

    anything: bool
    department: str | None
    holder: HolderRef | None = None


def search_scope(
    client: Client, *, department: str | None, holder: tuple[str, str] | None
) -> SearchScope:
    """The scope of a registry search by ``client`` asking for ``department`` and ``holder``."""
    if client.role is Role.HALL:
        raise PermissionDeniedError("halls verify licences; they do not search the registry")
    if client.role is Role.DEPARTMENT:
        # another department's licences: none of them are this client's
        return SearchScope(department is None or department == client.department, client.department)
    if client.role is Role.HOLDER:
        own = client.holder
        asked_other = holder is not None and (
            own is None or holder != (str(own.id_type), own.id_number)
        )
        return SearchScope(own is not None and not asked_other, department, own)
    return SearchScope(True, department)


def check_feed_reader(client: Client | None) -> None:
    if client is None or client.role not in (Role.HALL, Role.ADMIN):
        raise PermissionDeniedError("the change feed is for halls and admins")
