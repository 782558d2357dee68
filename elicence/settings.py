"""Settings, read from ``ELICENCE_*`` environment variables. Only the CLI and the API read them.

Development shortcuts (the default passphrase, the demo catalogue and keys) warn, and are refused
outside development mode.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from elicence.errors import SettingsError

DEVELOPMENT_PASSPHRASE = "development-only-passphrase"  # noqa: S105 - refused outside dev
log = logging.getLogger("elicence")


class Settings(BaseSettings):
    """Everything configurable, with development defaults."""

    model_config = SettingsConfigDict(env_prefix="ELICENCE_", extra="ignore")

    env: Literal["development", "production"] = "development"
    data_dir: Path = Path("var")
    database_url: str | None = None
    key_passphrase: SecretStr = SecretStr(DEVELOPMENT_PASSPHRASE)
    public_base_url: str = "http://127.0.0.1:8000"
    trust_list_validity_hours: int = Field(default=24, ge=1, le=24 * 31)
    status_list_validity_hours: int = Field(default=24, ge=1, le=24 * 31)
    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=1, le=65535)
    # the CJK font licence PDFs embed (a subset of); WenQuanYi Micro Hei from fonts-wqy-microhei
    font_path: Path = Path("/usr/share/fonts/truetype/wqy/wqy-microhei.ttc")
    # an RFC 3161 time-stamping authority: licence PDFs become PAdES B-T (B-LT with the CRL)
    tsa_url: str | None = None
    # the hall: the holiday calendar case deadlines count working days in (default: the demo
    # file elicence/data/holidays_cn.yaml), and the working days a rectification order gets
    holidays_file: Path | None = None
    rectify_days: int = Field(default=15, ge=1, le=90)

    @model_validator(mode="after")
    def _refuse_development_shortcuts(self) -> Settings:
        if self.key_passphrase.get_secret_value() == DEVELOPMENT_PASSPHRASE:
            if self.env != "development":
                raise SettingsError(
                    "ELICENCE_KEY_PASSPHRASE is the development passphrase; set a real one "
                    "outside development mode",
                    field="key_passphrase",
                )
            log.warning("elicence runs with the development key passphrase (development only)")
        if len(self.key_passphrase.get_secret_value()) < 12:
            raise SettingsError("must be at least 12 characters", field="key_passphrase")
        self.public_base_url = self.public_base_url.rstrip("/")
        return self

    @property
    def effective_database_url(self) -> str:
        return self.database_url or f"sqlite:///{self.data_dir / 'elicence.db'}"

    @property
    def keys_dir(self) -> Path:
        return self.data_dir / "keys"
