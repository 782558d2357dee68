"""The README's hall example runs as written (issue 18): its shell block, taken from README.md,
is run with bash against ``elicence serve`` on a data dir made by ``elicence init --demo`` (what
``scripts/dev`` does), only the port changed. It issues the business licence it cites, applies
with the shipped layout PDF, works the case to ``completed``, rates it and reads this month's
三率一数 without naming a period — and every step's answer is checked here.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.test_mirror_processes import free_port

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent  # the virtualenv the tests run in: `elicence` is beside python


def readme_block(heading: str = "## The hall's cases") -> str:
    """The first ```sh block after ``heading`` in README.md."""
    text = (REPO / "README.md").read_text(encoding="utf-8")
    section = text[text.index(heading) :]
    match = re.search(r"```sh\n(.*?)\n```", section, re.S)
    assert match is not None, f"no sh block under {heading!r}"
    return match.group(1)


def _env(data: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ELICENCE_")}
    env["ELICENCE_DATA_DIR"] = str(data)
    return env


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """A fresh demo installation served on a free port, as ``scripts/dev`` makes it."""
    data = tmp_path / "var"
    done = subprocess.run(
        [str(BIN / "elicence"), "init", "--demo"],
        env=_env(data),
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    port = free_port()
    server = subprocess.Popen(
        [str(BIN / "elicence"), "serve", "--port", str(port)],
        env=_env(data),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{url}/healthz", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert server.poll() is None and time.monotonic() < deadline, "serve did not start"
            time.sleep(0.2)
        yield url, data
    finally:
        server.terminate()
        server.wait(30)


def test_the_readme_hall_example_runs_as_written(served: tuple[str, Path]) -> None:
    if shutil.which("curl") is None:
        if os.environ.get("CI"):
            pytest.fail("curl is not installed: the README example needs it")
        pytest.skip("curl is not installed")
    url, data = served
    block = readme_block()
    assert "…" not in block and "{…}" not in block, "a placeholder left in the example"
    assert "layout.pdf" in block and (REPO / "docs/examples/layout.pdf").is_file()
    script = block.replace("http://127.0.0.1:8000", url).replace(".venv/bin/", f"{BIN}/")
    done = subprocess.run(
        ["bash", "-e", "-u", "-o", "pipefail", "-c", script],
        cwd=REPO,
        env=_env(data),
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    lines = done.stdout.splitlines()
    item = json.loads(lines[0])
    assert item["code"] == "440106-SCJ-0001"
    [case_line] = [x for x in lines if x.startswith("case ")]
    number = case_line.split()[1]
    assert re.fullmatch(r"440106\d{6}[0-9A-Z]{9}", number), case_line
    at = lines.index(case_line)
    accepted, reviewing, licence, completed, rating, progress, metrics = lines[at + 1 : at + 8]
    assert (accepted, reviewing, completed, progress) == (
        "accepted",
        "under_review",
        "completed",
        "completed",
    )
    assert licence.startswith("1.2.156.3005.2.11100000000013338W011.11440106MB2E000032.")
    assert json.loads(rating)["stars"] == 5
    report = json.loads(metrics)
    # no period named: this month in China time, as the dashboard
    assert re.fullmatch(r"\d{4}-\d{2}", report["period"]["label"])
    gz = next(r for r in report["rows"] if r["group"] == "440100")
    assert (gz["completed"], gz["completed_online"], gz["ratings"], gz["satisfied"]) == (1, 1, 1, 1)
    assert gz["online_completion_rate"] == 1.0 and gz["satisfaction_rate"] == 1.0
    # the permit is the applicant's: its seal verifies as valid
    ident = httpx.post(f"{url}/api/v1/verify", json={"identifier": licence}, timeout=30).json()
    assert ident["verdict"] == "valid"
