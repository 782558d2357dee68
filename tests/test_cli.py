"""The ``elicence`` command line, run for real: Typer's runner in-process, the console script once.

Every test gets its own data directory. ``init`` (scrypt-encrypted keys, about a second) runs once
per module; tests copy its data directory. Exit codes: 0 ok / valid, 1 not valid, 2 bad input,
3 configuration, keys or database.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import os
import re
import shutil
import subprocess
import sys
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import cbor2
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from pydantic import SecretStr
from typer.testing import CliRunner, Result

from elicence import errors
from elicence.app.service import Elicence
from elicence.bootstrap import build_service
from elicence.cli import app
from elicence.domain.clients import Client, Role
from elicence.domain.codes import LicenceIdentifier
from elicence.formats.catalogue_file import DEMO_CATALOGUE, load_catalogue
from elicence.formats.seal import CLAIM_LICENCE, K_HOLDER_NAME, PREFIX, cose_bytes
from elicence.issuer.lifecycle import Action
from elicence.registry import Registry
from elicence.settings import DEVELOPMENT_PASSPHRASE, Settings
from tests.conftest import (
    FOOD,
    GZ_AMR,
    SZ_AMR,
    TH_CIVIL,
    food_permit,
    marriage,
    production_catalogue,
)

ENV_VARS = (
    "ELICENCE_DATA_DIR",
    "ELICENCE_DATABASE_URL",
    "ELICENCE_KEY_PASSPHRASE",
    "ELICENCE_ENV",
    "ELICENCE_PUBLIC_BASE_URL",
    "ELICENCE_TRUST_LIST_VALIDITY_HOURS",
)
DEMO_DEPARTMENTS = sorted(load_catalogue(DEMO_CATALOGUE).departments)
API_KEY = re.compile(r"\belk_[A-Za-z0-9_-]{20,}")
NEW_DEPT = "11440300MB2F00009T"  # a valid USCC that is not in the demo catalogue
PRODUCTION = {
    "ELICENCE_ENV": "production",
    "ELICENCE_KEY_PASSPHRASE": "a-real-production-secret",
    "ELICENCE_PUBLIC_BASE_URL": "https://zz.gdzwfw.example.gov.cn",
}


runner = CliRunner()


def cli(data_dir: Path, *args: object, **env: str | None) -> Result:
    """Run ``elicence ARGS`` with a clean ``ELICENCE_*`` environment pointing at ``data_dir``.

    An unexpected exception (a crash, not an exit code) fails the test here.
    """
    environ: dict[str, str | None] = dict.fromkeys(ENV_VARS)
    environ["ELICENCE_DATA_DIR"] = str(data_dir)
    environ.update(env)
    result = runner.invoke(app, [str(a) for a in args], env=environ)
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise AssertionError(f"elicence {args} crashed: {result.stderr}") from result.exception
    return result


def keys_table(data_dir: Path) -> list[list[str]]:
    """``keys list`` as [kid, role, department, status] rows."""
    result = cli(data_dir, "keys", "list")
    assert result.exit_code == 0, result.stderr
    return [line.split()[:4] for line in result.stdout.splitlines()]


def write_json(path: Path, body: object) -> Path:
    path.write_text(json.dumps(body, ensure_ascii=False), encoding="utf-8")
    return path


def tampered(seal: str) -> str:
    """The seal with another holder name in its payload, re-encoded but not re-signed."""
    message = cbor2.loads(cose_bytes(seal))
    protected, unprotected, payload, signature = message.value
    claims = cbor2.loads(payload)
    assert claims[CLAIM_LICENCE][K_HOLDER_NAME] != "某某冒名有限公司"
    claims[CLAIM_LICENCE][K_HOLDER_NAME] = "某某冒名有限公司"
    forged = cbor2.CBORTag(message.tag, [protected, unprotected, cbor2.dumps(claims), signature])
    encoded = base64.b32encode(zlib.compress(cbor2.dumps(forged), 9)).decode("ascii")
    return PREFIX + encoded.rstrip("=")


def self_signed_root(path: Path) -> Path:
    """A throwaway P-256 root certificate (PEM) that elicence never saw."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "another root")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=365))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return path


# -- prepared data directories --------------------------------------------------------------


@dataclass(frozen=True)
class Prepared:
    data_dir: Path
    init_stdout: str


@dataclass(frozen=True)
class Issued:
    data_dir: Path
    identifier: str
    seal: str
    verification_url: str


@pytest.fixture(scope="module")
def prepared(tmp_path_factory: pytest.TempPathFactory) -> Prepared:
    """A data directory after one ``elicence init`` on a fresh directory."""
    data_dir = tmp_path_factory.mktemp("prepared") / "data"
    result = cli(data_dir, "init")
    assert result.exit_code == 0, result.stderr
    return Prepared(data_dir, result.stdout)


@pytest.fixture(scope="module")
def issued_template(prepared: Prepared, tmp_path_factory: pytest.TempPathFactory) -> Issued:
    """The prepared directory with one food business permit issued by 广州市市场监督管理局."""
    base = tmp_path_factory.mktemp("issued")
    data_dir = base / "data"
    shutil.copytree(prepared.data_dir, data_dir)
    result = cli(
        data_dir, "issue", write_json(base / "req.json", food_permit()), "--department", GZ_AMR
    )
    assert result.exit_code == 0, result.stderr
    out = json.loads(result.stdout)
    return Issued(data_dir, out["identifier"], out["seal"], out["verification_url"])


@pytest.fixture
def data_dir(prepared: Prepared, tmp_path: Path) -> Path:
    """A private copy of the prepared data directory."""
    target = tmp_path / "data"
    shutil.copytree(prepared.data_dir, target)
    return target


@pytest.fixture
def issued(issued_template: Issued, tmp_path: Path) -> Issued:
    """A private copy of the directory holding one issued licence."""
    target = tmp_path / "data"
    shutil.copytree(issued_template.data_dir, target)
    return Issued(
        target, issued_template.identifier, issued_template.seal, issued_template.verification_url
    )


# -- init -----------------------------------------------------------------------------------


