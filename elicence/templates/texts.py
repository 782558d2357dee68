"""What the pages say in Chinese about a check or an error, and times as a person reads them.

The verifier and the domain word their details and errors in English for clients and logs; a
page shows a Chinese sentence first (by check name and outcome, or by error code and field) and
the English detail beside it. Every instant a person reads is China time (UTC+8, no daylight
saving): :func:`china_time` rewrites the UTC instants a check's detail carries (``…Z``, ``… UTC``).

Invariant: the Chinese text never drops the English message; where no Chinese sentence is known
the page says so generically (``输入有误``) and the English message stays beside it.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping

from elicence.domain.licence import CHINA_TZ

# check name -> (passed, failed), in Chinese
CHECK_ZH: Mapping[str, tuple[str, str]] = {
    "decode": ("证照码格式正确，可以解读。", "证照码无法解读：不是本平台的证照码，或已损坏。"),
    "trust_list_current": ("信任列表为最新版本。", "信任列表已过期或无法核验。"),
    "signer_known": ("签名密钥已在信任列表登记。", "签名密钥未在信任列表登记。"),
    "signer_chain": ("签名证书可追溯至根证书。", "签名证书不能追溯至根证书。"),
    "signer_valid_at_issuance": ("签发时签名证书有效。", "签发时签名证书无效或已被注销。"),
    "signature": ("数字签名有效，内容未被篡改。", "数字签名无效：内容可能被篡改。"),
    "issuer_consistent": ("证照标识、签名与发证机关一致。", "证照标识、签名与发证机关不一致。"),
    "issuer_authorised": ("发证机关有权签发此类证照。", "发证机关无权签发此类证照。"),
    "registry_record": ("证照库中有此证照的记录。", "证照库中没有此证照的记录。"),
    "registry_status": ("证照库状态为有效。", "证照库状态不是有效（已注销、暂停或被替代）。"),
    "status_lists": ("状态列表为最新版本。", "状态列表已过期或无法核验。"),
    "status_list_bits": ("状态列表未标记此证照。", "状态列表标记此证照已注销、暂停或被替代。"),
    "validity_dates": ("在有效期内。", "不在有效期内（已过期或尚未生效）。"),
    "pdf_signature": ("PDF 带有 PAdES 数字签名。", "PDF 没有有效的 PAdES 数字签名。"),
    "pdf_integrity": ("PDF 签名后未被修改。", "PDF 签名后被修改过。"),
    "pdf_coverage": ("签名覆盖整个文件。", "签名未覆盖整个文件：有未签名的追加内容。"),
    "pdf_signer_chain": ("PDF 签名证书可追溯至根证书。", "PDF 签名证书不能追溯至根证书。"),
    "pdf_signer_known": ("PDF 签名密钥已登记。", "PDF 签名密钥未登记。"),
    "pdf_seal": ("PDF 内含证照码。", "PDF 内没有证照码，或证照码不一致。"),
    "pdf_signer_is_issuer": ("PDF 由发证机关签名。", "PDF 不是由发证机关签名的。"),
    "presentation_signer": ("亮证码由本平台签发。", "亮证码不是本平台签发的。"),
    "presentation_signature": ("亮证码签名有效。", "亮证码签名无效。"),
    "presentation_window": (
        "亮证码在有效时间内。",
        "亮证码不在有效时间内：可能是截图或复制件，请持证人出示实时亮证码。",
    ),
    "presentation_holder": ("亮证人即持证人。", "亮证人与持证人不符。"),
    "presentation_nonce": ("亮证码首次使用。", "亮证码已被使用过。"),
}

# error code -> what went wrong, in Chinese
ERROR_ZH: Mapping[str, str] = {
    "invalid_input": "输入有误",
    "invalid_json": "不是有效的 JSON",
    "payload_too_large": "文件或内容过大",
    "catalogue_error": "不符合证照目录",
    "unknown_licence_type": "证照类型不存在",
    "type_not_permitted": "本部门无权签发此类证照",
    "unknown_department": "部门不存在",
    "unprintable_character": "含有证照字体无法显示的字符",
    "source_ref_conflict": "业务流水号已用于另一份不同的申请",
    "duplicate_source_ref": "业务流水号重复",
    "conflict": "与已有记录冲突",
    "illegal_transition": "当前状态下不能进行此操作",
    "not_found": "未找到",
    "forbidden": "无权操作",
    "not_handling_department": "不是本部门办理的事项",
    "not_issuing_department": "不是本部门签发的证照",
    "unauthenticated": "需要登录",
    "csrf_failed": "表单已过期或来自其他网站：请刷新页面后重试",
    "rate_limited": "请求过于频繁，请稍后再试",
    "unsupported_upload_type": "文件类型不符合要求",
    "unknown_item": "事项不存在",
    "licence_not_in_force": "证照不在有效状态",
    "cited_licence_wrong_type": "引用的证照类型不符",
    "cited_licence_not_authorised": "引用的证照不属于申请人，也未获授权",
    "bad_seal": "证照码无效",
    "bad_presentation": "亮证码无效",
    "not_pdf": "不是 PDF 文件",
    "bad_pdf": "PDF 文件无法读取",
    "already_rated": "已经评价过",
    "case_not_finished": "办件尚未办结",
}

# field (as errors name it) -> its Chinese label
FIELD_ZH: Mapping[str, str] = {
    "source_ref": "业务流水号",
    "type_code": "证照类型",
    "licence_number": "证照编号",
    "holder": "持证主体",
    "holder.name": "持证主体名称",
    "holder.id_type": "证件类型",
    "holder.id_number": "证件号码",
    "holder_id": "证件号码",
    "valid_from": "有效期自",
    "valid_until": "有效期至",
    "data": "证照信息",
    "reason": "理由",
    "code": "码",
    "pdf": "PDF 文件",
    "csrf": "表单",
    "api_key": "API 密钥",
    "case_number": "办件编号",
    "item_code": "事项编码",
    "applicant": "申请人",
    "form": "申请表",
    "licences": "引用的证照",
    "uploads": "上传材料",
    "period": "统计周期",
}

# a few English rules the domain words often, in Chinese
RULE_ZH: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"\bis required\b|\bmissing\b"), "必填"),
    (re.compile(r"check character"), "校验码不正确"),
    (re.compile(r"at most \d+ characters|too long|longer than"), "超出长度限制"),
    (re.compile(r"not a (valid )?date|YYYY-MM-DD"), "日期格式应为 YYYY-MM-DD"),
    (re.compile(r"unknown field|not a field|unexpected"), "不是此处可填的字段"),
    (re.compile(r"surrogate|control character|not valid Unicode"), "含有不允许的字符"),
)

_INSTANT = re.compile(r"\b(\d{4}-\d{2}-\d{2})T(\d{2}:\d{2}(?::\d{2})?)(?:\.\d+)?(?:Z|\+00:00)")
_HMS_RANGE_UTC = re.compile(r"\b(\d{2}:\d{2}:\d{2})(?:-(\d{2}:\d{2}:\d{2}))? UTC\b")


def field_zh(field: str | None, labels: Mapping[str, str] | None = None) -> str:
    """The Chinese label of an error's field: ``data.residence`` by the licence type's label
    where ``labels`` has it, ``licences[1]`` as 引用的证照 第 2 项."""
    if not field:
        return ""
    if labels and field in labels:
        return labels[field]
    if field in FIELD_ZH:
        return FIELD_ZH[field]
    head, _, rest = field.partition(".")
    indexed = re.fullmatch(r"([a-z_]+)\[(\d+)\]", head)
    if indexed:
        label = FIELD_ZH.get(indexed.group(1), indexed.group(1))
        return f"{label} 第 {int(indexed.group(2)) + 1} 项"
    if rest and labels and rest in labels:
        return labels[rest]
    if head in FIELD_ZH:
        return f"{FIELD_ZH[head]}（{rest}）" if rest else FIELD_ZH[head]
    return field


def error_zh(
    code: str, message: str, field: str | None = None, labels: Mapping[str, str] | None = None
) -> str:
    """A Chinese sentence for an error: its field's label, what went wrong, the rule if known."""
    what = ERROR_ZH.get(code, "无法完成")
    if code.startswith("cited_licence_") and code not in ERROR_ZH:
        what = "引用的证照不能采信"
    rule = next((zh for pattern, zh in RULE_ZH if pattern.search(message)), None)
    where = field_zh(field, labels)
    sentence = f"{where}：{what}" if where else what
    return f"{sentence}（{rule}）" if rule else sentence


def check_zh(name: str, passed: bool) -> str:
    """A Chinese sentence for a check's outcome."""
    texts = CHECK_ZH.get(str(name))
    if texts is None:
        return "通过。" if passed else "未通过。"
    return texts[0] if passed else texts[1]


def china_time(detail: str) -> str:
    """A check's detail with its UTC instants shown in China time (``2026-11-28 18:00:00``)."""

    def instant(m: re.Match[str]) -> str:
        hms = m.group(2) if len(m.group(2)) == 8 else m.group(2) + ":00"
        t = dt.datetime.fromisoformat(f"{m.group(1)}T{hms}+00:00").astimezone(CHINA_TZ)
        return t.strftime("%Y-%m-%d %H:%M:%S")

    def clock(m: re.Match[str]) -> str:
        def shift(hms: str) -> str:
            h, rest = hms.split(":", 1)
            return f"{(int(h) + 8) % 24:02d}:{rest}"

        first = shift(m.group(1))
        return f"{first}-{shift(m.group(2))}" if m.group(2) else first

    return _HMS_RANGE_UTC.sub(clock, _INSTANT.sub(instant, detail))
