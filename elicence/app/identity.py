"""Who is at the browser: holders sign in with OpenID Connect, and web sessions are signed cookies.

**Sign-in** (:class:`OidcClient`): the authorization-code flow with PKCE (RFC 7636, S256). The
service sends the browser to the provider with ``state``, ``nonce`` and a code challenge; back at
``/login/callback`` it exchanges the code (with the verifier and its client credentials) at the
token endpoint, then verifies the ID token with joserfc: signature (ES256 or RS256, by ``kid``
from the provider's JWKS), ``iss``, ``aud`` (and ``azp`` when there are several), ``exp`` and
``iat`` (a minute's leeway), and ``nonce``. The holder comes from two claims, the id type code and
the id number, checked by the national rules (check characters) like any holder id. In
development the demo provider (:mod:`elicence.app.demo_idp`) answers in process; a provincial
provider plugs in by settings (issuer, client id and secret, endpoints or discovery, claim names)
and is reached over HTTPS (:class:`HttpProvider`).

**Sessions** (:class:`SessionCodec`): the cookie holds who (a holder, or an API client's id for
the console and the desk), a CSRF token, and when it began and was last used, signed with
itsdangerous (HMAC-SHA256). The server enforces expiry from those times (idle and absolute), not
the browser; a tampered or expired cookie is no session.

Invariants: nothing from the ID token is used before every check passed; a login's ``state``,
``nonce`` and verifier are used once (they live in a short-lived signed cookie that the callback
clears); a CSRF token is compared in constant time.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import secrets
import threading
import time
import urllib.parse
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from typing import Any, Protocol

import httpx
from itsdangerous import BadSignature, URLSafeSerializer
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet
from joserfc.jwt import JWTClaimsRegistry

from elicence.domain.licence import HolderRef, holder_ref
from elicence.errors import Error, InputError, LoginError

ID_TOKEN_ALGORITHMS = ["ES256", "RS256"]
LEEWAY_SECONDS = 60
LOGIN_MAX_AGE = dt.timedelta(minutes=10)
JWKS_CACHE_SECONDS = 300.0


# -- the provider -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class OidcConfig:
    """An OpenID provider as this service (the relying party) knows it."""

    issuer: str
    client_id: str
    client_secret: str
    authorization_endpoint: str
    redirect_uri: str
    scope: str = "openid profile"
    id_type_claim: str = "holder_id_type"
    id_number_claim: str = "holder_id"
    name_claim: str = "name"


class Provider(Protocol):
    """The provider's back channel: the token endpoint and the signing keys (JWKS)."""

    def exchange(self, *, code: str, code_verifier: str, redirect_uri: str) -> Mapping[str, Any]:
        """The token response (JSON) for an authorization code."""
        ...

    def keys(self, *, refresh: bool = False) -> KeySet: ...


class HttpProvider:
    """A real provider over HTTPS: client_secret_post at the token endpoint, a cached JWKS."""

    def __init__(
        self,
        *,
        token_endpoint: str,
        jwks_uri: str,
        client_id: str,
        client_secret: str,
        client: httpx.Client | None = None,
    ) -> None:
        self._token_endpoint = token_endpoint
        self._jwks_uri = jwks_uri
        self._client_id = client_id
        self._client_secret = client_secret
        self._http = client or httpx.Client(timeout=10.0, follow_redirects=False)
        self._keys: tuple[float, KeySet] | None = None
        self._lock = threading.Lock()

    def exchange(self, *, code: str, code_verifier: str, redirect_uri: str) -> Mapping[str, Any]:
        try:
            r = self._http.post(
                self._token_endpoint,
                data={
                    "grant_type": "authorization_code",
                    "code": code,
                    "code_verifier": code_verifier,
                    "redirect_uri": redirect_uri,
                    "client_id": self._client_id,
                    "client_secret": self._client_secret,
                },
                headers={"Accept": "application/json"},
            )
        except httpx.HTTPError as e:
            raise LoginError(f"the identity provider cannot be reached: {e}") from e
        if r.status_code != 200:
            raise LoginError(f"the identity provider refused the code (HTTP {r.status_code})")
        try:
            body = r.json()
        except ValueError as e:
            raise LoginError("the identity provider's token answer is not JSON") from e
        if not isinstance(body, dict):
            raise LoginError("the identity provider's token answer is not a JSON object")
        return body

    def keys(self, *, refresh: bool = False) -> KeySet:
        with self._lock:
            cached = self._keys
            if not refresh and cached and time.monotonic() - cached[0] < JWKS_CACHE_SECONDS:
                return cached[1]
            try:
                r = self._http.get(self._jwks_uri, headers={"Accept": "application/json"})
                r.raise_for_status()
                keys = KeySet.import_key_set(r.json())
            except (httpx.HTTPError, ValueError, JoseError) as e:
                raise LoginError(f"the identity provider's keys cannot be read: {e}") from e
            self._keys = (time.monotonic(), keys)
            return keys


