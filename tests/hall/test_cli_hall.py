"""The hall's command line: ``elicence items …``, ``elicence cases …``, ``elicence metrics``,
run for real (Typer's runner on a data directory made by ``elicence init``)."""

from __future__ import annotations

import datetime as dt
import json
import re
import shutil
from dataclasses import dataclass
from pathlib import Path

import pytest
from typer.testing import Result

from elicence.domain.licence import CHINA_TZ
from tests.cli import cli
from tests.hall.conftest import (
    ORG,
    PDF,
    RESTAURANT,
    TH_AMR,
    business_licence,
    restaurant_application,
)

API_KEY = re.compile(r"\belk_[A-Za-z0-9_-]{20,}")


@dataclass
class Hall:
    data_dir: Path
    holder: str
    clerk: str
    seal: str


def _key(result: Result) -> str:
    assert result.exit_code == 0, result.stderr
    found = API_KEY.search(result.stdout)
    assert found is not None, result.stdout
    return found.group(0)


@pytest.fixture(scope="module")
def prepared(tmp_path_factory: pytest.TempPathFactory) -> Hall:
    base = tmp_path_factory.mktemp("hall-cli")
    data_dir = base / "data"
    init = cli(data_dir, "init")
    assert init.exit_code == 0, init.stderr
    assert "imported the demo service items (13 items, version 1)" in init.stdout
    holder = _key(
        cli(
            data_dir,
            "clients",
            "add",
            "--name",
            "某某餐饮",
            "--role",
            "holder",
            "--holder",
            f"001:{ORG}",
        )
    )
    clerk = _key(
        cli(
            data_dir,
            "clients",
            "add",
            "--name",
            "天河区市场监管局窗口",
            "--role",
            "department",
            "--department",
            TH_AMR,
        )
    )
    request = base / "biz.json"
    request.write_text(json.dumps(business_licence("CLI-BIZ-1")), encoding="utf-8")
    issued = cli(data_dir, "issue", request, "--department", TH_AMR)
    assert issued.exit_code == 0, issued.stderr
    return Hall(data_dir, holder, clerk, json.loads(issued.stdout)["seal"])


@pytest.fixture
def hall(prepared: Hall, tmp_path: Path) -> Hall:
    target = tmp_path / "data"
    shutil.copytree(prepared.data_dir, target)
    return Hall(target, prepared.holder, prepared.clerk, prepared.seal)


def test_items_show_and_import(hall: Hall, tmp_path: Path) -> None:
    shown = cli(hall.data_dir, "items", "show")
    assert shown.exit_code == 0, shown.stderr
    assert len(json.loads(shown.stdout)["items"]) == 13
    one = json.loads(cli(hall.data_dir, "items", "show", RESTAURANT).stdout)
    assert one["issues"] == "11100000000013338W011"
    missing = cli(hall.data_dir, "items", "show", "NOPE-0000")
    assert missing.exit_code == 2 and "NOPE-0000" in missing.stderr
    from elicence.hall.items_file import DEMO_ITEMS

    again = cli(hall.data_dir, "items", "import", DEMO_ITEMS)
    assert again.exit_code == 0, again.stderr
    assert (
        "13 service items of 11 departments and 2 scenarios" in again.stdout
        and "version 2" in again.stdout
    )
    broken = tmp_path / "broken.yaml"
    broken.write_text(
        DEMO_ITEMS.read_text(encoding="utf-8").replace(
            "    depth: 3\n    max_visits: 0", "    depth: 3\n    max_visits: 2", 1
        ),
        encoding="utf-8",
    )
    bad = cli(hall.data_dir, "items", "import", broken)
    assert bad.exit_code == 2 and "max_visits" in bad.stderr and "line" in bad.stderr


def _submit(hall: Hall, tmp_path: Path) -> str:
    application = restaurant_application({"seal": hall.seal})
    (tmp_path / "app.json").write_text(
        json.dumps(application, ensure_ascii=False), encoding="utf-8"
    )
    (tmp_path / "layout.pdf").write_bytes(PDF)
    r = cli(
        hall.data_dir,
        "cases",
        "submit",
        tmp_path / "app.json",
        "--upload",
        f"premises_layout={tmp_path / 'layout.pdf'}",
        ELICENCE_API_KEY=hall.holder,
    )
    assert r.exit_code == 0, r.stderr
    case = json.loads(r.stdout)
    assert case["status"] == "submitted" and case["citations"][0]["verdict"] == "valid"
    return str(case["number"])


def test_a_case_through_the_command_line(hall: Hall, tmp_path: Path) -> None:
    number = _submit(hall, tmp_path)
    for verb, status in (
        ("accept", "accepted"),
        ("review", "under_review"),
        ("approve", "approved"),
        ("complete", "completed"),
    ):
        r = cli(hall.data_dir, "cases", verb, number, "--api-key", hall.clerk)
        assert r.exit_code == 0, (verb, r.stderr)
        assert r.stdout.startswith(f"{number}: {status}")
    again = cli(hall.data_dir, "cases", "approve", number, "--api-key", hall.clerk)
    assert again.exit_code == 2 and "final" in again.stderr
    shown = json.loads(cli(hall.data_dir, "cases", "show", number, "--api-key", hall.holder).stdout)
    assert shown["licence"] and [e["action"] for e in shown["events"]][-1] == "complete"
    listed = cli(hall.data_dir, "cases", "list", "--api-key", hall.clerk, "--status", "completed")
    assert number in listed.stdout
    progress = cli(hall.data_dir, "cases", "progress", number, "--holder", f"001:{ORG}")
    assert (
        progress.exit_code == 0
        and "办结" in progress.stdout
        and "licence issued" in progress.stdout
    )
    wrong = cli(hall.data_dir, "cases", "progress", number, "--holder", "001:91440101MA59TK3R7Y")
    assert wrong.exit_code == 2 and "no case" in wrong.stderr
    period = dt.datetime.now(CHINA_TZ).strftime("%Y-%m")
    table = cli(hall.data_dir, "metrics", "--period", period, "--group", TH_AMR)
    assert table.exit_code == 0, table.stderr
    assert TH_AMR in table.stdout and "广州市天河区市场监督管理局" in table.stdout
    as_csv = cli(hall.data_dir, "metrics", "--period", period, "--csv", "--group", TH_AMR)
    header, row = as_csv.stdout.splitlines()[:2]
    values = dict(zip(header.split(","), row.split(","), strict=True))
    assert values["completed"] == "1" and values["online_completion_rate"] == "1.0"


def test_a_rejection_needs_a_reason_and_a_key(hall: Hall, tmp_path: Path) -> None:
    number = _submit(hall, tmp_path)
    no_reason = cli(hall.data_dir, "cases", "reject", number, "--api-key", hall.clerk)
    assert no_reason.exit_code == 2 and "reason" in no_reason.stderr
    bad_key = cli(hall.data_dir, "cases", "accept", number, "--api-key", "elk_not-a-key")
    assert bad_key.exit_code == 2 and "API key" in bad_key.stderr
    holder = cli(hall.data_dir, "cases", "accept", number, "--api-key", hall.holder)
    assert holder.exit_code == 2
    rejected = cli(
        hall.data_dir, "cases", "reject", number, "--api-key", hall.clerk, "--reason", "不在本辖区"
    )
    assert rejected.exit_code == 0 and "不予受理" in rejected.stdout


def test_bad_metrics_period(hall: Hall) -> None:
    r = cli(hall.data_dir, "metrics", "--period", "2026-13")
    assert r.exit_code == 2 and "period" in r.stderr
