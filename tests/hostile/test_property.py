"""Property (issue 16): every JSON endpoint, form and query that takes a caller's values, sent a
hostile value (lone surrogates, NUL and other control characters, noncharacters, huge strings,
huge and negative integers, dates out of range, deep nesting, unknown keys), answers a 4xx with
the error shape, stores nothing (every table's rows counted before and after), and every later
read of the same resources still answers 2xx.

Bounded for CI: ``EXAMPLES`` hostile requests per target, derandomised (the same requests every
run), on one world per database built once for the module.
"""

from __future__ import annotations

import datetime as dt
import json
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from elicence.api.app import create_app
from tests.conftest import food_permit, service_per_database
from tests.hall.conftest import ORG, PDF, World, build_world
from tests.hostile.conftest import row_counts

EXAMPLES = int(os.environ.get("ELICENCE_HOSTILE_EXAMPLES", "8"))

# -- hostile values -----------------------------------------------------------------------------

_BAD_CHARS = st.one_of(
    st.integers(0xD800, 0xDFFF).map(chr),  # lone surrogates (JSON's "\ud800")
    st.sampled_from(["\x00", "\x01", "\x07", "\x0b", "\x1b", "\x7f", "\x85", "\x9f"]),
    st.sampled_from(["\ufdd0", "\ufffe", "\uffff", "\U0010ffff"]),  # noncharacters
)
_FORM_BAD_CHARS = st.sampled_from(["\x00", "\x01", "\x1b", "\x7f", "\x9f", "\ufffe"])
_SOME_TEXT = st.text(st.characters(codec="utf-8", exclude_categories=["Cc", "Cs"]), max_size=6)


def hostile_text(
    bad: st.SearchStrategy[str] = _BAD_CHARS, huge: str = "长" * 20_000
) -> st.SearchStrategy[str]:
    return st.one_of(
        st.tuples(_SOME_TEXT, bad, _SOME_TEXT).map("".join),
        st.just(huge),  # beyond every length limit
    )


HOSTILE_DATES = st.one_of(
    st.dates(max_value=dt.date(1899, 12, 31)), st.dates(min_value=dt.date(3000, 1, 1))
).map(dt.date.isoformat)
HOSTILE_INSTANTS = HOSTILE_DATES.map(lambda d: f"{d}T00:00:00+08:00")
# negative, or past every bound (2^31 - 1 for ids, 2^53 for offsets) and every 64-bit column
HOSTILE_INTS = st.one_of(st.integers(max_value=-1), st.integers(min_value=2**53 + 1))


def deep(levels: int = 40) -> Any:
    value: Any = "x"
    for _ in range(levels):
        value = [value]
    return value


# -- targets ------------------------------------------------------------------------------------

Path_ = tuple[str | int, ...]


@dataclass(frozen=True)
class Target:
    id: str
    method: str
    path: Callable[[World], str]
    who: str | None
    body: Callable[[World], dict[str, Any]] = lambda w: {}
    texts: tuple[Path_, ...] = ()
    dates: tuple[Path_, ...] = ()
    instants: tuple[Path_, ...] = ()
    ints: tuple[Path_, ...] = ()
    kind: str = "json"  # json | form | query | application (multipart with an upload)
    batch: bool = False  # per-item refusals answer 200 with every item failed
    structural: bool = True  # unknown keys and deep nesting apply


def _case(w: World) -> str:
    return w.idents["case"]  # the open case's number (see ``world``)


def _restaurant(w: World) -> dict[str, Any]:
    return w.restaurant()


