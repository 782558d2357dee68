"""The department key on a SoftHSM2 token beside the software key (issue 19)."""

from __future__ import annotations

import datetime as dt
import os
import shutil
import subprocess
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from bench.common import GZ_AMR, PASSPHRASE, food, make_service, report, timed
from elicence.app.service import Elicence
from elicence.bootstrap import assemble
from elicence.domain.clients import Client, Role
from elicence.formats.catalogue_file import DEMO_CATALOGUE, load_catalogue
from elicence.formats.seal import SealClaims, seal_licence
from elicence.keys.store import KeyStore
from elicence.registry import Registry

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
    soft_signer = soft.keys.signers()[GZ_AMR]
    svc.keys.enrol_token(GZ_AMR)
    signer = svc.keys.signers()[GZ_AMR]
    assert isinstance(signer, Pkcs11Signer)

    digest = hashlib.sha256(b"benchmark").digest()
    session = pkcs11.lib(module).get_token(token_label="bench").open()
    key = session.get_key(object_class=pkcs11.ObjectClass.PRIVATE_KEY, id=signer.uri.id)
    assert isinstance(key, pkcs11.SignMixin)
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
        service.licences.issue(client, food(f"hsm-warm-{tag}-{run_id}"))

        def one(i: int, s: Elicence = service, w: str = tag) -> object:
            return s.licences.issue(client, food(f"h-{w}-{run_id}-{i}"))

        el, lat = timed(n, one)
        report(f"issue one by one (SQLite), {name}", n, el, lat)
        start = time.perf_counter()
        with ThreadPoolExecutor(threads) as ex:
            parts = list(
                ex.map(
                    lambda k, s=service, w=tag: timed(
                        n // threads,
                        lambda i: s.licences.issue(client, food(f"p-{w}-{run_id}-{k}-{i}")),
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
