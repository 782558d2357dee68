"""The benchmark's order of stages (``bench/bench.py`` and ``python -m bench`` run :func:`main`)."""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
import uuid
from pathlib import Path

from sqlalchemy import create_engine, text

from bench.cases import stage_cases
from bench.citizen import stage_citizen_pages
from bench.common import Raw, init_keys, make_service, raw_crypto, summary
from bench.hsm import stage_hsm
from bench.issuance import stage_backend
from bench.memory import CLAIMS, stage_presentation, stage_seal, stage_status_list
from bench.options import Options, parse
from bench.pages import stage_queue_pages
from bench.pdf import stage_pdf
from bench.refusals import stage_refusals
from bench.sm2 import stage_sm2
from bench.stock import run_import
from bench.usage import stage_usage


def main(argv: list[str] | None = None) -> None:
    opts = parse(argv)
    work = Path(tempfile.mkdtemp(prefix="elicence-bench-"))
    try:
        if opts.import_rows:
            run_import(opts.import_rows, work, opts.postgres, list(opts.import_backends))
            return
        run(opts, work)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def run(opts: Options, work: Path) -> None:
    n = opts.n
    print(f"elicence benchmark, n={n}, python {sys.version.split()[0]}, {os.cpu_count()} cpus")
    print("raw crypto (same run):")
    raw = raw_crypto(n)
    keys = work / "keys"
    init_keys(keys)
    if opts.cases_only or opts.usage_only or opts.http_only or opts.pages_only:
        run_backends(opts, work, keys, raw)
        return
    svc = make_service(work, f"sqlite:///{work / 'seal.db'}", keys)
    issued, tl = stage_seal(svc, n, raw.sign, raw.verify)
    if opts.hsm_only:
        stage_sm2(n, raw.sign, raw.verify)
        stage_hsm(n, work, keys, CLAIMS, raw.sign)
        return
    stage_status_list(svc, issued, tl, n, raw.verify)
    stage_presentation(svc, issued, tl, n, raw.sign, raw.verify)
    stage_refusals(svc, raw.sign)
    stage_pdf(svc, issued, opts.pdf_n)
    if opts.pdf_only:
        return
    stage_sm2(n, raw.sign, raw.verify)
    stage_hsm(n, work, keys, CLAIMS, raw.sign)
    run_backends(opts, work, keys, raw)


def run_backends(opts: Options, work: Path, keys: Path, raw: Raw) -> None:
    """The stages with storage, on SQLite and (given an admin URL) PostgreSQL."""
    n, pg_admin = opts.n, opts.postgres
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
            if opts.http_only:
                stage_backend(name, url, work, keys, opts, raw)
                continue
            if opts.usage_only:
                stage_usage(name, url, n, work, keys, raw.sign, raw.verify)
                continue
            if opts.pages_only:
                stage_queue_pages(name, url, n, work, keys, raw)
                stage_citizen_pages(name, url, n, work, keys, raw.sign, raw.verify)
                continue
            if not opts.cases_only:
                stage_backend(name, url, work, keys, opts, raw)
                stage_usage(name, url, n, work, keys, raw.sign, raw.verify)
            stage_cases(name, url, n, work, keys, raw.sign, raw.verify)
            stage_queue_pages(name, url, n, work, keys, raw)
            stage_citizen_pages(name, url, n, work, keys, raw.sign, raw.verify)
    finally:
        if pg_db:
            with admin.connect() as c:
                c.execute(text(f'DROP DATABASE IF EXISTS "{pg_db}" WITH (FORCE)'))
    summary()
