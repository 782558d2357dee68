"""Keys on a PKCS#11 token (an HSM, a cloud HSM, SoftHSM2 in tests), through python-pkcs11.

A :class:`Pkcs11Signer` is a :class:`~elicence.keys.signer.Signer` whose private key never leaves
its token: it hashes the message here (SHA-256) and asks the token for a raw ``CKM_ECDSA``
signature over the digest (SoftHSM 2.6 has no ``CKM_ECDSA_SHA256``, and every token has
``CKM_ECDSA``). The token answers ``r || s`` (what COSE wants); ``sign_der`` re-encodes it for
CMS and X.509. Each signature is verified against the certificate before it is returned, so a
wrong key object on the token fails closed instead of sealing licences nobody can verify.

Where a key is: the manifest of the key store holds, in place of a key file, a PKCS#11 URI
(RFC 7512) ``pkcs11:token=<label>;object=<label>;id=<%xx…>``. What reaches the token (module
path, PIN) is configuration, a :class:`TokenConfig`, never stored in the key store; the PIN is
never logged and never in an error message.

Sessions: python-pkcs11 initialises a module with ``C_Initialize(NULL)``, which promises the
module no concurrent calls (SoftHSM then takes no locks: two threads signing in two sessions made
it fail, measured). So each module is one :class:`_Module` per process, with one logged-in session
per token and a lock around every call into the module. A call that fails drops the sessions and
finalises the module; the next call initialises it again, so the service recovers by itself when
the token comes back. Failures surface as :class:`~elicence.errors.SignerUnavailableError`, whose
message names neither module, slot nor label.
"""

from __future__ import annotations

import hashlib
import logging
import os
import threading
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, ClassVar, TypeVar

from asn1crypto import csr as asn1_csr
from asn1crypto import keys as asn1_keys
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import Prehashed

from elicence.errors import KeyCustodyError, SignerUnavailableError
from elicence.keys.signer import ES256, Certified, raw_to_der

log = logging.getLogger("elicence.keys")

URI_SCHEME = "pkcs11:"
UNAVAILABLE = "the signing key is unavailable; try again later"
_T = TypeVar("_T")


def is_token_uri(key_path: str) -> bool:
    """Whether a manifest's key reference names a key on a token (else a key file)."""
    return key_path.startswith(URI_SCHEME)


@dataclass(frozen=True, slots=True)
class KeyUri:
    """Where one key is: the token's label, the key's label and its CKA_ID."""

    token: str
    label: str
    id: bytes

    def __str__(self) -> str:
        q = urllib.parse.quote
        ident = "".join(f"%{b:02x}" for b in self.id)
        return (
            f"{URI_SCHEME}token={q(self.token, safe='')};object={q(self.label, safe='')};id={ident}"
        )

    @classmethod
    def parse(cls, text: str) -> KeyUri:
        if not is_token_uri(text):
            raise KeyCustodyError("not a PKCS#11 URI")
        attrs: dict[str, str] = {}
        for part in text[len(URI_SCHEME) :].split(";"):
            name, sep, value = part.partition("=")
            if not sep:
                raise KeyCustodyError("a PKCS#11 URI attribute lacks '='")
            attrs[name] = value
        try:
            return cls(
                token=urllib.parse.unquote(attrs["token"]),
                label=urllib.parse.unquote(attrs["object"]),
                id=urllib.parse.unquote_to_bytes(attrs["id"]),
            )
        except KeyError as e:
            raise KeyCustodyError(f"a PKCS#11 URI lacks its {e.args[0]} attribute") from None


@dataclass(frozen=True, slots=True)
class TokenConfig:
    """How to reach the tokens: the PKCS#11 module, the token new keys go to, and the PIN.

    The PIN comes from the environment or a file (read by the composition root); it is never
    printed: ``repr`` leaves it out.
    """

    module: str
    token_label: str
    pin: str = field(repr=False)

    def tokens(self) -> Tokens:
        return Tokens(self)