TARGETS = [
    Target(
        "issue",
        "POST",
        lambda w: "/api/v1/licences",
        "th_amr",
        lambda w: food_permit("PROP-1"),
        texts=(
            ("source_ref",),
            ("licence_number",),
            ("holder", "name"),
            ("holder", "id_number"),
            ("data", "business_items"),
        ),
        dates=(("valid_from",), ("valid_until",)),
    ),
    Target(
        "batch",
        "POST",
        lambda w: "/api/v1/licences/batch",
        "th_amr",
        lambda w: {"items": [food_permit("PROP-2")]},
        texts=(("items", 0, "holder", "name"), ("items", 0, "data", "residence")),
        dates=(("items", 0, "valid_from"),),
        batch=True,
    ),
    Target(
        "amend",
        "POST",
        lambda w: f"/api/v1/licences/{w.idents['food']}/amend",
        "th_amr",
        lambda w: {"reason": "变更", "changes": {"data": {"business_items": "热食类食品制售"}}},
        texts=(("reason",), ("changes", "data", "business_items"), ("changes", "holder_name")),
        dates=(("changes", "valid_from"), ("changes", "valid_until")),
    ),
    Target(
        "renew",
        "POST",
        lambda w: f"/api/v1/licences/{w.idents['food']}/renew",
        "th_amr",
        lambda w: {"reason": "换证"},
        texts=(("reason",),),
        dates=(("valid_from",),),
    ),
    Target(
        "suspend",
        "POST",
        lambda w: f"/api/v1/licences/{w.idents['food']}/suspend",
        "th_amr",
        lambda w: {"reason": "暂停"},
        texts=(("reason",),),
    ),
    Target(
        "bulk",
        "POST",
        lambda w: "/api/v1/licences/bulk",
        "th_amr",
        lambda w: {"action": "suspend", "reason": "批量", "identifiers": [w.idents["food"]]},
        texts=(("reason",), ("identifiers", 0)),
    ),
    Target(
        "verify",
        "POST",
        lambda w: "/api/v1/verify",
        "hall",
        lambda w: {"seal": w.seals["food"]},
        texts=(("seal",),),
    ),
    Target(
        "grant",
        "POST",
        lambda w: "/api/v1/grants",
        "org",
        lambda w: {
            "identifier": w.idents["biz"],
            "grantee": {"kind": "case", "ref": _case(w)},
            "purpose": "开办餐饮店",
            "valid_until": "2026-12-28T00:00:00+08:00",
        },
        texts=(("identifier",), ("purpose",), ("grantee", "ref")),
        instants=(("valid_until",), ("valid_from",)),
    ),
    Target(
        "apply",
        "POST",
        lambda w: "/api/v1/cases",
        "org",
        _restaurant,
        texts=(("item_code",), ("form", "residence"), ("licences", 0, "seal")),
        kind="application",
    ),
    Target(
        "visit",
        "POST",
        lambda w: f"/api/v1/cases/{_case(w)}/visits",
        "th_amr",
        lambda w: {"note": "到场"},
        texts=(("note",),),
    ),
    Target(
        "reject",
        "POST",
        lambda w: f"/api/v1/cases/{_case(w)}/reject",
        "th_amr",
        lambda w: {"reason": "材料不全"},
        texts=(("reason",),),
    ),
    Target(
        "approve",
        "POST",
        lambda w: f"/api/v1/cases/{_case(w)}/approve",
        "th_amr",
        lambda w: {"note": "同意", "valid_until": "2031-11-27"},
        texts=(("note",), ("licence_number",)),
        dates=(("valid_until",),),
    ),
    Target(
        "rating",
        "POST",
        lambda w: f"/api/v1/cases/{_case(w)}/rating",
        "org",
        lambda w: {
            "stars": 5,
            "dimensions": {"guidance": 5, "application": 5, "visits": 5, "result": 5},
            "comment": "好",
        },
        texts=(("comment",),),
        ints=(("stars",), ("dimensions", "guidance")),
    ),
    Target(
        "complaint",
        "POST",
        lambda w: f"/api/v1/cases/{_case(w)}/complaints",
        "org",
        lambda w: {"text": "办理太慢"},
        texts=(("text",),),
    ),
    Target(
        "answer",
        "POST",
        lambda w: "/api/v1/complaints/1/answer",
        "admin",
        lambda w: {"answer": "已核实", "substantiated": False},
        texts=(("answer",),),
    ),
    Target(
        "progress",
        "POST",
        lambda w: "/api/v1/progress",
        None,
        lambda w: {"case_number": _case(w), "holder_id_type": "001", "holder_id": ORG},
        texts=(("case_number",), ("holder_id",)),
    ),
    Target(
        "search",
        "GET",
        lambda w: "/api/v1/licences",
        "th_amr",
        lambda w: {"holder_id_type": "001", "holder_id": ORG, "limit": 10},
        texts=(("holder_id",), ("type_code",)),
        dates=(("issued_from",), ("issued_until",)),
        ints=(("limit",), ("offset",)),
        kind="query",
        structural=False,
    ),
    Target(
        "feed",
        "GET",
        lambda w: "/api/v1/feed",
        "admin",
        lambda w: {"after": 0},
        ints=(("after",),),
        kind="query",
        structural=False,
    ),
    Target(
        "metrics",
        "GET",
        lambda w: "/api/v1/metrics",
        None,
        lambda w: {"period": "2026-11"},
        texts=(("period",),),
        kind="query",
        structural=False,
    ),
    Target(
        "audit-trail",
        "GET",
        lambda w: "/api/v1/audit-trail",
        "admin",
        lambda w: {"actor": "admin"},
        texts=(("actor",), ("target",)),
        instants=(("since",), ("until",)),
        ints=(("after",),),
        kind="query",
        structural=False,
    ),
    Target(
        "signin-form",
        "POST",
        lambda w: "/signin",
        None,
        lambda w: {"api_key": "elk_x", "next": "/console"},
        texts=(("api_key",), ("next",)),
        kind="form",
        structural=False,
    ),
    Target(
        "console-preview-form",
        "POST",
        lambda w: "/console/preview",
        None,
        lambda w: {"csrf": "x", "holder_name": "某公司", "data.residence": "天河路"},
        texts=(("holder_name",), ("data.residence",)),
        kind="form",
        structural=False,
    ),
]


