"""SM2 department keys: their X.509 certificates and requests, their key files, their signer.

``cryptography`` reads a certificate whose key is SM2 but cannot make one, hold an SM2 key or
check an SM2 signature, so the DER is built here with asn1crypto and signed with
:mod:`elicence.keys.sm2` (GmSSL) or the root's P-256 key. The conventions (ADR 0016):

- an SM2 public key in X.509 is ``id-ecPublicKey`` with the named curve SM2
  (1.2.156.10197.1.301, GB/T 35276 / GM/T 0015), the point uncompressed;
- the certificate request that proves possession of a new SM2 key is signed SM3withSM2
  (1.2.156.10197.1.501) with the default user id of GM/T 0009, ``1234567812345678``, as every
  SM2 signature of the service is;
- the certificate itself is issued by the one root of the service, whose key is P-256, so it is
  signed ecdsa-with-SHA256 and chains to the root exactly as a department's ES256 certificate does
  (its CRL and trust list included); an SM2 root for an all-SM2 chain is not made (ADR 0016);
- an SM2 key file is the PKCS#8 of RFC 5915's ECPrivateKey on the SM2 curve, sealed by
  :func:`elicence.keys.envelope.seal_der` like every other key file.

Invariant: :func:`certify` certifies only a key whose request's SM3withSM2 signature verifies.
"""

from __future__ import annotations

import datetime as dt
import hashlib

from asn1crypto import core as acore
from asn1crypto import csr as acsr
from asn1crypto import keys as akeys
from asn1crypto import x509 as ax509
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

from elicence.errors import KeyCustodyError
from elicence.keys import pki, sm2
from elicence.keys.envelope import SCRYPT_LOG2_N, seal_der, unseal_der
from elicence.keys.signer import SM2, Certified

# asn1crypto knows the curve's OID but not its size, which PKCS#8 needs (registering it adds a
# name for an OID, visible to every asn1crypto user in the process: pyHanko's too, harmlessly)
akeys.NamedCurve.register("sm2p256v1", sm2.OID_SM2, 32)


def _curve() -> akeys.ECDomainParameters:
    return akeys.ECDomainParameters(name="named", value=sm2.OID_SM2)


def public_key_info(public_key: bytes) -> akeys.PublicKeyInfo:
    """The SubjectPublicKeyInfo of an SM2 public key (64 bytes ``x || y``)."""
    if len(public_key) != 64:
        raise KeyCustodyError("an SM2 public key is 64 bytes (x || y)")
    return akeys.PublicKeyInfo(
        {
            "algorithm": {"algorithm": "ec", "parameters": _curve()},
            "public_key": b"\x04" + public_key,
        }
    )


def _sm2_point(info: akeys.PublicKeyInfo) -> bytes | None:
    algorithm = info["algorithm"]
    if algorithm["algorithm"].native != "ec":
        return None
    params = algorithm["parameters"]
    if params.name != "named" or params.chosen.dotted != sm2.OID_SM2:
        return None
    point = bytes(info["public_key"].native)
    return point[1:] if len(point) == 65 and point[0] == 4 else None


def sm2_public_key(certificate: x509.Certificate) -> bytes | None:
    """The SM2 public key (``x || y``) a certificate carries, or None if its key is not SM2."""
    try:
        cert = ax509.Certificate.load(certificate.public_bytes(serialization.Encoding.DER))
        return _sm2_point(cert["tbs_certificate"]["subject_public_key_info"])
    except (ValueError, TypeError, KeyError):
        return None


def make_csr(key: sm2.Sm2Key, subject: x509.Name) -> bytes:
    """A PKCS#10 request (DER) for ``key``, signed SM3withSM2 with the default user id."""
    info = acsr.CertificationRequestInfo(
        {
            "version": "v1",
            "subject": ax509.Name.load(subject.public_bytes()),
            "subject_pk_info": public_key_info(key.public_key),
            "attributes": [],
        }
    )
    signature = sm2.rs_to_der(key.sign(info.dump()))
    request = acsr.CertificationRequest(
        {
            "certification_request_info": info,
            "signature_algorithm": {"algorithm": sm2.OID_SM3_WITH_SM2},
            "signature": signature,
        }
    )
    return bytes(request.dump())


def csr_public_key(der: bytes) -> bytes:
    """The SM2 key of a request whose SM3withSM2 signature verifies (proof of possession)."""
    try:
        request = acsr.CertificationRequest.load(der)
        info = request["certification_request_info"]
        point = _sm2_point(info["subject_pk_info"])
        algorithm = request["signature_algorithm"]["algorithm"].dotted
        signature = sm2.der_to_rs(bytes(request["signature"].native))
        signed = info.dump()
    except (ValueError, TypeError, KeyError) as e:
        raise KeyCustodyError("the SM2 certificate request is malformed") from e
    if point is None or algorithm != sm2.OID_SM3_WITH_SM2:
        raise KeyCustodyError("the certificate request is not an SM2 key's, signed SM3withSM2")
    if not sm2.verify(point, signed, signature):
        raise KeyCustodyError("the SM2 certificate request's signature does not verify")
    return point


