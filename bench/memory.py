"""Stages in memory (no database): sealing, offline verification, status lists, presentations."""

from __future__ import annotations

import datetime as dt
import random
import time

from bench.common import FOOD, GZ_AMR, PASSPHRASE, food, report, timed
from elicence.app.service import Elicence
from elicence.domain.clients import Client, Role
from elicence.domain.licence import Licence
from elicence.formats.seal import SealClaims, SealedLicence, seal_licence
from elicence.formats.statuslist import Purpose, list_size, sign_status_list
from elicence.formats.trustlist import TrustList
from elicence.verifier import OfflineStatus, UnsafeSkipStatusCheck, verify_seal, verify_status_list

CLAIMS = SealClaims(
    issuer=GZ_AMR,
    issued_at=int(time.time()),
    expires_at=None,
    licence=SealedLicence(
        identifier="1.2.156.3005.2.11100000000013338W011.11440100MB2D00002M.ABCDEFGHJK123456.001.0",
        type_code=FOOD,
        licence_number="JY14401060000123",
        holder_name="广州市天河区某某餐饮管理有限公司",
        holder_id="91350100M000100Y43",
        holder_id_type="001",
        valid_from=dt.date(2026, 11, 28),
        valid_until=dt.date(2031, 11, 27),
        version=1,
        data={1: "张三", 2: "餐饮服务经营者"},  # by seal key, as the catalogue numbers them
    ),
)


def stage_seal(
    svc: Elicence, n: int, raw_sign: float, raw_verify: float
) -> tuple[Licence, TrustList]:
    """Seal one licence's claims n times, verify one issued seal n times offline; the issued
    licence and the trust list, for the stages after."""
    signer = svc.keys.signers()[GZ_AMR]
    tl = svc.keys.trust_list()
    print("seal and verify in memory (no database):")
    el, lat = timed(n, lambda _i: seal_licence(CLAIMS, signer))
    rate = report("seal (CBOR + COSE ES256 + zlib + base32)", n, el, lat)
    print(f"    -> {rate / raw_sign:.0%} of raw sign (target >= 50%, issue 20)")
    issued = svc.licences.issue(
        Client("bench", "bench", Role.DEPARTMENT, GZ_AMR), food("warm-up")
    ).licence
    now = dt.datetime.now(dt.UTC)
    el, lat = timed(
        n, lambda _i: verify_seal(issued.seal, trust_list=tl, status=UnsafeSkipStatusCheck, now=now)
    )
    rate = report("verify offline (trust list only)", n, el, lat)
    print(f"    -> {rate / raw_verify:.0%} of raw verify (target >= 70%, issue 20)")
    return issued, tl


def stage_status_list(
    svc: Elicence, lic: Licence, tl: TrustList, n: int, raw_verify: float
) -> None:
    """A status list of 1,000,000 licences with 1 % revoked at random: size, build, verify."""
    print("status list (1,000,000 licences, 1 % revoked at random):")
    licences = 1_000_000
    revoked = random.Random(1).sample(range(licences), licences // 100)
    signer = svc.keystore.service_signer(PASSPHRASE)
    now = dt.datetime.now(dt.UTC)

    def build(_i: int) -> bytes:
        return sign_status_list(
            signer=signer,
            department=GZ_AMR,
            purpose=Purpose.REVOCATION,
            issued_at=now,
            valid_until=now + dt.timedelta(hours=24),
            size=list_size(licences),
            indices=revoked,
            sequence=1,
        )

    runs = 20
    el, lat = timed(runs, build)
    report("status list: build + zlib + sign", runs, el, lat)
    signed = build(0)
    el, lat = timed(runs, lambda _i: verify_status_list(signed, tl))
    report("status list: verify + inflate", runs, el, lat)
    sl = verify_status_list(signed, tl)
    print(
        f"    -> {sl.size:,} bits ({sl.size // 8:,} bytes raw), {sl.compressed_size:,} bytes "
        f"zlib, {len(signed):,} bytes signed (COSE_Sign1)"
    )
    lists = [verify_status_list(build(0), tl)] + [
        verify_status_list(
            sign_status_list(
                signer=signer,
                department=GZ_AMR,
                purpose=p,
                issued_at=now,
                valid_until=now + dt.timedelta(hours=24),
                size=list_size(licences),
                indices=(),
                sequence=1,
            ),
            tl,
        )
        for p in (Purpose.SUSPENSION, Purpose.SUPERSESSION)
    ]
    status = OfflineStatus(lists)
    el, lat = timed(n, lambda _i: verify_seal(lic.seal, trust_list=tl, status=status, now=now))
    rate = report("verify offline (trust list + status lists)", n, el, lat)
    print(f"    -> {rate / raw_verify:.0%} of raw verify")


def stage_presentation(
    svc: Elicence, lic: Licence, tl: TrustList, n: int, raw_sign: float, raw_verify: float
) -> None:
    """Live presentations (EP1, issue 8): made for the holder, verified offline with the trust
    list (presentation signature + the seal's), and online through the service (a nonce row and
    a usage record each)."""
    from elicence.verifier.presentation import verify_presentation

    print("live presentations (EP1):")
    holder = svc.holder.principal(lic.holder.ref, "bench")
    el, lat = timed(n, lambda _i: svc.holder.present(holder, lic.identifier))
    rate = report("make a presentation (registry read + ES256)", n, el, lat)
    print(f"    -> {rate / raw_sign:.0%} of raw sign")
    text = svc.holder.present(holder, lic.identifier).text
    now = dt.datetime.now(dt.UTC)
    el, lat = timed(
        n,
        lambda _i: verify_presentation(text, trust_list=tl, status=UnsafeSkipStatusCheck, now=now),
    )
    rate = report("verify a presentation offline (two ES256 verifications)", n, el, lat)
    print(f"    -> {rate / raw_verify:.0%} of raw verify (two signatures: at most 50%)")
    texts = [svc.holder.present(holder, lic.identifier).text for _ in range(n)]
    el, lat = timed(n, lambda i: svc.holder.verify_presentation(texts[i], client=None))
    rate = report("verify a presentation online (nonce row, registry, usage)", n, el, lat)
    print(f"    -> {rate / raw_verify:.0%} of raw verify")
