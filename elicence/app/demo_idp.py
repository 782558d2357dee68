"""Application layer: the demo OpenID provider (development only): asserts whatever holder its
sign-in page is given.

It stands where a provincial identity provider (e.g. 广东省统一身份认证平台) stands in production,
and speaks the same protocol, so the relying party (:class:`~elicence.app.identity.OidcClient`)
is the one used in production: an authorization endpoint (a page where you choose or type a
holder), a token endpoint (authorization code + PKCE S256 + client secret), a JWKS and a
discovery document. ID tokens are ES256 JWTs (joserfc) carrying ``holder_id_type``,
``holder_id`` and ``name``.

Invariants: refused outside development (``Settings`` and ``create_app`` both check); its key is
derived from the session secret, so every worker of one deployment signs with the same key; a
code is good once, for 60 seconds, for the client, redirect URI and PKCE challenge it was made
for.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import secrets
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.hashes import SHA256
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from itsdangerous import BadSignature, URLSafeSerializer
from joserfc import jwt
from joserfc.jwk import ECKey, KeySet

from elicence.app.identity import pkce_challenge
from elicence.domain.licence import HolderRef, holder_ref
from elicence.errors import InputError, LoginError

CODE_SECONDS = 60
ID_TOKEN_SECONDS = 300
KID = "demo-1"

# Identities the sign-in page offers with one click (its form takes any other).
DEMO_HOLDERS: tuple[tuple[str, str, str], ...] = (
    ("001", "91350100M000100Y43", "广州市天河区某某餐饮管理有限公司"),
    ("111", "11010519491231002X", "李四"),
)


@dataclass(frozen=True, slots=True)
class AuthorizationRequest:
    """A checked authorization request (what the sign-in page carries in hidden fields)."""

    client_id: str
    redirect_uri: str
    state: str
    nonce: str
    code_challenge: str
    scope: str


class DemoIdentityProvider:
    """An OpenID provider for development, in process (and over HTTP at ``/demo-idp``)."""

    def __init__(
        self,
        *,
        issuer: str,
        client_id: str,
        client_secret: str,
        redirect_uri: str,
        secret: str,
        clock: Callable[[], dt.datetime],
    ) -> None:
        self.issuer = issuer.rstrip("/")
        self.client_id = client_id
        self.client_secret = client_secret
        self.redirect_uri = redirect_uri
        self._clock = clock
        seed = HKDF(SHA256(), 32, salt=b"elicence demo idp", info=b"ES256 key").derive(
            secret.encode()
        )
        private = ec.derive_private_key(int.from_bytes(seed, "big") % (2**255) + 1, ec.SECP256R1())
        self._key = ECKey.import_key(private, {"kid": KID, "use": "sig", "alg": "ES256"})
        self._codes = URLSafeSerializer(secret, salt="elicence-demo-idp-code")
        self._used: dict[str, int] = {}
        self._lock = threading.Lock()

    # -- discovery and keys ----------------------------------------------------------------------

    def configuration(self) -> dict[str, Any]:
        return {
            "issuer": self.issuer,
            "authorization_endpoint": f"{self.issuer}/authorize",
            "token_endpoint": f"{self.issuer}/token",
            "jwks_uri": f"{self.issuer}/jwks",
            "response_types_supported": ["code"],
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": ["ES256"],
            "code_challenge_methods_supported": ["S256"],
            "token_endpoint_auth_methods_supported": ["client_secret_post", "client_secret_basic"],
            "claims_supported": ["sub", "name", "holder_id_type", "holder_id"],
        }

    def jwks(self) -> dict[str, Any]:
        return dict(KeySet([self._key]).as_dict(private=False))

    def keys(self, *, refresh: bool = False) -> KeySet:
        """The public keys only, as a relying party would read them from the JWKS."""
        return KeySet.import_key_set(KeySet([self._key]).as_dict(private=False))

    # -- the authorization endpoint ---------------------------------------------------------------

    def check_request(self, params: Mapping[str, str]) -> AuthorizationRequest:
        """An authorization request this provider accepts (else InputError naming the field)."""
        if params.get("response_type") != "code":
            raise InputError("only the authorization code flow is offered", field="response_type")
        if params.get("client_id") != self.client_id:
            raise InputError("is not a client of this provider", field="client_id")
        if params.get("redirect_uri") != self.redirect_uri:
            raise InputError("is not registered for this client", field="redirect_uri")
        if params.get("code_challenge_method") != "S256":
            raise InputError("PKCE with S256 is required", field="code_challenge_method")
        challenge = params.get("code_challenge", "")
        if not 43 <= len(challenge) <= 128:
            raise InputError("is required (PKCE)", field="code_challenge")
        scope = params.get("scope", "")
        if "openid" not in scope.split():
            raise InputError("must include openid", field="scope")
        state, nonce = params.get("state", ""), params.get("nonce", "")
        if not state or not nonce or len(state) > 200 or len(nonce) > 200:
            raise InputError("state and nonce are required", field="nonce")
        return AuthorizationRequest(
            self.client_id, self.redirect_uri, state, nonce, challenge, scope
        )

    def authorize(
        self, request: AuthorizationRequest, *, id_type: str, id_number: str, name: str
    ) -> str:
        """The redirect back to the client with a code asserting this holder."""
        holder = holder_ref(id_type, id_number, field="holder")
        name = name.strip()
        if not name or len(name) > 100:
            raise InputError("must be 1-100 characters", field="name")
        code = self._codes.dumps(
            {
                "h": str(holder),
                "n": name,
                "nonce": request.nonce,
                "cc": request.code_challenge,
                "cid": request.client_id,
                "ru": request.redirect_uri,
                "t": int(self._clock().timestamp()),
                "j": secrets.token_urlsafe(12),
            }
        )
        return f"{request.redirect_uri}?{urlencode({'code': code, 'state': request.state})}"

    # -- the token endpoint -----------------------------------------------------------------------

    def exchange(self, *, code: str, code_verifier: str, redirect_uri: str) -> dict[str, Any]:
        """In process (development): the same checks as the HTTP token endpoint."""
        return self.token(
            {
                "grant_type": "authorization_code",
                "code": code,
                "code_verifier": code_verifier,
                "redirect_uri": redirect_uri,
                "client_id": self.client_id,
                "client_secret": self.client_secret,
            }
        )

    def token(self, form: Mapping[str, str], *, basic: str | None = None) -> dict[str, Any]:
        """The token response for a code; LoginError (``invalid_grant``) for anything wrong."""
        client_id, client_secret = form.get("client_id", ""), form.get("client_secret", "")
        if basic:
            try:
                raw = base64.b64decode(basic).decode()
                client_id, client_secret = raw.split(":", 1)
            except (ValueError, UnicodeDecodeError) as e:
                raise LoginError("bad client credentials", code="invalid_client") from e
        if client_id != self.client_id or not hmac.compare_digest(
            client_secret.encode(), self.client_secret.encode()
        ):
            raise LoginError("bad client credentials", code="invalid_client")
        if form.get("grant_type") != "authorization_code":
            raise LoginError("only authorization_code", code="unsupported_grant_type")
        try:
            data = self._codes.loads(form.get("code", ""))
            now = int(self._clock().timestamp())
            fresh = now - int(data["t"]) <= CODE_SECONDS
        except (BadSignature, KeyError, TypeError, ValueError) as e:
            raise LoginError("the code is not valid", code="invalid_grant") from e
        verifier = form.get("code_verifier", "")
        if (
            not fresh
            or data.get("cid") != client_id
            or data.get("ru") != form.get("redirect_uri")
            or not verifier
            or not hmac.compare_digest(pkce_challenge(verifier), str(data.get("cc")))
        ):
            raise LoginError("the code is not valid for this request", code="invalid_grant")
        with self._lock:
            if data["j"] in self._used:
                raise LoginError("the code was used already", code="invalid_grant")
            self._used = {j: t for j, t in self._used.items() if now - t <= CODE_SECONDS}
            self._used[data["j"]] = now
        holder = HolderRef.parse(data["h"])
        claims = {
            "iss": self.issuer,
            "sub": hashlib.sha256(str(holder).encode()).hexdigest()[:24],
            "aud": self.client_id,
            "iat": now,
            "exp": now + ID_TOKEN_SECONDS,
            "nonce": data["nonce"],
            "name": data["n"],
            "holder_id_type": str(holder.id_type),
            "holder_id": holder.id_number,
        }
        id_token = jwt.encode({"alg": "ES256", "kid": KID}, claims, self._key)
        return {
            "access_token": secrets.token_urlsafe(24),
            "token_type": "Bearer",
            "expires_in": ID_TOKEN_SECONDS,
            "id_token": id_token,
        }

    def sign(self, claims: Mapping[str, Any]) -> str:
        """An ID token with any claims, under the provider's key (tests of the relying party)."""
        return jwt.encode({"alg": "ES256", "kid": KID}, dict(claims), self._key)
