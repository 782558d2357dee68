"""The hall pages' view models: a service item's guide, an application form generated from the
item (with what the service already knows filled in), a case with its timeline, and the
Chinese beside the API's English for the errors a citizen meets (plain dicts for the templates).
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable, Sequence
from typing import Any

from elicence.domain.catalogue import Catalogue, HolderCategory
from elicence.domain.grants import Grant
from elicence.domain.licence import Licence, china_today
from elicence.errors import Error
from elicence.hall.cases import Case, CaseEvent
from elicence.hall.items import (
    ItemCatalogue,
    LicenceMaterial,
    Scenario,
    ServiceItem,
    UploadMaterial,
)
from elicence.hall.workflow import CaseAction, CaseStatus
from elicence.templates.web import beijing

AUDIENCE = {
    HolderCategory.NATURAL_PERSON: ("个人办事", "Individuals"),
    HolderCategory.ORGANISATION: ("企业办事", "Enterprises"),
}
TYPES = {"application/pdf": "PDF", "image/png": "PNG", "image/jpeg": "JPEG"}
ACTIONS = {
    CaseAction.ACCEPT: ("受理", "Accepted"),
    CaseAction.REJECT: ("不予受理", "Not accepted"),
    CaseAction.REQUEST_CORRECTION: ("补正告知（受理前）", "Correction asked"),
    CaseAction.START_REVIEW: ("开始审查", "Review started"),
    CaseAction.REQUEST_SUPPLEMENT: ("补正告知（计时暂停）", "Supplement asked"),
    CaseAction.SUPPLEMENT: ("提交补正材料", "Supplement handed in"),
    CaseAction.APPROVE: ("准予", "Approved"),
    CaseAction.APPROVE_AND_ISSUE: ("准予许可，制证", "Approved, licence being issued"),
    CaseAction.LICENCE_ISSUED: ("电子证照已签发", "E-licence issued"),
    CaseAction.REFUSE: ("不予许可", "Refused"),
    CaseAction.COMPLETE: ("办结", "Completed"),
}
STATUS_EN = {
    CaseStatus.SUBMITTED: "Submitted, awaiting acceptance",
    CaseStatus.AWAITING_CORRECTION: "Correction asked",
    CaseStatus.ACCEPTED: "Accepted",
    CaseStatus.REJECTED: "Not accepted",
    CaseStatus.UNDER_REVIEW: "Under review",
    CaseStatus.AWAITING_SUPPLEMENT: "Supplement asked (clock stopped)",
    CaseStatus.ISSUING: "Approved, licence being issued",
    CaseStatus.APPROVED: "Approved",
    CaseStatus.REFUSED: "Refused",
    CaseStatus.COMPLETED: "Completed",
}
STATUS_TONE = {
    CaseStatus.REJECTED: "bad",
    CaseStatus.REFUSED: "bad",
    CaseStatus.AWAITING_CORRECTION: "warn",
    CaseStatus.AWAITING_SUPPLEMENT: "warn",
    CaseStatus.APPROVED: "good",
    CaseStatus.COMPLETED: "good",
}
# What a refused cited licence means and what to do (the API's code cited_licence_<verdict>).
CITED = {
    "revoked": ("该证照已注销，不能使用。", "请向发证部门了解情况，或使用其他有效证照。"),
    "suspended": ("该证照已暂停，暂不能使用。", "请向发证部门了解恢复时间。"),
    "expired": ("该证照已过有效期。", "请先办理延续或换证，再提交申请。"),
    "superseded": ("该证照已被新版本替代。", "请选择新版本的证照。"),
    "not_yet_valid": ("该证照尚未生效。", "请在生效日之后再申请。"),
    "invalid": (
        "证照签章校验不通过（伪造、篡改或无法识读）。",
        "请选择本人名下的证照，不要粘贴来源不明的内容。",
    ),
    "untrusted": ("证照签章不受信任。", "请选择本人名下的证照。"),
    "not_found": ("未找到该证照。", "请核对证照标识，或选择本人名下的证照。"),
    "indeterminate": ("暂时无法确认证照状态。", "请稍后再试。"),
    "wrong_type": ("该证照不是本材料要求的证照类型。", "请选择要求类型的证照。"),
    "not_authorised": (
        "该证照不属于申请人，也没有持证人的授权。",
        "请请持证人先授权用证，或选择本人名下的证照。",
    ),
}
# The API's English rules, in Chinese (the English is shown beside it, as the API words it).
RULES = (
    (re.compile(r"^is required"), "必填"),
    (re.compile(r"^is (\d+) characters, at most (\d+) allowed"), "共 {0} 个字符，最多 {1} 个"),
    (re.compile(r"^must not contain control characters"), "不能包含控制字符"),
    (re.compile(r"^is empty"), "文件为空"),
    (re.compile(r"^is ([\d,]+) bytes"), "文件过大（{0} 字节）"),
    (re.compile(r"^is declared .* but its content is not one"), "文件内容与类型不符"),
    (re.compile(r"^is .*; .* takes "), "不支持的文件类型"),
    (re.compile(r"^material .* is required: upload it"), "必须上传"),
    (re.compile(r"^material .* is required: cite"), "必须引用电子证照"),
    (re.compile(r"lone surrogate|not valid UTF|surrogate", re.I), "含有无效字符"),
)


def rule_zh(error: Error) -> str:
    """The Chinese of an API error a citizen meets on a form (its English is shown beside)."""
    code = error.code
    if code.startswith("cited_licence_"):
        return "".join(CITED.get(code.removeprefix("cited_licence_"), ("证照不能使用。", "")))
    for pattern, zh in RULES:
        found = pattern.search(error.message)
        if found:
            return zh.format(*found.groups())
    return "输入有误"


def _upload_rule(m: UploadMaterial) -> str:
    kinds = "、".join(TYPES.get(t, t) for t in m.content_types)
    size = m.max_bytes / 1024 / 1024
    return f"{kinds}，不超过 {size:g} MB"


def material_views(item: ServiceItem, licences: Catalogue) -> list[dict[str, Any]]:
    out = []
    for m in item.materials:
        if isinstance(m, LicenceMaterial):
            lt = licences.licence_types.get(m.licence_type)
            out.append(
                {
                    "name": m.name,
                    "label": m.label_zh,
                    "required": m.required,
                    "licence": True,
                    "type_code": m.licence_type,
                    "type_name": lt.name_zh if lt else m.licence_type,
                    "rule": "电子证照，免交纸质原件及复印件",
                }
            )
        else:
            out.append(
                {
                    "name": m.name,
                    "label": m.label_zh,
                    "required": m.required,
                    "licence": False,
                    "accept": ",".join(m.content_types),
                    "rule": _upload_rule(m),
                    "max_bytes": m.max_bytes,
                }
            )
    return out


def item_view(item: ServiceItem, items: ItemCatalogue, licences: Catalogue) -> dict[str, Any]:
    dept = items.departments.get(item.department)
    issues = licences.licence_types.get(item.issues) if item.issues else None
    return {
        "code": item.code,
        "name": item.name_zh,
        "kind": item.kind.label_zh,
        "department": dept.name_zh if dept else item.department,
        "department_uscc": item.department,
        "audience": [AUDIENCE[a] for a in item.audience],
        "depth": item.depth,
        "max_visits": item.max_visits,
        "promised_days": item.promised_days,
        "statutory_days": item.statutory_days,
        "form": [
            {"name": f.name, "label": f.label_zh, "required": f.required, "max": f.max_length}
            for f in item.form
        ],
        "materials": material_views(item, licences),
        "issues": issues.name_zh if issues else None,
        "scenarios": [s for s in items.scenarios.values() if item.code in s.items],
        "online": item.depth >= 2,
    }


# -- the application form ------------------------------------------------------------------------


def prefill(cases: Iterable[Case]) -> dict[str, str]:
    """The values of each form field in the applicant's earlier applications, latest first."""
    out: dict[str, str] = {}
    for case in sorted(cases, key=lambda c: c.submitted_at, reverse=True):
        for name, value in case.form.items():
            if value and name not in out:
                out[name] = value
    return out