# -- the world ----------------------------------------------------------------------------------


@pytest.fixture(
    scope="module", params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
)
def world(
    request: pytest.FixtureRequest,
    tmp_path_factory: pytest.TempPathFactory,
    keystore_template: Path,
    demo_catalogue: Any,
) -> Iterator[World]:
    """The hall's world, with an open case and a complaint, once per database."""
    with (
        service_per_database(
            request, tmp_path_factory.mktemp("hostile"), keystore_template, demo_catalogue
        ) as svc,
        TestClient(create_app(svc), raise_server_exceptions=False) as api,
    ):
        w = build_world(svc, api)
        number = w.open_restaurant_case()
        r = api.post(
            f"/api/v1/cases/{number}/complaints", json={"text": "太慢"}, headers=w.h("org")
        )
        assert r.status_code == 201, r.text
        w.idents["case"] = number
        yield w


READS = [
    ("/api/v1/licences", "th_amr"),
    (f"/api/v1/licences?holder_id_type=001&holder_id={ORG}", "th_amr"),
    ("/api/v1/licences/{food}", "th_amr"),
    ("/api/v1/cases/{case}", "admin"),
    ("/api/v1/cases/{case}", "org"),
    ("/api/v1/cases", "admin"),
    ("/api/v1/complaints", "admin"),
    ("/api/v1/grants", "org"),
    ("/api/v1/feed", "admin"),
    ("/api/v1/metrics?period=2026-11", "admin"),
]


def _reads_answer(w: World) -> None:
    for path, who in READS:
        url = path.format(food=w.idents["food"], case=_case(w))
        r = w.api.get(url, headers=w.h(who))
        assert 200 <= r.status_code < 300, (url, r.status_code, r.text[:300])


# -- sending ------------------------------------------------------------------------------------


def _put(body: dict[str, Any], path: Path_, value: Any) -> dict[str, Any]:
    out = json.loads(json.dumps(body))
    node: Any = out
    for key in path[:-1]:
        node = node.setdefault(key, {}) if isinstance(key, str) else node[key]
    node[path[-1]] = value
    return out


@st.composite
def mutations(
    draw: st.DrawFn, target: Target, base: dict[str, Any]
) -> tuple[Path_, dict[str, Any]]:
    """Which value was made hostile, and the body with it."""
    bad = _BAD_CHARS if target.kind in ("json", "application") else _FORM_BAD_CHARS
    choices: list[st.SearchStrategy[tuple[Path_, Any]]] = []
    if target.texts:
        huge = "a" * 16_385 if target.kind == "query" else "长" * 20_000  # a URL's size bound
        choices.append(st.tuples(st.sampled_from(target.texts), hostile_text(bad, huge)))
    if target.dates:
        choices.append(st.tuples(st.sampled_from(target.dates), HOSTILE_DATES))
    if target.instants:
        choices.append(st.tuples(st.sampled_from(target.instants), HOSTILE_INSTANTS))
    if target.ints:
        choices.append(st.tuples(st.sampled_from(target.ints), HOSTILE_INTS))
    if target.structural:
        unknown = st.one_of(hostile_text(), st.just("zz_unknown")).map(lambda k: (k,))
        choices.append(st.tuples(unknown, st.just("x")))
        if target.texts:
            choices.append(st.tuples(st.sampled_from(target.texts), st.just(deep())))
    path, value = draw(st.one_of(choices))
    return path, _put(base, path, value)


