"""The benchmark's command line, parsed once into :class:`Options` (no module-level switches)."""

from __future__ import annotations

import argparse
from dataclasses import dataclass

import bench

DEFAULT_POSTGRES = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"


@dataclass(frozen=True)
class Options:
    n: int = 2000
    postgres: str = DEFAULT_POSTGRES  # admin URL; '' skips PostgreSQL
    http: bool = True
    pdf_n: int = 200
    pdf_only: bool = False
    cases_only: bool = False
    usage_only: bool = False
    hsm_only: bool = False
    rate_limit_backend: str = "memory"
    import_rows: int = 0
    import_backends: tuple[str, ...] = ("postgresql", "sqlite")


def parse(argv: list[str] | None = None) -> Options:
    ap = argparse.ArgumentParser(
        prog="bench/bench.py",
        description=bench.__doc__,
        formatter_class=argparse.RawTextHelpFormatter,
    )
    ap.add_argument("--n", type=int, default=2000, help="operations per stage")
    ap.add_argument(
        "--postgres",
        default=DEFAULT_POSTGRES,
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
    a = ap.parse_args(argv)
    return Options(
        n=a.n,
        postgres=a.postgres,
        http=not a.no_http,
        pdf_n=a.pdf_n,
        pdf_only=a.pdf_only,
        cases_only=a.cases_only,
        usage_only=a.usage_only,
        hsm_only=a.hsm_only,
        rate_limit_backend=a.rate_limit_backend,
        import_rows=a.import_rows,
        import_backends=tuple(a.import_backends.split(",")),
    )
