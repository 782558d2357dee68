"""elicence benchmark: raw ECDSA beside sealing, verification and issuance with storage.

Run: ``.venv/bin/python bench/bench.py [--n 2000] [--postgres URL] [--no-http]``.
Prints throughput and p50/p99 latency for each stage, and the raw ECDSA P-256 sign and verify
speed measured in the same run, and a pure-Python reference (the machine is shared and noisy:
compare ratios, not figures; noisy neighbours slow the interpreter more than OpenSSL).
Also the hall's case path (``stage_cases``): a complete case — submitted citing 2 e-licences
(both verified), accepted, reviewed, approved with its licence issued, completed — one by one and
from 8 threads, target >= 300 complete cases/s at the service layer (issue 7).
Targets (docs/design.md): sealing >= 50 % of raw sign, offline verify >= 60 % of raw verify,
issuance >= 2,000/s (service) and >= 1,000/s (batch API), HTTP issuance p99 <= 20 ms, HTTP
verify >= 1,000/s, a signed licence PDF (render + QR + PAdES B-B) <= 30 ms, printed beside
pyHanko's own signing of a tiny fixed PDF in the same run (``--pdf-only`` runs just that stage).
Also the size and the build and verify time of a status list of 1,000,000 licences with 1 %
revoked at random, and the time to refuse a 1,000,000-key JSON body and a 200 MB body at
``POST /api/v1/verify`` (``stage_refusals``: bounded by the route's body limit, not by the body).

Issue 19: SM2/SM3 sign and verify (gmssl-pyx, and the pure-Python gmssl for reference) beside
raw ECDSA, and the department key on a SoftHSM2 token beside the software key: raw CKM_ECDSA, the
token signer, sealing, issuance one by one and from 8 threads (``--hsm-only`` runs just these with
raw ECDSA and sealing).

``--import-rows 1000000`` runs the stock conversion instead (it takes minutes): it writes a CSV of
that many realistic paper licences across several departments and types, runs
``elicence import`` on it against SQLite and PostgreSQL (target: 1,000,000 rows in <= 10 minutes
on PostgreSQL), then ``elicence registry audit`` on the result, with the audit's peak memory
(ru_maxrss of its process), all beside raw ECDSA measured in the same run.
"""

from __future__ import annotations

import argparse
import datetime as dt
import io
import json
import multiprocessing
import os
import random
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from sqlalchemy import create_engine, text

from elicence.app.service import Elicence
from elicence.bootstrap import assemble
from elicence.domain.clients import Client, Role
from elicence.domain.codes import mod37_36_check_char
from elicence.domain.licence import Licence
from elicence.formats.catalogue_file import DEMO_CATALOGUE, load_catalogue
from elicence.formats.seal import SealClaims, SealedLicence, seal_licence
from elicence.formats.statuslist import Purpose, list_size, sign_status_list
from elicence.formats.trustlist import TrustList
from elicence.keys.store import DepartmentName, KeyStore
from elicence.registry import Registry
from elicence.verifier import OfflineStatus, UnsafeSkipStatusCheck, verify_seal, verify_status_list

GZ_AMR = "11440100MB2D00002M"
FOOD = "11100000000013338W011"
PASSPHRASE = "benchmark-passphrase"
ROWS: list[tuple[str, str, str, str, str]] = []
PDF_N, PDF_ONLY, CASES_ONLY, USAGE_ONLY, HSM_ONLY = 200, False, False, False, False
RATE_LIMIT_BACKEND = "memory"
RAW: dict[str, float] = {}  # raw ECDSA sign and verify of this run, for the load test's summary


def food(ref: str) -> dict[str, object]:
    return {
        "source_ref": ref,
        "type_code": FOOD,
        "licence_number": "JY14401060000123",
        "holder": {
            "name": "广州市天河区某某餐饮管理有限公司",
            "id_type": "001",
            "id_number": "91350100M000100Y43",
        },
        "valid_from": "2026-11-28",
        "data": {
            "legal_representative": "张三",
            "residence": "广州市天河区天河路385号",
            "business_premises": "广州市天河区天河路385号首层101铺",
            "main_business_format": "餐饮服务经营者",
            "business_items": "热食类食品制售；冷食类食品制售",
        },
    }


def timed(n: int, fn: Callable[[int], object]) -> tuple[float, list[float]]:
    lat = []
    start = time.perf_counter()
    for i in range(n):
        t = time.perf_counter()
        fn(i)
        lat.append(time.perf_counter() - t)
    return time.perf_counter() - start, lat


def report(stage: str, n: int, elapsed: float, lat: list[float] | None, note: str = "") -> float:
    rate = n / elapsed
    if lat:
        q = statistics.quantiles(lat, n=100)
        p50, p99 = f"{q[49] * 1000:.2f}", f"{q[98] * 1000:.2f}"
    else:
        p50 = p99 = "-"
    ROWS.append((stage, f"{rate:,.0f}/s", p50, p99, note))
    print(f"  {stage:<44} {rate:>10,.0f}/s  p50 {p50:>7} ms  p99 {p99:>7} ms  {note}", flush=True)
    return rate


def raw_crypto(n: int) -> tuple[float, float]:
    key = ec.generate_private_key(ec.SECP256R1())
    msg = os.urandom(300)
    el, _ = timed(n, lambda _i: key.sign(msg, ec.ECDSA(hashes.SHA256())))
    sign = report("raw ECDSA P-256 sign (cryptography)", n, el, None)
    sig = key.sign(msg, ec.ECDSA(hashes.SHA256()))
    pub = key.public_key()
    el, _ = timed(n, lambda _i: pub.verify(sig, msg, ec.ECDSA(hashes.SHA256())))
    verify = report("raw ECDSA P-256 verify (cryptography)", n, el, None)
    # The stages are mostly Python; OpenSSL's speed alone understates a slow interpreter (a
    # shared host's noisy neighbours slow both, not equally). Beside them a fixed pure-Python
    # workload: the MOD 37,36 check character of a licence type code (a loop in Python).
    el, _ = timed(n * 5, lambda _i: mod37_36_check_char("11100000000013338W01144010"))
    report("reference: MOD 37,36 check in pure Python", n * 5, el, None, "interpreter speed")
    return sign, verify


