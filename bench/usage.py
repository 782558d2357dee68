"""Online verification with durable usage records (用证记录), alone and beside issuance."""

from __future__ import annotations

import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from bench.common import GZ_AMR, food, make_service, report, timed
from elicence.domain.clients import Client, Role


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
