"""Uploads stored once per applicant (issue 18, 已提交过的电子材料无需重复提交): a file handed in
again — reused by its SHA-256 or uploaded a second time — is one blob referenced by each case's
upload row, its hash kept; a holder can never reference another holder's blob. Migration 0012
moves the uploads stored before it into blobs, one per applicant and hash, and back on downgrade.
On SQLite and PostgreSQL (``any_world``) where it reads the registry."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
from alembic import command
from sqlalchemy import create_engine, text

from elicence.registry.migrate import _config, upgrade
from tests.hall.conftest import PDF, PNG, World
from tests.hall.test_submit import count

LAYOUT = {"premises_layout": ("layout.pdf", PDF, "application/pdf")}
SHA = hashlib.sha256(PDF).hexdigest()


def _reuse(sha: str = SHA, material: str = "premises_layout") -> list[dict[str, str]]:
    return [{"material": material, "sha256": sha}]


def test_two_cases_reusing_an_earlier_upload_reference_one_blob(any_world: World) -> None:
    w = any_world
    first = w.submit("org", w.restaurant(), LAYOUT)
    assert first.status_code == 201, first.text
    assert count(w, "hall_blobs") == 1
    second = w.submit("org", w.restaurant(reuse=_reuse()))
    third = w.submit("org", w.restaurant(reuse=_reuse()))
    assert second.status_code == 201 and third.status_code == 201, (second.text, third.text)
    # one stored file, three references (the first upload and two reuses)
    assert count(w, "hall_blobs") == 1
    assert count(w, "hall_uploads") == 3
    with w.svc.registry.engine.connect() as c:
        blobs = c.execute(text("SELECT DISTINCT blob_id FROM hall_uploads")).all()
        copies = c.execute(text("SELECT count(*) FROM hall_uploads WHERE content IS NOT NULL"))
        assert len(blobs) == 1 and copies.scalar_one() == 0
    for r in (second, third):
        up = r.json()["uploads"][0]
        assert up["sha256"] == SHA and up["size"] == len(PDF) and up["filename"] == "layout.pdf"
        got = w.api.get(
            f"/api/v1/cases/{r.json()['number']}/uploads/premises_layout", headers=w.h("org")
        )
        assert got.status_code == 200 and got.content == PDF


def test_the_same_file_uploaded_again_is_stored_once(any_world: World) -> None:
    w = any_world
    for _ in range(2):
        assert w.submit("org", w.restaurant(), LAYOUT).status_code == 201
    assert count(w, "hall_blobs") == 1 and count(w, "hall_uploads") == 2
    # another holder's identical file is its own blob: blobs are per applicant
    other = w.restaurant(licences=[{"material": "business_licence", "seal": w.seals["biz2"]}])
    assert w.submit("org2", other, LAYOUT).status_code == 201
    assert count(w, "hall_blobs") == 2


def test_a_holder_never_references_another_holders_blob(any_world: World) -> None:
    w = any_world
    assert w.submit("org", w.restaurant(), LAYOUT).status_code == 201
    other = w.restaurant(
        licences=[{"material": "business_licence", "seal": w.seals["biz2"]}], reuse=_reuse()
    )
    r = w.submit("org2", other)
    assert r.status_code == 404, r.text
    assert r.json()["error"]["field"] == "reuse[0].sha256"
    assert count(w, "hall_cases") == 1 and count(w, "hall_uploads") == 1


@pytest.mark.parametrize(
    ("reuse", "field", "status"),
    [
        pytest.param("x", "reuse", 422, id="not-a-list"),
        pytest.param([{"material": "premises_layout"}], "reuse[0].sha256", 422, id="no-hash"),
        pytest.param(_reuse(SHA.upper()), "reuse[0].sha256", 422, id="upper-case"),
        pytest.param("SURROGATE", "reuse[0].sha256", 422, id="lone-surrogate"),
        pytest.param(_reuse(material="business_licence"), "reuse[0].material", 422, id="licence"),
        pytest.param([{**_reuse()[0], "x": 1}], "reuse[0].x", 422, id="unknown-key"),
        pytest.param(_reuse("0" * 64), "reuse[0].sha256", 404, id="never-uploaded"),
    ],
)
def test_a_bad_reuse_names_its_field_and_stores_nothing(
    any_world: World, reuse: object, field: str, status: int
) -> None:
    w = any_world
    first = w.submit("org", w.restaurant(), LAYOUT)
    assert first.status_code == 201
    if reuse == "SURROGATE":  # a lone surrogate cannot be encoded: written as JSON's escape
        r = w.api.post(
            "/api/v1/cases",
            content=_surrogate_body(w),
            headers={**w.h("org"), "Content-Type": "application/json"},
        )
    else:
        r = w.submit("org", w.restaurant(reuse=reuse))
    assert r.status_code == status, r.text
    assert r.json()["error"]["field"] == field
    assert count(w, "hall_cases") == 1 and count(w, "hall_uploads") == 1


def _surrogate_body(w: World) -> bytes:
    import json

    body = json.dumps(w.restaurant(reuse=_reuse("SURROGATE")), ensure_ascii=True)
    return body.replace("SURROGATE", "\\ud800").encode()


def test_a_reused_upload_is_held_to_the_new_materials_rules(any_world: World) -> None:
    """A PNG handed in for one item is refused for a material that takes PDF only."""
    w = any_world
    png = {"premises_layout": ("layout.png", PNG, "image/png")}
    assert w.submit("org", w.restaurant(), png).status_code == 201
    body = {
        "item_code": "440106-XF-0001",
        "form": {"premises_address": "天河路385号", "floor_area": "120"},
        "licences": [{"material": "business_licence", "seal": w.seals["biz"]}],
        "reuse": _reuse(hashlib.sha256(PNG).hexdigest(), "fire_commitment"),
    }
    r = w.submit("org", body)
    assert r.status_code == 422 and r.json()["error"]["field"] == "uploads.fire_commitment", r.text
    assert count(w, "hall_cases") == 1


def test_a_window_application_cannot_reuse_an_applicants_files(any_world: World) -> None:
    w = any_world
    assert w.submit("org", w.restaurant(), LAYOUT).status_code == 201
    body = w.restaurant(
        applicant={
            "name": "广州市天河区某某餐饮管理有限公司",
            "id_type": "001",
            "id_number": "91350100M000100Y43",
        },
        reuse=_reuse(),
    )
    r = w.submit("hall", body)
    assert r.status_code == 403 and r.json()["error"]["field"] == "reuse", r.text
    assert count(w, "hall_cases") == 1


def test_migration_0012_moves_stored_uploads_into_blobs_and_back(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'm.db'}"
    engine = create_engine(url)
    upgrade(engine, "0011")
    with engine.begin() as c:
        for n, holder in (("A" * 21, "X1"), ("B" * 21, "X1"), ("C" * 21, "X2")):
            c.execute(
                text(
                    "INSERT INTO hall_cases (number, item_code, item_version, item, department,"
                    " division, applicant_id_type, applicant_id, applicant_name, channel, status,"
                    " form, citations, uploads, submitted_at, paused_days, visits, version)"
                    " VALUES (:n, 'I', 1, '{}', 'D', '440106', '001', :h, 'N', 'online',"
                    " 'submitted', '{}', '[]', '[]', '2026-12-01 00:00:00', 0, 0, 1)"
                ),
                {"n": n, "h": holder},
            )
            c.execute(
                text(
                    "INSERT INTO hall_uploads (case_number, material, filename, content_type,"
                    " size, sha256, uploaded_at, content) VALUES (:n, 'm', 'f.pdf',"
                    " 'application/pdf', :size, :sha, '2026-12-01 00:00:00', :content)"
                ),
                {"n": n, "size": len(PDF), "sha": SHA, "content": PDF},
            )
    upgrade(engine, "0012")
    with engine.connect() as c:
        blobs = c.execute(text("SELECT holder_id, content FROM hall_blobs ORDER BY id")).all()
        assert [(b.holder_id, bytes(b.content)) for b in blobs] == [("X1", PDF), ("X2", PDF)]
        rows = c.execute(text("SELECT blob_id, content FROM hall_uploads ORDER BY id")).all()
        assert [r.blob_id for r in rows] == [1, 1, 2] and all(r.content is None for r in rows)
    command.downgrade(_config(engine), "0011")
    with engine.connect() as c:
        contents = c.execute(text("SELECT content FROM hall_uploads")).scalars().all()
        assert [bytes(x) for x in contents] == [PDF] * 3
    engine.dispose()