def _send(w: World, target: Target, body: dict[str, Any]) -> Any:
    headers = w.h(target.who) if target.who else {}
    url = target.path(w)
    if target.kind == "application":  # the JSON in a part, beside the upload it needs
        return w.api.request(
            target.method,
            url,
            data={"application": json.dumps(body)},
            files={"premises_layout": ("layout.pdf", PDF, "application/pdf")},
            headers=headers,
        )
    if target.kind == "json":
        # json.dumps escapes a lone surrogate as "\ud800": the bytes a hostile client sends
        return w.api.request(
            target.method,
            url,
            content=json.dumps(body),
            headers={**headers, "content-type": "application/json"},
        )
    encoded = urlencode({k: str(v) for k, v in body.items()})
    if target.kind == "query":
        return w.api.request(target.method, f"{url}?{encoded}", headers=headers)
    return w.api.request(
        target.method,
        url,
        content=encoded,
        headers={**headers, "content-type": "application/x-www-form-urlencoded"},
    )


def _dotted(path: Path_) -> str:
    out = ""
    for p in path:
        out += f"[{p}]" if isinstance(p, int) else (f".{p}" if out else str(p))
    return out


def _names_the_value(field: str, path: Path_) -> bool:
    """Whether an error's ``field`` names the hostile value at ``path``: the same place, a
    place inside it (deep nesting), the same name as the domain calls it (``valid_from`` of
    ``changes.valid_from``, of a batch item), or the key itself."""
    where = _dotted(path)
    return (
        field == where
        or field.startswith((f"{where}.", f"{where}["))
        or where.endswith(f".{field}")
        or where.endswith(f"]{field}")
        or field.endswith("(a key)")
        or "\ufffd" in field  # a key no encoding holds, as an error names it
    )


# Refusals the edge makes before a body is read (api/edge.py): no API key or session (401),
# not allowed (403), a body over the route's limit (413). They name no field, and store nothing.
BEFORE_THE_BODY = frozenset({401, 403, 413})
RULE_WORDS = ("control character", "not valid Unicode", "characters, at most", "nested deeper")


def _assert_refused(target: Target, path: Path_, body: dict[str, Any], r: Any) -> None:
    """A 4xx with the error shape, naming the hostile value: the refusal is because of it."""
    if target.batch and r.status_code == 200:
        out = r.json()
        assert out["created"] == 0 and out["failed"] == len(body.get("items", [])), r.text
        for item in out["results"]:
            assert _names_the_value(item["error"]["field"], path), (path, item)
        return
    assert 400 <= r.status_code < 500, (r.status_code, r.text[:500])
    if r.status_code in BEFORE_THE_BODY:  # the edge refused before reading the value at all
        return
    if r.headers.get("content-type", "").startswith("application/json"):
        error = r.json()["error"]
        assert error["code"] and error["message"]
        assert _names_the_value(error.get("field") or "", path), (path, error)
    else:  # a page: the error page, saying which rule the value broke
        assert r.headers["content-type"].startswith("text/html")
        assert r.status_code == 422 and any(w in r.text for w in RULE_WORDS), r.text[:300]


@pytest.mark.parametrize("target", TARGETS, ids=[t.id for t in TARGETS])
def test_a_hostile_value_is_refused_stores_nothing_and_leaves_every_read_answering(
    world: World, target: Target
) -> None:
    base = target.body(world)

    @settings(
        max_examples=EXAMPLES,
        derandomize=True,
        database=None,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )
    @given(mutation=mutations(target, base))
    def check(mutation: tuple[Path_, dict[str, Any]]) -> None:
        path, body = mutation
        before = row_counts(world.svc)
        r = _send(world, target, body)
        _assert_refused(target, path, body, r)
        assert row_counts(world.svc) == before
        _reads_answer(world)

    check()
