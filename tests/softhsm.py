"""A SoftHSM2 token for the PKCS#11 tests (``softhsm2`` from scripts/setup --dev).

One token directory and configuration per test session: SoftHSM reads ``SOFTHSM2_CONF`` when the
module is initialised, and the module is initialised once per process. Without SoftHSM the tests
skip, except with ``CI=true``, where they fail: CI must run them.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from elicence.keys.pkcs11 import TokenConfig
from tests.tools import unavailable

MODULE_CANDIDATES = (
    "/usr/lib/softhsm/libsofthsm2.so",
    "/usr/lib/x86_64-linux-gnu/softhsm/libsofthsm2.so",
    "/usr/local/lib/softhsm/libsofthsm2.so",
)
TOKEN_LABEL = "elicence-test"
PIN = "246810"  # a test token's PIN, not a secret
SO_PIN = "13579111"
MISSING = "SoftHSM2 is missing (softhsm2: scripts/setup --dev installs it)"


@dataclass
class SoftHsm:
    directory: Path  # the token directory SoftHSM keeps its objects in
    conf: Path
    config: TokenConfig

    def hide(self) -> None:
        """Make the token go away (as if its HSM were unplugged)."""
        self.directory.rename(self.directory.with_name("tokens.away"))

    def restore(self) -> None:
        self.directory.with_name("tokens.away").rename(self.directory)


def _module() -> str | None:
    for path in MODULE_CANDIDATES:
        if Path(path).is_file():
            return path
    return None


def start_softhsm(base: Path) -> SoftHsm:
    """A fresh token under ``base``, and SOFTHSM2_CONF pointing at it (for this process)."""
    module = _module()
    if module is None or shutil.which("softhsm2-util") is None:
        raise FileNotFoundError(MISSING)
    tokens = base / "tokens"
    tokens.mkdir(parents=True)
    conf = base / "softhsm2.conf"
    conf.write_text(
        f"directories.tokendir = {tokens}\nobjectstore.backend = file\nlog.level = ERROR\n",
        encoding="utf-8",
    )
    os.environ["SOFTHSM2_CONF"] = str(conf)
    subprocess.run(
        [
            *("softhsm2-util", "--init-token", "--free", "--label", TOKEN_LABEL),
            *("--pin", PIN, "--so-pin", SO_PIN),
        ],
        check=True,
        capture_output=True,
        timeout=60,
    )
    return SoftHsm(tokens, conf, TokenConfig(module=module, token_label=TOKEN_LABEL, pin=PIN))


@pytest.fixture(scope="session")
def softhsm(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SoftHsm]:
    previous = os.environ.get("SOFTHSM2_CONF")
    try:
        hsm = start_softhsm(tmp_path_factory.mktemp("softhsm"))
    except FileNotFoundError:
        unavailable(MISSING)
    yield hsm
    if previous is None:
        os.environ.pop("SOFTHSM2_CONF", None)
    else:
        os.environ["SOFTHSM2_CONF"] = previous