def test_init_on_a_fresh_directory_imports_the_demo_catalogue_and_prints_demo_keys(
    prepared: Prepared,
) -> None:
    out = prepared.init_stdout
    assert "imported the demo catalogue (version 1)" in out
    # the service key and one key per demo department (and a root CA, not counted as a key)
    assert f"{len(DEMO_DEPARTMENTS) + 1} keys created" in out
    department_line = next(line for line in out.splitlines() if "department" in line)
    hall_line = next(line for line in out.splitlines() if line.strip().startswith("hall"))
    assert API_KEY.search(department_line) and GZ_AMR in department_line
    assert API_KEY.search(hall_line)
    assert (prepared.data_dir / "elicence.db").is_file()
    assert (prepared.data_dir / "keys" / "manifest.json").is_file()
    assert (prepared.data_dir / "keys" / "root.crt.pem").is_file()


def test_second_init_prints_the_same_keys_and_creates_no_keys(data_dir: Path) -> None:
    manifest = (data_dir / "keys" / "manifest.json").read_bytes()
    first = (data_dir / "demo-clients.json").read_text(encoding="utf-8")
    clients_before = cli(data_dir, "clients", "list").stdout

    result = cli(data_dir, "init")

    assert result.exit_code == 0, result.stderr
    assert "0 keys created" in result.stdout
    assert "imported" not in result.stdout
    printed = set(API_KEY.findall(result.stdout))
    assert printed == {v["api_key"] for v in json.loads(first).values()}
    assert len(printed) == 3
    assert (data_dir / "keys" / "manifest.json").read_bytes() == manifest
    assert cli(data_dir, "clients", "list").stdout == clients_before


def test_init_keys_on_an_initialised_store_creates_nothing(data_dir: Path) -> None:
    result = cli(data_dir, "keys", "init")
    assert result.exit_code == 0, result.stderr
    assert result.stdout.strip().endswith("0 keys created")


def test_init_in_production_refuses_the_demo_before_writing_anything(tmp_path: Path) -> None:
    data_dir = tmp_path / "prod"
    env = PRODUCTION

    result = cli(data_dir, "init", **env)

    assert result.exit_code == 2
    assert "development" in result.stderr
    assert not (data_dir / "keys").exists()  # no demo keys in a production key store
    assert not (data_dir / "demo-clients.json").exists()


def test_init_in_production_after_a_catalogue_import(tmp_path: Path) -> None:
    data_dir = tmp_path / "prod"
    env = PRODUCTION

    no_catalogue = cli(data_dir, "init", "--no-demo", **env)
    assert no_catalogue.exit_code == 2
    assert "catalogue import" in no_catalogue.stderr

    # the root is offline in production (issue 19): made by its own ceremony, given to the
    # commands that certify keys, never copied into the key store
    root_dir = tmp_path / "offline-root"
    env["ELICENCE_ROOT_PASSPHRASE"] = "the-offline-root-passphrase"
    assert cli(data_dir, "keys", "root-create", "--dir", root_dir, **env).exit_code == 0
    demo = cli(data_dir, "catalogue", "import", DEMO_CATALOGUE, "--root-dir", root_dir, **env)
    assert demo.exit_code == 3 and "demo catalogue" in demo.stderr
    imported = cli(
        data_dir,
        "catalogue",
        "import",
        production_catalogue(tmp_path),
        "--root-dir",
        root_dir,
        **env,
    )
    assert imported.exit_code == 0, imported.stderr
    result = cli(data_dir, "init", "--no-demo", **env)
    assert result.exit_code == 0, result.stderr
    assert "0 keys created" in result.stdout
    assert not API_KEY.search(result.stdout)
    assert not (data_dir / "keys" / "root.key").exists()


# -- keys -----------------------------------------------------------------------------------


def test_keys_list_shows_the_service_key_and_one_active_key_per_department(
    data_dir: Path,
) -> None:
    rows = keys_table(data_dir)
    assert [r for r in rows if r[1] == "service" and r[3] == "active"]
    department_rows = [r for r in rows if r[1] == "department"]
    assert sorted(r[2] for r in department_rows) == DEMO_DEPARTMENTS
    assert {r[3] for r in department_rows} == {"active"}
    assert len({r[0] for r in rows}) == len(rows)  # kids are unique


def test_keys_rotate_retires_the_old_key(data_dir: Path) -> None:
    (old_kid,) = [r[0] for r in keys_table(data_dir) if r[2] == GZ_AMR]

    result = cli(data_dir, "keys", "rotate", GZ_AMR.lower())

    assert result.exit_code == 0, result.stderr
    assert f"retired {old_kid}" in result.stdout
    rows = {r[0]: r for r in keys_table(data_dir) if r[2] == GZ_AMR}
    assert rows.pop(old_kid)[3] == "retired"
    ((new_kid, _, _, status),) = rows.values()
    assert status == "active" and new_kid in result.stdout
    # the other departments are untouched
    others = [r for r in keys_table(data_dir) if r[1] == "department" and r[2] != GZ_AMR]
    assert len(others) == len(DEMO_DEPARTMENTS) - 1
    assert {r[3] for r in others} == {"active"}


@pytest.mark.parametrize(
    "uscc",
    [
        pytest.param("11440100MB2D00002N", id="wrong-check-character"),
        pytest.param("11440100MB2D0000Z2", id="forbidden-character"),
        pytest.param("11440100", id="too-short"),
    ],
)
def test_keys_rotate_a_malformed_uscc_is_bad_input(data_dir: Path, uscc: str) -> None:
    manifest = (data_dir / "keys" / "manifest.json").read_bytes()
    result = cli(data_dir, "keys", "rotate", uscc)
    assert result.exit_code == 2
    assert "department" in result.stderr
    assert (data_dir / "keys" / "manifest.json").read_bytes() == manifest


