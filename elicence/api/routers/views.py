"""The holder portal's view models: what the ``/me`` pages show of a licence, a grant, a usage
record (plain dicts for the templates, Chinese names from the catalogue)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from elicence.app.service import Elicence
from elicence.domain.catalogue import Catalogue
from elicence.domain.clients import Client
from elicence.domain.grants import Grant, GranteeKind, UsageEntry
from elicence.domain.licence import Licence, china_today


def licence_view(lic: Licence, catalogue: Catalogue, now: dt.datetime) -> dict[str, Any]:
    lt = catalogue.licence_types.get(lic.type_code)
    dept = catalogue.departments.get(lic.department_uscc)
    data = []
    if lt is not None:
        for item in lt.data_items:
            value = lic.data.get(item.name)
            if value:
                data.append((item.label_zh, item.label_en, value))
    today = china_today(now)
    status = lic.effective_status(today)
    if status == "valid" and today < lic.valid_from:
        status = "not_yet_valid"  # as /v and the desk say: genuine, in force from valid_from
    return {
        "identifier": lic.identifier,
        "type_code": lic.type_code,
        "type_name": lt.name_zh if lt else lic.type_code,
        "status": status,
        "licence_number": lic.licence_number,
        "holder_name": lic.holder.name,
        "holder_id": lic.holder.id_number,
        "department_name": dept.name_zh if dept else lic.department_uscc,
        "valid_from": lic.valid_from.isoformat(),
        "valid_until": lic.valid_until.isoformat() if lic.valid_until else None,
        "issued_at": lic.issued_at,
        "data": data,
    }


def grant_views(
    grants: list[Grant], svc: Elicence, licences: dict[str, str], now: dt.datetime
) -> list[dict[str, Any]]:
    halls = {h.id: h.name for h in svc.holder.halls()}
    out = []
    for g in grants:
        if g.grantee.kind is GranteeKind.HALL:
            label = halls.get(g.grantee.ref, g.grantee.ref)
        elif g.grantee.kind is GranteeKind.HOLDER:
            label = f"持证人 Holder {g.grantee.ref}"
        else:
            label = f"办件 Case {g.grantee.ref}"
        out.append(
            {
                "id": g.id,
                "grantee_label": label,
                "purpose": g.purpose,
                "valid_from": g.valid_from,
                "valid_until": g.valid_until,
                "state": str(g.state(now)),
                "type_name": licences.get(g.identifier, g.identifier),
            }
        )
    return out


def usage_views(usage: list[UsageEntry], licences: dict[str, str]) -> list[dict[str, Any]]:
    return [
        {
            "at": u.at,
            "client_name": u.client_name,
            "grant_id": u.grant_id,
            "channel": u.channel,
            "verdict": u.verdict,
            "type_name": licences.get(u.identifier, u.identifier),
        }
        for u in usage
    ]


def type_names(svc: Elicence, holder: Client) -> dict[str, str]:
    catalogue = svc.catalogue()
    return {
        lic.identifier: (
            catalogue.licence_types[lic.type_code].name_zh
            if lic.type_code in catalogue.licence_types
            else lic.type_code
        )
        for lic in svc.holder.licences(holder)
    }
