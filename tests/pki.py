"""The one builder of certificates a test makes by hand: a throwaway root outside elicence's key
store (`OutsidePki`), the certificates and signers it issues, and the RSA time-stamping
authority pyHanko's dummy TSA needs. Everything goes through ``elicence.keys.pki``, so a test
certificate has the same profile as a real one except where a test asks otherwise."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from elicence.keys import pki
from elicence.keys.signer import SoftwareSigner
from tests.conftest import GZ_AMR, NOW

DEPARTMENT_NAME = "广州市市场监督管理局"


@dataclass(frozen=True, slots=True)
class OutsidePki:
    """A root CA made by code, unknown to any elicence trust list, and the date it starts."""

    key: ec.EllipticCurvePrivateKey
    root: x509.Certificate
    now: dt.datetime

    @classmethod
    def make(
        cls,
        name: str = "another root",
        *,
        now: dt.datetime = NOW - dt.timedelta(days=1),
        key: ec.EllipticCurvePrivateKey | None = None,
    ) -> OutsidePki:
        key = key or pki.new_key()
        return cls(key, pki.make_root(key, name=name, now=now), now)

    def certify(
        self,
        public_key: ec.EllipticCurvePublicKey,
        *,
        common_name: str = DEPARTMENT_NAME,
        uscc: str | None = GZ_AMR,
        trust_list_signer: bool = False,
    ) -> x509.Certificate:
        """An end-entity certificate of this root: a department's unless told otherwise."""
        return pki.make_end_entity(
            root_key=self.key,
            root=self.root,
            public_key=public_key,
            common_name=common_name,
            uscc=uscc,
            now=self.now,
            validity=pki.SERVICE_VALIDITY if trust_list_signer else pki.DEPARTMENT_VALIDITY,
            crl_url=None,
            trust_list_signer=trust_list_signer,
        )

    def signer(
        self,
        *,
        key: ec.EllipticCurvePrivateKey | None = None,
        common_name: str = DEPARTMENT_NAME,
        uscc: str | None = GZ_AMR,
        trust_list_signer: bool = False,
    ) -> SoftwareSigner:
        """A signer certified by this root (a new key unless ``key``; the root's own key makes
        a self-certified signer)."""
        key = key or pki.new_key()
        cert = self.certify(
            key.public_key(),
            common_name=common_name,
            uscc=uscc,
            trust_list_signer=trust_list_signer,
        )
        return SoftwareSigner(key, cert)

    def write_root(self, path: Path) -> Path:
        """The root certificate as PEM at ``path``."""
        path.write_bytes(self.root.public_bytes(serialization.Encoding.PEM))
        return path


def time_stamping_authority(
    now: dt.datetime = NOW, *, name: str = "test TSA"
) -> tuple[rsa.RSAPrivateKey, x509.Certificate]:
    """A self-signed RSA time-stamping certificate (pyHanko's dummy TSA is RSA only), valid
    400 days either side of ``now``."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=400))
        .not_valid_after(now + dt.timedelta(days=400))
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.TIME_STAMPING]), critical=True)
        .sign(key, hashes.SHA256())
    )
    return key, cert