def test_keys_rotate_names_the_algorithm_it_cannot_rotate(data_dir: Path) -> None:
    manifest = (data_dir / "keys" / "manifest.json").read_bytes()
    unknown = cli(data_dir, "keys", "rotate", GZ_AMR, "--algorithm", "RSA")
    assert unknown.exit_code == 2 and "algorithm" in unknown.stderr
    # the demo catalogue has no SM2 type, so no department has an SM2 key to rotate
    none = cli(data_dir, "keys", "rotate", GZ_AMR, "--algorithm", "sm2")
    assert none.exit_code != 0 and "no SM2 key" in none.stderr
    assert (data_dir / "keys" / "manifest.json").read_bytes() == manifest


def test_keys_rotate_a_department_without_keys_fails(data_dir: Path) -> None:
    result = cli(data_dir, "keys", "rotate", NEW_DEPT)
    assert result.exit_code != 0
    assert NEW_DEPT in result.stderr


def test_keys_list_without_a_key_store_is_a_configuration_error(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    result = cli(tmp_path / "empty", "keys", "list")
    assert result.exit_code == 3
    assert "keys init" in result.stderr


# -- catalogue ------------------------------------------------------------------------------


def broken_copy(tmp_path: Path, marker: str, old: str, new: str) -> tuple[Path, int]:
    """The demo catalogue with ``old`` replaced by ``new`` on the first line holding ``marker``."""
    lines = DEMO_CATALOGUE.read_text(encoding="utf-8").splitlines(keepends=True)
    index = next(i for i, line in enumerate(lines) if marker in line)
    assert old in lines[index]
    lines[index] = lines[index].replace(old, new)
    path = tmp_path / "broken.yaml"
    path.write_text("".join(lines), encoding="utf-8")
    return path, index + 1


BROKEN = [
    pytest.param(
        "uscc: 11440100MB2D00002M", "00002M", "00002N", "departments[1].uscc", id="uscc-check-char"
    ),
    pytest.param(
        "name: residence",
        "max_length: 200",
        "max_length: 0",
        "licence_types[1].data_items[1].max_length",
        id="max-length-zero",
    ),
    pytest.param(
        "code: 11100000000014001A001",
        "14001A001",
        "14001B001",
        "licence_types[4].code",
        id="type-code-check-char",
    ),
    pytest.param(
        "holder_category: natural_person",
        "natural_person",
        "person",
        "licence_types[4].holder_category",
        id="unknown-holder-category",
    ),
    pytest.param(
        "name: spouse_name",
        "in_seal: true",
        "in_seal: true, colour: red",
        "licence_types[4].data_items[0].colour",
        id="unknown-field",
    ),
]


@pytest.mark.parametrize("command", ["check", "import"])
@pytest.mark.parametrize(("marker", "old", "new", "field"), BROKEN)
def test_catalogue_broken_file_names_line_and_field(
    data_dir: Path, tmp_path: Path, command: str, marker: str, old: str, new: str, field: str
) -> None:
    path, line = broken_copy(tmp_path, marker, old, new)

    result = cli(data_dir, "catalogue", command, path)

    assert result.exit_code == 2
    assert f"line {line} " in result.stderr
    assert field in result.stderr
    assert result.stdout == ""


def test_catalogue_import_of_a_broken_file_changes_nothing(data_dir: Path, tmp_path: Path) -> None:
    path, _ = broken_copy(tmp_path, "uscc: 11440100MB2D00002M", "00002M", "00002N")
    assert cli(data_dir, "catalogue", "import", path).exit_code == 2
    # the next good import is version 2: the broken one stored nothing
    result = cli(data_dir, "catalogue", "import", DEMO_CATALOGUE)
    assert result.exit_code == 0, result.stderr
    assert "catalogue version 2" in result.stdout


@pytest.mark.parametrize("command", ["check", "import"])
def test_catalogue_good_file(data_dir: Path, command: str) -> None:
    result = cli(data_dir, "catalogue", command, DEMO_CATALOGUE)
    assert result.exit_code == 0, result.stderr
    assert "6 licence types" in result.stdout
    assert f"{len(DEMO_DEPARTMENTS)} departments" in result.stdout


def test_catalogue_check_needs_no_installation(tmp_path: Path) -> None:
    result = cli(tmp_path / "nothing", "catalogue", "check", DEMO_CATALOGUE)
    assert result.exit_code == 0, result.stderr
    assert not (tmp_path / "nothing").exists()


def test_catalogue_import_gives_a_new_department_a_key(data_dir: Path, tmp_path: Path) -> None:
    text = DEMO_CATALOGUE.read_text(encoding="utf-8") + (
        f"  - uscc: {NEW_DEPT}\n"
        "    name_zh: 深圳市某局\n"
        "    name_en: A Shenzhen bureau\n"
        '    division_code: "440300"\n'
        "    level: city\n"
        f"    licence_types: [{FOOD}]\n"
    )
    path = tmp_path / "more.yaml"
    path.write_text(text, encoding="utf-8")

    result = cli(data_dir, "catalogue", "import", path)

    assert result.exit_code == 0, result.stderr
    assert "1 new keys" in result.stdout
    assert [r[3] for r in keys_table(data_dir) if r[2] == NEW_DEPT] == ["active"]
    shown = json.loads(cli(data_dir, "catalogue", "show").stdout)
    assert NEW_DEPT in {d["uscc"] for d in shown["departments"]}


@pytest.mark.parametrize(
    ("name", "content"),
    [
        pytest.param("missing.yaml", None, id="missing"),
        pytest.param("empty.yaml", "", id="empty"),
        pytest.param("syntax.yaml", "format: [\n", id="not-yaml"),
        pytest.param("list.yaml", "- 1\n- 2\n", id="not-a-mapping"),
        pytest.param("binary.yaml", b"\xff\xfe\x00", id="not-utf8"),
    ],
)
@pytest.mark.parametrize("command", ["check", "import"])
def test_catalogue_unreadable_file_is_bad_input(
    data_dir: Path, tmp_path: Path, command: str, name: str, content: str | bytes | None
) -> None:
    path = tmp_path / name
    if isinstance(content, bytes):
        path.write_bytes(content)
    elif content is not None:
        path.write_text(content, encoding="utf-8")

    result = cli(data_dir, "catalogue", command, path)

    assert result.exit_code == 2
    assert name in result.stderr
    assert "None" not in result.stderr


# -- clients --------------------------------------------------------------------------------


@contextmanager
def service_for(data_dir: Path) -> Iterator[Elicence]:
    """The service the CLI would build for ``data_dir`` (to check what a command did)."""
    settings = Settings(
        data_dir=data_dir, env="development", key_passphrase=SecretStr(DEVELOPMENT_PASSPHRASE)
    )
    svc = build_service(settings)
    try:
        yield svc
    finally:
        svc.registry.dispose()


def test_clients_add_hall_prints_a_working_key_once(data_dir: Path) -> None:
    result = cli(data_dir, "clients", "add", "--name", "天河区政务服务中心", "--role", "hall")

    assert result.exit_code == 0, result.stderr
    keys = API_KEY.findall(result.stdout)
    assert len(keys) == 1
    client_id = re.search(r"client (\S+) \(hall\) created", result.stdout)
    assert client_id is not None
    with service_for(data_dir) as svc:
        client = svc.authenticate(keys[0])
    assert client.id == client_id[1] and client.role == "hall"

    listed = cli(data_dir, "clients", "list")
    assert listed.exit_code == 0
    (line,) = [line for line in listed.stdout.splitlines() if line.startswith(client_id[1])]
    assert line.split()[1:4] == ["hall", "-", "active"]
    assert "天河区政务服务中心" in line
    assert not API_KEY.search(listed.stdout)  # a key is shown once, at creation


def test_clients_disable_stops_the_key(data_dir: Path) -> None:
    added = cli(data_dir, "clients", "add", "--name", "kiosk", "--role", "hall")
    client_id = added.stdout.split()[1]
    (key,) = API_KEY.findall(added.stdout)

    result = cli(data_dir, "clients", "disable", client_id)

    assert result.exit_code == 0, result.stderr
    assert f"disabled {client_id}" in result.stdout
    (line,) = [
        line for line in cli(data_dir, "clients", "list").stdout.splitlines() if client_id in line
    ]
    assert "disabled" in line.split()
    with service_for(data_dir) as svc, pytest.raises(errors.AuthenticationError):
        svc.authenticate(key)


def test_clients_add_department_client(data_dir: Path) -> None:
    result = cli(
        data_dir, "clients", "add", "--name", "深圳", "--role", "department", "--department", SZ_AMR
    )
    assert result.exit_code == 0, result.stderr
    client_id = result.stdout.split()[1]
    (line,) = [x for x in cli(data_dir, "clients", "list").stdout.splitlines() if client_id in x]
    assert line.split()[1:4] == ["department", SZ_AMR, "active"]


def test_clients_add_holder_client(data_dir: Path) -> None:
    result = cli(
        data_dir, "clients", "add", "--name", "某某公司", "--role", "holder",
        "--holder", "001:91350100m000100y43",
    )  # fmt: skip
    assert result.exit_code == 0, result.stderr
    client_id = result.stdout.split()[1]
    (key,) = API_KEY.findall(result.stdout)
    (line,) = [x for x in cli(data_dir, "clients", "list").stdout.splitlines() if client_id in x]
    assert line.split()[1:4] == ["holder", "001:91350100M000100Y43", "active"]
    with service_for(data_dir) as svc:
        client = svc.authenticate(key)
    assert client.role == "holder" and client.holder is not None
    assert str(client.holder) == "001:91350100M000100Y43"


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        pytest.param(["--role", "department"], "department", id="department-without-uscc"),
        pytest.param(
            ["--role", "department", "--department", "11440300MB2F00008Q"],
            "department",
            id="department-wrong-check-char",
        ),
        pytest.param(
            ["--role", "department", "--department", NEW_DEPT],
            NEW_DEPT,
            id="department-not-in-catalogue",
        ),
        pytest.param(["--role", "hall", "--department", SZ_AMR], "department", id="hall-with-uscc"),
        pytest.param(["--role", "superuser"], "superuser", id="unknown-role"),
        pytest.param(["--role", "holder"], "holder", id="holder-without-holder"),
        pytest.param(
            ["--role", "holder", "--holder", "001:91350100M000100Y44"],
            "--holder.id_number",
            id="holder-wrong-check-char",
        ),
        pytest.param(
            ["--role", "hall", "--holder", "001:91350100M000100Y43"],
            "holder",
            id="hall-with-holder",
        ),
    ],
)
def test_clients_add_bad_input(data_dir: Path, args: list[str], needle: str) -> None:
    before = cli(data_dir, "clients", "list").stdout
    result = cli(data_dir, "clients", "add", "--name", "x", *args)
    assert result.exit_code == 2
    assert needle in result.stderr
    assert not API_KEY.search(result.stdout)
    assert cli(data_dir, "clients", "list").stdout == before


