"""Licence PDFs proved with tools we did not write: poppler's ``pdfsig`` (NSS trusting only our
root), ``qpdf --check``, ``pdftotext``, and ``zbarimg`` on the page rasterised by ``pdftoppm``.
"""

from __future__ import annotations

import dataclasses
import io
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from pyhanko.pdf_utils.reader import PdfFileReader

from elicence.app.service import Elicence
from elicence.templates.pdf import LAYOUTS, LicenceRenderer, layout_for
from elicence.verifier import verify_seal
from elicence.verifier.pdf import verify_pdf
from tests.conftest import TH_CIVIL, ApiKeys, food_permit, marriage
from tests.templates.pdftools import (
    ADMIN,
    GZ_CLIENT,
    business_licence,
    issue_pdf,
    needs_tools,
    nss_db,
    pdfsig,
    qr_texts,
    run,
    text_of,
)


@needs_tools
def test_pdfsig_reports_the_signature_valid_and_the_certificate_trusted(
    service: Elicence, tmp_path: Path
) -> None:
    _, pdf = issue_pdf(service)
    path = tmp_path / "licence.pdf"
    path.write_bytes(pdf)
    out = pdfsig(path, nss_db(tmp_path / "nss", service))
    assert "Signature is Valid." in out, out
    assert "Certificate is Trusted." in out, out
    assert "ETSI.CAdES.detached" in out, out
    assert "Total document signed" in out, out
    assert "广州市市场监督管理局" in out
    assert run("qpdf", "--check", path).returncode == 0


@needs_tools
def test_pdfsig_does_not_trust_it_without_our_root(service: Elicence, tmp_path: Path) -> None:
    _, pdf = issue_pdf(service)
    path = tmp_path / "licence.pdf"
    path.write_bytes(pdf)
    empty = tmp_path / "empty"
    empty.mkdir()
    run("certutil", "-N", "-d", f"sql:{empty}", "--empty-password")
    out = pdfsig(path, f"sql:{empty}")
    assert "Signature is Valid." in out
    assert "Certificate is Trusted." not in out


@needs_tools
def test_b_lt_embeds_the_crl_and_chain_and_stays_one_revision(
    service: Elicence, tmp_path: Path
) -> None:
    service.keys.init()  # re-signs the CRL: the template's is at the end of its period
    assert service.keystore.current_crl(service.clock()) is not None
    _, pdf = issue_pdf(service)
    reader = PdfFileReader(io.BytesIO(pdf))
    dss = reader.root["/DSS"]
    assert len(dss["/CRLs"]) == 1
    assert len(dss["/Certs"]) >= 2
    assert reader.xrefs.total_revisions == 2  # reportlab's, and the signed update
    report = verify_pdf(
        pdf, trust_list=service.keys.trust_list(), status=service.registry, now=service.clock()
    )
    assert report.valid, report.checks
    assert "B-B with validation data (DSS)" in report.checks[0].detail
    path = tmp_path / "lt.pdf"
    path.write_bytes(pdf)
    out = pdfsig(path, nss_db(tmp_path / "nss", service))
    assert "Signature is Valid." in out and "Certificate is Trusted." in out, out


def test_without_a_current_crl_the_pdf_is_b_b(service: Elicence) -> None:
    assert service.keystore.current_crl(service.clock()) is None  # the template's CRL expired
    _, pdf = issue_pdf(service)
    assert "/DSS" not in PdfFileReader(io.BytesIO(pdf)).root


@needs_tools
def test_the_qr_code_decodes_with_zbarimg_and_its_seal_verifies(
    service: Elicence, tmp_path: Path
) -> None:
    identifier, pdf = issue_pdf(service)
    path = tmp_path / "licence.pdf"
    path.write_bytes(pdf)
    texts = qr_texts(path, tmp_path)
    assert len(texts) == 1, texts
    lic = service.registry.licence(identifier)
    assert lic is not None
    assert texts[0] == service.licences.verification_url(lic.seal)
    report = verify_seal(
        texts[0], trust_list=service.keys.trust_list(), status=service.registry, now=service.clock()
    )
    assert report.valid, report.checks
    # PDF metadata, QR code and registry agree
    info = PdfFileReader(io.BytesIO(pdf)).trailer_view["/Info"]
    assert str(info["/ELSeal"]) == lic.seal == str(info["/Keywords"])


