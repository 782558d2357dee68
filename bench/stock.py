"""Stock conversion at scale: ``elicence import`` of N generated paper licences, then
``elicence registry audit`` with its peak memory, per database, beside raw ECDSA of the run."""

from __future__ import annotations

import datetime as dt
import os
import random
import subprocess
import sys
import time
import uuid
from pathlib import Path

from sqlalchemy import create_engine, text

from bench.common import (
    FOOD,
    GZ_AMR,
    PASSPHRASE,
    init_keys,
    make_service,
    raw_crypto,
    report,
    summary,
)

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
    raw_sign = raw_crypto(2000).sign
    src = work / f"paper-{rows}.csv"
    t = time.perf_counter()
    import_rows_csv(src, rows)
    print(
        f"  wrote {src.name}: {src.stat().st_size / 1e6:,.0f} MB in {time.perf_counter() - t:.0f} s"
    )
    keys = work / "keys"
    init_keys(keys)
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
                f"    -> {el:.0f} s, {el * 1_000_000 / rows:.0f} s a million rows (target <= 90 s "
                f"on PostgreSQL, issue 20); {rate / raw_sign:.1%} of raw sign speed"
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
    summary()
