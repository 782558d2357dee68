"""Stock conversion (存量转换): `elicence import` of CSV and JSON Lines files of paper licences.

The kill-and-resume test runs the real command in a subprocess, kills it with SIGKILL mid-way,
runs it again, and checks every row is stored exactly once and the audit passes.
"""

from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from sqlalchemy import text

from elicence.app.service import Elicence
from elicence.errors import CatalogueError, InputError, StockImportError
from tests.cli import cli
from tests.conftest import GZ_AMR, PASSPHRASE, SZ_AMR, TH_CIVIL, food_permit, marriage

COLUMNS = [
    "source_ref",
    "type_code",
    "licence_number",
    "holder_name",
    "holder_id_type",
    "holder_id_number",
    "valid_from",
    "valid_until",
    "department",
    "data.legal_representative",
    "data.residence",
    "data.business_premises",
    "data.main_business_format",
    "data.business_items",
]


def food_row(n: int, *, department: str = "", **over: str) -> dict[str, str]:
    body = food_permit(f"OLD-{n}", licence_number=f"JY1440106{n:07d}")
    holder = body["holder"]
    data = body["data"]
    assert isinstance(holder, dict) and isinstance(data, dict)
    row = {
        "source_ref": str(body["source_ref"]),
        "type_code": str(body["type_code"]),
        "licence_number": str(body["licence_number"]),
        "holder_name": holder["name"],
        "holder_id_type": holder["id_type"],
        "holder_id_number": holder["id_number"],
        "valid_from": str(body["valid_from"]),
        "valid_until": "",
        "department": department,
        **{f"data.{k}": v for k, v in data.items()},
    }
    row.update(over)
    return row


def write_csv(path: Path, rows: list[dict[str, str]]) -> Path:
    with path.open("w", encoding="utf-8", newline="") as f:
        w = csv.DictWriter(f, fieldnames=COLUMNS)
        w.writeheader()
        w.writerows(rows)
    return path