def test_clients_disable_unknown_client(data_dir: Path) -> None:
    result = cli(data_dir, "clients", "disable", "c_0000000000000000")
    assert result.exit_code == 2
    assert "c_0000000000000000" in result.stderr


# -- issue ----------------------------------------------------------------------------------


def test_issue_a_food_permit_then_the_same_file_again(data_dir: Path, tmp_path: Path) -> None:
    request = write_json(tmp_path / "permit.json", food_permit())
    env = {"ELICENCE_PUBLIC_BASE_URL": "https://hall.example.gov.cn/"}

    first = cli(data_dir, "issue", request, "--department", GZ_AMR, **env)

    assert first.exit_code == 0, first.stderr
    out = json.loads(first.stdout)
    assert out["created"] is True
    assert out["identifier"].startswith(f"1.2.156.3005.2.{FOOD}.{GZ_AMR}.")
    assert out["seal"].startswith("EL1:")
    assert out["verification_url"] == f"https://hall.example.gov.cn/v#{out['seal']}"
    assert out["status"] == "valid" and out["version"] == 1

    again = cli(data_dir, "issue", request, "--department", GZ_AMR.lower(), **env)

    assert again.exit_code == 0, again.stderr
    repeat = json.loads(again.stdout)
    assert repeat["created"] is False
    assert (repeat["identifier"], repeat["seal"]) == (out["identifier"], out["seal"])