@pytest.mark.parametrize(
    ("body", "department", "template", "expected"),
    [
        (food_permit(), None, "permit", ["食品经营许可证", "FoodBusinessPermit", "法定代表人"]),
        (marriage(), TH_CIVIL, "certificate", ["结婚证", "配偶姓名", "Spouse", "王五"]),
        (
            business_licence(),
            None,
            "business_licence",
            ["营业执照", "统一社会信用代码", "王喆", "2020年5月6日", "长期有效"],
        ),
    ],
    ids=["permit", "certificate", "business_licence"],
)
@needs_tools
def test_each_template_prints_its_licence(
    service: Elicence,
    tmp_path: Path,
    body: dict[str, object],
    department: str | None,
    template: str,
    expected: list[str],
) -> None:
    lt = service.catalogue().licence_type(str(body["type_code"]))
    assert lt.template == template and layout_for(lt) is LAYOUTS[template]
    kw = {"department": department} if department else {}
    identifier, pdf = issue_pdf(service, body, **kw)
    path = tmp_path / "licence.pdf"
    path.write_bytes(pdf)
    text = "".join(text_of(path).split())
    for word in [*expected, identifier, "发证机关", "发证日期", "扫码核验", "电子证照专用章"]:
        assert word in text, word
    assert "None" not in text


def test_an_unknown_template_gets_the_default_layout(service: Elicence) -> None:
    lt = dataclasses.replace(
        service.catalogue().licence_type(food_permit()["type_code"]), template="nope"
    )  # type: ignore[arg-type]
    assert layout_for(lt) is LAYOUTS["default"]


@needs_tools
def test_english_labels_only_where_the_type_says_so(service: Elicence, tmp_path: Path) -> None:
    lic = service.licences.issue(GZ_CLIENT, food_permit()).licence
    catalogue = service.catalogue()
    lt = dataclasses.replace(catalogue.licence_type(lic.type_code), english_labels=False)
    renderer = service.documents.renderer
    pdf = renderer.render(
        lic,
        licence_type=lt,
        department=catalogue.department(lic.department_uscc),
        public_base_url=service.public_base_url,
    )
    path = tmp_path / "zh.pdf"
    path.write_bytes(pdf)
    text = text_of(path)
    assert "法定代表人" in text
    assert "Legal representative" not in text and "Food Business Permit" not in text


@needs_tools
def test_a_missing_optional_item_leaves_no_row_and_no_none(
    service: Elicence, tmp_path: Path
) -> None:
    with_items = food_permit("OPT-1")
    with_items["data"] = {  # type: ignore[index]
        **with_items["data"],  # type: ignore[dict-item]
        "supervising_authority": "天河区市场监督管理局",
        "complaint_hotline": "12315",
    }
    _, full = issue_pdf(service, with_items)
    _, bare = issue_pdf(service, food_permit("OPT-2"))
    (tmp_path / "full.pdf").write_bytes(full)
    (tmp_path / "bare.pdf").write_bytes(bare)
    full_text, bare_text = text_of(tmp_path / "full.pdf"), text_of(tmp_path / "bare.pdf")
    assert "日常监督管理机构" in full_text and "12315" in full_text
    assert "日常监督管理机构" not in bare_text and "投诉举报电话" not in bare_text
    assert "None" not in bare_text
    # no gap: the validity row follows the last present item directly
    lines = [line for line in bare_text.splitlines() if line.strip()]
    at = next(i for i, line in enumerate(lines) if "经营项目" in line)
    assert any("有效期限" in line for line in lines[at + 1 : at + 4])


@needs_tools
def test_long_names_and_a_long_scope_wrap_and_stay_complete(
    service: Elicence, tmp_path: Path
) -> None:
    name = "广州市天河区" + "某" * 40 + "国际餐饮管理集团有限公司"
    scope = "；".join(f"第{i}项经营活动包括热食类食品制售和冷食类食品制售" for i in range(1, 25))
    body = food_permit(
        "LONG-1", holder={"name": name, "id_type": "001", "id_number": "91350100M000100Y43"}
    )
    body["data"] = {**body["data"], "business_items": scope[:500]}  # type: ignore[dict-item]
    _, pdf = issue_pdf(service, body)
    path = tmp_path / "long.pdf"
    path.write_bytes(pdf)
    text = "".join(run("pdftotext", "-raw", path, "-").stdout.split())
    assert name in text
    assert scope[:500].replace(" ", "") in text
    renderer = service.documents.renderer
    for line in renderer.wrap(name, 200, 11):
        assert renderer._width(line, 11) <= 200
    assert len(renderer.wrap(name, 200, 11)) > 1