def report_rows(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8", newline="") as f:
        return list(csv.DictReader(f))


def count(svc: Elicence, sql: str) -> int:
    with svc.registry.engine.connect() as c:
        return int(c.execute(text(sql)).scalar() or 0)


def test_a_csv_is_imported_with_its_bad_rows_reported(service: Elicence, tmp_path: Path) -> None:
    rows = [food_row(n) for n in range(30)]
    rows[3]["holder_id_number"] = "91350100M000100Y44"  # wrong check character
    rows[7]["valid_from"] = "2026-13-01"
    rows[11]["data.legal_representative"] = ""  # required
    rows[12]["department"] = TH_CIVIL  # may not issue food permits
    rows[13]["department"] = "91350100M000100Y44"  # not a USCC
    rows[20] = dict(rows[19])  # the same row twice: stored once
    rows[21] = {**rows[19], "licence_number": "JY999"}  # its source_ref, another request
    src = write_csv(tmp_path / "old.csv", rows)

    summary = service.stock.run(src, department=GZ_AMR, workers=1, chunk_rows=7)

    assert summary.finished and summary.rows_total == 30 and summary.rows_done == 30
    assert (summary.created, summary.existing, summary.failed) == (23, 1, 6)
    report = report_rows(summary.report)
    assert [(r["row"], r["source_ref"], r["field"]) for r in report] == [
        ("5", "OLD-3", "holder.id_number"),
        ("9", "OLD-7", "valid_from"),
        ("13", "OLD-11", "data.legal_representative"),
        ("14", "OLD-12", "type_code"),
        ("15", "OLD-13", "department"),
        ("23", "OLD-19", "source_ref"),
    ]
    assert "different request" in report[-1]["message"]
    assert count(service, "SELECT count(*) FROM licences") == 23
    assert count(service, "SELECT count(*) FROM events WHERE kind = 'issued'") == 23
    stored = service.registry.search(department=GZ_AMR, limit=1000)
    assert sorted(lic.source_ref or "" for lic in stored) == sorted(
        f"OLD-{n}" for n in range(30) if n not in (3, 7, 11, 12, 13, 20, 21)
    )
    lic = stored[0]
    assert lic.licence_number.startswith("JY1440106") and lic.status_index is not None
    assert service.verification.verify(seal=lic.seal, client=None).verdict == "valid"
    assert service.log.audit().ok


def test_json_lines_with_the_department_per_row(service: Elicence, tmp_path: Path) -> None:
    lines = [
        json.dumps({**food_permit(f"GZ-{n}"), "department": GZ_AMR}, ensure_ascii=False)
        for n in range(5)
    ]
    lines += [json.dumps({**food_permit(f"SZ-{n}"), "department": SZ_AMR}) for n in range(3)]
    lines += [json.dumps({**marriage("TH-1"), "department": TH_CIVIL}, ensure_ascii=False)]
    lines += ["", "{not json", "[1, 2]", json.dumps(food_permit("NO-DEPT"))]
    src = tmp_path / "old.jsonl"
    src.write_text("\n".join(lines) + "\n", encoding="utf-8")

    summary = service.stock.run(src, department=None, workers=1)

    assert (summary.created, summary.failed) == (9, 3)
    assert [(r["row"], r["field"]) for r in report_rows(summary.report)] == [
        ("11", ""),
        ("12", ""),
        ("13", "department"),
    ]
    per_dept = {
        d: count(service, f"SELECT count(*) FROM licences WHERE department = '{d}'")
        for d in (GZ_AMR, SZ_AMR, TH_CIVIL)
    }
    assert per_dept == {GZ_AMR: 5, SZ_AMR: 3, TH_CIVIL: 1}
    # each department's status indices count from 0 and are unique
    assert (
        count(service, f"SELECT max(status_index) FROM licences WHERE department = '{SZ_AMR}'") == 2
    )
    assert service.log.audit().ok


def test_rows_issued_before_through_the_api_are_not_issued_again(
    service: Elicence, tmp_path: Path
) -> None:
    from elicence.domain.clients import Client, Role

    body = food_permit("OLD-2", licence_number="JY14401060000002")
    before = service.licences.issue(Client("gz", "gz", Role.DEPARTMENT, GZ_AMR), body).licence
    src = write_csv(tmp_path / "old.csv", [food_row(n) for n in range(4)])
    summary = service.stock.run(src, department=GZ_AMR, workers=1)
    assert (summary.created, summary.existing, summary.failed) == (3, 1, 0)
    assert service.registry.licence(before.identifier) == before
    again = service.stock.run(src, department=GZ_AMR, workers=1)  # a finished run: nothing to do
    assert again.finished and again.resumed_from == 4 and again.created == 3
    assert count(service, "SELECT count(*) FROM licences") == 4


@pytest.mark.parametrize(
    ("name", "content", "error", "match"),
    [
        ("old.txt", "x", StockImportError, "csv, .jsonl"),
        ("old.csv", "source_ref,type_code\nA,B\n", StockImportError, "missing: licence_number"),
        ("old.csv", ",".join([*COLUMNS, "colour"]) + "\n", StockImportError, "unknown: colour"),
    ],
    ids=["unknown-suffix", "missing-columns", "unknown-column"],
)
def test_a_file_that_cannot_be_imported_is_refused_before_anything_is_stored(
    service: Elicence,
    tmp_path: Path,
    name: str,
    content: str,
    error: type[Exception],
    match: str,
) -> None:
    src = tmp_path / name
    src.write_text(content, encoding="utf-8")
    with pytest.raises(error, match=match):
        service.stock.run(src, department=GZ_AMR, workers=1)
    assert count(service, "SELECT count(*) FROM licences") == 0


@pytest.mark.parametrize(
    ("department", "error"),
    [("91350100M000100Y44", InputError), ("91350100M000100Y43", CatalogueError)],
    ids=["not-a-uscc", "not-in-the-catalogue"],
)
def test_the_department_option_is_checked(
    service: Elicence, tmp_path: Path, department: str, error: type[Exception]
) -> None:
    src = write_csv(tmp_path / "old.csv", [food_row(0)])
    with pytest.raises(error):
        service.stock.run(src, department=department, workers=1)


@pytest.mark.postgres
def test_import_on_postgresql(pg_service: Elicence, tmp_path: Path) -> None:
    rows = [food_row(n) for n in range(50)]
    rows[5]["holder_id_number"] = "91350100M000100Y44"
    src = write_csv(tmp_path / "old.csv", rows)
    summary = pg_service.stock.run(src, department=GZ_AMR, workers=2, chunk_rows=8)
    assert (summary.created, summary.failed) == (49, 1)
    assert count(pg_service, "SELECT count(DISTINCT status_index) FROM licences") == 49
    assert count(pg_service, "SELECT count(*) FROM events") == 49
    assert pg_service.log.audit().ok


# -- killed with SIGKILL, then resumed --------------------------------------------------------


def _env(data_dir: Path, url: str) -> dict[str, str]:
    return {
        **os.environ,
        "ELICENCE_DATA_DIR": str(data_dir),
        "ELICENCE_DATABASE_URL": url,
        "ELICENCE_KEY_PASSPHRASE": PASSPHRASE,
    }


def _elicence(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "elicence.cli", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )


@pytest.mark.slow
@pytest.mark.postgres
def test_an_import_killed_mid_way_resumes_with_every_row_exactly_once(
    pg_service: Elicence, postgres_url: str, keys_dir: Path, tmp_path: Path
) -> None:
    """20,000 rows across three departments, SIGKILL mid-way, rerun: exactly once, audit ok."""
    data = tmp_path / "data"
    data.mkdir()
    (data / "keys").symlink_to(keys_dir, target_is_directory=True)
    env = _env(data, postgres_url)
    rows = []
    for n in range(20_000):
        dept = (GZ_AMR, SZ_AMR)[n % 2]
        row = food_row(n, department=dept)
        if n % 997 == 0:
            row["valid_from"] = "2026-02-30"  # an error every so often
        rows.append(row)
    src = write_csv(tmp_path / "old.csv", rows)
    bad = sum(1 for n in range(20_000) if n % 997 == 0)

    proc = subprocess.Popen(
        [sys.executable, "-m", "elicence.cli", "import", str(src), "--chunk", "500"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 600
        while count(pg_service, "SELECT count(*) FROM licences") < 3_000:
            assert proc.poll() is None, "the import ended before it could be killed"
            assert time.monotonic() < deadline, "the import made no progress"
            time.sleep(0.05)
    finally:
        os.killpg(proc.pid, signal.SIGKILL)  # the import and its worker processes
        proc.wait(timeout=60)
    stored_at_kill = count(pg_service, "SELECT count(*) FROM licences")
    assert 3_000 <= stored_at_kill < 20_000 - bad

    done = _elicence(env, "import", str(src), "--chunk", "500")
    assert done.returncode == 2, done.stdout + done.stderr  # 2: the report has errors
    assert "resumed at row" in done.stdout, done.stdout

    assert count(pg_service, "SELECT count(*) FROM licences") == 20_000 - bad
    assert count(pg_service, "SELECT count(DISTINCT source_ref) FROM licences") == 20_000 - bad
    assert count(pg_service, "SELECT count(*) FROM events") == 20_000 - bad
    for dept in (GZ_AMR, SZ_AMR):
        assert (
            count(
                pg_service,
                f"SELECT count(*) - count(DISTINCT status_index) FROM licences "
                f"WHERE department = '{dept}'",
            )
            == 0
        )
    report = report_rows(Path(str(src) + ".errors.csv"))
    assert sorted(int(r["source_ref"].split("-")[1]) for r in report) == [
        n for n in range(20_000) if n % 997 == 0
    ]  # each bad row reported once, none lost at the kill
    audit = _elicence(env, "registry", "audit")
    assert audit.returncode == 0, audit.stdout + audit.stderr
    assert "ok:" in audit.stdout


# -- the command --------------------------------------------------------------------------------


def test_the_import_command_reports_and_exits_by_what_it_found(
    tmp_path: Path, keys_dir: Path
) -> None:

    data = tmp_path / "data"
    data.mkdir()
    env = {
        "ELICENCE_DATA_DIR": str(data),
        "ELICENCE_KEY_PASSPHRASE": PASSPHRASE,
        "ELICENCE_DATABASE_URL": None,
    }
    assert cli(None, "init", **env).exit_code == 0
    good = write_csv(tmp_path / "good.csv", [food_row(n) for n in range(3)])
    ok = cli(None, "import", str(good), "--department", GZ_AMR, "--workers", "1", **env)
    assert ok.exit_code == 0, ok.output
    assert "3 of 3 rows done: 3 licences issued, 0 already stored, 0 errors" in ok.output

    rows = [food_row(n) for n in range(3, 6)]
    rows[1]["valid_from"] = "yesterday"
    bad = write_csv(tmp_path / "bad.csv", rows)
    report = tmp_path / "report.csv"
    found = cli(
        None,
        *["import", str(bad), "--department", GZ_AMR, "--errors", str(report), "--workers", "1"],
        **env,
    )
    assert found.exit_code == 2, found.output  # rows in the error report
    assert "2 licences issued" in found.output and "1 errors" in found.output
    assert [r["field"] for r in report_rows(report)] == ["valid_from"]

    again = cli(None, "import", str(good), "--department", GZ_AMR, **env)
    assert again.exit_code == 0 and "nothing left to do" in again.output

    nodept = cli(None, "import", str(good), "--department", "X", **env)
    assert nodept.exit_code == 2 and "department" in nodept.output
