"""Shared fixtures: a reproducible test PKI, a service on SQLite (and PostgreSQL), API clients.

Time is fixed (``NOW``) unless a test moves the clock. PostgreSQL tests use
``ELICENCE_TEST_POSTGRES_URL`` (default: the local server); with ``CI=true`` they fail rather
than skip when it is unreachable.
"""

from __future__ import annotations

import datetime as dt
import os
import shutil
import threading
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import pytest
from fastapi.testclient import TestClient

from elicence.api.app import create_app
from elicence.app.guard import Limits
from elicence.app.service import Elicence
from elicence.bootstrap import assemble
from elicence.domain.clients import Role
from elicence.errors import Error
from elicence.formats.catalogue_file import DEMO_CATALOGUE, load_catalogue
from elicence.keys.store import DepartmentName, KeyStore
from elicence.registry import Registry
from tests.browser import chromium
from tests.tools import tool, unavailable

NOW = dt.datetime(2026, 11, 28, 2, 0, tzinfo=dt.UTC)
PASSPHRASE = "test-passphrase-not-secret"
GZ_AMR = "11440100MB2D00002M"  # 广州市市场监督管理局: business licence, food permit
SZ_AMR = "11440300MB2F00008P"  # 深圳市市场监督管理局
TH_CIVIL = "11440106MB2E00307F"  # 天河区民政局: marriage certificate
GZ_HEALTH = "11440100MB2D00105L"  # 广州市卫生健康委员会: medical licence, birth certificate
FOOD = "11100000000013338W011"
BUSINESS = "11100000000013338W001"
MARRIAGE = "11100000000014001A001"
BIRTH = "11100000MB0000000P002"
__all__ = ["chromium"]  # the session's browser (tests/browser.py), a fixture for every test

POSTGRES_URL = os.environ.get(
    "ELICENCE_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
)


class Clock:
    """A clock tests can move."""

    def __init__(self, now: dt.datetime = NOW) -> None:
        self.now = now

    def __call__(self) -> dt.datetime:
        return self.now

    def advance(self, **kw: float) -> None:
        self.now += dt.timedelta(**kw)


@pytest.fixture(scope="session")
def demo_catalogue():  # type: ignore[no-untyped-def]
    return load_catalogue(DEMO_CATALOGUE)


@pytest.fixture(scope="session")
def keystore_template(tmp_path_factory: pytest.TempPathFactory, demo_catalogue) -> Path:  # type: ignore[no-untyped-def]
    """One key store for the session (made once, copied per test): fast, reproducible dates."""
    directory = tmp_path_factory.mktemp("keys-template") / "keys"
    KeyStore(directory, scrypt_log2_n=10).init(
        passphrase=PASSPHRASE,
        departments=[
            DepartmentName(d.uscc, d.name_zh) for d in demo_catalogue.departments.values()
        ],
        now=NOW - dt.timedelta(days=30),
        crl_url="http://127.0.0.1:8000/api/v1/crl",
    )
    return directory


def make_service(registry: Registry, keys: Path, clock: Clock, demo_catalogue) -> Elicence:  # type: ignore[no-untyped-def]
    registry.upgrade()
    svc = assemble(
        registry=registry,
        keystore=KeyStore(keys, scrypt_log2_n=10),
        passphrase=PASSPHRASE,
        public_base_url="https://hall.example.gov.cn",
        clock=clock,
    )
    if registry.catalogue_version() is None:
        registry.save_catalogue(demo_catalogue, now=clock())
    return svc


@pytest.fixture
def pdf_tools() -> None:
    """poppler, qpdf, zbar and NSS installed (fails on CI when one is missing, skips elsewhere)."""
    from tests.templates.pdftools import TOOLS

    for name in TOOLS:
        tool(name)


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def keys_dir(tmp_path: Path, keystore_template: Path) -> Path:
    target = tmp_path / "keys"
    shutil.copytree(keystore_template, target)
    return target


