"""The PKI: a self-signed root CA, department signing certificates and the service certificate.

All keys are ECDSA P-256. Department certificates carry key usage digitalSignature and
nonRepudiation and the department's USCC as organizationIdentifier (OID 2.5.4.97); the service
certificate (which signs trust lists and log checkpoints) carries the elicence trust-list EKU.
Invariant: every certificate made here is issued directly by the root.
"""

from __future__ import annotations

import datetime as dt

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID, ObjectIdentifier

# 2.25.<UUID> (ITU-T X.667): an OID of our own without registration.
EKU_TRUST_LIST_SIGNING = ObjectIdentifier("2.25.311947153180298131036358546431367436881")
ORGANIZATION_IDENTIFIER = NameOID.ORGANIZATION_IDENTIFIER

ROOT_VALIDITY = dt.timedelta(days=20 * 365)
DEPARTMENT_VALIDITY = dt.timedelta(days=5 * 365)
SERVICE_VALIDITY = dt.timedelta(days=5 * 365)


def new_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def _name(common_name: str, *, uscc: str | None = None) -> x509.Name:
    attrs = [
        x509.NameAttribute(NameOID.COUNTRY_NAME, "CN"),
        x509.NameAttribute(NameOID.ORGANIZATION_NAME, "elicence"),
        x509.NameAttribute(NameOID.COMMON_NAME, common_name),
    ]
    if uscc is not None:
        attrs.append(x509.NameAttribute(ORGANIZATION_IDENTIFIER, uscc))
    return x509.Name(attrs)


def subject_name(common_name: str, *, uscc: str | None = None) -> x509.Name:
    """The subject of an end-entity certificate (what a token's CSR asks for)."""
    return _name(common_name, uscc=uscc)


def make_root(key: ec.EllipticCurvePrivateKey, *, name: str, now: dt.datetime) -> x509.Certificate:
    """A self-signed root CA certificate."""
    subject = _name(name)
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now)
        .not_valid_after(now + ROOT_VALIDITY)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=False,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )


def make_end_entity(
    *,
    root_key: ec.EllipticCurvePrivateKey,
    root: x509.Certificate,
    public_key: ec.EllipticCurvePublicKey,
    common_name: str,
    uscc: str | None,
    now: dt.datetime,
    validity: dt.timedelta,
    crl_url: str | None,
    trust_list_signer: bool = False,
) -> x509.Certificate:
    """A department (or service) certificate issued by the root."""
    not_after = min(now + validity, root.not_valid_after_utc)
    builder = (
        x509.CertificateBuilder()
        .subject_name(_name(common_name, uscc=uscc))
        .issuer_name(root.subject)
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now)
        .not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=not trust_list_signer,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=False,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(root_key.public_key()),
            critical=False,
        )
    )
    if trust_list_signer:
        builder = builder.add_extension(
            x509.ExtendedKeyUsage([EKU_TRUST_LIST_SIGNING]), critical=False
        )
    if crl_url:
        builder = builder.add_extension(
            x509.CRLDistributionPoints(
                [
                    x509.DistributionPoint(
                        full_name=[x509.UniformResourceIdentifier(crl_url)],
                        relative_name=None,
                        reasons=None,
                        crl_issuer=None,
                    )
                ]
            ),
            critical=False,
        )
    return builder.sign(root_key, hashes.SHA256())


def issued_by(cert: x509.Certificate, root: x509.Certificate) -> bool:
    """Whether ``cert`` carries a valid signature of ``root`` (and names it as issuer)."""
    try:
        cert.verify_directly_issued_by(root)
    except (ValueError, TypeError, InvalidSignature):
        return False
    return True


def uscc_of(cert: x509.Certificate) -> str | None:
    """The organizationIdentifier (department USCC) in a certificate's subject."""
    attrs = cert.subject.get_attributes_for_oid(ORGANIZATION_IDENTIFIER)
    value = attrs[0].value if attrs else None
    return value if isinstance(value, str) else None


def has_trust_list_eku(cert: x509.Certificate) -> bool:
    try:
        eku = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    except x509.ExtensionNotFound:
        return False
    return EKU_TRUST_LIST_SIGNING in eku


CRL_VALIDITY = dt.timedelta(days=30)


def make_crl(
    *,
    root_key: ec.EllipticCurvePrivateKey,
    root: x509.Certificate,
    revoked: list[tuple[int, dt.datetime]],
    now: dt.datetime,
    validity: dt.timedelta = CRL_VALIDITY,
) -> x509.CertificateRevocationList:
    """A CRL signed by the root listing the revoked certificates (serial, revocation time)."""
    builder = (
        x509.CertificateRevocationListBuilder()
        .issuer_name(root.subject)
        .last_update(now)
        .next_update(now + validity)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(root_key.public_key()),
            critical=False,
        )
        .add_extension(x509.CRLNumber(int(now.timestamp() * 1000)), critical=False)
    )
    for serial, when in revoked:
        builder = builder.add_revoked_certificate(
            x509.RevokedCertificateBuilder().serial_number(serial).revocation_date(when).build()
        )
    return builder.sign(root_key, hashes.SHA256())
