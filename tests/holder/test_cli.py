"""``elicence presentation verify``: a live code checked offline with an exported trust list (no
database), or online (once: a second use is replayed); exit 0 only when accepted and valid."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import pytest

from elicence.bootstrap import build_service
from elicence.domain.licence import HolderRef
from elicence.settings import Settings
from tests.cli import cli
from tests.conftest import GZ_AMR, food_permit
from tests.holder.conftest import ORG_X
from tests.test_cli import write_json


@dataclass(frozen=True)
class Prepared:
    data_dir: Path
    identifier: str
    trust_list: Path
    root: Path


@pytest.fixture(scope="module")
def prepared(tmp_path_factory: pytest.TempPathFactory) -> Prepared:
    base = tmp_path_factory.mktemp("presentation-cli")
    data_dir = base / "data"
    assert cli(data_dir, "init").exit_code == 0
    r = cli(data_dir, "issue", write_json(base / "req.json", food_permit()), "--department", GZ_AMR)
    assert r.exit_code == 0, r.stderr
    out = base / "trust.cose"
    assert cli(data_dir, "keys", "export-trust-list", out).exit_code == 0
    return Prepared(
        data_dir, json.loads(r.stdout)["identifier"], out, out.with_name("trust.root.pem")
    )


def _present(prepared: Prepared) -> str:
    svc = build_service(Settings(data_dir=prepared.data_dir), upgrade=False)
    try:
        me = svc.holder.principal(HolderRef.parse(f"001:{ORG_X}"), "某某餐饮")
        return svc.holder.present(me, prepared.identifier).text
    finally:
        svc.close()


def test_offline_a_live_code_is_accepted_with_the_trust_list_alone(
    prepared: Prepared, tmp_path: Path
) -> None:
    text = _present(prepared)
    empty = tmp_path / "empty"
    empty.mkdir()
    args = (
        "presentation",
        "verify",
        text,
        "--trust-list",
        prepared.trust_list,
        "--root",
        prepared.root,
    )
    r = cli(empty, *args, "--holder", f"001:{ORG_X}")
    assert r.exit_code == 0, r.stdout + r.stderr
    assert r.stdout.splitlines()[0] == "presentation: accepted; licence: valid"
    assert "[ok] presentation_holder" in r.stdout
    assert "revocation was NOT checked" in r.stdout  # the trust list alone
    assert list(empty.iterdir()) == []  # no database touched
    r = cli(empty, *args, "--holder", "001:91440101MA59TK3R7Y")
    assert r.exit_code == 1 and "presentation: invalid" in r.stdout


def test_online_a_live_code_is_accepted_once(prepared: Prepared) -> None:
    text = _present(prepared)
    first = cli(prepared.data_dir, "presentation", "verify", text, "--json")
    assert first.exit_code == 0, first.stderr
    assert json.loads(first.stdout)["accepted"] is True
    second = cli(prepared.data_dir, "presentation", "verify", text)
    assert second.exit_code == 1
    assert second.stdout.startswith("presentation: replayed")


@pytest.mark.parametrize(
    ("text", "code"),
    [pytest.param("EL1:AAAA", 2, id="not-a-presentation"), pytest.param("EP1:0", 2, id="garbage")],
)
def test_unreadable_input_exits_2(prepared: Prepared, text: str, code: int) -> None:
    r = cli(prepared.data_dir, "presentation", "verify", text)
    assert r.exit_code == code and "presentation" in r.stderr