def test_issue_a_batch(data_dir: Path, tmp_path: Path) -> None:
    batch = [
        food_permit("GZ-SCJ-2026-000201"),
        food_permit("GZ-SCJ-2026-000202", licence_number="JY14401060000202"),
    ]
    result = cli(
        data_dir, "issue", write_json(tmp_path / "batch.json", batch), "--department", GZ_AMR
    )

    assert result.exit_code == 0, result.stderr
    out = json.loads(result.stdout)
    assert [o["index"] for o in out] == [0, 1]
    assert all(o["created"] is True and o["seal"].startswith("EL1:") for o in out)
    assert out[0]["identifier"] != out[1]["identifier"]


def test_issue_a_batch_with_one_bad_item_reports_it_and_exits_2(
    data_dir: Path, tmp_path: Path
) -> None:
    bad_holder = {"name": "某公司", "id_type": "001", "id_number": "91350100M000100Y44"}
    batch = [
        food_permit("GZ-SCJ-2026-000301"),
        food_permit("GZ-SCJ-2026-000302", holder=bad_holder),
    ]
    result = cli(
        data_dir, "issue", write_json(tmp_path / "batch.json", batch), "--department", GZ_AMR
    )

    assert result.exit_code == 2
    good, bad = json.loads(result.stdout)
    assert good["index"] == 0 and good["created"] is True
    assert bad["index"] == 1
    assert bad["error"]["field"] == "holder.id_number"
    assert bad["error"]["code"] == "invalid_input"
    assert "check character" in bad["error"]["message"]


@pytest.mark.parametrize(
    ("body", "department", "field"),
    [
        pytest.param(
            food_permit(
                holder={"name": "某公司", "id_type": "001", "id_number": "91350100M000100Y44"}
            ),
            GZ_AMR,
            "holder.id_number",
            id="holder-uscc-check-char",
        ),
        pytest.param(food_permit(type_code=FOOD[:-1] + "9"), GZ_AMR, "type_code", id="bad-type"),
        pytest.param(
            food_permit(valid_from="2026-02-30"), GZ_AMR, "valid_from", id="impossible-date"
        ),
        pytest.param(marriage(), GZ_AMR, "type_code", id="not-this-departments-type"),
        pytest.param(food_permit(), TH_CIVIL, "type_code", id="civil-affairs-issues-food"),
        pytest.param(food_permit(), NEW_DEPT, "department", id="unknown-department"),
        pytest.param({}, GZ_AMR, "source_ref", id="empty-object"),
        pytest.param("hello", GZ_AMR, "JSON object", id="json-string"),
    ],
)
def test_issue_a_bad_request_is_bad_input_naming_the_field(
    data_dir: Path, tmp_path: Path, body: object, department: str, field: str
) -> None:
    result = cli(
        data_dir, "issue", write_json(tmp_path / "req.json", body), "--department", department
    )
    assert result.exit_code == 2
    assert field in result.stderr
    assert result.stdout == ""


def test_issue_a_marriage_certificate_as_civil_affairs(data_dir: Path, tmp_path: Path) -> None:
    result = cli(
        data_dir, "issue", write_json(tmp_path / "m.json", marriage()), "--department", TH_CIVIL
    )
    assert result.exit_code == 0, result.stderr
    assert f".{TH_CIVIL}." in json.loads(result.stdout)["identifier"]


@pytest.mark.parametrize(
    ("name", "content"),
    [
        pytest.param("text.json", "this is not json", id="not-json"),
        pytest.param("binary.json", b"\xff\xfe\x00\x01", id="not-utf8"),
        pytest.param("missing.json", None, id="missing"),
    ],
)
def test_issue_an_unreadable_file_is_bad_input(
    data_dir: Path, tmp_path: Path, name: str, content: str | bytes | None
) -> None:
    path = tmp_path / name
    if isinstance(content, bytes):
        path.write_bytes(content)
    elif content is not None:
        path.write_text(content, encoding="utf-8")
    result = cli(data_dir, "issue", path, "--department", GZ_AMR)
    assert result.exit_code == 2
    assert f"{name}: not a readable JSON file" in result.stderr


def test_issue_needs_a_department(data_dir: Path, tmp_path: Path) -> None:
    result = cli(data_dir, "issue", write_json(tmp_path / "req.json", food_permit()))
    assert result.exit_code == 2
    assert "--department" in result.stderr


# -- verify, online -------------------------------------------------------------------------


@pytest.mark.parametrize("what", ["seal", "verification_url", "identifier"])
def test_verify_valid(issued: Issued, what: str) -> None:
    result = cli(issued.data_dir, "verify", getattr(issued, what))

    assert result.exit_code == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == "verdict: valid"
    assert not [line for line in lines if "[FAIL]" in line]
    assert any("[ok] signature" in line for line in lines)
    assert any("[ok] registry_status" in line for line in lines)
    assert f"licence {issued.identifier} (JY14401060000123)" in result.stdout


def test_verify_json_report(issued: Issued) -> None:
    result = cli(issued.data_dir, "verify", issued.seal, "--json")
    assert result.exit_code == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["verdict"] == "valid"
    assert report["checks"] and all(c["passed"] for c in report["checks"])


def test_verify_a_tampered_seal_is_not_valid(issued: Issued) -> None:
    result = cli(issued.data_dir, "verify", tampered(issued.seal))
    assert result.exit_code == 1, result.stderr
    assert result.stdout.splitlines()[0] != "verdict: valid"
    assert "[FAIL] signature" in result.stdout


def test_verify_an_unknown_identifier_is_not_found(issued: Issued) -> None:
    unknown = str(LicenceIdentifier(FOOD, GZ_AMR, "0" * 16, 1))
    result = cli(issued.data_dir, "verify", unknown)
    assert result.exit_code == 1, result.stderr
    assert result.stdout.splitlines()[0] == "verdict: not_found"