def test_a_business_scope_of_two_thousand_characters_continues_on_a_second_page(
    service: Elicence,
) -> None:
    scope = ("软件开发；信息技术咨询服务；数据处理和存储支持服务；" * 80)[:2000]
    body = business_licence("LONG-2")
    body["data"] = {**body["data"], "business_scope": scope}  # type: ignore[dict-item]
    _, pdf = issue_pdf(service, body)
    reader = PdfFileReader(io.BytesIO(pdf))
    assert 1 <= len(reader.root["/Pages"]["/Kids"]) <= 3
    report = verify_pdf(
        pdf, trust_list=service.keys.trust_list(), status=service.registry, now=service.clock()
    )
    assert report.valid


@needs_tools
@pytest.mark.parametrize("name", ["王堃", "张喆", "欧阳堃喆"])
def test_rare_characters_in_names_render(service: Elicence, tmp_path: Path, name: str) -> None:
    body = marriage(
        f"RARE-{ord(name[-1])}-{len(name)}",
        holder={"name": name, "id_type": "111", "id_number": "11010519491231002X"},
    )
    _, pdf = issue_pdf(service, body, department=TH_CIVIL)
    path = tmp_path / "rare.pdf"
    path.write_bytes(pdf)
    assert name in text_of(path)


def test_a_character_the_font_lacks_is_refused_at_issuance_naming_the_field(
    api: TestClient, api_keys: ApiKeys, service: Elicence
) -> None:
    body = marriage(
        "RARE-X", holder={"name": "𠮷田", "id_type": "111", "id_number": "11010519491231002X"}
    )
    r = api.post("/api/v1/licences", json=body, headers=api_keys.h("th_civil"))
    assert r.status_code == 422, r.text
    err = r.json()["error"]
    assert err["field"] == "holder.name"
    assert err["code"] == "unprintable_character"
    assert "U+20BB7" in err["message"]
    assert service.registry.count_licences() == 0  # nothing stored
    # in a batch, only that item is refused
    good = marriage("RARE-OK")
    r = api.post(
        "/api/v1/licences/batch", json={"items": [body, good]}, headers=api_keys.h("th_civil")
    )
    assert r.status_code == 200, r.text
    results = r.json()["results"]
    assert results[0]["outcome"] == "error" and results[0]["error"]["field"] == "holder.name"
    assert results[1]["outcome"] == "created"
    # data items too
    bad_item = marriage("RARE-Y")
    bad_item["data"] = {**bad_item["data"], "spouse_name": "𠮷"}  # type: ignore[dict-item]
    r = api.post("/api/v1/licences", json=bad_item, headers=api_keys.h("th_civil"))
    assert r.status_code == 422 and r.json()["error"]["field"] == "data.spouse_name"


def test_a_missing_font_file_is_a_clear_service_error(tmp_path: Path) -> None:
    from elicence.errors import SettingsError

    renderer = LicenceRenderer(tmp_path / "no-such-font.ttc")
    with pytest.raises(SettingsError, match="cannot be loaded"):
        renderer.missing_glyphs("张三")


def test_the_pdf_is_made_once_and_kept(service: Elicence) -> None:
    identifier, first = issue_pdf(service)
    assert service.registry.document(identifier) == first
    assert service.licences.pdf(ADMIN, identifier) == first  # not re-signed


def test_documents_made_again_from_the_kept_signer_each_verify(service: Elicence) -> None:
    """The signer, font and layout are kept between documents (that is what makes them fast,
    measured in bench/bench.py): each document made from them is still a valid, distinct one."""
    identifier, _ = issue_pdf(service)
    lic = service.registry.licence(identifier)
    assert lic is not None
    catalogue = service.catalogue()
    args = {
        "licence_type": catalogue.licence_type(lic.type_code),
        "department": catalogue.department(lic.department_uscc),
        "signer": service.keys.signers()[lic.department_uscc],
        "root": service.keystore.root_certificate(),
        "public_base_url": service.public_base_url,
        "crl": None,
        "now": service.clock(),
    }
    made = [service.documents.make(lic, **args) for _ in range(3)]  # type: ignore[arg-type]
    assert len(set(made)) == 3  # a fresh ECDSA signature each time
    for pdf in made:
        report = verify_pdf(
            pdf, trust_list=service.keys.trust_list(), status=service.registry, now=service.clock()
        )
        assert report.verdict == "valid", report.checks
        assert report.licence is not None and report.licence.identifier == identifier
