"""Templates: the pages people see: the holder portal (/me), the hall desk (/desk), the department
console (/console), sign-in pages and the demo identity provider's page, as server-rendered HTML.

Jinja2 templates under ``templates/web/`` with autoescaping on and undefined names refused;
stylesheet and scripts are static files from this origin (``templates/static/``), served with a
digest in their URL. Texts are Chinese first with English beside them (``lang="en"``).

Invariants: no template holds an inline script, style attribute or event handler, so
:data:`CONTENT_SECURITY_POLICY` forbids them all; nothing is loaded from another origin; every
value reaches the page escaped (no ``|safe`` on data).
"""

from __future__ import annotations

import datetime as dt
import functools
from typing import Any

import jinja2

from elicence.domain.licence import CHINA_TZ
from elicence.templates.page import Asset, _asset, _read
from elicence.templates.texts import check_zh, china_time, error_zh, field_zh

# Like /v, plus forms posting to this origin; the desk's camera needs no media-src (a
# MediaStream is not fetched from a URL).
CONTENT_SECURITY_POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; "
    "img-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)
ASSETS = {
    "site.css": "text/css; charset=utf-8",
    "portal.js": "text/javascript; charset=utf-8",
    "desk.js": "text/javascript; charset=utf-8",
    "console.js": "text/javascript; charset=utf-8",
    "v-icon.svg": "image/svg+xml",
    "docs.js": "text/javascript; charset=utf-8",
    "terminal.js": "text/javascript; charset=utf-8",
}
ASSET_MAX_AGE = 365 * 24 * 3600

STATUS = {
    "valid": ("有效", "Valid", "good"),
    "revoked": ("已注销", "Revoked", "bad"),
    "suspended": ("已暂停", "Suspended", "warn"),
    "superseded": ("已被替代", "Superseded", "warn"),
    "expired": ("已过期", "Expired", "warn"),
    "invalid": ("无效", "Invalid", "bad"),
    "untrusted": ("不受信任", "Untrusted", "bad"),
    "not_found": ("未找到", "Not found", "bad"),
    "indeterminate": ("无法确定", "Indeterminate", "unknown"),
    "accepted": ("已接受", "Accepted", "good"),
    "replayed": ("重复使用", "Used before", "bad"),
    "not_yet_valid": ("尚未生效", "Not yet valid", "warn"),
    "unsupported_algorithm": ("签名算法不受支持", "Unsupported signature algorithm", "unknown"),
    "pending": ("未开始", "Not started", "unknown"),
    "in_force": ("生效中", "In force", "good"),
    "withdrawn": ("已撤回", "Withdrawn", "unknown"),
}
MARKS = {"good": "✔", "bad": "✖", "warn": "⚠", "unknown": "?"}

CHECKS = {
    "decode": ("解码", "Decodes"),
    "trust_list_current": ("信任列表为最新", "Trust list current"),
    "signer_known": ("签名密钥已登记", "Signing key known"),
    "signer_chain": ("证书链至根证书", "Chains to the root"),
    "signer_valid_at_issuance": ("签发时证书有效", "Certificate valid at issuance"),
    "signature": ("签名有效", "Signature"),
    "issuer_consistent": ("发证机关一致", "Issuer consistent"),
    "issuer_authorised": ("有权签发此类证照", "Issuer authorised"),
    "registry_record": ("证照库有记录", "Registry record"),
    "registry_status": ("证照状态", "Registry status"),
    "status_lists": ("状态列表可用", "Status lists"),
    "status_list_bits": ("状态列表未标记", "Status list bits"),
    "validity_dates": ("在有效期内", "Validity dates"),
    "pdf_signature": ("PDF 签名", "PDF signature"),
    "pdf_integrity": ("PDF 未被修改", "PDF integrity"),
    "pdf_coverage": ("签名覆盖全文", "Signature covers the file"),
    "pdf_signer_chain": ("PDF 签名证书链", "PDF signer chain"),
    "pdf_signer_known": ("PDF 签名密钥已登记", "PDF signer known"),
    "pdf_seal": ("PDF 内的证照码", "Seal in the PDF"),
    "pdf_signer_is_issuer": ("签名者即发证机关", "Signer is the issuer"),
    "presentation_signer": ("亮证码由本平台签发", "Presentation signer"),
    "presentation_signature": ("亮证码签名有效", "Presentation signature"),
    "presentation_window": ("亮证码在有效时间内", "Presentation window"),
    "presentation_holder": ("亮证人即持证人", "Presenter is the holder"),
    "presentation_nonce": ("亮证码首次使用", "First use"),
}
CHANNELS = {
    "seal": ("扫码查验", "Seal check"),
    "identifier": ("按标识查验", "Check by identifier"),
    "pdf": ("PDF 查验", "PDF check"),
    "presentation": ("动态亮证", "Dynamic presentation"),
    "grant": ("授权调取", "Read under a grant"),
}
ID_TYPES = {
    "001": ("统一社会信用代码", "USCC"),
    "099": ("其他组织代码", "Other organisation code"),
    "111": ("居民身份证", "Resident ID"),
    "411": ("护照", "Passport"),
    "511": ("台湾居民来往大陆通行证", "Taiwan residents' permit"),
    "516": ("港澳居民来往内地通行证", "HK/Macao residents' permit"),
    "999": ("其他证件", "Other"),
}


def beijing(value: dt.datetime | None, *, seconds: bool = False) -> str:
    """A UTC instant as Beijing time, ``2026-11-28 10:00``."""
    if value is None:
        return ""
    fmt = "%Y-%m-%d %H:%M:%S" if seconds else "%Y-%m-%d %H:%M"
    return value.astimezone(CHINA_TZ).strftime(fmt)


def _status(value: object) -> tuple[str, str, str]:
    return STATUS.get(str(value), (str(value), str(value), "unknown"))


@functools.cache
def _environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("elicence.templates", "web"),
        autoescape=jinja2.select_autoescape(default=True, default_for_string=True),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["beijing"] = beijing
    env.globals.update(
        asset_url=asset_url,
        status=_status,
        marks=MARKS,
        checks=CHECKS,
        channels=CHANNELS,
        id_types=ID_TYPES,
        check_zh=check_zh,
        china_time=china_time,
        error_zh=error_zh,
        field_zh=field_zh,
    )
    return env


def render(name: str, **context: Any) -> str:
    """A page: ``name`` under ``templates/web/`` with ``context`` (every value escaped)."""
    return _environment().get_template(name).render(**context)


@functools.cache
def asset(name: str) -> Asset:
    """A static file of the pages (KeyError for names not in :data:`ASSETS`)."""
    return _asset(_read(name), ASSETS[name], ASSET_MAX_AGE)


def asset_url(name: str, base: str = "") -> str:
    """The URL of a static file, versioned by its digest (so it can be cached for a year)."""
    return f"{base}/static/{name}?h={asset(name).etag.strip(chr(34))[:16]}"
