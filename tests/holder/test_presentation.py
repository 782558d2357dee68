"""Dynamic presentations (EP1): made for the licence's own holder, verified online once (a replay
is refused), offline with a trust list alone, refused when expired (a screenshot), tampered,
signed by another key, too long-lived, or presented for another holder; and the QR code the page
shows decodes with zbarimg (an independent decoder) to exactly the presentation text."""

from __future__ import annotations

import datetime as dt
import subprocess
from pathlib import Path
from typing import Any

import pytest

from elicence.domain.catalogue import HolderIdType
from elicence.domain.licence import HolderRef
from elicence.errors import PresentationError
from elicence.formats.presentation import (
    CLOCK_SKEW,
    WINDOW,
    decode_presentation,
    sign_presentation,
)
from elicence.formats.seal import b32decode, b32encode, cose_bytes
from elicence.templates.presentation import presentation_png, presentation_qr
from elicence.verifier import UnsafeSkipStatusCheck
from elicence.verifier.presentation import PresentationVerdict, verify_presentation
from tests.conftest import GZ_AMR, Clock
from tests.holder.conftest import ORG_NAME, ORG_X, PERSON, World
from tests.tools import tool

PRESENT = "/api/v1/licences/{}/presentation"
CHECK = "/api/v1/presentations/verify"


def _present(world: World, who: dict[str, str] | None = None, lic: str = "food") -> str:
    ident = getattr(world, lic)["identifier"]
    r = world.api.get(PRESENT.format(ident), headers=who or world.org)
    assert r.status_code == 200, r.text
    out = r.json()
    assert out["identifier"] == ident
    text: str = out["presentation"]
    assert text.startswith("EP1:")
    return text


def _check(world: World, text: str, headers: dict[str, str] | None = None, **extra: Any) -> Any:
    return world.api.post(CHECK, json={"presentation": text, **extra}, headers=headers or {})


def test_a_presentation_is_accepted_once_then_refused_as_replayed(world: World) -> None:
    text = _present(world)
    first = _check(world, text, world.hall())
    assert first.status_code == 200, first.text
    out = first.json()
    assert out["accepted"] is True
    assert out["presentation"]["verdict"] == "accepted"
    assert out["verification"]["verdict"] == "valid"
    assert {c["name"] for c in out["presentation"]["checks"]} == {
        "presentation_signer",
        "presentation_signature",
        "presentation_window",
        "presentation_nonce",
    }
    assert out["verification"]["masked"] is True  # a hall without a grant: the public answer
    second = _check(world, text, world.hall()).json()
    assert second["accepted"] is False
    assert second["presentation"]["verdict"] == "replayed"
    nonce = next(c for c in second["presentation"]["checks"] if c["name"] == "presentation_nonce")
    assert "already used" in nonce["detail"]
    uses = world.api.get("/api/v1/usage", headers=world.org).json()
    assert [(u["channel"], u["verdict"]) for u in uses] == [
        ("presentation", "replayed"),
        ("presentation", "valid"),
    ]


@pytest.mark.parametrize("bystander", ["anonymous", "another-holder", "the-holder"])
def test_a_bystanders_check_does_not_use_up_the_live_code(world: World, bystander: str) -> None:
    """Issue 16: whoever scans a live code first must not spoil it for the hall it is shown to.
    Only an authenticated verifier (a hall, a department, an admin) uses the nonce up."""
    who = {"anonymous": {}, "another-holder": world.other, "the-holder": world.org}[bystander]
    text = _present(world)
    for _ in range(2):  # looking twice uses nothing up either
        looked = _check(world, text, who).json()
        assert looked["accepted"] is True, looked
        assert looked["presentation"]["verdict"] == "accepted"
        nonce = next(
            c for c in looked["presentation"]["checks"] if c["name"] == "presentation_nonce"
        )
        assert nonce["passed"] and "did not use it up" in nonce["detail"]

    at_the_hall = _check(world, text, world.hall()).json()
    assert at_the_hall["accepted"] is True, at_the_hall
    assert at_the_hall["presentation"]["verdict"] == "accepted"
    assert _check(world, text, world.hall()).json()["presentation"]["verdict"] == "replayed"
    # after the hall used it, a bystander is told so (and still uses nothing)
    after = _check(world, text, who).json()
    assert after["accepted"] is False and after["presentation"]["verdict"] == "replayed"