def certify(
    *,
    root_key: ec.EllipticCurvePrivateKey,
    root: x509.Certificate,
    request: bytes,
    common_name: str,
    uscc: str | None,
    now: dt.datetime,
    crl_url: str | None,
) -> x509.Certificate:
    """The root's certificate for the SM2 key of ``request`` (checked first).

    The certificate is the one :func:`elicence.keys.pki.make_end_entity` makes for a department
    (names, validity, key usage, CRL point) with the SM2 key and its subject key identifier (SHA-1
    of the point, RFC 5280 §4.2.1.2) put in, and signed again by the root.
    """
    public_key = csr_public_key(request)
    template = pki.make_end_entity(
        root_key=root_key,
        root=root,
        public_key=pki.new_key().public_key(),  # replaced below: cryptography holds no SM2 key
        common_name=common_name,
        uscc=uscc,
        now=now,
        validity=pki.DEPARTMENT_VALIDITY,
        crl_url=crl_url,
        trust_list_signer=False,
    )
    cert = ax509.Certificate.load(template.public_bytes(serialization.Encoding.DER))
    tbs = cert["tbs_certificate"]
    tbs["subject_public_key_info"] = public_key_info(public_key)
    for extension in tbs["extensions"]:
        if extension["extn_id"].native == "key_identifier":
            extension["extn_value"] = acore.OctetString(
                hashlib.sha1(b"\x04" + public_key).digest()  # noqa: S324 - RFC 5280's method
            )
    signed = tbs.dump(force=True)
    made = ax509.Certificate(
        {
            "tbs_certificate": tbs,
            "signature_algorithm": cert["signature_algorithm"],  # ecdsa-with-SHA256
            "signature_value": root_key.sign(signed, ec.ECDSA(hashes.SHA256())),
        }
    )
    certificate = x509.load_der_x509_certificate(made.dump(force=True))
    if sm2_public_key(certificate) != public_key or not pki.issued_by(certificate, root):
        raise KeyCustodyError("the SM2 certificate made does not hold its key or chain to the root")
    return certificate


def seal_sm2_key(key: sm2.Sm2Key, passphrase: str, *, log2_n: int = SCRYPT_LOG2_N) -> bytes:
    """An SM2 key file: its PKCS#8 sealed under ``passphrase``."""
    info = akeys.PrivateKeyInfo(
        {
            "version": 0,
            "private_key_algorithm": {"algorithm": "ec", "parameters": _curve()},
            "private_key": akeys.ECPrivateKey(
                {
                    "version": "ecPrivkeyVer1",
                    "private_key": int.from_bytes(key.private_key, "big"),
                    "public_key": b"\x04" + key.public_key,
                }
            ),
        }
    )
    return seal_der(info.dump(), passphrase, log2_n=log2_n)


def unseal_sm2_key(blob: bytes, passphrase: str) -> sm2.Sm2Key:
    """Open an SM2 key file written by :func:`seal_sm2_key`."""
    der = unseal_der(blob, passphrase)
    try:
        info = akeys.PrivateKeyInfo.load(der)
        params = info["private_key_algorithm"]["parameters"]
        inner = info["private_key"].parsed
        private = int(inner["private_key"].native).to_bytes(32, "big")
        point = bytes(inner["public_key"].native)
        is_sm2 = params.name == "named" and params.chosen.dotted == sm2.OID_SM2
    except (ValueError, TypeError, KeyError, OverflowError) as e:
        raise KeyCustodyError("is not an SM2 private key") from e
    if not is_sm2 or len(point) != 65 or point[0] != 4:
        raise KeyCustodyError("is not an SM2 private key")
    key = sm2.Sm2Key(point[1:], private)
    key.sign(b"elicence key check")  # a key whose halves do not match fails closed here
    return key


class Sm2Signer(Certified):
    """A :class:`~elicence.keys.signer.Signer` whose ``sign`` makes SM2-with-SM3 ``r || s``."""

    __slots__ = ("_key",)
    algorithm = SM2

    def __init__(self, key: sm2.Sm2Key, certificate: x509.Certificate) -> None:
        if sm2_public_key(certificate) != key.public_key:
            raise KeyCustodyError("the SM2 key does not match the certificate")
        super().__init__(certificate)
        self._key = key

    def sign(self, message: bytes) -> bytes:
        return self._key.sign(message)

    def sign_der(self, message: bytes) -> bytes:
        raise KeyCustodyError(
            "an SM2 key signs no CMS or X.509 here: the department's PDFs are signed with its "
            "ES256 key (ADR 0016)"
        )
