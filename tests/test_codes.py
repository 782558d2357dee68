"""elicence.domain.codes: GB 32100 USCC, GB 11643 resident ID, GB/T 36904 identifier (MOD 37,36)."""

from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import given
from hypothesis import strategies as st

from elicence.domain.codes import (
    ALNUM36,
    IDENTIFIER_PREFIX,
    USCC_ALPHABET,
    LicenceIdentifier,
    check_resident_id,
    check_type_code,
    check_uscc,
    mod37_36_check_char,
    new_serial,
    parse_identifier,
    resident_id_check_char,
    uscc_check_char,
)
from elicence.errors import InputError

REAL_IDENTIFIERS = [
    "1.2.156.3005.2.11100000000013338W011.11430000006122244L.20230000403.001.U",
    "1.2.156.3005.2.11100000000013338W009.11330105002500287C.2025052201.002.0",
]
DIGITS = "0123456789"


# -- known vectors ----------------------------------------------------------------------------


@pytest.mark.parametrize("text", REAL_IDENTIFIERS, ids=["hunan-food-permit", "zhejiang-v2"])
def test_real_identifiers_pass_and_round_trip(text: str) -> None:
    ident = parse_identifier(text)
    assert str(ident) == text
    assert ident.check == text[-1]


def test_real_identifier_parts() -> None:
    ident = parse_identifier(REAL_IDENTIFIERS[1])
    assert ident == LicenceIdentifier(
        "11100000000013338W009", "11330105002500287C", "2025052201", 2
    )
    assert ident.with_version(3).version == 3
    assert str(ident.with_version(3)).endswith(".003." + ident.with_version(3).check)


def test_uscc_vector() -> None:
    assert check_uscc("91350100M000100Y43") == "91350100M000100Y43"
    assert uscc_check_char("91350100M000100Y4") == "3"


def test_uscc_is_normalised_to_upper_case() -> None:
    assert check_uscc(" 91350100m000100y43 ") == "91350100M000100Y43"


def test_resident_id_vector() -> None:
    assert check_resident_id("11010519491231002X") == "11010519491231002X"
    assert resident_id_check_char("11010519491231002") == "X"
    assert check_resident_id("11010519491231002x") == "11010519491231002X"


def test_type_code_vector() -> None:
    assert check_type_code("11100000000013338W032") == "11100000000013338W032"


def _wrong_mod37_36(text: str) -> str:
    """The circulating wrong variant: digits 0-9, letters A=11 … Z=36 (skipping 10)."""
    p = 36
    for c in text:
        v = int(c) if c.isdigit() else ord(c) - ord("A") + 11
        p = (p + v) % 36
        if p == 0:
            p = 36
        p = (2 * p) % 37
    return ALNUM36[(37 - p) % 36]


def test_the_wrong_letter_valuation_is_not_ours() -> None:
    differ = []
    for text in REAL_IDENTIFIERS:
        body = "".join(text[len(IDENTIFIER_PREFIX) + 1 :].split(".")[:4])
        assert mod37_36_check_char(body) == text[-1]
        if _wrong_mod37_36(body) != text[-1]:
            differ.append(text)
    assert differ, "the wrong variant agrees with every real identifier: test vectors too weak"


def test_mod37_36_rejects_characters_outside_the_alphabet() -> None:
    with pytest.raises(InputError) as e:
        mod37_36_check_char("ABC-1")
    assert e.value.field == "identifier"
    assert "0-9A-Z" in e.value.message


def test_new_serial_is_16_alphanumeric_and_fresh() -> None:
    serials = {new_serial() for _ in range(50)}
    assert len(serials) == 50
    assert all(len(s) == 16 and set(s) <= set(ALNUM36) for s in serials)


# -- strategies -------------------------------------------------------------------------------


@st.composite
def usccs(draw: st.DrawFn) -> str:
    first = draw(st.text(alphabet=USCC_ALPHABET, min_size=17, max_size=17))
    return first + uscc_check_char(first)


@st.composite
def resident_ids(draw: st.DrawFn) -> str:
    region = draw(st.text(alphabet=DIGITS, min_size=6, max_size=6))
    born = draw(st.dates(min_value=dt.date(1900, 1, 1), max_value=dt.date(2099, 12, 31)))
    seq = draw(st.text(alphabet=DIGITS, min_size=3, max_size=3))
    first = region + born.strftime("%Y%m%d") + seq
    return first + resident_id_check_char(first)


@st.composite
def identifiers(draw: st.DrawFn) -> str:
    type_code = draw(usccs()) + draw(st.text(alphabet=DIGITS, min_size=3, max_size=3))
    issuer = draw(usccs())
    serial = draw(st.text(alphabet=ALNUM36, min_size=1, max_size=32))
    version = draw(st.integers(min_value=1, max_value=999))
    return str(LicenceIdentifier(type_code, issuer, serial, version))