def make_service(workdir: Path, url: str, keys: Path) -> Elicence:
    registry = Registry.from_url(url)
    registry.upgrade()
    svc = assemble(
        registry=registry,
        keystore=KeyStore(keys),
        passphrase=PASSPHRASE,
        public_base_url="https://hall.example.gov.cn",
    )
    if registry.catalogue_version() is None:
        registry.save_catalogue(load_catalogue(DEMO_CATALOGUE), now=dt.datetime.now(dt.UTC))
    return svc


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--n", type=int, default=2000, help="operations per stage")
    ap.add_argument(
        "--postgres",
        default="postgresql+psycopg://postgres@127.0.0.1:5432/postgres",
        help="admin URL of a PostgreSQL server ('' to skip)",
    )
    ap.add_argument("--no-http", action="store_true", help="skip the HTTP stages")
    ap.add_argument("--pdf-n", type=int, default=200, help="licence PDFs to make")
    ap.add_argument("--pdf-only", action="store_true", help="run only the PDF stage")
    ap.add_argument(
        "--rate-limit-backend",
        choices=["memory", "redis"],
        default="memory",
        help="where the served workers keep their rate-limit counters (redis: 127.0.0.1:6379)",
    )
    ap.add_argument(
        "--cases-only", action="store_true", help="run only raw ECDSA and the hall's case stage"
    )
    ap.add_argument(
        "--usage-only",
        action="store_true",
        help="run only raw ECDSA and the durable usage-record stage (verify and issuance)",
    )
    ap.add_argument(
        "--hsm-only",
        action="store_true",
        help="run only raw ECDSA, sealing, SM2 and the SoftHSM stage (software beside token key)",
    )
    ap.add_argument(
        "--import-rows", type=int, default=0, help="run only the stock conversion of N rows"
    )
    ap.add_argument(
        "--import-backends", default="postgresql,sqlite", help="for --import-rows: which databases"
    )
    args = ap.parse_args()
    n = args.n
    global PDF_N, PDF_ONLY, CASES_ONLY, USAGE_ONLY, RATE_LIMIT_BACKEND, HSM_ONLY  # switches
    PDF_N, PDF_ONLY, CASES_ONLY, USAGE_ONLY, RATE_LIMIT_BACKEND, HSM_ONLY = (
        args.pdf_n,
        args.pdf_only,
        args.cases_only,
        args.usage_only,
        args.rate_limit_backend,
        args.hsm_only,
    )
    work = Path(tempfile.mkdtemp(prefix="elicence-bench-"))
    try:
        if args.import_rows:
            run_import(args.import_rows, work, args.postgres, args.import_backends.split(","))
            return
        run(n, work, args.postgres, not args.no_http)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def run(n: int, work: Path, pg_admin: str, http: bool) -> None:
    print(f"elicence benchmark, n={n}, python {sys.version.split()[0]}, {os.cpu_count()} cpus")
    print("raw crypto (same run):")
    raw_sign, raw_verify = raw_crypto(n)
    RAW.update(sign=raw_sign, verify=raw_verify)

    catalogue = load_catalogue(DEMO_CATALOGUE)
    keys = work / "keys"
    KeyStore(keys).init(
        passphrase=PASSPHRASE,
        departments=[DepartmentName(d.uscc, d.name_zh) for d in catalogue.departments.values()],
        now=dt.datetime.now(dt.UTC) - dt.timedelta(days=1),
        crl_url=None,
    )
    if CASES_ONLY or USAGE_ONLY:
        run_backends(
            n,
            work,
            pg_admin,
            keys,
            http=False,
            raw=(raw_sign, raw_verify),
            cases_only=CASES_ONLY,
            usage_only=USAGE_ONLY,
        )
        return
    svc = make_service(work, f"sqlite:///{work / 'seal.db'}", keys)
    signer = svc.signers()[GZ_AMR]
    tl = svc.trust_list()

    print("seal and verify in memory (no database):")
    claims = SealClaims(
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
            data={"legal_representative": "张三", "main_business_format": "餐饮服务经营者"},
        ),
    )
    el, lat = timed(n, lambda _i: seal_licence(claims, signer))
    rate = report("seal (CBOR + COSE ES256 + zlib + base32)", n, el, lat)
    print(f"    -> {rate / raw_sign:.0%} of raw sign (target >= 50%)")
    issued = svc.issue(Client("bench", "bench", Role.DEPARTMENT, GZ_AMR), food("warm-up")).licence
    now = dt.datetime.now(dt.UTC)
    el, lat = timed(
        n, lambda _i: verify_seal(issued.seal, trust_list=tl, status=UnsafeSkipStatusCheck, now=now)
    )
    rate = report("verify offline (trust list only)", n, el, lat)
    print(f"    -> {rate / raw_verify:.0%} of raw verify (target >= 60%)")
    if HSM_ONLY:
        stage_sm2(n, raw_sign, raw_verify)
        stage_hsm(n, work, keys, claims, raw_sign)
        return
    stage_status_list(svc, issued, tl, n, raw_verify)
    stage_presentation(svc, issued, tl, n, raw_sign, raw_verify)
    stage_refusals(svc, raw_sign)
    stage_pdf(svc, issued, PDF_N)
    if PDF_ONLY:
        return
    stage_sm2(n, raw_sign, raw_verify)
    stage_hsm(n, work, keys, claims, raw_sign)

    run_backends(n, work, pg_admin, keys, http=http, raw=(raw_sign, raw_verify))


def run_backends(
    n: int,
    work: Path,
    pg_admin: str,
    keys: Path,
    *,
    http: bool,
    raw: tuple[float, float],
    cases_only: bool = False,
    usage_only: bool = False,
) -> None:
    """The stages with storage, on SQLite and (given an admin URL) PostgreSQL."""
    backends = [("SQLite", f"sqlite:///{work / 'registry.db'}")]
    pg_db = None
    if pg_admin:
        pg_db = f"elicence_bench_{uuid.uuid4().hex[:8]}"
        try:
            admin = create_engine(pg_admin, isolation_level="AUTOCOMMIT")
            with admin.connect() as c:
                c.execute(text(f'CREATE DATABASE "{pg_db}"'))
            backends.append(("PostgreSQL", pg_admin.rsplit("/", 1)[0] + f"/{pg_db}"))
        except Exception as e:
            print(f"  (PostgreSQL skipped: {e})")
            pg_db = None
    try:
        for name, url in backends:
            if usage_only:
                stage_usage(name, url, n, work, keys, *raw)
                continue
            if not cases_only:
                stage_backend(name, url, n, work, keys, http, raw[0])
                stage_usage(name, url, n, work, keys, *raw)
            stage_cases(name, url, n, work, keys, *raw)
    finally:
        if pg_db:
            with admin.connect() as c:
                c.execute(text(f'DROP DATABASE IF EXISTS "{pg_db}" WITH (FORCE)'))
    print("\nsummary (stage, throughput, p50 ms, p99 ms):")
    for row in ROWS:
        print("  " + " | ".join(row))