def licence_choices(
    material: dict[str, Any],
    mine: Sequence[Licence],
    now: dt.datetime,
    granted: Sequence[tuple[Grant, Licence]] = (),
) -> list[dict[str, str]]:
    """The licences of the material's type in force today that the applicant may cite: its own,
    then those another holder granted to it (or to the case), each with who granted it."""
    today = china_today(now)
    out = []
    pairs = [(lic, None) for lic in mine] + [(lic, g) for g, lic in granted]
    for lic, grant in pairs:
        if lic.type_code != material["type_code"]:
            continue
        if lic.effective_status(today) != "valid" or today < lic.valid_from:
            continue
        choice = {
            "identifier": lic.identifier,
            "number": lic.licence_number,
            "until": lic.valid_until.isoformat() if lic.valid_until else "长期",
        }
        if grant is not None:
            choice["granted_by"] = lic.holder.name
            choice["grant_until"] = beijing(grant.valid_until)  # China time
        out.append(choice)
    return out


def earlier_uploads(cases: Iterable[Case], material: str) -> list[dict[str, Any]]:
    """Uploads of the same material handed in with the applicant's earlier cases (newest first),
    one per content (SHA-256)."""
    seen: set[str] = set()
    out = []
    for case in sorted(cases, key=lambda c: c.submitted_at, reverse=True):
        for up in case.uploads:
            if up.material == material and up.sha256 not in seen:
                seen.add(up.sha256)
                out.append(
                    {
                        "case": case.number,
                        "filename": up.filename,
                        "size": up.size,
                        "sha256": up.sha256,
                        "at": up.uploaded_at,
                    }
                )
    return out


# -- cases ---------------------------------------------------------------------------------------


