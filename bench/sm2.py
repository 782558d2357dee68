"""SM2 with SM3 beside ES256 (issue 19, ADRs 0013 and 0016)."""

from __future__ import annotations

import datetime as dt
import os

from bench.common import FOOD, GZ_AMR, report, timed
from elicence.formats.seal import SealClaims, SealedLicence, seal_licence


def stage_sm2(n: int, raw_sign: float, raw_verify: float) -> None:
    """SM2 with SM3 (GB/T 32918) beside ES256, same run (ADR 0013): gmssl-pyx (GmSSL, C) as
    elicence uses it (Z and e computed, the digest signed, the signature verified before use),
    its message-level sm2_sign, verification, and the pure-Python gmssl for reference."""
    import gmssl_pyx
    from gmssl import sm2 as pure_sm2

    from elicence.keys import sm2

    print("SM2/SM3 beside ES256 (raw ECDSA P-256 above), same run:")
    key = sm2.Sm2Key.generate()
    message = os.urandom(300)
    e = sm2.digest(key.public_key, message)
    el, _ = timed(n, lambda _i: gmssl_pyx.sm2_sign_sm3_digest(key.private_key, e))
    raw = report("raw SM2 sign of a digest (gmssl-pyx)", n, el, None)
    print(f"    -> {raw / raw_sign:.0%} of raw ECDSA P-256 sign")
    m = max(n // 10, 20)
    el, _ = timed(m, lambda _i: gmssl_pyx.sm2_sign(key.private_key, key.public_key, message))
    report("SM2 sign, gmssl-pyx's sm2_sign (message)", m, el, None, "not used: slower")
    el, lat = timed(n, lambda _i: key.sign(message))
    report("Sm2Key.sign (Z, e, sign, verify)", n, el, lat)
    signature = key.sign(message)
    el, lat = timed(n, lambda _i: sm2.verify(key.public_key, message, signature))
    rate = report("SM2 verify (gmssl-pyx)", n, el, lat)
    print(f"    -> {rate / raw_verify:.0%} of raw ECDSA P-256 verify")
    pure = pure_sm2.CryptSM2(private_key=key.private_key.hex(), public_key=key.public_key.hex())
    k = max(n // 100, 10)
    el, _ = timed(k, lambda _i: pure.sign_with_sm3(message))
    report("SM2 sign, pure-Python gmssl (reference)", k, el, None)
    hex_signature = signature.hex()
    el, _ = timed(k, lambda _i: pure.verify_with_sm3(hex_signature, message))
    report("SM2 verify, pure-Python gmssl (reference)", k, el, None)
    stage_sm2_seal(n, raw_sign, raw_verify)


def stage_sm2_seal(n: int, raw_sign: float, raw_verify: float) -> None:
    """An EL1 seal signed SM2 with SM3 (a licence type with ``algorithm: SM2``, ADR 0016) beside
    raw ECDSA of the same run: sealing with an Sm2Signer, and its signature checked."""
    from elicence.formats.seal import decode_seal
    from elicence.keys import pki, sm2, sm2cert

    now = dt.datetime.now(dt.UTC)
    root_key = pki.new_key()
    root = pki.make_root(root_key, name="bench root", now=now)
    key = sm2.Sm2Key.generate()
    name = pki.subject_name("bench SM2", uscc=GZ_AMR)
    cert = sm2cert.certify(
        root_key=root_key,
        root=root,
        request=sm2cert.make_csr(key, name),
        common_name="bench SM2",
        uscc=GZ_AMR,
        now=now,
        crl_url=None,
    )
    signer = sm2cert.Sm2Signer(key, cert)
    claims = SealClaims(
        issuer=GZ_AMR,
        issued_at=int(now.timestamp()),
        expires_at=None,
        licence=SealedLicence(
            identifier=f"{FOOD}{GZ_AMR}00000000000001X",
            type_code=FOOD,
            licence_number="JY14401060000123",
            holder_name="广州市天河区某某餐饮管理有限公司",
            holder_id="91350100M000100Y43",
            holder_id_type="001",
            valid_from=dt.date(2026, 11, 28),
            valid_until=None,
            version=1,
            data={1: "张三", 2: "餐饮服务经营者"},
        ),
    )
    el, lat = timed(n, lambda _i: seal_licence(claims, signer))
    rate = report("seal SM2 (CBOR + COSE SM2-with-SM3 + zlib + base32)", n, el, lat)
    print(f"    -> {rate / raw_sign:.0%} of raw ECDSA P-256 sign ({raw_sign:,.0f}/s in this run)")
    decoded = decode_seal(seal_licence(claims, signer))
    assert decoded.signature_valid(key.public_key)
    el, lat = timed(n, lambda _i: decoded.signature_valid(key.public_key))
    rate = report("SM2 seal signature check (Z, e, verify)", n, el, lat)
    print(f"    -> {rate / raw_verify:.0%} of raw ECDSA P-256 verify ({raw_verify:,.0f}/s)")