class _Module:
    """One PKCS#11 module in this process: its lock, its sessions, its key handles."""

    _all: ClassVar[dict[str, _Module]] = {}
    _all_lock = threading.Lock()

    def __init__(self, path: str) -> None:
        self.path = path
        self.lock = threading.RLock()
        self._lib: Any = None
        self._sessions: dict[str, Any] = {}
        self._keys: dict[tuple[str, bytes], Any] = {}
        self._pid = os.getpid()

    @classmethod
    def get(cls, path: str) -> _Module:
        with cls._all_lock:
            module = cls._all.get(path)
            if module is None:
                module = cls._all[path] = cls(path)
            return module

    def session(self, token: str, pin: str) -> Any:
        """A logged-in read-write session on ``token`` (call with the lock held)."""
        session = self._sessions.get(token)
        if session is not None:
            return session
        import pkcs11

        if self._lib is None:
            self._lib = pkcs11.lib(self.path)  # initialises the module if it was finalised
        tok = self._lib.get_token(token_label=token)
        try:
            session = tok.open(rw=True, user_pin=pin)
        except pkcs11.exceptions.UserAlreadyLoggedIn:
            session = tok.open(rw=True)
        self._sessions[token] = session
        return session

    def private_key(self, uri: KeyUri, pin: str) -> Any:
        handle = self._keys.get((uri.token, uri.id))
        if handle is None:
            import pkcs11

            session = self.session(uri.token, pin)
            handle = session.get_key(
                object_class=pkcs11.ObjectClass.PRIVATE_KEY, key_type=pkcs11.KeyType.EC, id=uri.id
            )
            self._keys[(uri.token, uri.id)] = handle
        return handle

    def check_process(self) -> None:
        """In a forked child the parent's sessions are not its own: start afresh."""
        if self._pid != os.getpid():
            self._pid = os.getpid()
            self.reset()

    def reset(self) -> None:
        """Forget every session and handle and finalise the module (call with the lock held)."""
        self._sessions.clear()
        self._keys.clear()
        lib, self._lib = self._lib, None
        if lib is not None:
            try:
                lib.finalize()
            except Exception:  # broken already: the next call re-initialises
                log.debug("finalising the PKCS#11 module failed", exc_info=True)


class Tokens:
    """Operations on the tokens of one :class:`TokenConfig`, each under the module's lock."""

    def __init__(self, config: TokenConfig) -> None:
        self.config = config
        self._module = _Module.get(config.module)

    def _call(self, what: str, fn: Callable[[_Module], _T]) -> _T:
        module = self._module
        with module.lock:
            try:
                module.check_process()
                return fn(module)
            except KeyCustodyError:
                raise
            except Exception as e:  # any module failure: unavailable, then retry
                module.reset()
                # the log says what failed (type only: a PKCS#11 error's text is its code name);
                # the error a client sees says nothing of the module, slot or label
                log.warning("PKCS#11 %s failed: %s", what, type(e).__name__)
                raise SignerUnavailableError(UNAVAILABLE) from None

    def sign_digest(self, uri: KeyUri, digest: bytes) -> bytes:
        """Raw ``r || s`` ECDSA over a SHA-256 digest, by the key at ``uri``."""
        import pkcs11

        def sign(m: _Module) -> bytes:
            key = m.private_key(uri, self.config.pin)
            try:
                return bytes(key.sign(digest, mechanism=pkcs11.Mechanism.ECDSA))
            except (pkcs11.exceptions.ObjectHandleInvalid, pkcs11.exceptions.SessionHandleInvalid):
                m.reset()  # a stale handle (the session was closed under us): once more, afresh
                key = m.private_key(uri, self.config.pin)
                return bytes(key.sign(digest, mechanism=pkcs11.Mechanism.ECDSA))

        return self._call("signing", sign)

    def public_key(self, uri: KeyUri) -> ec.EllipticCurvePublicKey:
        """The public key of the key pair at ``uri``, read from the token."""
        import pkcs11
        from pkcs11.util.ec import encode_ec_public_key

        def read(m: _Module) -> ec.EllipticCurvePublicKey:
            session = m.session(uri.token, self.config.pin)
            pub = session.get_key(
                object_class=pkcs11.ObjectClass.PUBLIC_KEY, key_type=pkcs11.KeyType.EC, id=uri.id
            )
            key = serialization.load_der_public_key(encode_ec_public_key(pub))
            if not isinstance(key, ec.EllipticCurvePublicKey):
                raise KeyCustodyError("the key on the token is not an EC key")
            return key

        return self._call("reading a public key", read)

    def generate(
        self, label: str, *, token: str | None = None
    ) -> tuple[KeyUri, ec.EllipticCurvePublicKey]:
        """A new P-256 key pair on the token: private key sensitive and not extractable."""
        import pkcs11
        from pkcs11 import Attribute
        from pkcs11.util.ec import encode_named_curve_parameters

        token_label = token or self.config.token_label
        key_id = os.urandom(8)
        uri = KeyUri(token=token_label, label=label, id=key_id)

        def gen(m: _Module) -> None:
            session = m.session(token_label, self.config.pin)
            params = session.create_domain_parameters(
                pkcs11.KeyType.EC,
                {Attribute.EC_PARAMS: encode_named_curve_parameters("secp256r1")},
                local=True,
            )
            params.generate_keypair(
                store=True,
                label=label,
                id=key_id,
                private_template={
                    Attribute.SENSITIVE: True,
                    Attribute.EXTRACTABLE: False,
                    Attribute.SIGN: True,
                },
            )

        self._call("generating a key pair", gen)
        return uri, self.public_key(uri)

    def store_certificate(self, uri: KeyUri, certificate: x509.Certificate) -> None:
        """Put the certificate on the token beside its key (same CKA_ID and label)."""
        import pkcs11
        from pkcs11 import Attribute

        der = certificate.public_bytes(serialization.Encoding.DER)
        subject = certificate.subject.public_bytes()

        def store(m: _Module) -> None:
            session = m.session(uri.token, self.config.pin)
            session.create_object(
                {
                    Attribute.CLASS: pkcs11.ObjectClass.CERTIFICATE,
                    Attribute.CERTIFICATE_TYPE: pkcs11.CertificateType.X_509,
                    Attribute.TOKEN: True,
                    Attribute.LABEL: uri.label,
                    Attribute.ID: uri.id,
                    Attribute.SUBJECT: subject,
                    Attribute.VALUE: der,
                }
            )

        self._call("storing a certificate", store)

    def certificate(self, uri: KeyUri) -> x509.Certificate | None:
        """The certificate stored on the token beside the key, if any."""
        import pkcs11
        from pkcs11 import Attribute

        def read(m: _Module) -> bytes | None:
            session = m.session(uri.token, self.config.pin)
            for obj in session.get_objects(
                {Attribute.CLASS: pkcs11.ObjectClass.CERTIFICATE, Attribute.ID: uri.id}
            ):
                return bytes(obj[Attribute.VALUE])
            return None

        der = self._call("reading a certificate", read)
        return x509.load_der_x509_certificate(der) if der is not None else None