def _label(item: ServiceItem, material: str) -> str:
    found = item.material(material)
    return found.label_zh if found is not None else material


def case_view(case: Case, today: dt.date, items: ItemCatalogue) -> dict[str, Any]:
    dept = items.departments.get(case.department)
    return {
        "number": case.number,
        "check": case.number[-1],
        "item_code": case.item.code,
        "item_name": case.item.name_zh,
        "department": dept.name_zh if dept else case.department,
        "status": str(case.status),
        "status_zh": case.status.label_zh,
        "status_en": STATUS_EN[case.status],
        "tone": STATUS_TONE.get(case.status, "unknown"),
        "submitted_at": case.submitted_at,
        "due_on": case.due_on.isoformat() if case.due_on else None,
        "promised_days": case.item.promised_days,
        "overdue": case.overdue(today),
        "paused": case.paused_since is not None,
        "reason": case.reason,
        "licence": case.licence,
        "final": case.final,
        "asks": case.status in (CaseStatus.AWAITING_CORRECTION, CaseStatus.AWAITING_SUPPLEMENT),
        "finished": case.status in (CaseStatus.COMPLETED, CaseStatus.REJECTED),
        "form": [
            (f.label_zh, case.form.get(f.name, "")) for f in case.item.form if case.form.get(f.name)
        ],
        "citations": [
            {
                "material": c.material,
                "label": _label(case.item, c.material),
                "identifier": c.identifier,
                "verdict": c.verdict,
            }
            for c in case.citations
        ],
        "uploads": [
            {
                "material": u.material,
                "label": _label(case.item, u.material),
                "filename": u.filename,
                "size": u.size,
                "sha256": u.sha256,
            }
            for u in case.uploads
        ],
        "visits": case.visits,
    }


EVENTS = {"submit": ("提交申请", "Submitted"), "visit": ("到现场", "On-site visit")}


def timeline_view(events: Sequence[CaseEvent]) -> list[dict[str, Any]]:
    out = []
    for e in events:
        try:
            zh, en = ACTIONS[CaseAction(str(e.action))]
        except (ValueError, KeyError):
            zh, en = EVENTS.get(str(e.action), (str(e.action), str(e.action)))
        reason = e.detail.get("reason")
        out.append(
            {
                "at": e.at,
                "zh": zh,
                "en": en,
                "status_zh": e.to_status.label_zh,
                "reason": reason if isinstance(reason, str) else None,
            }
        )
    return out


# -- a scenario bundle's one form (一条龙) -------------------------------------------------------


def _same_material(a: dict[str, Any], b: dict[str, Any]) -> bool:
    if a["licence"] != b["licence"]:
        return False
    return bool(a["type_code"] == b["type_code"] if a["licence"] else a["accept"] == b["accept"])


def bundle_view(scenario: Scenario, items: ItemCatalogue, licences: Catalogue) -> dict[str, Any]:
    """One form for a scenario's items applied for online: the fields and materials that two or
    more items share by name (a material: of the same licence type, or the same file types)
    asked once, each item's own fields grouped under it (named ``i<n>.`` on the page). Items
    that cannot be applied for online (depth 1) are listed apart."""
    online = [item_view(items.items[c], items, licences) for c in scenario.items]
    offline = [v for v in online if not v["online"]]
    online = [v for v in online if v["online"]]
    fields: dict[str, list[dict[str, Any]]] = {}
    materials: dict[str, list[dict[str, Any]]] = {}
    for v in online:
        for f in v["form"]:
            fields.setdefault(f["name"], []).append({**f, "item": v["name"]})
        for m in v["materials"]:
            materials.setdefault(m["name"], []).append({**m, "item": v["name"]})
    shared_fields = [
        {
            **found[0],
            "max": min(f["max"] for f in found),
            "required": any(f["required"] for f in found),
            "items": [f["item"] for f in found],
        }
        for found in fields.values()
        if len(found) > 1
    ]
    shared_materials = []
    for found in materials.values():
        if len(found) > 1 and all(_same_material(found[0], m) for m in found[1:]):
            merged = {**found[0], "required": any(m["required"] for m in found)}
            if not merged["licence"]:
                merged["max_bytes"] = min(m["max_bytes"] for m in found)
                merged["rule"] = min((m["rule"] for m in found), key=len)
            shared_materials.append({**merged, "items": [m["item"] for m in found]})
    shared = {f"form.{f['name']}" for f in shared_fields} | {
        f"m.{m['name']}" for m in shared_materials
    }
    for n, v in enumerate(online):
        v["scope"] = f"i{n}."
        v["own_form"] = [f for f in v["form"] if f"form.{f['name']}" not in shared]
        v["own_materials"] = [m for m in v["materials"] if f"m.{m['name']}" not in shared]
    return {
        "code": scenario.code,
        "name": scenario.name_zh,
        "description": scenario.description_zh,
        "items": online,
        "offline": offline,
        "shared_form": shared_fields,
        "shared_materials": shared_materials,
        "shared": shared,
    }
