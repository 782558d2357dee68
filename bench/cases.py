"""Complete hall cases (办件) at the service layer, one by one and from 8 threads."""

from __future__ import annotations

import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from bench.common import food, make_service, report, timed
from elicence.domain.clients import Client, Role

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


def application(item_code: str, *licences: dict[str, str]) -> dict[str, object]:
    """An application of the demo restaurant for ``item_code``, citing ``licences``."""
    return {
        "item_code": item_code,
        "form": {
            "legal_representative": "张三",
            "residence": "广州市天河区天河路385号",
            "business_premises": "广州市天河区天河路385号首层101铺",
            "main_business_format": "餐饮服务经营者",
            "business_items": "热食类食品制售",
        },
        "licences": list(licences),
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
    svc.keys.signers()
    biz = svc.licences.issue(dept, business(f"case-biz-{run_id}")).licence
    permit = dict(food(f"case-food-{run_id}"))
    permit["holder"] = {
        "name": "广州市天河区某某餐饮管理有限公司",
        "id_type": "001",
        "id_number": HOLDER,
    }
    food_permit = svc.licences.issue(dept, permit).licence
    holder = svc.clients.authenticate(
        svc.clients.add(
            name="bench applicant",
            role=Role.HOLDER,
            department=None,
            holder=HolderRef.parse(f"001:{HOLDER}"),
        ).api_key
    )
    clerk = svc.clients.authenticate(
        svc.clients.add(name="bench clerk", role=Role.DEPARTMENT, department=TH_AMR).api_key
    )
    renewal = application(
        RENEWAL,
        {"material": "business_licence", "seal": biz.seal},
        {"material": "food_permit", "seal": food_permit.seal},
    )
    hall = svc.hall

    def one(_i: int) -> None:
        case = hall.submit(holder, renewal)
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
