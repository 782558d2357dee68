"""SM2 with SM3 beside ES256 (issue 19, ADR 0013)."""

from __future__ import annotations

import os

from bench.common import report, timed


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