def _identifier_alphabets(text: str) -> list[str]:
    """For each character of an identifier: the characters allowed there (None for dots)."""
    body = text[len(IDENTIFIER_PREFIX) + 1 :]
    type_code, issuer, serial, version, _check = body.split(".")
    out = ["."] * (len(IDENTIFIER_PREFIX) + 1)
    out += [ALNUM36] * 18 + [DIGITS] * 3 + ["."]
    out += [USCC_ALPHABET] * 18 + ["."]
    out += [ALNUM36] * len(serial) + ["."]
    out += [DIGITS] * len(version) + ["."]
    out += [ALNUM36]
    assert len(out) == len(text)
    assert len(type_code) == 21 and len(issuer) == 18
    return out


# -- properties -------------------------------------------------------------------------------


@given(usccs())
def test_generated_uscc_passes(code: str) -> None:
    assert check_uscc(code) == code


@given(usccs(), st.data())
def test_any_single_change_to_a_uscc_is_detected(code: str, data: st.DataObject) -> None:
    pos = data.draw(st.integers(min_value=0, max_value=17))
    other = data.draw(st.sampled_from([c for c in USCC_ALPHABET if c != code[pos]]))
    with pytest.raises(InputError) as e:
        check_uscc(code[:pos] + other + code[pos + 1 :], field="x")
    assert e.value.field == "x"
    assert "check character" in e.value.message


@given(resident_ids())
def test_generated_resident_id_passes(code: str) -> None:
    assert check_resident_id(code) == code


@given(resident_ids(), st.data())
def test_any_single_change_to_a_resident_id_is_detected(code: str, data: st.DataObject) -> None:
    pos = data.draw(st.integers(min_value=0, max_value=17))
    allowed = DIGITS + "X" if pos == 17 else DIGITS
    other = data.draw(st.sampled_from([c for c in allowed if c != code[pos]]))
    with pytest.raises(InputError) as e:
        check_resident_id(code[:pos] + other + code[pos + 1 :])
    assert e.value.field == "id_number"
    assert "GB 11643" in e.value.message


@given(identifiers())
def test_generated_identifier_parses_and_round_trips(text: str) -> None:
    ident = parse_identifier(text)
    assert str(ident) == text
    assert parse_identifier(str(ident)) == ident


@given(identifiers(), st.data())
def test_any_single_change_to_an_identifier_is_detected(text: str, data: st.DataObject) -> None:
    alphabets = _identifier_alphabets(text)
    pos = data.draw(
        st.sampled_from([i for i, a in enumerate(alphabets) if a != "."]), label="position"
    )
    other = data.draw(st.sampled_from([c for c in alphabets[pos] if c != text[pos]]))
    with pytest.raises(InputError) as e:
        parse_identifier(text[:pos] + other + text[pos + 1 :])
    assert e.value.field == "identifier"


@given(st.text(alphabet=ALNUM36, max_size=60), st.data())
def test_mod37_36_detects_every_single_substitution(text: str, data: st.DataObject) -> None:
    body = text + "A"
    pos = data.draw(st.integers(min_value=0, max_value=len(body) - 1))
    other = data.draw(st.sampled_from([c for c in ALNUM36 if c != body[pos]]))
    changed = body[:pos] + other + body[pos + 1 :]
    assert mod37_36_check_char(changed) != mod37_36_check_char(body)


# -- bad input --------------------------------------------------------------------------------

GOOD_ID = REAL_IDENTIFIERS[0]
P = IDENTIFIER_PREFIX

BAD_USCC = [
    pytest.param("91350100M000100Y4", "18 characters", id="too-short"),
    pytest.param("91350100M000100Y433", "18 characters", id="too-long"),
    pytest.param("", "18 characters", id="empty"),
    pytest.param("91350100I000100Y43", "'I' is not allowed", id="letter-I"),
    pytest.param("91350100O000100Y43", "'O' is not allowed", id="letter-O"),
    pytest.param("91350100S000100Y43", "'S' is not allowed", id="letter-S"),
    pytest.param("91350100V000100Y43", "'V' is not allowed", id="letter-V"),
    pytest.param("91350100Z000100Y43", "'Z' is not allowed", id="letter-Z"),
    pytest.param("91350100M000100Y4-", "'-' is not allowed", id="punctuation"),
    pytest.param("91350100M000100Y44", "wrong check character '4', GB 32100", id="wrong-check"),
    pytest.param(91350100, "must be a string", id="not-a-string"),
    pytest.param(None, "must be a string", id="none"),
]


@pytest.mark.parametrize(("value", "rule"), BAD_USCC)
def test_bad_uscc(value: object, rule: str) -> None:
    with pytest.raises(InputError) as e:
        check_uscc(value, field="holder.id_number")
    assert e.value.field == "holder.id_number"
    assert rule in e.value.message
    assert str(e.value).startswith("holder.id_number: ")