def discover(issuer: str, *, client: httpx.Client | None = None) -> dict[str, Any]:
    """``<issuer>/.well-known/openid-configuration`` (its ``issuer`` must be ``issuer``)."""
    http = client or httpx.Client(timeout=10.0)
    url = issuer.rstrip("/") + "/.well-known/openid-configuration"
    try:
        r = http.get(url)
        r.raise_for_status()
        doc = r.json()
    except (httpx.HTTPError, ValueError) as e:
        raise LoginError(f"the identity provider's configuration cannot be read: {e}") from e
    if not isinstance(doc, dict) or doc.get("issuer") != issuer:
        raise LoginError("the identity provider's configuration names another issuer")
    return doc


@dataclass(frozen=True, slots=True)
class LoginStart:
    """Where to send the browser, and what the callback must find again (kept in a cookie)."""

    url: str
    state: str
    nonce: str
    code_verifier: str


@dataclass(frozen=True, slots=True)
class Identity:
    """A holder as the provider asserted it, after every check of the ID token."""

    holder: HolderRef
    name: str
    subject: str


def pkce_challenge(verifier: str) -> str:
    """RFC 7636 S256: base64url(SHA-256(verifier)) without padding."""
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


class OidcClient:
    """This service as an OpenID Connect relying party (authorization code + PKCE)."""

    def __init__(
        self, config: OidcConfig, provider: Provider, *, clock: Callable[[], dt.datetime]
    ) -> None:
        self.config = config
        self._provider = provider
        self._clock = clock

    def begin(self) -> LoginStart:
        state, nonce = secrets.token_urlsafe(24), secrets.token_urlsafe(24)
        verifier = secrets.token_urlsafe(48)  # 64 characters of [A-Za-z0-9_-]
        query = urllib.parse.urlencode(
            {
                "response_type": "code",
                "client_id": self.config.client_id,
                "redirect_uri": self.config.redirect_uri,
                "scope": self.config.scope,
                "state": state,
                "nonce": nonce,
                "code_challenge": pkce_challenge(verifier),
                "code_challenge_method": "S256",
            }
        )
        sep = "&" if "?" in self.config.authorization_endpoint else "?"
        return LoginStart(
            f"{self.config.authorization_endpoint}{sep}{query}", state, nonce, verifier
        )

    def finish(self, *, code: str, state: str, started: LoginStart) -> Identity:
        """Check the callback against the login it answers, redeem the code, verify the ID token."""
        if not code or not state:
            raise LoginError("the identity provider sent no code", field="code")
        if not hmac.compare_digest(state, started.state):
            raise LoginError("the sign-in does not match this browser's (state)", field="state")
        tokens = self._provider.exchange(
            code=code, code_verifier=started.code_verifier, redirect_uri=self.config.redirect_uri
        )
        id_token = tokens.get("id_token")
        if not isinstance(id_token, str):
            raise LoginError("the identity provider sent no ID token")
        return self.verify_id_token(id_token, nonce=started.nonce)

    def verify_id_token(self, id_token: str, *, nonce: str) -> Identity:
        """Signature, iss, aud (and azp), exp, iat, nonce; then the holder from its claims."""
        try:
            try:
                token = jwt.decode(id_token, self._provider.keys(), algorithms=ID_TOKEN_ALGORITHMS)
            except JoseError:  # a rotated provider key: read the JWKS again, once
                token = jwt.decode(
                    id_token, self._provider.keys(refresh=True), algorithms=ID_TOKEN_ALGORITHMS
                )
            claims = token.claims
            JWTClaimsRegistry(
                now=int(self._clock().timestamp()),
                leeway=LEEWAY_SECONDS,
                iss={"essential": True, "value": self.config.issuer},
                aud={"essential": True, "value": self.config.client_id},
                exp={"essential": True},
                iat={"essential": True},
                sub={"essential": True},
                nonce={"essential": True, "value": nonce},
            ).validate(claims)
        except JoseError as e:
            raise LoginError(f"the ID token is not acceptable: {e.description or e}") from e
        except (ValueError, TypeError) as e:
            raise LoginError("the ID token is malformed") from e
        aud = claims.get("aud")
        if isinstance(aud, list) and len(aud) > 1 and claims.get("azp") != self.config.client_id:
            raise LoginError("the ID token is for several audiences and not authorised for us")
        try:
            holder = holder_ref(
                claims.get(self.config.id_type_claim),
                claims.get(self.config.id_number_claim),
                field="id_token",
            )
        except InputError as e:
            raise LoginError(
                f"the identity provider asserted no usable holder id: {e.message}", field=e.field
            ) from e
        name = claims.get(self.config.name_claim)
        return Identity(
            holder=holder,
            name=name.strip()[:100] if isinstance(name, str) and name.strip() else str(holder),
            subject=str(claims["sub"]),
        )


# -- sessions -----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Session:
    """A browser's session: who (a holder, an API client, or nobody yet) and its CSRF token."""

    csrf: str
    started: int  # Unix seconds
    seen: int
    holder: str | None = None  # "111:11010519491231002X"
    name: str | None = None
    client_id: str | None = None  # a console or desk user: the API client signed in with
    idle: int | None = None  # seconds: a shorter idle limit of its own (signed in at a terminal)

    @property
    def signed_in(self) -> bool:
        return self.holder is not None or self.client_id is not None


