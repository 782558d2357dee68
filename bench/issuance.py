"""Issuance with storage: one by one and from 8 threads at the service layer, 8 clients in 2
processes (as ``serve --workers 2`` runs the service), then the served stages (bench/http.py)."""

from __future__ import annotations

import multiprocessing
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from bench.common import GZ_AMR, Raw, food, make_service, report, timed
from bench.http import stage_http
from bench.options import Options
from elicence.domain.clients import Client, Role


def stage_backend(name: str, url: str, work: Path, keys: Path, opts: Options, raw: Raw) -> None:
    n = opts.n
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
    print(f"    -> {rate / raw.sign:.1%} of raw sign; target >= 2,000/s")
    stage_processes(name, url, n, work, keys, run_id)
    batch = svc.add_client(name="bench", role=Role.DEPARTMENT, department=GZ_AMR)
    hall = svc.add_client(name="bench hall", role=Role.HALL, department=None)
    svc.registry.dispose()
    if opts.http:
        stage_http(name, url, work, batch.api_key, hall.api_key, opts, raw)


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
