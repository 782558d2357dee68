"""The CLI takes text through the same rule as the API (issue 16): a request file or an option
with a lone surrogate or a control character is refused naming the field, and nothing is stored.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from elicence.app.service import Elicence
from elicence.cli.common import EXIT_INPUT
from tests.cli import cli
from tests.conftest import GZ_AMR, PASSPHRASE, food_permit
from tests.hostile.conftest import row_counts


def _env(service: Elicence, keys_dir: Path) -> dict[str, str]:
    return {
        "ELICENCE_DATA_DIR": str(keys_dir.parent),
        "ELICENCE_DATABASE_URL": str(service.registry.engine.url),
        "ELICENCE_KEY_PASSPHRASE": PASSPHRASE,
    }


@pytest.mark.parametrize(
    ("holder_name", "rule"),
    [("某某\ud800公司", "lone surrogate (U+D800)"), ("某某\x00公司", "control character (U+0000)")],
    ids=["surrogate", "nul"],
)
def test_an_issuance_file_with_bad_text_is_refused_and_stores_nothing(
    service: Elicence, keys_dir: Path, tmp_path: Path, holder_name: str, rule: str
) -> None:
    body = food_permit("CLI-HOSTILE")
    body["holder"] = {**body["holder"], "name": holder_name}  # type: ignore[dict-item]
    file = tmp_path / "req.json"
    file.write_text(json.dumps(body), encoding="ascii")  # "\ud800" as JSON writes it
    before = row_counts(service)
    result = cli(None, "issue", str(file), "--department", GZ_AMR, **_env(service, keys_dir))
    assert result.exit_code == EXIT_INPUT, result.output
    assert "holder.name" in result.stderr and rule in result.stderr
    assert row_counts(service) == before