class SessionCodec:
    """Signed session cookies with server-side expiry (idle and absolute)."""

    def __init__(
        self,
        secret: str,
        *,
        idle: dt.timedelta,
        max_age: dt.timedelta,
        clock: Callable[[], dt.datetime],
    ) -> None:
        self._sessions = URLSafeSerializer(secret, salt="elicence-session")
        self._logins = URLSafeSerializer(secret, salt="elicence-login")
        self.idle = idle
        self.max_age = max_age
        self._clock = clock

    def _now(self) -> int:
        return int(self._clock().timestamp())

    def new(self) -> Session:
        """An anonymous session (a CSRF token for the sign-in forms)."""
        now = self._now()
        return Session(csrf=secrets.token_urlsafe(24), started=now, seen=now)

    def sign_in(
        self,
        *,
        holder: HolderRef | None = None,
        name: str | None = None,
        client_id: str | None,
        idle: dt.timedelta | None = None,
    ) -> Session:
        """A fresh session for someone who just signed in (a new CSRF token: no fixation);
        ``idle``, a shorter idle limit for this session (a self-service terminal's), kept in the
        signed cookie so that the browser cannot lengthen it."""
        now = self._now()
        return Session(
            csrf=secrets.token_urlsafe(24),
            started=now,
            seen=now,
            holder=str(holder) if holder else None,
            name=name,
            client_id=client_id,
            idle=None if idle is None else max(1, int(idle.total_seconds())),
        )

    def dump(self, session: Session) -> str:
        data = {
            "c": session.csrf,
            "s": session.started,
            "t": session.seen,
            "h": session.holder,
            "n": session.name,
            "k": session.client_id,
        }
        if session.idle is not None:
            data["i"] = session.idle
        return str(self._sessions.dumps(data))

    def load(self, cookie: str | None) -> Session | None:
        """The session in ``cookie``, or None if it is missing, tampered with or expired."""
        if not cookie:
            return None
        try:
            data = self._sessions.loads(cookie)
        except BadSignature:
            return None
        if not isinstance(data, dict):
            return None
        try:
            session = Session(
                csrf=str(data["c"]),
                started=int(data["s"]),
                seen=int(data["t"]),
                holder=data.get("h"),
                name=data.get("n"),
                client_id=data.get("k"),
                idle=None if data.get("i") is None else int(data["i"]),
            )
        except (KeyError, TypeError, ValueError):
            return None
        now = self._now()
        if now - session.seen > self._idle_of(session):
            return None
        if now - session.started > self.max_age.total_seconds():
            return None
        return session

    def _idle_of(self, session: Session) -> float:
        limit = self.idle.total_seconds()
        return limit if session.idle is None else min(limit, session.idle)

    def touch(self, session: Session) -> Session | None:
        """The session with ``seen`` moved to now, when that is worth a new cookie (> 60 s; a
        session with an idle limit of its own, at every request a second or more later, so that
        it ends exactly that long after the last request)."""
        now = self._now()
        every = 60 if session.idle is None else 0
        return replace(session, seen=now) if now - session.seen > every else None

    def holder_of(self, session: Session) -> HolderRef | None:
        if session.holder is None:
            return None
        try:
            return HolderRef.parse(session.holder)
        except Error:
            return None

    @staticmethod
    def csrf_ok(session: Session | None, token: str | None) -> bool:
        return (
            session is not None
            and token is not None
            and hmac.compare_digest(session.csrf.encode(), token.encode())
        )

    # -- the state of a login between /login and /login/callback ------------------------------

    def dump_login(self, start: LoginStart, *, next_path: str) -> str:
        data = {
            "s": start.state,
            "n": start.nonce,
            "v": start.code_verifier,
            "p": next_path,
            "t": self._now(),
        }
        return str(self._logins.dumps(data))

    def load_login(self, cookie: str | None) -> tuple[LoginStart, str]:
        if not cookie:
            raise LoginError("this browser started no sign-in (or its cookie was lost)")
        try:
            data = self._logins.loads(cookie)
            start = LoginStart("", str(data["s"]), str(data["n"]), str(data["v"]))
            next_path, started = str(data["p"]), int(data["t"])
        except (BadSignature, KeyError, TypeError, ValueError) as e:
            raise LoginError("the sign-in cookie is not valid") from e
        if self._now() - started > LOGIN_MAX_AGE.total_seconds():
            raise LoginError("the sign-in took too long: start again")
        return start, next_path


def safe_next(path: str | None, *, default: str) -> str:
    """A local path to return to after sign-in (never another site: no open redirect)."""
    if not path or not path.startswith("/") or path.startswith("//") or "\\" in path:
        return default
    parsed = urllib.parse.urlsplit(path)
    if parsed.scheme or parsed.netloc:
        return default
    return path