BAD_RESIDENT_ID = [
    pytest.param("1101051949123100X", "17 digits", id="too-short"),
    pytest.param("11010519491231002XX", "17 digits", id="too-long"),
    pytest.param("1101051949123100AX", "17 digits", id="letter-in-body"),
    pytest.param("11010519491231002Y", "17 digits", id="check-not-X"),
    pytest.param("110105194913310020", "birth date 19491331", id="month-13"),
    pytest.param("110105195102300020", "birth date 19510230", id="feb-30"),
    pytest.param("110105000001010020", "birth date 00000101", id="year-0"),
    pytest.param("110105194912310021", "wrong check character '1', GB 11643", id="wrong-check"),
    pytest.param(110105194912310020, "must be a string", id="not-a-string"),
]


@pytest.mark.parametrize(("value", "rule"), BAD_RESIDENT_ID)
def test_bad_resident_id(value: object, rule: str) -> None:
    with pytest.raises(InputError) as e:
        check_resident_id(value)
    assert e.value.field == "id_number"
    assert rule in e.value.message


BAD_TYPE_CODE = [
    pytest.param("11100000000013338W03", "21 characters", id="too-short"),
    pytest.param("11100000000013338W0321", "21 characters", id="too-long"),
    pytest.param("11100000000013338W03A", "21 characters", id="letter-in-number"),
    pytest.param("11100000000013338X032", "wrong check character 'X'", id="authority-check"),
    pytest.param(None, "21 characters", id="none"),
]


@pytest.mark.parametrize(("value", "rule"), BAD_TYPE_CODE)
def test_bad_type_code(value: object, rule: str) -> None:
    with pytest.raises(InputError) as e:
        check_type_code(value)
    assert e.value.field == "type_code"
    assert rule in e.value.message


BAD_IDENTIFIER = [
    pytest.param(
        GOOD_ID.replace("1.2.156.3005.2.", "1.2.156.3005.3."), "must start with", id="bad-prefix"
    ),
    pytest.param(GOOD_ID.replace(P + ".", P), "must start with", id="prefix-without-dot"),
    pytest.param("", "must start with", id="empty"),
    pytest.param(GOOD_ID.rsplit(".", 1)[0], "must have type, issuer, serial", id="no-check"),
    pytest.param(GOOD_ID + ".U", "must have type, issuer, serial", id="extra-part"),
    pytest.param(GOOD_ID.replace("W011.", "W0111."), "type code", id="type-code-22-chars"),
    pytest.param(GOOD_ID.replace("W011.", "W01A."), "type code", id="type-code-letter-suffix"),
    pytest.param(GOOD_ID.replace("244L.", "244.", 1), "issuer code", id="issuer-17-chars"),
    pytest.param(GOOD_ID.replace("244L.", "244O.", 1), "issuer code", id="issuer-letter-O"),
    pytest.param(GOOD_ID.replace(".20230000403.", ".."), "serial", id="empty-serial"),
    pytest.param(GOOD_ID.replace(".20230000403.", ".2023-0403."), "serial", id="serial-dash"),
    pytest.param(GOOD_ID.replace(".20230000403.", "." + "A" * 33 + "."), "serial", id="serial-33"),
    pytest.param(GOOD_ID.replace(".20230000403.", ".2023000040a."), "serial", id="serial-lower"),
    pytest.param(
        GOOD_ID.replace(".001.", ".000."), "version must be 3 digits from 001", id="version-000"
    ),
    pytest.param(GOOD_ID.replace(".001.", ".01."), "version", id="version-2-digits"),
    pytest.param(GOOD_ID.replace(".001.", ".00A."), "version", id="version-letter"),
    pytest.param(GOOD_ID[:-1] + "UU", "check must be one character", id="check-2-chars"),
    pytest.param(GOOD_ID[:-1] + "u", "check must be one character", id="check-lower"),
    pytest.param(
        GOOD_ID[:-1] + "D",
        "wrong check character 'D', ISO 7064 MOD 37,36 gives 'U'",
        id="wrong-variant-check",
    ),
    pytest.param(42, "must be a string", id="not-a-string"),
]


@pytest.mark.parametrize(("value", "rule"), BAD_IDENTIFIER)
def test_bad_identifier(value: object, rule: str) -> None:
    with pytest.raises(InputError) as e:
        parse_identifier(value)
    assert e.value.field == "identifier"
    assert rule in e.value.message


def test_bad_identifier_names_the_callers_field() -> None:
    with pytest.raises(InputError) as e:
        parse_identifier("nope", field="body.identifier")
    assert e.value.field == "body.identifier"


def test_identifier_with_surrounding_whitespace_parses() -> None:
    assert str(parse_identifier(f"  {GOOD_ID}\n")) == GOOD_ID