@pytest.mark.parametrize(
    ("value", "needle"),
    [
        pytest.param("hello", "seal", id="garbage"),
        pytest.param("https://hall.example.gov.cn/v#nothing", "seal", id="url-without-seal"),
        pytest.param(
            f"1.2.156.3005.2.{FOOD}.{GZ_AMR}.0000000000000000.001.Z", "identifier", id="bad-check"
        ),
    ],
)
def test_verify_garbage_is_bad_input(issued: Issued, value: str, needle: str) -> None:
    result = cli(issued.data_dir, "verify", value)
    assert result.exit_code == 2
    assert needle in result.stderr
    assert "verdict" not in result.stdout


@pytest.mark.parametrize("body", ["!!!!", "AAAA", ""], ids=["not-base32", "not-zlib", "empty"])
def test_verify_an_undecodable_el1_seal_is_not_valid(issued: Issued, body: str) -> None:
    result = cli(issued.data_dir, "verify", "EL1:" + body)
    assert result.exit_code == 1, result.stderr
    assert result.stdout.splitlines()[0] == "verdict: invalid"
    assert "[FAIL] decode" in result.stdout


def test_a_seal_stays_valid_after_its_key_is_retired(issued: Issued, tmp_path: Path) -> None:
    assert cli(issued.data_dir, "keys", "rotate", GZ_AMR).exit_code == 0
    assert cli(issued.data_dir, "verify", issued.seal).exit_code == 0

    request = write_json(tmp_path / "new.json", food_permit("GZ-SCJ-2026-000999"))
    new = json.loads(cli(issued.data_dir, "issue", request, "--department", GZ_AMR).stdout)
    (active,) = [r[0] for r in keys_table(issued.data_dir) if r[2] == GZ_AMR and r[3] == "active"]
    result = cli(issued.data_dir, "verify", new["seal"])
    assert result.exit_code == 0, result.stderr
    assert f"key {active}" in result.stdout  # the new seal is signed with the new key


# -- verify, offline ------------------------------------------------------------------------


@pytest.fixture
def exported(issued: Issued, tmp_path: Path) -> tuple[Path, Path]:
    out = tmp_path / "export" / "trust.cose"
    out.parent.mkdir()
    result = cli(issued.data_dir, "keys", "export-trust-list", out)
    assert result.exit_code == 0, result.stderr
    return out, out.with_name("trust.root.pem")


def test_export_trust_list_writes_the_list_and_the_root(
    issued: Issued, exported: tuple[Path, Path]
) -> None:
    trust_list, root = exported
    assert trust_list.stat().st_size > 0
    exported_root = x509.load_pem_x509_certificate(root.read_bytes())
    store_root = x509.load_pem_x509_certificate(
        (issued.data_dir / "keys" / "root.crt.pem").read_bytes()
    )
    assert exported_root == store_root


def test_verify_offline_needs_no_database(
    issued: Issued, exported: tuple[Path, Path], tmp_path: Path
) -> None:
    trust_list, root = exported
    empty = tmp_path / "empty"
    empty.mkdir()

    result = cli(empty, "verify", issued.seal, "--trust-list", trust_list, "--root", root)

    assert result.exit_code == 0, result.stderr
    assert result.stdout.splitlines()[0] == "verdict: valid"
    assert "[ok] signature" in result.stdout
    assert list(empty.iterdir()) == []  # no database, no key store was touched


def test_verify_offline_a_tampered_seal(
    issued: Issued, exported: tuple[Path, Path], tmp_path: Path
) -> None:
    trust_list, root = exported
    result = cli(
        tmp_path / "empty",
        "verify",
        tampered(issued.seal),
        "--trust-list",
        trust_list,
        "--root",
        root,
    )
    assert result.exit_code == 1, result.stderr


def test_verify_offline_with_another_root_fails(
    issued: Issued, exported: tuple[Path, Path], tmp_path: Path
) -> None:
    trust_list, _ = exported
    other = self_signed_root(tmp_path / "other.pem")
    result = cli(
        tmp_path / "empty", "verify", issued.seal, "--trust-list", trust_list, "--root", other
    )
    assert result.exit_code in (2, 3)
    assert "trust list" in result.stderr
    assert "verdict: valid" not in result.stdout


@pytest.mark.parametrize(
    "case", ["no-root", "root-missing", "root-not-pem", "list-missing", "list-garbage"]
)
def test_verify_offline_bad_files(
    issued: Issued, exported: tuple[Path, Path], tmp_path: Path, case: str
) -> None:
    trust_list, root = exported
    junk = tmp_path / "junk"
    junk.write_bytes(b"not a certificate or a trust list")
    args: dict[str, list[object]] = {
        "no-root": ["--trust-list", trust_list],
        "root-missing": ["--trust-list", trust_list, "--root", tmp_path / "nope.pem"],
        "root-not-pem": ["--trust-list", trust_list, "--root", junk],
        "list-missing": ["--trust-list", tmp_path / "nope.cose", "--root", root],
        "list-garbage": ["--trust-list", junk, "--root", root],
    }
    result = cli(tmp_path / "empty", "verify", issued.seal, *args[case])
    assert result.exit_code == 2
    assert result.stderr.startswith("error:") or "\nerror:" in result.stderr


