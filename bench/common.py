"""What every stage shares: the demo department and licence, timing, the table of rows printed at
the end, raw ECDSA of the run, a service on a database."""

from __future__ import annotations

import datetime as dt
import os
import socket
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec

from elicence.app.service import Elicence
from elicence.bootstrap import assemble
from elicence.domain.codes import mod37_36_check_char
from elicence.formats.catalogue_file import DEMO_CATALOGUE, load_catalogue
from elicence.keys.store import DepartmentName, KeyStore
from elicence.registry import Registry

GZ_AMR = "11440100MB2D00002M"
FOOD = "11100000000013338W011"
PASSPHRASE = "benchmark-passphrase"
# Every figure printed, in order, for the summary at the end (appended to, never rebound).
ROWS: list[tuple[str, str, str, str, str]] = []


@dataclass(frozen=True)
class Raw:
    """Raw ECDSA P-256 sign and verify per second, measured in this run."""

    sign: float
    verify: float

    def beside(self) -> str:
        return f"raw ECDSA in this run: sign {self.sign:,.0f}/s, verify {self.verify:,.0f}/s"


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


def raw_crypto(n: int) -> Raw:
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
    return Raw(sign, verify)


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


def init_keys(keys: Path) -> None:
    """A key store with a key for each department of the demo catalogue."""
    catalogue = load_catalogue(DEMO_CATALOGUE)
    KeyStore(keys).init(
        passphrase=PASSPHRASE,
        departments=[DepartmentName(d.uscc, d.name_zh) for d in catalogue.departments.values()],
        now=dt.datetime.now(dt.UTC) - dt.timedelta(days=1),
        crl_url=None,
    )


def summary() -> None:
    print("\nsummary (stage, throughput, p50 ms, p99 ms):")
    for row in ROWS:
        print("  " + " | ".join(row))
