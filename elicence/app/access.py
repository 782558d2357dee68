"""Who may do what: API clients, their keys, and the role rules every use case asks.

Roles (``elicence.domain.clients.Role``): a department issues and manages its own licences, a
hall verifies and follows the change feed, an admin does everything, a holder (a citizen or an
enterprise) reads and downloads its own licences. Invariants: a disabled client's key stops
working within ``CLIENT_CACHE_SECONDS``; a department never learns that another department's
licence exists, nor a holder another holder's (404, not 403); a hall never reads the registry.
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
from elicence.errors import AuthenticationError, InputError, NotFoundError, PermissionDeniedError
from elicence.registry import Registry
from elicence.registry.queries import ClientRecord


@dataclass(frozen=True, slots=True)
class NewClient:
    client: ClientRecord
    api_key: str  # shown once


class Access:
    """API clients: create, list, disable, and authenticate by key (cached briefly)."""

    CLIENT_CACHE_SECONDS = 30.0

    def __init__(
        self,
        registry: Registry,
        *,
        catalogue: Callable[[], Catalogue],
        clock: Callable[[], dt.datetime],
        other_departments: Callable[[str], bool] | None = None,
    ) -> None:
        self._registry = registry
        self._catalogue = catalogue
        self._clock = clock
        # departments known elsewhere (the hall's item catalogue): their clerks may exist too
        self._other_departments = other_departments
        self._cache: dict[str, tuple[float, Client | None]] = {}

    def authenticate(self, api_key: str) -> Client:
        """The client an API key belongs to."""
        digest = hash_api_key(api_key)
        now = time.monotonic()
        hit = self._cache.get(digest)
        if hit is None or now - hit[0] > self.CLIENT_CACHE_SECONDS:
            record = self._registry.client_by_key_hash(digest)
            client = None
            if record is not None and record.disabled_at is None:
                client = Client(
                    record.id,
                    record.name,
                    Role(record.role),
                    record.department,
                    _holder_of(record),
                )
            if len(self._cache) > 10_000:
                self._cache.clear()
            self._cache[digest] = hit = (now, client)
        if hit[1] is None:
            raise AuthenticationError("the API key is not valid", field="Authorization")
        return hit[1]

    def add_client(
        self,
        *,
        name: str,
        role: Role,
        department: str | None,
        holder: HolderRef | None = None,
    ) -> NewClient:
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
        record = self._registry.add_client(
            client_id=new_client_id(),
            name=name.strip(),
            role=str(role),
            department=department,
            key_hash=hash_api_key(key),
            now=self._clock(),
            holder=(str(holder.id_type), holder.id_number) if holder else None,
        )
        return NewClient(record, key)

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