def test_verify_offline_with_status_lists_finds_a_revocation(
    issued: Issued, exported: tuple[Path, Path], tmp_path: Path
) -> None:
    trust_list, root = exported
    lists = tmp_path / "status"
    empty = tmp_path / "empty"
    empty.mkdir()

    def offline(*extra: object) -> Result:
        return cli(empty, "verify", issued.seal, "--trust-list", trust_list, "--root", root, *extra)

    result = cli(issued.data_dir, "keys", "export-status-lists", lists)
    assert result.exit_code == 0, result.stderr
    assert f"wrote {3 * len(DEMO_DEPARTMENTS)} status lists of {len(DEMO_DEPARTMENTS)}" in (
        result.stdout
    )
    assert sorted(p.name for p in lists.iterdir() if p.name.startswith(GZ_AMR)) == [
        f"{GZ_AMR}.revocation.cose",
        f"{GZ_AMR}.supersession.cose",
        f"{GZ_AMR}.suspension.cose",
    ]
    valid = offline("--status-lists", lists)
    assert valid.exit_code == 0, valid.stdout + valid.stderr
    assert "[ok] status_lists" in valid.stdout and "[ok] status_list_bits" in valid.stdout

    with service_for(issued.data_dir) as svc:
        admin = Client("cli-test", "admin", Role.ADMIN, None)
        svc.change_status(admin, issued.identifier, Action.REVOKE, reason="注销")
    assert offline("--status-lists", lists).exit_code == 0  # the hall's copy predates it
    assert cli(issued.data_dir, "keys", "export-status-lists", lists).exit_code == 0
    revoked = offline("--status-lists", lists, "--json")
    assert revoked.exit_code == 1
    assert json.loads(revoked.stdout)["verdict"] == "revoked"
    assert list(empty.iterdir()) == []  # no database, no key store was touched
    # without status lists the offline verdict knows nothing of the revocation
    assert offline().exit_code == 0

    # a missing list: indeterminate (exit 1); a forged one is named and not used
    (lists / f"{GZ_AMR}.suspension.cose").unlink()
    missing = offline("--status-lists", lists)
    assert missing.exit_code == 1 and missing.stdout.startswith("verdict: revoked")
    (lists / f"{GZ_AMR}.revocation.cose").write_bytes(b"forged")
    forged = offline("--status-lists", lists)
    assert forged.exit_code == 1
    assert forged.stdout.startswith("verdict: indeterminate")
    assert f"{GZ_AMR}.revocation.cose is refused" in forged.stderr


def test_verify_offline_without_status_lists_says_revocation_was_not_checked(
    issued: Issued, exported: tuple[Path, Path], tmp_path: Path
) -> None:
    """Issue 16: offline without status lists a revoked licence still verifies ``valid`` (the
    hall holds nothing that could say otherwise), so the output must say revocation was not
    checked, the JSON must keep ``status_checked``, and --require-status must refuse it."""
    trust_list, root = exported
    lists = tmp_path / "status"
    empty = tmp_path / "empty"
    empty.mkdir()

    def offline(*extra: object) -> Result:
        return cli(empty, "verify", issued.seal, "--trust-list", trust_list, "--root", root, *extra)

    with service_for(issued.data_dir) as svc:
        admin = Client("cli-test", "admin", Role.ADMIN, None)
        svc.change_status(admin, issued.identifier, Action.REVOKE, reason="注销")

    text = offline()
    assert text.exit_code == 0, text.stderr  # all it can tell: genuine, trusted, in its dates
    assert text.stdout.startswith("verdict: valid\n")
    assert "revocation was NOT checked" in text.stdout
    as_json = offline("--json")
    assert as_json.exit_code == 0
    report = json.loads(as_json.stdout)
    assert (report["verdict"], report["status_checked"]) == ("valid", False)
    assert report["status_lists_valid_until"] is None
    required = offline("--require-status")
    assert required.exit_code == 1
    assert "--require-status" in required.stderr and "not checked" in required.stderr
    required_json = offline("--require-status", "--json")
    assert required_json.exit_code == 1
    assert json.loads(required_json.stdout)["status_checked"] is False

    assert cli(issued.data_dir, "keys", "export-status-lists", lists).exit_code == 0
    checked = offline("--status-lists", lists, "--json", "--require-status")
    assert checked.exit_code == 1
    report = json.loads(checked.stdout)
    assert (report["verdict"], report["status_checked"]) == ("revoked", True)
    until = dt.datetime.fromisoformat(report["status_lists_valid_until"])
    assert until > dt.datetime.now(dt.UTC)
    shown = offline("--status-lists", lists)
    assert "revocation was NOT checked" not in shown.stdout
    assert f"status lists valid until {until.isoformat()}" in shown.stdout


def test_verify_require_status_passes_with_current_lists_and_fails_with_a_missing_one(
    issued: Issued, exported: tuple[Path, Path], tmp_path: Path
) -> None:
    trust_list, root = exported
    lists = tmp_path / "status"
    assert cli(issued.data_dir, "keys", "export-status-lists", lists).exit_code == 0
    args = ["--trust-list", trust_list, "--root", root, "--status-lists", lists]
    ok = cli(tmp_path / "empty", "verify", issued.seal, *args, "--require-status")
    assert ok.exit_code == 0, ok.stdout + ok.stderr
    (lists / f"{GZ_AMR}.suspension.cose").unlink()
    missing = cli(tmp_path / "empty", "verify", issued.seal, *args, "--require-status")
    assert missing.exit_code == 1
    assert "--require-status" in missing.stderr and "suspension" in missing.stderr


