"""The one verdict combiner (``verifier/report.judge``): gravity decides, and the good verdict
needs every required check to have run and passed."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from elicence.verifier.presentation import PresentationVerdict
from elicence.verifier.report import GRAVITY, Check, CheckName, Verdict, judge

NAMES = list(CheckName)
checks = st.lists(
    st.builds(
        Check,
        name=st.sampled_from(NAMES),
        passed=st.booleans(),
        detail=st.just(""),
        verdict_if_failed=st.sampled_from(GRAVITY),
    ),
    max_size=12,
)


@given(checks=checks, required=st.sets(st.sampled_from(NAMES), max_size=5))
def test_the_gravest_failure_decides_and_valid_needs_every_required_check(
    checks: list[Check], required: set[CheckName]
) -> None:
    verdict = judge(
        checks, required=required, gravity=GRAVITY, good=Verdict.VALID,
        incomplete=Verdict.INDETERMINATE,
    )  # fmt: skip
    failed = [c.verdict_if_failed for c in checks if not c.passed]
    if failed:
        assert verdict is min(failed, key=GRAVITY.index)
    elif required <= {c.name for c in checks if c.passed}:
        assert verdict is Verdict.VALID
    else:
        assert verdict is Verdict.INDETERMINATE


def test_nothing_checked_is_not_good() -> None:
    assert (
        judge(
            [],
            required={"presentation_signature"},
            gravity=(PresentationVerdict.INVALID,),
            good=PresentationVerdict.ACCEPTED,
            incomplete=PresentationVerdict.INVALID,
        )
        is PresentationVerdict.INVALID
    )


def test_a_stale_trust_list_does_not_hide_a_bad_signature() -> None:
    found = [
        Check(CheckName.TRUST_LIST_CURRENT, False, "", Verdict.INDETERMINATE),
        Check(CheckName.SIGNATURE, False, "", Verdict.INVALID),
    ]
    assert (
        judge(
            found,
            required=(),
            gravity=GRAVITY,
            good=Verdict.VALID,
            incomplete=Verdict.INDETERMINATE,
        )
        is Verdict.INVALID
    )
