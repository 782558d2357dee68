"""Application layer: sign-in as configured: the session codec, the holders' OpenID provider (real
or demo), and whether cookies are ``Secure``. Built by :mod:`elicence.bootstrap`; reached as
``Elicence.holder.sign_in``.

A real provider's endpoints are read from its discovery document at the first sign-in, not at
start-up, so the service starts (and the CLI runs) while the provider is unreachable.
"""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Callable
from dataclasses import dataclass

from elicence.app.demo_idp import DemoIdentityProvider
from elicence.app.identity import HttpProvider, OidcClient, OidcConfig, SessionCodec, discover
from elicence.errors import LoginError

DEMO_IDP_PATH = "/demo-idp"
DEMO_CLIENT_ID = "elicence-portal"
DEMO_CLIENT_SECRET = "demo-client-secret"  # noqa: S105 - the demo provider's, development only


@dataclass(frozen=True, slots=True)
class ProviderSettings:
    """A real provider, as the settings name it (endpoints optional: else discovered)."""

    issuer: str
    client_id: str
    client_secret: str
    scope: str = "openid profile"
    authorization_endpoint: str | None = None
    token_endpoint: str | None = None
    jwks_uri: str | None = None
    id_type_claim: str = "holder_id_type"
    id_number_claim: str = "holder_id"
    name_claim: str = "name"


class SignIn:
    """Sessions and the holders' OpenID provider of this deployment."""

    def __init__(
        self,
        *,
        public_base_url: str,
        secret: str | None,
        idle: dt.timedelta = dt.timedelta(minutes=30),
        max_age: dt.timedelta = dt.timedelta(hours=8),
        demo: bool = False,
        provider: ProviderSettings | None = None,
        clock: Callable[[], dt.datetime],
    ) -> None:
        base = public_base_url.rstrip("/")
        self.redirect_uri = f"{base}/login/callback"
        self.secure_cookies = base.startswith("https://")
        self.sessions = (
            SessionCodec(secret, idle=idle, max_age=max_age, clock=clock) if secret else None
        )
        self.demo = (
            DemoIdentityProvider(
                issuer=f"{base}{DEMO_IDP_PATH}",
                client_id=DEMO_CLIENT_ID,
                client_secret=DEMO_CLIENT_SECRET,
                redirect_uri=self.redirect_uri,
                secret=secret,
                clock=clock,
            )
            if demo and secret
            else None
        )
        self._provider = provider
        self._clock = clock
        self._oidc: OidcClient | None = None
        self._lock = threading.Lock()

    @property
    def enabled(self) -> bool:
        """Whether anyone can sign in on the web at all (a session secret is configured)."""
        return self.sessions is not None

    @property
    def holders_enabled(self) -> bool:
        return self.sessions is not None and (self._provider is not None or self.demo is not None)

    def oidc(self) -> OidcClient:
        """The relying party: for the real provider where one is configured, else the demo."""
        if self._oidc is not None:
            return self._oidc
        with self._lock:
            if self._oidc is None:
                self._oidc = self._build()
            return self._oidc

    def _build(self) -> OidcClient:
        p = self._provider
        if p is not None:
            endpoints = (p.authorization_endpoint, p.token_endpoint, p.jwks_uri)
            if not all(endpoints):
                doc = discover(p.issuer)
                endpoints = (
                    p.authorization_endpoint or doc.get("authorization_endpoint"),
                    p.token_endpoint or doc.get("token_endpoint"),
                    p.jwks_uri or doc.get("jwks_uri"),
                )
            authorize, token, jwks = endpoints
            if not (
                isinstance(authorize, str) and isinstance(token, str) and isinstance(jwks, str)
            ):
                raise LoginError("the identity provider names no authorization/token/JWKS URL")
            config = OidcConfig(
                issuer=p.issuer,
                client_id=p.client_id,
                client_secret=p.client_secret,
                authorization_endpoint=authorize,
                redirect_uri=self.redirect_uri,
                scope=p.scope,
                id_type_claim=p.id_type_claim,
                id_number_claim=p.id_number_claim,
                name_claim=p.name_claim,
            )
            provider = HttpProvider(
                token_endpoint=token,
                jwks_uri=jwks,
                client_id=p.client_id,
                client_secret=p.client_secret,
            )
            return OidcClient(config, provider, clock=self._clock)
        if self.demo is None:
            raise LoginError("no identity provider is configured for holders' sign-in")
        demo = self.demo
        config = OidcConfig(
            issuer=demo.issuer,
            client_id=demo.client_id,
            client_secret=demo.client_secret,
            authorization_endpoint=f"{demo.issuer}/authorize",
            redirect_uri=self.redirect_uri,
        )
        return OidcClient(config, demo, clock=self._clock)  # in process: no HTTP to ourselves