def stage_usage(
    name: str, url: str, n: int, work: Path, keys: Path, raw_sign: float, raw_verify: float
) -> None:
    """Online verification, each answered only after its usage record (用证记录) is committed
    (concurrent records share a transaction), alone and beside concurrent issuance."""
    print(f"{name}: verification with durable usage records")
    svc = make_service(work, url, keys)
    dept = Client("bench", "bench", Role.DEPARTMENT, GZ_AMR)
    hall = svc.add_client(name="bench usage hall", role=Role.HALL, department=None)
    hall_client = svc.authenticate(hall.api_key)
    run_id = uuid.uuid4().hex[:6]
    seal = svc.issue(dept, food(f"usage-{run_id}")).licence.seal
    svc.verify(seal=seal, identifier=None, client=hall_client)  # warm
    writer = svc.registry._usage

    def verify(_i: int) -> object:
        report_ = svc.verify(seal=seal, identifier=None, client=hall_client)
        assert str(report_.verdict) == "valid"
        return report_

    el, lat = timed(n, verify)
    rate = report(f"{name}: verify online + durable usage record, 1 thread", n, el, lat)
    print(f"    -> {rate / raw_verify:.1%} of raw verify ({raw_verify:,.0f}/s in this run)")
    threads = 8
    # (getattr: the same stage runs against the old write-behind queue, for comparison)
    groups_before, rows_before = getattr(writer, "groups", 0), getattr(writer, "rows", 0)
    start = time.perf_counter()
    with ThreadPoolExecutor(threads) as ex:
        parts = list(ex.map(lambda _k: timed(n // threads, verify)[1], range(threads)))
    el = time.perf_counter() - start
    groups = getattr(writer, "groups", 0) - groups_before
    rows = getattr(writer, "rows", 0) - rows_before
    rate = report(
        f"{name}: verify online + durable usage record, {threads} threads",
        threads * (n // threads),
        el,
        [x for p in parts for x in p],
        f"records committed in groups of {rows / max(groups, 1):.1f}",
    )
    print(f"    -> {rate / raw_verify:.1%} of raw verify ({raw_verify:,.0f}/s in this run)")
    # issuance and verification at once: they share the database's writer
    half = threads // 2
    per = n // threads
    start = time.perf_counter()
    with ThreadPoolExecutor(threads) as ex:
        issuing = [
            ex.submit(
                lambda k: timed(per, lambda i: svc.issue(dept, food(f"mix-{run_id}-{k}-{i}"))),
                k,
            )
            for k in range(half)
        ]
        verifying = [ex.submit(lambda: timed(per, verify)) for _ in range(half)]
        issued = [f.result() for f in issuing]
        verified = [f.result() for f in verifying]
    el = time.perf_counter() - start
    rate = report(
        f"{name}: issue ({half} threads) beside verify with usage records",
        half * per,
        el,
        [x for _, lat_ in issued for x in lat_],
    )
    print(f"    -> {rate / raw_sign:.1%} of raw sign ({raw_sign:,.0f}/s in this run)")
    rate = report(
        f"{name}: verify + usage record ({half} threads) beside issuance",
        half * per,
        el,
        [x for _, lat_ in verified for x in lat_],
    )
    print(f"    -> {rate / raw_verify:.1%} of raw verify")
    svc.registry.dispose()


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


SOFTHSM_MODULES = ("/usr/lib/softhsm/libsofthsm2.so", "/usr/local/lib/softhsm/libsofthsm2.so")


def stage_hsm(n: int, work: Path, keys: Path, claims: SealClaims, raw_sign: float) -> None:
    """The department key on a SoftHSM2 token (issue 19) beside the software key, same run:
    raw CKM_ECDSA through python-pkcs11, the token signer (SHA-256 here, CKM_ECDSA there, the
    signature verified against the certificate), sealing, and issuance with storage (SQLite)."""
    module = next((m for m in SOFTHSM_MODULES if Path(m).is_file()), None)
    if module is None or shutil.which("softhsm2-util") is None:
        print("SoftHSM2: not installed (scripts/setup --dev installs softhsm2); stage skipped")
        return
    import hashlib

    import pkcs11

    from elicence.keys.pkcs11 import Pkcs11Signer, TokenConfig

    base = work / "softhsm"
    (base / "tokens").mkdir(parents=True)
    conf = base / "softhsm2.conf"
    conf.write_text(
        f"directories.tokendir = {base / 'tokens'}\nobjectstore.backend = file\n"
        "log.level = ERROR\n",
        encoding="utf-8",
    )
    os.environ["SOFTHSM2_CONF"] = str(conf)
    pin = "246810"  # a throwaway benchmark token
    subprocess.run(
        [
            *("softhsm2-util", "--init-token", "--free", "--label", "bench"),
            *("--pin", pin, "--so-pin", "13579111"),
        ],
        check=True,
        capture_output=True,
    )
    print("SoftHSM2 (PKCS#11) beside the software key, same run:")
    token_keys = work / "keys-token"
    shutil.copytree(keys, token_keys)
    tokens = TokenConfig(module=module, token_label="bench", pin=pin).tokens()
    registry = Registry.from_url(f"sqlite:///{work / 'hsm.db'}")
    registry.upgrade()
    svc = assemble(
        registry=registry,
        keystore=KeyStore(token_keys, tokens=tokens),
        passphrase=PASSPHRASE,
        public_base_url="https://hall.example.gov.cn",
    )
    registry.save_catalogue(load_catalogue(DEMO_CATALOGUE), now=dt.datetime.now(dt.UTC))
    soft = make_service(work, f"sqlite:///{work / 'soft.db'}", keys)
    soft_signer = soft.signers()[GZ_AMR]
    svc.enrol_token_key(GZ_AMR)
    signer = svc.signers()[GZ_AMR]
    assert isinstance(signer, Pkcs11Signer)

    digest = hashlib.sha256(b"benchmark").digest()
    session = pkcs11.lib(module).get_token(token_label="bench").open()
    key = session.get_key(object_class=pkcs11.ObjectClass.PRIVATE_KEY, id=signer.uri.id)
    el, _ = timed(n, lambda _i: key.sign(digest, mechanism=pkcs11.Mechanism.ECDSA))
    raw_token = report("raw CKM_ECDSA on SoftHSM (python-pkcs11)", n, el, None)
    print(f"    -> {raw_token / raw_sign:.0%} of raw sign (cryptography)")
    session.close()
    el, lat = timed(n, lambda _i: signer.sign(b"benchmark message of about a seal's size"))
    rate = report("Pkcs11Signer.sign (hash, token, verify)", n, el, lat)
    print(f"    -> {rate / raw_token:.0%} of raw CKM_ECDSA")
    el, lat = timed(n, lambda _i: seal_licence(claims, soft_signer))
    soft_seal = report("seal, software key", n, el, lat)
    el, lat = timed(n, lambda _i: seal_licence(claims, signer))
    token_seal = report("seal, key on SoftHSM", n, el, lat)
    print(f"    -> {token_seal / soft_seal:.0%} of the software key's seal rate")

    client = Client("bench", "bench", Role.DEPARTMENT, GZ_AMR)
    run_id = uuid.uuid4().hex[:6]
    threads = 8
    for name, tag, service in (("software key", "soft", soft), ("key on SoftHSM", "hsm", svc)):
        service.issue(client, food(f"hsm-warm-{tag}-{run_id}"))
        el, lat = timed(n, lambda i, s=service, w=tag: s.issue(client, food(f"h-{w}-{run_id}-{i}")))
        report(f"issue one by one (SQLite), {name}", n, el, lat)
        start = time.perf_counter()
        with ThreadPoolExecutor(threads) as ex:
            parts = list(
                ex.map(
                    lambda k, s=service, w=tag: timed(
                        n // threads, lambda i: s.issue(client, food(f"p-{w}-{run_id}-{k}-{i}"))
                    )[1],
                    range(threads),
                )
            )
        report(
            f"issue from {threads} threads (SQLite), {name}",
            threads * (n // threads),
            time.perf_counter() - start,
            [x for p in parts for x in p],
        )
    soft.registry.dispose()
    registry.dispose()


def _million_keys() -> list[bytes]:
    """A JSON object with 1,000,000 unknown keys (about 12 MB), in 10,000-key chunks."""
    head = [b'{"seal": "EL1:x"']
    chunks = [
        "".join(f',"k{i}":0' for i in range(start, start + 10_000)).encode()
        for start in range(0, 1_000_000, 10_000)
    ]
    return [*head, *chunks, b"}"]


async def _asgi_post(app: Any, path: str, headers: dict[str, str], chunks: list[bytes]) -> int:
    """POST through the ASGI app in this process; how many body bytes the service pulled."""
    source, read, status = iter(chunks), 0, 0

    async def receive() -> dict[str, Any]:
        nonlocal read
        chunk = next(source, None)
        if chunk is None:
            return {"type": "http.request", "body": b"", "more_body": False}
        read += len(chunk)
        return {"type": "http.request", "body": chunk, "more_body": True}

    async def send(message: dict[str, Any]) -> None:
        nonlocal status
        if message["type"] == "http.response.start":
            status = message["status"]

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [(k.lower().encode(), v.encode()) for k, v in headers.items()],
        "client": ("203.0.113.9", 50000),
        "server": ("bench", 80),
    }
    await app(scope, receive, send)
    assert status == 413, status
    return read


def stage_refusals(svc: Elicence, raw_sign: float, k: int = 200) -> None:
    """Refusing a 1,000,000-key body and a body over the limit at ``POST /api/v1/verify``
    (anonymous), through the ASGI app in this process: bounded by the route's limit (16 KiB),
    not by the body (api/edge.py). On main the 1,000,000-key body took 10-13 s and 1.4 GiB."""
    import anyio

    from elicence.api.app import create_app
    from elicence.api.edge import SMALL

    app = create_app(svc)
    million = _million_keys()
    size = sum(map(len, million))
    huge = [b" " * 65536] * (200 * 1024 * 1024 // 65536)  # 200 MB, the same chunk repeated
    json_h = {"Content-Type": "application/json"}
    cases = [
        (
            "refuse 1,000,000-key body (Content-Length)",
            json_h | {"Content-Length": str(size)},
            million,
        ),
        ("refuse 1,000,000-key body (chunked)", json_h | {"Transfer-Encoding": "chunked"}, million),
        (
            "refuse 200 MB body (Content-Length)",
            json_h | {"Content-Length": str(200 * 2**20)},
            huge,
        ),
        ("refuse 200 MB body (chunked)", json_h | {"Transfer-Encoding": "chunked"}, huge),
    ]
    print(f"refusing bodies at the edge (POST /api/v1/verify, limit {SMALL:,} B, in-process ASGI):")
    for stage, headers, chunks in cases:
        reads: list[int] = []

        async def many(
            headers: dict[str, str] = headers,
            chunks: list[bytes] = chunks,
            reads: list[int] = reads,
        ) -> list[float]:
            lat = []
            for _ in range(k):
                t = time.perf_counter()
                reads.append(await _asgi_post(app, "/api/v1/verify", headers, chunks))
                lat.append(time.perf_counter() - t)
            return lat

        start = time.perf_counter()
        lat = anyio.run(many)
        rate = report(stage, k, time.perf_counter() - start, lat, f"read {max(reads):,} B")
        cost = raw_sign / rate
        print(f"    -> {rate / raw_sign:.1%} of raw sign ({cost:.1f} signatures a refusal)")
    start = time.perf_counter()
    json.loads(b"".join(million))
    whole = time.perf_counter() - start
    print(f"    (for scale: json.loads of the whole 1,000,000-key body alone: {whole:.2f} s)")


def stage_pdf(svc: Elicence, lic: Licence, n: int) -> None:
    """Signed licence PDFs (B-B) beside pyHanko signing a tiny fixed PDF with the same key."""
    from asn1crypto import keys as asn1_keys
    from cryptography.hazmat.primitives import serialization
    from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
    from pyhanko.sign import fields, signers
    from pyhanko_certvalidator.registry import SimpleCertificateStore
    from reportlab.pdfgen.canvas import Canvas

    from elicence.templates.pades import BYTES_RESERVED, to_asn1

    print("licence PDFs (one core):")
    catalogue = svc.catalogue()
    signer = svc.signers()[GZ_AMR]
    root = svc.keystore.root_certificate()
    args = {
        "licence_type": catalogue.licence_type(lic.type_code),
        "department": catalogue.department(GZ_AMR),
        "signer": signer,
        "root": root,
        "public_base_url": svc.public_base_url,
        "crl": None,
        "now": dt.datetime.now(dt.UTC),
    }
    svc.documents.make(lic, **args)  # warm-up: the font loaded, the PAdES signer built
    el, lat = timed(n, lambda _i: svc.documents.make(lic, **args))
    report("PDF: render + QR + PAdES B-B (PDFs)", n, el, lat, "target p50 <= 30 ms")
    el, lat_render = timed(
        n,
        lambda _i: svc.documents.renderer.render(
            lic,
            licence_type=args["licence_type"],
            department=args["department"],
            public_base_url=svc.public_base_url,
        ),
    )
    report("  of which render + QR (unsigned)", n, el, lat_render)

    buf = io.BytesIO()
    c = Canvas(buf)
    c.drawString(72, 720, "elicence benchmark: a tiny fixed PDF")
    c.showPage()
    c.save()
    tiny = buf.getvalue()
    pkcs8 = signer.private_key.private_bytes(
        serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    simple = signers.SimpleSigner(
        signing_cert=to_asn1(signer.certificate),
        signing_key=asn1_keys.PrivateKeyInfo.load(pkcs8),
        cert_registry=SimpleCertificateStore.from_certs(
            [to_asn1(signer.certificate), to_asn1(root)]
        ),
    )
    plain = signers.PdfSigner(
        signers.PdfSignatureMetadata(
            field_name="Sig", subfilter=fields.SigSeedSubFilter.PADES, md_algorithm="sha256"
        ),
        signer=simple,
    )

    def sign_tiny(_i: int) -> bytes:
        out = io.BytesIO()
        plain.sign_pdf(
            IncrementalPdfFileWriter(io.BytesIO(tiny)), bytes_reserved=BYTES_RESERVED, output=out
        )
        return out.getvalue()

    sign_tiny(0)
    el, lat_tiny = timed(n, sign_tiny)
    report("pyHanko alone: tiny fixed PDF, B-B", n, el, lat_tiny, "same key, same run")
    print(
        f"    -> a licence PDF costs {statistics.median(lat) / statistics.median(lat_tiny):.2f}x "
        "pyHanko's own signing of a tiny PDF"
    )


def stage_backend(
    name: str, url: str, n: int, work: Path, keys: Path, http: bool, raw_sign: float
) -> None:
    print(f"{name}: issuance with storage")
    svc = make_service(work, url, keys)
    client = Client("bench", "bench", Role.DEPARTMENT, GZ_AMR)
    run_id = uuid.uuid4().hex[:6]
    # Warm up as a running server is: signing keys decrypted (scrypt, ~70 ms each), first
    # checkpoint signed. Otherwise the first timed call carries half a second of start-up.
    svc.signers()
    svc.issue(client, food(f"warm-{run_id}"))
    el, lat = timed(n, lambda i: svc.issue(client, food(f"svc-{run_id}-{i}")))
    report(f"{name}: issue one by one, service layer", n, el, lat)
    # API workers call the service concurrently; PostgreSQL then commits in groups.
    threads = 8
    committer = svc._issuer.group_commit  # how the concurrent issuances grouped
    groups_before, items_before = committer.groups, committer.items
    start = time.perf_counter()
    with ThreadPoolExecutor(threads) as ex:
        parts = list(
            ex.map(
                lambda k: timed(
                    n // threads, lambda i: svc.issue(client, food(f"par-{run_id}-{k}-{i}"))
                )[1],
                range(threads),
            )
        )
    el = time.perf_counter() - start
    groups = committer.groups - groups_before
    rate = report(
        f"{name}: issue from {threads} threads, service layer",
        threads * (n // threads),
        el,
        [x for p in parts for x in p],
        f"groups of {(committer.items - items_before) / max(groups, 1):.1f} on average",
    )
    print(f"    -> {rate / raw_sign:.1%} of raw sign; target >= 2,000/s")
    stage_processes(name, url, n, work, keys, run_id)
    batch = svc.add_client(name="bench", role=Role.DEPARTMENT, department=GZ_AMR)
    hall = svc.add_client(name="bench hall", role=Role.HALL, department=None)
    svc.registry.dispose()
    if not http:
        return
    port = free_port()
    env = {
        **os.environ,
        "ELICENCE_DATABASE_URL": url,
        "ELICENCE_DATA_DIR": str(work),
        "ELICENCE_KEY_PASSPHRASE": PASSPHRASE,
        # Rate limits on, through the chosen backend, set far above what this run sends: the
        # limiter's cost is measured, it never refuses (a 429 would show as a non-2xx answer).
        "ELICENCE_RATE_LIMIT_BACKEND": RATE_LIMIT_BACKEND,
        "ELICENCE_RATE_LIMIT_VERIFY_CLIENT": "1000000/s",
        "ELICENCE_RATE_LIMIT_PUBLIC_IP": "1000000/s",
    }
    server = subprocess.Popen(
        [sys.executable, "-m", "elicence.cli", "serve", "--port", str(port), "--workers", "2"],
        env=env,
        start_new_session=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(100):
            try:
                if httpx.get(base + "/healthz").status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.1)
        h = {"Authorization": f"Bearer {batch.api_key}"}
        with httpx.Client(base_url=base, headers=h, timeout=60) as c:
            size = 1000
            batches = max(1, n // size)
            lat = []
            start = time.perf_counter()
            for b in range(batches):
                items = [food(f"batch-{run_id}-{b}-{i}") for i in range(size)]
                t = time.perf_counter()
                r = c.post("/api/v1/licences/batch", json={"items": items})
                lat.append(time.perf_counter() - t)
                assert r.status_code == 200 and r.json()["created"] == size, r.text[:300]
            el = time.perf_counter() - start
            report(
                f"{name}: batch API over HTTP (1,000 a call)",
                batches * size,
                el,
                None,
                f"call p50 {statistics.median(lat) * 1000:.0f} ms",
            )
            single = min(n, 1000)
            el, lat = timed(
                single, lambda i: c.post("/api/v1/licences", json=food(f"http-{run_id}-{i}"))
            )
            report(f"{name}: one HTTP issuance at a time", single, el, lat)
            seal = c.post("/api/v1/licences", json=food(f"http-{run_id}-0")).json()["seal"]
        hh = {"Authorization": f"Bearer {hall.api_key}"}
        per, threads = max(n // 8, 100), 8
        clients = [httpx.Client(base_url=base, headers=hh, timeout=60) for _ in range(threads)]

        def worker(k: int) -> list[float]:
            out = []
            for _ in range(per):
                t = time.perf_counter()
                r = clients[k].post("/api/v1/verify", json={"seal": seal})
                out.append(time.perf_counter() - t)
                assert r.status_code == 200 and r.json()["verdict"] == "valid"
            return out

        start = time.perf_counter()
        with ThreadPoolExecutor(threads) as ex:
            lat = [x for part in ex.map(worker, range(threads)) for x in part]
        el = time.perf_counter() - start
        report(
            f"{name}: HTTP verify, 8 client threads",
            per * threads,
            el,
            lat,
            "client shares the 2 cores",
        )
        for cl in clients:
            cl.close()
        if shutil.which("wrk"):
            wrk_verify(name, base, hall.api_key, seal)
            stage_load(name, url, base, hall.api_key, batch.api_key, seal, run_id)
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=20)


def _issuing_process(
    url: str, work: str, keys: str, tag: str, per: int, threads: int, start: Any, out: Any
) -> None:
    """One API worker's share of :func:`stage_processes`: its own service (keys, connections,
    group committer), ``threads`` clients issuing ``per`` licences each."""
    svc = make_service(Path(work), url, Path(keys))
    client = Client("bench", "bench", Role.DEPARTMENT, GZ_AMR)
    svc.signers()
    svc.issue(client, food(f"warm-{tag}"))
    committer = svc._issuer.group_commit
    groups, items = committer.groups, committer.items
    start.wait()

    def one_client(k: int) -> list[float]:
        return timed(per, lambda i: svc.issue(client, food(f"{tag}-{k}-{i}")))[1]

    with ThreadPoolExecutor(threads) as ex:
        lat = [x for part in ex.map(one_client, range(threads)) for x in part]
    out.put((lat, committer.groups - groups, committer.items - items))
    svc.registry.dispose()


def stage_processes(
    name: str, url: str, n: int, work: Path, keys: Path, run_id: str, processes: int = 2
) -> None:
    """8 clients over ``processes`` processes (as ``elicence serve --workers 2`` runs the
    service layer): both cores issue, each process group-commits its own clients' issuances,
    and their groups take turns on the log's lock."""
    clients = 8
    threads, per = clients // processes, n // clients
    ctx = multiprocessing.get_context("spawn")
    start, out = ctx.Barrier(processes + 1), ctx.Queue()
    procs = [
        ctx.Process(
            target=_issuing_process,
            args=(url, str(work), str(keys), f"mp-{run_id}-{p}", per, threads, start, out),
        )
        for p in range(processes)
    ]
    for p in procs:
        p.start()
    try:
        start.wait(timeout=120)
        t0 = time.perf_counter()
        results = [out.get(timeout=600) for _ in procs]
        el = time.perf_counter() - t0
    finally:
        for p in procs:
            p.join(timeout=60)
    groups = sum(r[1] for r in results)
    items = sum(r[2] for r in results)
    rate = report(
        f"{name}: issue from {clients} clients in {processes} processes",
        items,
        el,
        [x for r in results for x in r[0]],
        f"groups of {items / max(groups, 1):.1f} on average",
    )
    print(f"    -> target >= 2,000/s ({rate / 2000:.0%} of it)")


TH_AMR = "11440106MB2E000032"  # 天河区市场监督管理局: handles 食品经营许可延续
RENEWAL = "440106-SCJ-0002"  # cites a business licence and a food permit, issues a food permit
HOLDER = "91350100M000100Y43"


def business(ref: str) -> dict[str, object]:
    return {
        "source_ref": ref,
        "type_code": "11100000000013338W001",
        "licence_number": HOLDER,
        "holder": {
            "name": "广州市天河区某某餐饮管理有限公司",
            "id_type": "001",
            "id_number": HOLDER,
        },
        "valid_from": "2026-01-05",
        "data": {
            "company_type": "有限责任公司",
            "legal_representative": "张三",
            "registered_capital": "人民币100万元",
            "established_on": "2026-01-05",
            "address": "广州市天河区天河路385号",
            "business_scope": "餐饮服务",
        },
    }


def stage_cases(
    name: str, url: str, n: int, work: Path, keys: Path, raw_sign: float, raw_verify: float
) -> None:
    """Complete cases at the service layer: submit citing 2 e-licences (4 ECDSA verifications
    in all, with the re-check at approval), accept, review, approve issuing a licence (1 ECDSA
    signature), complete: 6 write transactions and the issuance's own."""
    from elicence.domain.licence import HolderRef
    from elicence.hall.items_file import DEMO_ITEMS, load_items
    from elicence.hall.workflow import CaseAction as A

    print(f"{name}: complete cases (办件), service layer")
    svc = make_service(work, url, keys)
    run_id = uuid.uuid4().hex[:6]
    if svc.hall.items_version() is None:
        svc.hall.import_items(load_items(DEMO_ITEMS))
    dept = Client("bench", "bench", Role.DEPARTMENT, TH_AMR)
    svc.signers()
    biz = svc.issue(dept, business(f"case-biz-{run_id}")).licence
    permit = dict(food(f"case-food-{run_id}"))
    permit["holder"] = {
        "name": "广州市天河区某某餐饮管理有限公司",
        "id_type": "001",
        "id_number": HOLDER,
    }
    food_permit = svc.issue(dept, permit).licence
    holder = svc.authenticate(
        svc.add_client(
            name="bench applicant",
            role=Role.HOLDER,
            department=None,
            holder=HolderRef.parse(f"001:{HOLDER}"),
        ).api_key
    )
    clerk = svc.authenticate(
        svc.add_client(name="bench clerk", role=Role.DEPARTMENT, department=TH_AMR).api_key
    )
    application = {
        "item_code": RENEWAL,
        "form": {
            "legal_representative": "张三",
            "residence": "广州市天河区天河路385号",
            "business_premises": "广州市天河区天河路385号首层101铺",
            "main_business_format": "餐饮服务经营者",
            "business_items": "热食类食品制售",
        },
        "licences": [
            {"material": "business_licence", "seal": biz.seal},
            {"material": "food_permit", "seal": food_permit.seal},
        ],
    }
    hall = svc.hall

    def one(_i: int) -> None:
        case = hall.submit(holder, application)
        hall.act(clerk, case.number, A.ACCEPT)
        hall.act(clerk, case.number, A.START_REVIEW)
        approval = hall.approve(clerk, case.number)
        assert approval.licence is not None and approval.created
        hall.act(clerk, case.number, A.COMPLETE)

    one(0)  # warm-up: the item catalogue read, the first checkpoint signed
    count = max(n // 4, 50)
    el, lat = timed(count, one)
    rate = report(f"{name}: complete case one by one", count, el, lat, "target >= 300/s")
    crypto_only = 1 / (4 / raw_verify + 1 / raw_sign)
    print(
        f"    -> per case: 4 seal verifications + 1 signature; raw ECDSA alone would allow "
        f"{crypto_only:,.0f} cases/s (this is {rate / crypto_only:.0%} of it)"
    )
    threads = 8
    start = time.perf_counter()
    with ThreadPoolExecutor(threads) as ex:
        parts = list(ex.map(lambda _k: timed(count // threads, one)[1], range(threads)))
    el = time.perf_counter() - start
    report(
        f"{name}: complete case from {threads} threads",
        threads * (count // threads),
        el,
        [x for p in parts for x in p],
        "target >= 300/s",
    )
    svc.flush()
    svc.registry.dispose()


WRK_LUA = """
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer %s"
wrk.body = '{"seal": "%s"}'
"""


def wrk_verify(name: str, base: str, key: str, seal: str) -> None:
    """HTTP verification driven by wrk (C, so the client takes little of the 2 cores)."""
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as f:
        f.write(WRK_LUA % (key, seal))
    try:
        out = subprocess.run(
            ["wrk", "-t1", "-c8", "-d8s", "--latency", "-s", f.name, base + "/api/v1/verify"],
            capture_output=True,
            text=True,
            timeout=60,
            check=True,
        ).stdout
    finally:
        os.unlink(f.name)
    rate = float(next(ln for ln in out.splitlines() if ln.startswith("Requests/sec")).split()[1])
    pct = {
        ln.split()[0]: ln.split()[1] for ln in out.splitlines() if ln.strip()[:3] in ("50%", "99%")
    }
    non2xx = [ln.strip() for ln in out.splitlines() if "Non-2xx" in ln]
    ROWS.append(
        (
            f"{name}: HTTP verify, wrk 8 connections",
            f"{rate:,.0f}/s",
            pct.get("50%", "-"),
            pct.get("99%", "-"),
            "; ".join(non2xx),
        )
    )
    print(
        f"  {name + ': HTTP verify, wrk 8 connections':<44} {rate:>10,.0f}/s  "
        f"p50 {pct.get('50%', '-'):>9}  p99 {pct.get('99%', '-'):>9}  {'; '.join(non2xx)}",
        flush=True,
    )


WRK_ISSUE_LUA = """
-- POST /api/v1/licences with a source_ref no other request of this run uses
local counter = 0
local threads = 0
function setup(thread)
  threads = threads + 1
  thread:set("tid", threads)
end
function init(args)
  prefix = args[1]
  body_head = args[2]
  body_tail = args[3]
end
function request()
  counter = counter + 1
  local ref = prefix .. "-" .. tid .. "-" .. counter
  return wrk.format("POST", nil, {
    ["Content-Type"] = "application/json",
    ["Authorization"] = "Bearer " .. os.getenv("ELICENCE_BENCH_KEY"),
  }, body_head .. ref .. body_tail)
end
"""


@dataclass(frozen=True)
class WrkResult:
    requests: int
    rate: float
    p50: str
    p99: str
    non2xx: int
    socket_errors: int

    @property
    def errors(self) -> int:
        return self.non2xx + self.socket_errors


def run_wrk(
    url: str, script: str, *, args: list[str], connections: int, seconds: int, env: dict[str, str]
) -> WrkResult:
    """Run wrk with a Lua script; its requests, rate, p50/p99 and error counts."""
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as f:
        f.write(script)
    try:
        out = subprocess.run(
            [
                "wrk",
                "-t1",
                f"-c{connections}",
                f"-d{seconds}s",
                "--latency",
                "-s",
                f.name,
                url,
                "--",
                *args,
            ],
            capture_output=True,
            text=True,
            timeout=seconds + 60,
            check=True,
            env={**os.environ, **env},
        ).stdout
    finally:
        os.unlink(f.name)
    lines = out.splitlines()
    pct = {ln.split()[0]: ln.split()[1] for ln in lines if ln.strip()[:3] in ("50%", "99%")}
    total = next(int(ln.split()[0]) for ln in lines if " requests in " in ln)
    non2xx = sum(int(ln.split()[-1]) for ln in lines if "Non-2xx" in ln)
    socket = sum(
        int(part.split()[-1])
        for ln in lines
        if ln.strip().startswith("Socket errors")
        for part in ln.split(":", 1)[1].split(",")
    )
    rate = float(next(ln for ln in lines if ln.startswith("Requests/sec")).split()[1])
    return WrkResult(total, rate, pct.get("50%", "-"), pct.get("99%", "-"), non2xx, socket)


def stage_load(
    name: str, url: str, base: str, hall_key: str, dept_key: str, seal: str, run_id: str
) -> None:
    """The load test of docs/deployment.md: wrk on loopback against `elicence serve --workers
    2`; verification throughput, issuance p99 (unique source_refs) and every error counted."""
    print(
        f"{name}: load test, wrk on loopback against serve --workers 2 "
        f"(rate limits on, {RATE_LIMIT_BACKEND} counters)"
    )
    registry = Registry.from_url(url)
    before = registry.count_licences()
    body = json.dumps(food("SOURCE-REF"), ensure_ascii=False)
    head, tail = body.split("SOURCE-REF")
    issue = run_wrk(
        base + "/api/v1/licences",
        WRK_ISSUE_LUA,
        args=[f"wrk-{run_id}", head, tail],
        connections=4,
        seconds=8,
        env={"ELICENCE_BENCH_KEY": dept_key},
    )
    created = registry.count_licences() - before
    registry.dispose()
    verify = run_wrk(
        base + "/api/v1/verify",
        WRK_LUA % (hall_key, seal),
        args=[],
        connections=8,
        seconds=8,
        env={},
    )
    for stage, r, note in (
        (f"{name}: load, HTTP issuance, wrk 4 conns", issue, f"; {created} licences stored"),
        (f"{name}: load, HTTP verify, wrk 8 conns", verify, ""),
    ):
        errors = f"{r.non2xx} non-2xx, {r.socket_errors} socket errors"
        ROWS.append((stage, f"{r.rate:,.0f}/s", r.p50, r.p99, errors))
        print(
            f"  {stage:<44} {r.rate:>10,.0f}/s  p50 {r.p50:>9}  p99 {r.p99:>9}  "
            f"{r.requests} requests, {errors} {note}",
            flush=True,
        )
    print(
        f"    -> {name}: verify {verify.rate:,.0f} req/s, issuance p99 {issue.p99}, "
        f"errors {issue.errors + verify.errors}; raw ECDSA in this run: "
        f"sign {RAW.get('sign', 0):,.0f}/s, verify {RAW.get('verify', 0):,.0f}/s"
    )
    # wrk counts the requests answered within its time; up to one a connection is still in
    # flight when it stops, and the server stores those too
    answered = issue.requests - issue.non2xx
    if not answered <= created <= answered + 4:
        print(f"    !! {answered} issuances answered 2xx, but {created} stored")


# -- stock conversion at scale ----------------------------------------------------------------

BUSINESS = "11100000000013338W001"
CONSTRUCTION = "11100000000013904F001"
IMPORT_DEPARTMENTS = [  # (department, city, type code, licence number prefix, data items)
    (
        GZ_AMR,
        "广州",
        FOOD,
        "JY14401",
        {
            "legal_representative": "张三",
            "residence": "广州市天河区天河路385号",
            "business_premises": "广州市天河区天河路385号首层101铺",
            "main_business_format": "餐饮服务经营者",
            "business_items": "热食类食品制售；冷食类食品制售",
        },
    ),
    (
        "11440300MB2F00008P",
        "深圳",
        BUSINESS,
        "91440300",
        {
            "company_type": "有限责任公司（自然人投资或控股）",
            "legal_representative": "李四",
            "registered_capital": "人民币壹佰万元",
            "established_on": "2018-06-01",
            "address": "深圳市南山区科技园科苑路15号",
            "business_scope": "计算机软硬件的技术开发、技术咨询；经营进出口业务",
        },
    ),
    (
        "11440106MB2E000032",
        "广州",
        BUSINESS,
        "91440106",
        {
            "company_type": "有限责任公司",
            "legal_representative": "王五",
            "registered_capital": "人民币伍拾万元",
            "established_on": "2020-03-18",
            "address": "广州市天河区体育西路103号",
            "business_scope": "餐饮管理；食品销售",
        },
    ),
    (
        "11440000MB2C00206M",
        "佛山",
        CONSTRUCTION,
        "(粤)JZ安许证字",
        {
            "principal": "赵六",
            "address": "佛山市禅城区季华五路22号",
            "economic_type": "有限责任公司",
            "licensed_scope": "建筑施工",
        },
    ),
]
COMPANY_WORDS = ["天河", "越秀", "海珠", "南山", "福田", "宝安", "番禺", "白云", "黄埔", "龙岗"]
TRADES = ["餐饮管理", "食品贸易", "饮食服务", "快餐", "茶餐厅", "酒家"]


def import_rows_csv(path: Path, rows: int) -> None:
    """A CSV of ``rows`` paper food business permits of two cities' departments, every field
    varying as real rows do (one row in 2,000 with a wrong check character, as real data has)."""
    import csv

    from elicence.domain.codes import USCC_ALPHABET, uscc_check_char

    rng = random.Random(20261128)
    items = list(dict.fromkeys(k for d in IMPORT_DEPARTMENTS for k in d[4]))
    with path.open("w", encoding="utf-8", newline="") as f:
        w = csv.writer(f)
        w.writerow(
            [
                "source_ref",
                "type_code",
                "licence_number",
                "holder_name",
                "holder_id_type",
                "holder_id_number",
                "valid_from",
                "valid_until",
                "department",
                *(f"data.{i}" for i in items),
            ]
        )
        for n in range(rows):
            dept, city, type_code, prefix, data = IMPORT_DEPARTMENTS[n % len(IMPORT_DEPARTMENTS)]
            body = "9144" + "".join(rng.choice(USCC_ALPHABET[:10]) for _ in range(13))
            uscc = body + uscc_check_char(body)
            if n % 2000 == 1999:
                uscc = body + ("0" if uscc[-1] != "0" else "1")
            start = dt.date(2019, 1, 1) + dt.timedelta(days=rng.randrange(2500))
            name = f"{city}市{rng.choice(COMPANY_WORDS)}{n:07d}{rng.choice(TRADES)}有限公司"
            w.writerow(
                [
                    f"PAPER-{dept[-6:]}-{n:08d}",
                    type_code,
                    f"{prefix}{n:09d}",
                    name,
                    "001",
                    uscc,
                    start.isoformat(),
                    "",
                    dept,
                    *(data.get(i, "") for i in items),
                ]
            )


AUDIT_WITH_MAXRSS = """
import resource, sys
from elicence.cli import main
sys.argv = ["elicence", "registry", "audit"]
try:
    main()
finally:
    kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(f"ru_maxrss {kb:,} KiB", flush=True)
"""


def run_import(rows: int, work: Path, pg_admin: str, backends: list[str]) -> None:
    """``elicence import`` of ``rows`` rows, then ``elicence registry audit``, per database."""
    print(f"elicence benchmark: stock conversion of {rows:,} rows, {os.cpu_count()} cpus")
    print("raw crypto (same run):")
    raw_sign, _raw_verify = raw_crypto(2000)
    src = work / f"paper-{rows}.csv"
    t = time.perf_counter()
    import_rows_csv(src, rows)
    print(
        f"  wrote {src.name}: {src.stat().st_size / 1e6:,.0f} MB in {time.perf_counter() - t:.0f} s"
    )
    catalogue = load_catalogue(DEMO_CATALOGUE)
    keys = work / "keys"
    KeyStore(keys).init(
        passphrase=PASSPHRASE,
        departments=[DepartmentName(d.uscc, d.name_zh) for d in catalogue.departments.values()],
        now=dt.datetime.now(dt.UTC) - dt.timedelta(days=1),
        crl_url=None,
    )
    admin = create_engine(pg_admin, isolation_level="AUTOCOMMIT") if pg_admin else None
    for backend in backends:
        pg_db = None
        if backend == "postgresql":
            if admin is None:
                continue
            pg_db = f"elicence_bench_{uuid.uuid4().hex[:8]}"
            with admin.connect() as c:
                c.execute(text(f'CREATE DATABASE "{pg_db}"'))
            url = pg_admin.rsplit("/", 1)[0] + f"/{pg_db}"
            name = "PostgreSQL"
        else:
            url = f"sqlite:///{work / 'import.db'}"
            name = "SQLite"
        try:
            make_service(work, url, keys).close()  # schema and catalogue
            env = {
                **os.environ,
                "ELICENCE_DATABASE_URL": url,
                "ELICENCE_DATA_DIR": str(work),
                "ELICENCE_KEY_PASSPHRASE": PASSPHRASE,
            }
            cli = [sys.executable, "-m", "elicence.cli"]
            t = time.perf_counter()
            out = subprocess.run(
                [*cli, "import", str(src), "--errors", str(work / f"errors-{name}.csv")],
                env=env,
                capture_output=True,
                text=True,
                check=False,
            )
            el = time.perf_counter() - t
            print(f"  {out.stdout.strip().splitlines()[-1] if out.stdout.strip() else out.stderr}")
            rate = report(f"{name}: elicence import {rows:,} rows", rows, el, None, f"{el:.0f} s")
            print(
                f"    -> {el / 60:.1f} minutes (target <= 10 on PostgreSQL); "
                f"{rate / raw_sign:.1%} of raw sign speed"
            )
            t = time.perf_counter()
            audit = subprocess.run(
                [
                    sys.executable,
                    "-c",
                    AUDIT_WITH_MAXRSS,
                ],
                env=env,
                capture_output=True,
                text=True,
                check=False,
            )
            el = time.perf_counter() - t
            lines = audit.stdout.strip().splitlines()
            maxrss = next((ln for ln in lines if ln.startswith("ru_maxrss")), "ru_maxrss ?")
            verdict = next((ln for ln in lines if ln.startswith(("ok:", "TAMPERED"))), audit.stderr)
            report(f"{name}: registry audit of {rows:,}", rows, el, None, f"{el:.0f} s, {maxrss}")
            print(f"    -> {verdict[:100]}")
        finally:
            if pg_db and admin is not None:
                with admin.connect() as c:
                    c.execute(text(f'DROP DATABASE IF EXISTS "{pg_db}" WITH (FORCE)'))
    print("\nsummary (stage, throughput, p50 ms, p99 ms):")
    for row in ROWS:
        print("  " + " | ".join(row))


if __name__ == "__main__":
    main()