def test_a_department_checking_a_live_code_uses_it_up(world: World) -> None:
    text = _present(world)
    assert _check(world, text, world.keys.h("gz_amr")).json()["accepted"] is True
    assert _check(world, text, world.hall()).json()["presentation"]["verdict"] == "replayed"


def test_a_screenshot_older_than_its_window_is_refused_as_expired(
    world: World, clock: Clock
) -> None:
    text = _present(world)
    clock.advance(seconds=(WINDOW + CLOCK_SKEW).total_seconds() + 1)
    out = _check(world, text, world.hall()).json()
    assert out["accepted"] is False
    assert out["presentation"]["verdict"] == "expired"
    window = next(c for c in out["presentation"]["checks"] if c["name"] == "presentation_window")
    assert "expired" in window["detail"] and "screenshot" in window["detail"]
    assert ORG_NAME not in str(out)  # anonymous details stay masked, nothing more leaks
    # an expired presentation burns no nonce: the checks before it failed
    assert "presentation_nonce" not in {c["name"] for c in out["presentation"]["checks"]}


def test_within_the_clock_skew_it_is_still_accepted(world: World, clock: Clock) -> None:
    text = _present(world)
    clock.advance(seconds=WINDOW.total_seconds() + CLOCK_SKEW.total_seconds() - 1)
    assert _check(world, text).json()["accepted"] is True


def test_only_the_holder_gets_a_presentation_of_its_licence(world: World) -> None:
    ident = world.food["identifier"]
    for who in (world.person, world.other):
        r = world.api.get(PRESENT.format(ident), headers=who)
        assert r.status_code == 404, r.text
    for who in ("hall", "gz_amr"):
        r = world.api.get(PRESENT.format(ident), headers=world.keys.h(who))
        assert r.status_code == 403, r.text


def test_the_holder_binding_matches_the_presenters_id(world: World) -> None:
    text = _present(world, world.person, "wedding")
    ok = _check(world, text, world.hall(), holder_id_type="111", holder_id=PERSON).json()
    assert ok["accepted"] is True
    text = _present(world, world.person, "wedding")
    other = "11010519491231002X"[:-1] + "0"  # not a valid id: refused before anything
    r = _check(world, text, world.hall(), holder_id_type="111", holder_id=other)
    assert r.status_code == 422 and r.json()["error"]["field"] == "holder.id_number"
    wrong = _check(world, text, world.hall(), holder_id_type="001", holder_id=ORG_X).json()
    assert wrong["accepted"] is False
    assert wrong["presentation"]["verdict"] == "invalid"
    holder = next(c for c in wrong["presentation"]["checks"] if c["name"] == "presentation_holder")
    assert holder["passed"] is False and "another holder" in holder["detail"]


def _flip(text: str, at: int) -> str:
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"
    return text[:at] + alphabet[(alphabet.index(text[at]) + 1) % 32] + text[at + 1 :]


