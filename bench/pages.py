"""The clerk's pages (issue 18): the server time of the work queue and of a case page, through
the ASGI app in process (no network, no browser), with a signed-in department session."""

from __future__ import annotations

import gc
import re
import uuid
from pathlib import Path

from bench.cases import HOLDER, RENEWAL, TH_AMR, business
from bench.common import Raw, food, make_service, report, timed
from elicence.domain.clients import Client, Role

QUEUED = 200  # cases in the queue: a busy district window's month


def stage_queue_pages(name: str, url: str, n: int, work: Path, keys: Path, raw: Raw) -> None:
    """``GET /queue`` over :data:`QUEUED` waiting cases (half accepted, with working days left
    counted for each) and ``GET /queue/cases/{number}``, which verifies its 2 cited e-licences
    again (2 ECDSA verifications and 2 usage records) and renders the case."""
    from fastapi.testclient import TestClient

    from elicence.api.app import create_app
    from elicence.domain.licence import HolderRef
    from elicence.hall.items_file import DEMO_ITEMS, load_items
    from elicence.hall.workflow import CaseAction as A

    print(f"{name}: the clerk's pages (server time, ASGI in process)")
    svc = make_service(work, url, keys)
    if svc.hall.items_version() is None:
        svc.hall.import_items(load_items(DEMO_ITEMS))
    run_id = uuid.uuid4().hex[:6]
    dept = Client("bench", "bench", Role.DEPARTMENT, TH_AMR)
    biz = svc.licences.issue(dept, business(f"page-biz-{run_id}")).licence
    permit = dict(food(f"page-food-{run_id}"))
    permit["holder"] = {"name": "广州市天河区某某餐饮管理有限公司", "id_type": "001",
                        "id_number": HOLDER}  # fmt: skip
    permit_lic = svc.licences.issue(dept, permit).licence
    holder = svc.clients.authenticate(
        svc.clients.add(
            name="bench applicant",
            role=Role.HOLDER,
            department=None,
            holder=HolderRef.parse(f"001:{HOLDER}"),
        ).api_key
    )
    made = svc.clients.add(name=f"bench window {run_id}", role=Role.DEPARTMENT, department=TH_AMR)
    clerk = svc.clients.authenticate(made.api_key)
    application = {
        "item_code": RENEWAL,
        "form": {"legal_representative": "张三", "residence": "广州市天河区天河路385号",
                 "business_premises": "广州市天河区天河路385号首层101铺",
                 "main_business_format": "餐饮服务经营者", "business_items": "热食类食品制售"},
        "licences": [{"material": "business_licence", "seal": biz.seal},
                     {"material": "food_permit", "seal": permit_lic.seal}],
    }  # fmt: skip
    numbers = []
    for i in range(QUEUED):
        case = svc.hall.submit(holder, application)
        if i % 2:
            svc.hall.act(clerk, case.number, A.ACCEPT)
        numbers.append(case.number)
    base = "https://hall.example.gov.cn"  # the service's public address: its cookies are Secure
    # as a served worker (api/asgi.py): the heap made at start-up frozen out of the collector
    with TestClient(create_app(svc, freeze_heap=True), base_url=base) as web:
        page = web.get("/signin?next=/queue")
        csrf = re.search(r'name="csrf" value="([^"]+)"', page.text)
        assert csrf is not None
        signed = web.post(
            "/signin", data={"csrf": csrf.group(1), "api_key": made.api_key, "next": "/queue"}
        )
        assert signed.status_code == 200 and numbers[0] in signed.text

        def queue(_i: int) -> None:
            assert web.get("/queue").status_code == 200

        def case_page(i: int) -> None:
            assert web.get(f"/queue/cases/{numbers[i % QUEUED]}").status_code == 200

        count = max(n // 5, 100)  # enough samples for p99 to be more than the slowest one
        queue(0)
        el, lat = timed(count, queue)
        report(f"{name}: GET /queue ({QUEUED} cases)", count, el, lat, "server time")
        case_page(0)
        el, lat = timed(count, case_page)
        report(f"{name}: GET /queue/cases/{{n}} (2 re-checks)", count, el, lat, "server time")
    gc.unfreeze()  # the next stage's heap is its own
    print(f"    -> {raw.beside()}")
    svc.flush()
    svc.registry.dispose()