class Pkcs11Signer(Certified):
    """A :class:`~elicence.keys.signer.Signer` whose key stays on a PKCS#11 token."""

    __slots__ = ("_public", "_tokens", "uri")
    algorithm = ES256  # SoftHSM's SM2 is not in PKCS#11 (ADR 0016): SM2 keys are key files

    def __init__(self, tokens: Tokens, uri: KeyUri, certificate: x509.Certificate) -> None:
        public = certificate.public_key()
        if not isinstance(public, ec.EllipticCurvePublicKey) or not isinstance(
            public.curve, ec.SECP256R1
        ):
            raise KeyCustodyError("only ECDSA P-256 keys are supported")
        self._tokens = tokens
        super().__init__(certificate)
        self.uri = uri
        self._public = public

    def __repr__(self) -> str:
        return f"Pkcs11Signer(kid={self._kid.hex()})"  # no module, slot or label in logs

    def sign(self, message: bytes) -> bytes:
        digest = hashlib.sha256(message).digest()
        raw = self._tokens.sign_digest(self.uri, digest)
        if len(raw) != 64:
            raise SignerUnavailableError(UNAVAILABLE)
        try:  # fail closed: never hand out a signature the certificate does not verify
            self._public.verify(raw_to_der(raw), digest, ec.ECDSA(Prehashed(hashes.SHA256())))
        except InvalidSignature:
            log.error("the token's key %s does not match its certificate", self._kid.hex())
            raise KeyCustodyError("the key on the token does not match its certificate") from None
        return raw

    def sign_der(self, message: bytes) -> bytes:
        return raw_to_der(self.sign(message))

    def usable(self) -> bool:
        """Whether the key answers now: one signature over a fixed probe, verified."""
        try:
            self.sign(b"elicence signer probe")
        except KeyCustodyError:
            return False
        return True


def make_csr(
    tokens: Tokens, uri: KeyUri, public_key: ec.EllipticCurvePublicKey, subject: x509.Name
) -> x509.CertificateSigningRequest:
    """A PKCS#10 request for ``public_key``, signed on the token by its private key.

    cryptography cannot sign a request with a key it does not hold, so the request is assembled
    with asn1crypto and its signature asked of the token (ECDSA with SHA-256, DER).
    """
    info = asn1_csr.CertificationRequestInfo(
        {
            "version": "v1",
            "subject": asn1_x509.Name.load(subject.public_bytes()),
            "subject_pk_info": asn1_keys.PublicKeyInfo.load(
                public_key.public_bytes(
                    serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
                )
            ),
            "attributes": [],
        }
    )
    digest = hashlib.sha256(info.dump()).digest()
    signature = raw_to_der(tokens.sign_digest(uri, digest))
    request = asn1_csr.CertificationRequest(
        {
            "certification_request_info": info,
            "signature_algorithm": {"algorithm": "sha256_ecdsa"},
            "signature": signature,
        }
    )
    return x509.load_der_x509_csr(request.dump())


def signer_usable(signer: object) -> bool:
    """The "is this key usable" question for any signer: a token signer probes its token."""
    probe = getattr(signer, "usable", None)
    return bool(probe()) if callable(probe) else True
