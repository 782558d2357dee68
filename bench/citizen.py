"""The hall's citizen pages (issue 18): the server time of an item's guide (办事指南, no login) and
of its application form for a signed-in holder (网上申办: the form, the holder's licences to cite,
its earlier values and uploads), each request driven through the ASGI app in this process."""

from __future__ import annotations

import time
import uuid
from pathlib import Path

import anyio

from bench.asgi import call
from bench.cases import HOLDER, TH_AMR, application, business
from bench.common import make_service, report
from elicence.domain.clients import Client, Role

RESTAURANT = "440106-SCJ-0001"  # 食品经营许可（开办餐馆）: cites a business licence, one upload
LAYOUT = b"%PDF-1.4\n% a premises layout\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"


def stage_citizen_pages(
    name: str, url: str, n: int, work: Path, keys: Path, raw_sign: float, raw_verify: float
) -> None:
    from elicence.api.app import create_app
    from elicence.domain.licence import HolderRef
    from elicence.hall.cases import UploadIn
    from elicence.hall.items_file import DEMO_ITEMS, load_items

    print(f"{name}: the hall's citizen pages (server time, in process)")
    svc = make_service(work, url, keys)
    if svc.hall.items_version() is None:
        svc.hall.import_items(load_items(DEMO_ITEMS))
    run_id = uuid.uuid4().hex[:6]
    dept = Client("bench", "bench", Role.DEPARTMENT, TH_AMR)
    biz = svc.licences.issue(dept, business(f"page-biz-{run_id}")).licence
    ref = HolderRef.parse(f"001:{HOLDER}")
    holder = svc.holder.principal(ref, "广州市天河区某某餐饮管理有限公司")
    svc.holder.enrol(holder)
    earlier = application(
        RESTAURANT, {"material": "business_licence", "identifier": biz.identifier}
    )
    upload = UploadIn("premises_layout", "layout.pdf", "application/pdf", LAYOUT)
    svc.hall.submit(holder, earlier, [upload])  # an earlier case: values and upload to offer
    sessions = svc.holder.sign_in.sessions
    assert sessions is not None
    cookie = sessions.dump(sessions.sign_in(holder=ref, name=holder.name, client_id=None))
    app = create_app(svc)
    pages = {
        "guide page (办事指南)": (f"/services/{RESTAURANT}", {}),
        "apply page (网上申办, signed in)": (
            f"/services/{RESTAURANT}/apply",
            {"Cookie": f"elicence_session={cookie}"},
        ),
    }

    async def timed(path: str, headers: dict[str, str], count: int) -> list[float]:
        out = []
        for _ in range(count):
            t = time.perf_counter()
            answer = await call(app, "GET", path, headers)
            out.append(time.perf_counter() - t)
            assert answer.status == 200, (path, answer.status, answer.body[:300])
        return out

    held = len(svc.holder.licences(holder))
    cases = len(svc.hall.cases(holder, limit=500))
    print(f"    (the applicant holds {held} licences and has {cases} cases: the form reads them)")
    count = max(n // 10, 100)
    for label, (path, headers) in pages.items():
        anyio.run(timed, path, headers, 5)  # warm-up: templates compiled, catalogue read
        start = time.perf_counter()
        lat = anyio.run(timed, path, headers, count)
        report(f"{name}: {label}", count, time.perf_counter() - start, lat, "one at a time")
    print(
        f"    -> raw ECDSA P-256 of this run: sign {raw_sign:,.0f}/s, verify {raw_verify:,.0f}/s "
        "(a page signs and verifies nothing)"
    )
    svc.flush()
    svc.registry.dispose()