@pytest.fixture
def service(tmp_path: Path, keys_dir: Path, clock: Clock, demo_catalogue) -> Iterator[Elicence]:  # type: ignore[no-untyped-def]
    registry = Registry.from_url(f"sqlite:///{tmp_path / 'registry.db'}")
    yield make_service(registry, keys_dir, clock, demo_catalogue)
    registry.dispose()


@dataclass
class ApiKeys:
    gz_amr: str
    sz_amr: str
    th_civil: str
    hall: str
    admin: str

    def h(self, who: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {getattr(self, who)}"}


@pytest.fixture
def api_keys(service: Elicence) -> ApiKeys:
    def add(name: str, role: Role, dept: str | None = None) -> str:
        return service.clients.add(name=name, role=role, department=dept).api_key

    return ApiKeys(
        gz_amr=add("广州市市场监督管理局", Role.DEPARTMENT, GZ_AMR),
        sz_amr=add("深圳市市场监督管理局", Role.DEPARTMENT, SZ_AMR),
        th_civil=add("天河区民政局", Role.DEPARTMENT, TH_CIVIL),
        hall=add("天河区政务服务中心", Role.HALL),
        admin=add("operator", Role.ADMIN),
    )


@pytest.fixture
def api(service: Elicence) -> Iterator[TestClient]:
    with TestClient(create_app(service), raise_server_exceptions=False) as client:
        yield client


def food_permit(source_ref: str = "GZ-SCJ-2026-000123", **over: object) -> dict[str, object]:
    """A realistic issuance request for a food business permit (食品经营许可证)."""
    body: dict[str, object] = {
        "source_ref": source_ref,
        "type_code": FOOD,
        "licence_number": "JY14401060000123",
        "holder": {
            "name": "广州市天河区某某餐饮管理有限公司",
            "id_type": "001",
            "id_number": "91350100M000100Y43",
        },
        "valid_from": "2026-11-28",
        "valid_until": None,
        "data": {
            "legal_representative": "张三",
            "residence": "广州市天河区天河路385号",
            "business_premises": "广州市天河区天河路385号首层101铺",
            "main_business_format": "餐饮服务经营者",
            "business_items": "热食类食品制售；冷食类食品制售",
        },
    }
    body.update(over)
    return body


def marriage(source_ref: str = "TH-MZ-2026-0001", **over: object) -> dict[str, object]:
    """A realistic issuance request for a marriage certificate (结婚证)."""
    body: dict[str, object] = {
        "source_ref": source_ref,
        "type_code": MARRIAGE,
        "licence_number": "J440106-2026-000321",
        "holder": {"name": "李四", "id_type": "111", "id_number": "11010519491231002X"},
        "valid_from": "2026-11-28",
        "data": {
            "spouse_name": "王五",
            "spouse_id_number": "11010519491231002X",
            "registration_date": "2026-11-28",
        },
    }
    body.update(over)
    return body


def production_uscc(uscc: str) -> str:
    """Where :func:`production_catalogue` moves a demo department: another valid USCC."""
    from elicence.domain.codes import uscc_check_char

    first17 = uscc[:14] + f"{(int(uscc[14:17]) + 500) % 1000:03d}"
    return first17 + uscc_check_char(first17)


def production_catalogue(tmp_path: Path) -> Path:
    """The demo catalogue with every department moved to another (valid) USCC: a catalogue
    production accepts (the demo's made-up departments are refused there)."""
    text = DEMO_CATALOGUE.read_text(encoding="utf-8")
    for department in load_catalogue(DEMO_CATALOGUE).departments:
        text = text.replace(department, production_uscc(department))
    path = tmp_path / "catalogue.yaml"
    path.write_text(text, encoding="utf-8")
    return path


# -- PostgreSQL -----------------------------------------------------------------------------


def _postgres_admin_url() -> str:
    return POSTGRES_URL


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """A fresh PostgreSQL database for the session, dropped afterwards."""
    from sqlalchemy import create_engine, text
    from sqlalchemy.exc import OperationalError

    admin = create_engine(_postgres_admin_url(), isolation_level="AUTOCOMMIT")
    name = f"elicence_test_{uuid.uuid4().hex[:10]}"
    try:
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    except OperationalError as e:
        unavailable(f"PostgreSQL is unreachable: {e}")
    url = _postgres_admin_url().rsplit("/", 1)[0] + f"/{name}"
    yield url
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture
def pg_service(
    postgres_url: str, keys_dir: Path, clock: Clock, demo_catalogue
) -> Iterator[Elicence]:  # type: ignore[no-untyped-def]
    registry = Registry.from_url(postgres_url)
    svc = make_service(registry, keys_dir, clock, demo_catalogue)
    yield svc
    truncate_postgres(postgres_url)
    registry.dispose()


@pytest.fixture
def pg_other_service(
    pg_service: Elicence, postgres_url: str, keys_dir: Path, clock: Clock, demo_catalogue
) -> Iterator[Elicence]:  # type: ignore[no-untyped-def]
    """A second service on ``pg_service``'s database and keys, as a second API worker is."""
    other = make_service(Registry.from_url(postgres_url), keys_dir, clock, demo_catalogue)
    yield other
    other.registry.dispose()


KEPT = ("alembic_version", "catalogue_versions", "api_clients", "licence_documents")


def truncate_postgres(url: str, kept: tuple[str, ...] = KEPT) -> None:
    """Empty the session database's tables but ``kept``, so that the next PostgreSQL test
    starts clean. By default the schema version, the catalogue and the two tables the suite has
    always kept stay; a table a later migration adds is emptied without anyone listing it."""
    from sqlalchemy import create_engine, text

    engine = create_engine(url)
    with engine.begin() as conn:
        names = conn.execute(
            text("SELECT tablename FROM pg_tables WHERE schemaname = current_schema()")
        ).scalars()
        tables = ", ".join(f'"{n}"' for n in sorted(names) if n not in kept)
        conn.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
    engine.dispose()


T = TypeVar("T")


def race(calls: list[Callable[[], T]]) -> list[T | Error]:
    """Run ``calls`` in threads released together by a barrier; domain errors are results."""
    barrier = threading.Barrier(len(calls))

    def run(call: Callable[[], T]) -> T | Error:
        barrier.wait(timeout=30)
        try:
            return call()
        except Error as e:
            return e

    with ThreadPoolExecutor(max_workers=len(calls)) as pool:
        return list(pool.map(run, calls))


def only_limits(**rates: Any) -> Limits:
    """Rate limits with every bucket the settings require turned off but those ``rates`` name
    (text forms, ``"60/min burst 1"``; other ``Limits.parse`` options pass through)."""
    off = {
        "verify_client": "off",
        "verify_ip": "off",
        "public_ip": "off",
        "auth_failures_ip": "off",
    }
    return Limits.parse(**(off | rates))


@contextmanager
def service_per_database(
    request: pytest.FixtureRequest, work: Path, keystore_template: Path, demo_catalogue: Any
) -> Iterator[Elicence]:
    """For a module's fixture parametrised by database (``"sqlite"``, ``"postgres"``): a
    service on a copy of the session's key store in ``work``, its registry on SQLite there or
    on the session's PostgreSQL, which is emptied afterwards (but for its schema version) so
    that the next module starts clean."""
    shutil.copytree(keystore_template, work / "keys")
    url = (
        f"sqlite:///{work / 'registry.db'}"
        if request.param == "sqlite"
        else request.getfixturevalue("postgres_url")
    )
    svc = make_service(Registry.from_url(url), work / "keys", Clock(), demo_catalogue)
    yield svc
    svc.close()
    if request.param == "postgres":
        truncate_postgres(url, ("alembic_version",))
