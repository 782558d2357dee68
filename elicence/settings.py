"""Settings, read from ``ELICENCE_*`` environment variables. Only the CLI and the API read them.

Development shortcuts (the default passphrase, the demo catalogue and keys) warn, and are refused
outside development mode.
"""

from __future__ import annotations

import ipaddress
import logging
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from elicence.domain.limits import parse_networks, parse_rate
from elicence.errors import InputError, SettingsError

DEVELOPMENT_PASSPHRASE = "development-only-passphrase"  # noqa: S105 - refused outside dev
DEVELOPMENT_SESSION_SECRET = "development-only-session-secret"  # noqa: S105 - refused outside dev
log = logging.getLogger("elicence")


class Settings(BaseSettings):
    """Everything configurable, with development defaults."""

    model_config = SettingsConfigDict(env_prefix="ELICENCE_", extra="ignore")

    env: Literal["development", "production"] = "development"
    data_dir: Path = Path("var")
    database_url: str | None = None
    key_passphrase: SecretStr = SecretStr(DEVELOPMENT_PASSPHRASE)
    # what QR codes, stored PDFs and the sign-in redirect point to. Unset: in development
    # http://<host>:<port> (it follows ELICENCE_PORT); in production it must be set, to https
    # and not localhost
    public_base_url: str | None = None
    trust_list_validity_hours: int = Field(default=24, ge=1, le=24 * 31)
    status_list_validity_hours: int = Field(default=24, ge=1, le=24 * 31)
    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=1, le=65535)
    # the CJK font licence PDFs embed (a subset of); WenQuanYi Micro Hei from fonts-wqy-microhei
    font_path: Path = Path("/usr/share/fonts/truetype/wqy/wqy-microhei.ttc")
    # an RFC 3161 time-stamping authority: licence PDFs become PAdES B-T (B-LT with the CRL)
    tsa_url: str | None = None
    # -- abuse resistance (docs/abuse.md): rates are "COUNT/UNIT [burst N]" or "off" -------
    # memory: each worker process counts alone; redis: every worker and host shares counters
    rate_limit_backend: Literal["memory", "redis"] = "memory"
    redis_url: str = "redis://127.0.0.1:6379/0"
    rate_limit_verify_client: str = "100/s burst 500"
    rate_limit_verify_ip: str = "60/min burst 20"
    rate_limit_public_ip: str = "600/min burst 120"
    rate_limit_auth_failures_ip: str = "10/min burst 20"
    # the hall's no-login progress query, per address and per case number
    rate_limit_progress_ip: str = "10/min burst 10"
    rate_limit_progress_case: str = "1/min burst 5"
    # malformed request bodies (over the limit, not JSON, not the shape) per client or address
    rate_limit_bad_bodies: str = "10/min burst 20"
    rate_limit_pdf_cost: int = Field(default=10, ge=1, le=1000)
    # comma-separated addresses or CIDRs of reverse proxies whose X-Forwarded-For is believed;
    # empty (the default): X-Forwarded-For is ignored
    trusted_proxies: str = ""
    # how long a rotated-out API key keeps working (`elicence clients rotate --overlap`)
    api_key_overlap_hours: float = Field(default=24.0, ge=0.0, le=24 * 90)

    # -- holders' sign-in and web sessions (issue 8, docs/holder.md) ----------------------------
    # signs session cookies (itsdangerous) and keys the demo identity provider; >= 32 characters.
    # Unset: a development secret in development mode, and no web sign-in at all in production.
    session_secret: SecretStr | None = None
    session_idle_minutes: int = Field(default=30, ge=1, le=24 * 60)
    session_max_hours: int = Field(default=8, ge=1, le=7 * 24)
    # the demo OpenID provider at /demo-idp (development only, where it is the default): it
    # asserts any holder id you type
    demo_idp: bool | None = None
    # a real provincial OpenID provider: its issuer, this service's client id and secret, and
    # (optional: else read from <issuer>/.well-known/openid-configuration) its endpoints
    oidc_issuer: str | None = None
    oidc_client_id: str = "elicence-portal"
    oidc_client_secret: SecretStr | None = None
    oidc_authorization_endpoint: str | None = None
    oidc_token_endpoint: str | None = None
    oidc_jwks_uri: str | None = None
    oidc_scope: str = "openid profile"
    # the ID token claims that carry the holder: id type code (001, 111, …), id number, name
    oidc_id_type_claim: str = "holder_id_type"
    oidc_id_number_claim: str = "holder_id"
    oidc_name_claim: str = "name"
    # the hall: the holiday calendar case deadlines count working days in (default: the demo
    # file elicence/data/holidays_cn.yaml), and the working days a rectification order gets
    holidays_file: Path | None = None
    # the directory of the blank forms (空白表格) the service items offer for download (default:
    # the demo's, elicence/data/forms)
    hall_forms_dir: Path | None = None
    rectify_days: int = Field(default=15, ge=1, le=90)
    # operators' view (app/metrics.py, app/logs.py): Prometheus metrics on their own port, off
    # by default (never on the public port); the served workers' log format
    metrics_port: int | None = Field(default=None, ge=1, le=65535)
    metrics_host: str = "127.0.0.1"
    metrics_dir: Path | None = None
    log_format: Literal["json", "text"] = "json"

    # -- keys on a PKCS#11 token (issue 19, docs/deployment.md "Keys on a token") ---------------
    # the module (e.g. /usr/lib/softhsm/libsofthsm2.so); unset: every key is a key file
    pkcs11_module: str | None = None
    # the label of the token new keys are made on (`elicence keys enrol-token`)
    pkcs11_token: str = "elicence"  # noqa: S105 - a token label, not a secret
    # the user PIN: from this variable or (better) from a file only the service user can read;
    # never a command-line option, never logged
    pkcs11_pin: SecretStr | None = None
    pkcs11_pin_file: Path | None = None
    # the offline root's own passphrase, read only by the key ceremony commands (`--root-dir`)
    root_passphrase: SecretStr | None = None

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
        self._refuse_development_sign_in()
        if (
            self.pkcs11_module is not None
            and self.pkcs11_pin is None
            and (self.pkcs11_pin_file is None)
        ):
            raise SettingsError(
                "a PKCS#11 module needs the token's PIN: set ELICENCE_PKCS11_PIN_FILE "
                "(or ELICENCE_PKCS11_PIN)",
                field="pkcs11_pin",
            )
        if len(self.key_passphrase.get_secret_value()) < 12:
            raise SettingsError("must be at least 12 characters", field="key_passphrase")
        self._check_public_base_url()
        for name in (
            "rate_limit_verify_client",
            "rate_limit_verify_ip",
            "rate_limit_public_ip",
            "rate_limit_auth_failures_ip",
            "rate_limit_progress_ip",
            "rate_limit_progress_case",
            "rate_limit_bad_bodies",
        ):
            try:
                parse_rate(getattr(self, name), field=name)
            except InputError as e:
                raise SettingsError(e.message, field=name) from None
        try:
            parse_networks(self.proxy_list, field="trusted_proxies")
        except InputError as e:
            raise SettingsError(e.message, field="trusted_proxies") from None
        return self

    def _check_public_base_url(self) -> None:
        if self.public_base_url is None:
            if self.env != "development":
                raise SettingsError(
                    "set ELICENCE_PUBLIC_BASE_URL to the https address halls and holders reach "
                    "(QR codes, licence PDFs and the sign-in redirect point to it)",
                    field="public_base_url",
                )
            host = self.host if self.host not in ("0.0.0.0", "::", "") else "127.0.0.1"  # noqa: S104 - a bind address, not bound here
            host = f"[{host}]" if ":" in host else host
            self.public_base_url = f"http://{host}:{self.port}"
            return
        self.public_base_url = self.public_base_url.rstrip("/")
        if self.env == "development":
            return
        url = urlsplit(self.public_base_url)
        if url.scheme != "https" or not url.hostname:
            raise SettingsError(
                "must be an https URL in production (QR codes and licence PDFs carry it to "
                f"halls and holders): {self.public_base_url!r}",
                field="public_base_url",
            )
        if _is_local(url.hostname):
            raise SettingsError(
                "must be the address halls and holders reach, not this machine's own "
                f"(localhost or a loopback address): {self.public_base_url!r}",
                field="public_base_url",
            )

    @property
    def base_url(self) -> str:
        """The public base URL in force (see ``public_base_url``), without a trailing slash."""
        assert self.public_base_url is not None  # set by the validator
        return self.public_base_url

    def _refuse_development_sign_in(self) -> None:
        secret = self.session_secret.get_secret_value() if self.session_secret else None
        if self.env != "development":
            if secret == DEVELOPMENT_SESSION_SECRET:
                raise SettingsError(
                    "ELICENCE_SESSION_SECRET is the development secret; set a real one (at "
                    "least 32 random characters) outside development mode",
                    field="session_secret",
                )
            if self.demo_idp:
                raise SettingsError(
                    "the demo identity provider asserts any holder id and exists only in "
                    "development mode: unset ELICENCE_DEMO_IDP and set ELICENCE_OIDC_ISSUER",
                    field="demo_idp",
                )
        if secret is not None and len(secret) < 32:
            raise SettingsError("must be at least 32 characters", field="session_secret")
        if self.oidc_issuer is not None and self.oidc_client_secret is None:
            raise SettingsError(
                "a real identity provider needs this service's client secret",
                field="oidc_client_secret",
            )

    @property
    def effective_session_secret(self) -> str | None:
        """The session secret; None (no web sign-in) in production when none is set."""
        if self.session_secret is not None:
            return self.session_secret.get_secret_value()
        return DEVELOPMENT_SESSION_SECRET if self.env == "development" else None

    @property
    def demo_idp_enabled(self) -> bool:
        return self.demo_idp if self.demo_idp is not None else self.env == "development"

    @property
    def proxy_list(self) -> list[str]:
        return [p.strip() for p in self.trusted_proxies.split(",") if p.strip()]

    @property
    def effective_database_url(self) -> str:
        return self.database_url or f"sqlite:///{self.data_dir / 'elicence.db'}"

    def pkcs11_pin_value(self) -> str | None:
        """The token PIN, from ELICENCE_PKCS11_PIN_FILE (first line) or ELICENCE_PKCS11_PIN."""
        if self.pkcs11_pin_file is not None:
            try:
                text = self.pkcs11_pin_file.read_text(encoding="utf-8")
            except OSError as e:
                raise SettingsError(
                    f"the PIN file is unreadable ({e.strerror})", field="pkcs11_pin_file"
                ) from None
            pin = text.splitlines()[0] if text.strip() else ""
            if not pin:
                raise SettingsError("the PIN file is empty", field="pkcs11_pin_file")
            return pin
        return self.pkcs11_pin.get_secret_value() if self.pkcs11_pin is not None else None

    @property
    def keys_dir(self) -> Path:
        return self.data_dir / "keys"


def _is_local(host: str) -> bool:
    """Whether ``host`` names this machine: localhost, ``*.localhost``, a loopback or
    unspecified address."""
    host = host.lower().rstrip(".")
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return False
    return address.is_loopback or address.is_unspecified