@pytest.mark.parametrize(
    "mangle",
    [
        pytest.param(lambda t: _flip(t, len(t) // 2), id="flipped-middle"),
        pytest.param(lambda t: _flip(t, len(t) - 20), id="flipped-signature"),
        pytest.param(lambda t: t[:-8], id="truncated"),
        pytest.param(lambda t: "EL1:" + t[4:], id="seal-prefix"),
        pytest.param(lambda t: "EP1:" + "A" * 40, id="garbage"),
        pytest.param(lambda t: t + "=", id="padding"),
    ],
)
def test_a_tampered_presentation_is_never_accepted(world: World, mangle: Any) -> None:
    text = mangle(_present(world))
    r = _check(world, text, world.hall())
    if r.status_code == 200:
        out = r.json()
        assert out["accepted"] is False
        assert out["presentation"]["verdict"] in ("invalid", "untrusted")
    else:
        assert r.status_code == 422, r.text
        assert r.json()["error"]["code"] in ("bad_presentation", "invalid_input")
        assert r.json()["error"]["field"] == "presentation"
    # the genuine one still works: a tampered copy burnt no nonce
    assert _check(world, _present(world)).json()["accepted"] is True


def test_a_presentation_signed_by_a_department_key_is_untrusted(world: World) -> None:
    svc = world.service
    text = sign_presentation(
        seal_cose=cose_bytes(world.food["seal"]),
        holder=("001", ORG_X),
        signer=svc.signers()[GZ_AMR],
        now=svc.clock(),
    )
    out = _check(world, text).json()
    assert out["presentation"]["verdict"] == "untrusted" and out["accepted"] is False


def test_a_presentation_with_a_long_window_is_invalid(world: World) -> None:
    svc = world.service
    signer = svc.keystore.service_signer("test-passphrase-not-secret")
    text = sign_presentation(
        seal_cose=cose_bytes(world.food["seal"]),
        holder=("001", ORG_X),
        signer=signer,
        now=svc.clock(),
        window=dt.timedelta(hours=1),
    )
    out = _check(world, text).json()
    assert out["presentation"]["verdict"] == "invalid"
    assert "more than the 120 s" in str(out["presentation"]["checks"])


def test_a_revoked_licence_presented_is_not_accepted(world: World) -> None:
    text = _present(world)
    world.api.post(
        f"/api/v1/licences/{world.food['identifier']}/revoke",
        json={"reason": "注销"},
        headers=world.keys.h("gz_amr"),
    )
    out = _check(world, text).json()
    assert out["presentation"]["verdict"] == "accepted"
    assert out["verification"]["verdict"] == "revoked"
    assert out["accepted"] is False


def test_offline_a_hall_with_the_trust_list_alone_verifies_and_refuses_expired(
    world: World,
) -> None:
    text = _present(world)
    tl = world.service.trust_list()
    now = world.service.clock()
    report = verify_presentation(text, trust_list=tl, status=UnsafeSkipStatusCheck, now=now)
    assert report.verdict is PresentationVerdict.ACCEPTED and report.accepted
    assert report.seal.status_checked is False
    later = now + WINDOW + CLOCK_SKEW + dt.timedelta(seconds=1)
    stale = verify_presentation(text, trust_list=tl, status=UnsafeSkipStatusCheck, now=later)
    assert stale.verdict is PresentationVerdict.EXPIRED and not stale.accepted
    early = now - CLOCK_SKEW - dt.timedelta(seconds=1)
    ahead = verify_presentation(text, trust_list=tl, status=UnsafeSkipStatusCheck, now=early)
    assert ahead.verdict is PresentationVerdict.NOT_YET_VALID
    # offline there is no replay memory: the same text verifies again within its window
    again = verify_presentation(text, trust_list=tl, status=UnsafeSkipStatusCheck, now=now)
    assert again.accepted
    binding = verify_presentation(
        text, trust_list=tl, status=UnsafeSkipStatusCheck, now=now, holder=("001", ORG_X)
    )
    assert binding.accepted


def test_the_web_principal_is_the_holder_client_of_the_api(world: World) -> None:
    me = world.service.holder.principal(HolderRef(HolderIdType.USCC, ORG_X), "某某餐饮")
    made = world.service.holder.present(me, world.food["identifier"])
    decoded = decode_presentation(made.text)
    assert decoded.not_after - decoded.not_before == WINDOW
    assert [lic.identifier for lic in world.service.holder.licences(me)] == [
        world.food["identifier"]
    ]


@pytest.mark.parametrize(
    "text",
    [
        pytest.param("", id="empty"),
        pytest.param("EP1:", id="prefix-only"),
        pytest.param("EP1:0189", id="not-base32"),
        pytest.param("EP1:" + b32encode(b"\x78\x9c" + b"\x00" * 10), id="bad-zlib"),
        pytest.param("EP1:" + "A" * 5000, id="too-long"),
    ],
)
def test_unreadable_presentations_raise_presentation_error(text: str) -> None:
    with pytest.raises(PresentationError) as e:
        decode_presentation(text)
    assert e.value.field == "presentation"


def test_base32_round_trips_for_presentations(world: World) -> None:
    text = _present(world)
    assert b32encode(b32decode(text[4:])) == text[4:]


# -- the QR code the holder's page shows ---------------------------------------------------------


@pytest.mark.parametrize("lic", ["food", "wedding"])
def test_the_presentation_qr_decodes_with_zbarimg_and_verifies(
    world: World, tmp_path: Path, lic: str
) -> None:
    who = world.org if lic == "food" else world.person
    text = _present(world, who, lic)
    qr = presentation_qr(text)
    assert qr.version <= 16, qr.version  # measured: 15-L (699 characters) for the food permit
    print(f"{lic}: {len(text)} characters, QR version {qr.version}-{qr.error}")
    png = tmp_path / "p.png"
    png.write_bytes(presentation_png(text))
    out = subprocess.run(
        [tool("zbarimg"), "--quiet", "--raw", "-Sbinary", str(png)],
        capture_output=True,
        check=True,
        timeout=60,
    )
    scanned = out.stdout.decode("ascii").removesuffix("\n")
    assert scanned == text
    assert _check(world, scanned).json()["accepted"] is True