def test_verify_require_status_fails_with_stale_lists(
    issued: Issued, exported: tuple[Path, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    trust_list, root = exported
    lists = tmp_path / "status"
    assert cli(issued.data_dir, "keys", "export-status-lists", lists).exit_code == 0
    args = ["--trust-list", trust_list, "--root", root, "--status-lists", lists]
    later = dt.datetime.now(dt.UTC) + dt.timedelta(days=400)  # past every list's valid until
    monkeypatch.setattr("elicence.cli.utcnow", lambda: later)
    stale = cli(tmp_path / "empty", "verify", issued.seal, *args, "--require-status", "--json")
    assert stale.exit_code == 1
    assert "--require-status" in stale.stderr and "stale" in stale.stderr
    assert json.loads(stale.stdout)["status_lists_valid_until"] is None  # no list was usable


def test_verify_a_licence_before_its_first_day_is_not_yet_valid_exit_1(
    data_dir: Path, tmp_path: Path
) -> None:
    request = write_json(tmp_path / "req.json", food_permit(valid_from="2030-01-01"))
    made = cli(data_dir, "issue", request, "--department", GZ_AMR)
    assert made.exit_code == 0, made.stderr
    seal = json.loads(made.stdout)["seal"]
    trust_list = tmp_path / "export" / "trust.cose"
    trust_list.parent.mkdir()
    assert cli(data_dir, "keys", "export-trust-list", trust_list).exit_code == 0
    root = trust_list.with_name("trust.root.pem")
    for where in ([], ["--trust-list", trust_list, "--root", root]):
        result = cli(data_dir, "verify", seal, *where)
        assert result.exit_code == 1, result.stdout + result.stderr
        assert result.stdout.startswith("verdict: not_yet_valid\n")
        assert "genuine, in force from 2030-01-01" in result.stdout
        report = json.loads(cli(data_dir, "verify", seal, *where, "--json").stdout)
        assert (report["verdict"], report["valid_from"]) == ("not_yet_valid", "2030-01-01")


@pytest.mark.parametrize("case", ["no-trust-list", "not-a-directory"])
def test_verify_with_status_lists_bad_arguments(
    issued: Issued, exported: tuple[Path, Path], tmp_path: Path, case: str
) -> None:
    trust_list, root = exported
    args: dict[str, list[object]] = {
        "no-trust-list": ["--status-lists", tmp_path],
        "not-a-directory": [
            "--trust-list",
            trust_list,
            "--root",
            root,
            "--status-lists",
            tmp_path / "nope",
        ],
    }
    result = cli(tmp_path / "empty", "verify", issued.seal, *args[case])
    assert result.exit_code == 2
    assert "--status-lists" in result.stderr


def test_console_script_verifies_offline(
    issued: Issued, exported: tuple[Path, Path], tmp_path: Path
) -> None:
    """The installed ``elicence`` entry point, as a hall would run it."""
    script = Path(sys.executable).with_name("elicence")
    assert script.is_file(), f"console script not installed at {script}"
    trust_list, root = exported
    empty = tmp_path / "empty"
    empty.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith("ELICENCE_")}
    env["ELICENCE_DATA_DIR"] = str(empty)

    def run(*args: object) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [script, *map(str, args)],
            check=False,
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )

    valid = run("verify", issued.seal, "--trust-list", trust_list, "--root", root)
    assert valid.returncode == 0, valid.stderr
    assert valid.stdout.startswith("verdict: valid")
    garbage = run("verify", "hello", "--trust-list", trust_list, "--root", root)
    assert garbage.returncode == 2
    assert garbage.stderr.strip().splitlines()[-1].startswith("error: seal:")
    assert list(empty.iterdir()) == []


# -- settings and database ------------------------------------------------------------------


SETTINGS_CASES = [
    pytest.param({"ELICENCE_ENV": "production"}, "key_passphrase", id="production-default-pass"),
    pytest.param({"ELICENCE_KEY_PASSPHRASE": "short"}, "key_passphrase", id="short-passphrase"),
    pytest.param(
        {"ELICENCE_ENV": "production", "ELICENCE_KEY_PASSPHRASE": "short"},
        "key_passphrase",
        id="production-short-passphrase",
    ),
    pytest.param({"ELICENCE_ENV": "staging"}, "env", id="unknown-env"),
    pytest.param(
        {"ELICENCE_TRUST_LIST_VALIDITY_HOURS": "0"}, "trust_list_validity_hours", id="validity-0"
    ),
]


@pytest.mark.parametrize(("env", "needle"), SETTINGS_CASES)
@pytest.mark.parametrize(
    "command", [["db", "upgrade"], ["init"], ["keys", "list"], ["verify", "hello"]], ids=" ".join
)
def test_unsafe_settings_are_refused(
    tmp_path: Path, env: dict[str, str], needle: str, command: list[str]
) -> None:
    data_dir = tmp_path / "data"
    result = cli(data_dir, *command, **env)
    assert result.exit_code == 3
    assert needle in result.stderr
    assert not data_dir.exists()


def test_a_real_passphrase_is_accepted_in_production(tmp_path: Path) -> None:
    (tmp_path / "data").mkdir()
    result = cli(tmp_path / "data", "db", "upgrade", **PRODUCTION)
    assert result.exit_code == 0, result.stderr


def test_the_wrong_passphrase_for_the_key_store(data_dir: Path, tmp_path: Path) -> None:
    result = cli(
        data_dir,
        "issue",
        write_json(tmp_path / "req.json", food_permit()),
        "--department",
        GZ_AMR,
        ELICENCE_KEY_PASSPHRASE="not-the-passphrase-of-these-keys",
    )
    assert result.exit_code == 3
    assert "passphrase" in result.stderr


def test_db_upgrade(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    result = cli(data_dir, "db", "upgrade")
    assert result.exit_code == 0, result.stderr
    assert "schema up to date" in result.stdout
    assert (data_dir / "elicence.db").is_file()
    assert cli(data_dir, "db", "upgrade").exit_code == 0  # idempotent


def test_db_upgrade_on_an_initialised_directory(data_dir: Path) -> None:
    assert cli(data_dir, "db", "upgrade").exit_code == 0
    assert cli(data_dir, "clients", "list").stdout.count("demo") == 3


def test_unreachable_database_is_a_configuration_error(tmp_path: Path) -> None:
    (tmp_path / "data").mkdir()
    url = f"sqlite:///{tmp_path / 'no' / 'such' / 'dir' / 'x.db'}"
    result = cli(tmp_path / "data", "db", "upgrade", ELICENCE_DATABASE_URL=url)
    assert result.exit_code == 3
    assert "database" in result.stderr


def test_a_verification_from_the_installed_command_leaves_its_usage_record(
    issued: Issued,
) -> None:
    """Usage records are written behind the request; a short CLI run must not lose its one."""
    script = Path(sys.executable).with_name("elicence")
    env = {k: v for k, v in os.environ.items() if not k.startswith("ELICENCE_")}
    env["ELICENCE_DATA_DIR"] = str(issued.data_dir)
    done = subprocess.run(
        [script, "verify", issued.seal],
        check=False,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    registry = Registry.from_url(f"sqlite:///{issued.data_dir / 'elicence.db'}")
    try:
        rows = registry.usage(identifier=issued.identifier)
    finally:
        registry.dispose()
    assert [(r["channel"], r["verdict"], r["client_id"]) for r in rows] == [("seal", "valid", None)]
