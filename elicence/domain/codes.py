"""Check characters and identifiers of the national standards.

- GB 32100-2015 Unified Social Credit Code (USCC, 统一社会信用代码), 18 characters;
- GB 11643-1999 resident ID number (公民身份号码), ISO/IEC 7064 MOD 11-2;
- GB/T 36904 e-licence identifier (电子证照标识), ISO/IEC 7064 MOD 37,36 check.

Invariant: every ``parse_*``/``check_*`` function either returns a normalised value that passes
its check or raises :class:`elicence.errors.InputError` naming the field and the rule.
"""

from __future__ import annotations

import datetime as dt
import re
import secrets
from dataclasses import dataclass

import gmpy2

from elicence.errors import InputError

ALNUM36 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"
_ALNUM36_VALUE = {c: i for i, c in enumerate(ALNUM36)}

USCC_ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
_USCC_VALUE = {c: i for i, c in enumerate(USCC_ALPHABET)}
_USCC_WEIGHTS = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)

_ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_ID_CHECK = "10X98765432"

IDENTIFIER_PREFIX = "1.2.156.3005.2"
SERIAL_LENGTH = 16
_SERIAL_RE = re.compile(r"[0-9A-Z]{1,32}")
_TYPE_CODE_RE = re.compile(r"[0-9A-Z]{18}[0-9]{3}")
_VERSION_RE = re.compile(r"[0-9]{3}")
_IDENTIFIER_RE = re.compile(
    r"1\.2\.156\.3005\.2\.([0-9A-Z]{18}[0-9]{3})\.([0-9A-HJ-NP-RTUWXY]{18})"
    r"\.([0-9A-Z]{1,32})\.([0-9]{3})\.([0-9A-Z])"
)


# --- GB 32100 USCC -------------------------------------------------------------------------


def uscc_check_char(first17: str) -> str:
    """The 18th character of a USCC whose first 17 characters are given."""
    total = sum(_USCC_VALUE[c] * w for c, w in zip(first17, _USCC_WEIGHTS, strict=True))
    return USCC_ALPHABET[(31 - total % 31) % 31]


def check_uscc(value: object, *, field: str = "uscc") -> str:
    """Return ``value`` if it is a well-formed USCC with the right check character."""
    if not isinstance(value, str):
        raise InputError("must be a string of 18 characters (GB 32100 USCC)", field=field)
    code = value.strip().upper()
    if len(code) != 18:
        raise InputError(f"must be 18 characters (GB 32100 USCC), got {len(code)}", field=field)
    bad = [c for c in code if c not in _USCC_VALUE]
    if bad:
        raise InputError(
            f"character {bad[0]!r} is not allowed in a USCC (0-9 and A-Y without I, O, S, V, Z)",
            field=field,
        )
    expected = uscc_check_char(code[:17])
    if code[17] != expected:
        raise InputError(
            f"wrong check character {code[17]!r}, GB 32100 gives {expected!r}", field=field
        )
    return code


# --- GB 11643 resident ID -------------------------------------------------------------------


def resident_id_check_char(first17: str) -> str:
    """The 18th character of a resident ID number (ISO 7064 MOD 11-2)."""
    total = sum(int(c) * w for c, w in zip(first17, _ID_WEIGHTS, strict=True))
    return _ID_CHECK[total % 11]


def check_resident_id(value: object, *, field: str = "id_number") -> str:
    """Return ``value`` if it is a valid 18-character resident ID number (birth date included)."""
    if not isinstance(value, str):
        raise InputError("must be a string of 18 characters (GB 11643 ID)", field=field)
    code = value.strip().upper()
    if len(code) != 18 or not code[:17].isdigit() or not (code[17].isdigit() or code[17] == "X"):
        raise InputError(
            "must be 17 digits and a check digit or X (GB 11643 resident ID)", field=field
        )
    try:
        dt.date(int(code[6:10]), int(code[10:12]), int(code[12:14]))
    except ValueError:
        raise InputError(f"birth date {code[6:14]} is not a date (GB 11643)", field=field) from None
    expected = resident_id_check_char(code[:17])
    if code[17] != expected:
        raise InputError(
            f"wrong check character {code[17]!r}, GB 11643 gives {expected!r}", field=field
        )
    return code


# --- ISO 7064 MOD 37,36 ---------------------------------------------------------------------


def _mod37_36_step(p: int, v: int) -> int:
    p = (p + v) % 36
    if p == 0:
        p = 36
    return (2 * p) % 37


# _STEP[p][v]: the next p after a character of value v (the algorithm as a lookup table)
_STEP = [[_mod37_36_step(p, v) for v in range(36)] for p in range(37)]
_VALUES = bytes.maketrans(ALNUM36.encode(), bytes(range(36)))
_ALNUM36_RE = re.compile(r"[0-9A-Z]*")


def mod37_36_check_char(text: str) -> str:
    """ISO/IEC 7064 MOD 37,36 check character over ``text`` (alphabet 0-9A-Z, values 0-35).

    p = 36; for each character: p = (p + v) mod 36, 0 becomes 36, p = 2p mod 37;
    check = alphabet[(37 - p) mod 36].
    """
    if not _ALNUM36_RE.fullmatch(text):
        bad = next(c for c in text if c not in _ALNUM36_VALUE)
        raise InputError(f"character {bad!r} is outside 0-9A-Z", field="identifier")
    return _mod37_36(text)


def _mod37_36(text: str) -> str:
    """:func:`mod37_36_check_char` over a ``text`` already known to be 0-9A-Z (no scan)."""
    p = 36
    for v in text.encode().translate(_VALUES):
        p = _STEP[p][v]
    return ALNUM36[(37 - p) % 36]


# --- GB/T 36904 identifier ------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class LicenceIdentifier:
    """A GB/T 36904 e-licence identifier: type, issuer, serial, version and check."""

    type_code: str
    issuer_code: str
    serial: str
    version: int

    @property
    def check(self) -> str:
        return mod37_36_check_char(
            self.type_code + self.issuer_code + self.serial + f"{self.version:03d}"
        )

    def __str__(self) -> str:
        return (
            f"{IDENTIFIER_PREFIX}.{self.type_code}.{self.issuer_code}."
            f"{self.serial}.{self.version:03d}.{self.check}"
        )

    def with_version(self, version: int) -> LicenceIdentifier:
        return LicenceIdentifier(self.type_code, self.issuer_code, self.serial, version)


def check_type_code(value: object, *, field: str = "type_code") -> str:
    """A licence type code: the defining authority's 18-character USCC plus 3 digits."""
    if not isinstance(value, str) or not _TYPE_CODE_RE.fullmatch(value):
        raise InputError(
            "must be 21 characters: the defining authority's USCC and 3 digits (GB/T 36904)",
            field=field,
        )
    check_uscc(value[:18], field=field)
    return value


def parse_identifier(value: object, *, field: str = "identifier") -> LicenceIdentifier:
    """Parse and check a GB/T 36904 identifier."""
    if not isinstance(value, str):
        raise InputError("must be a string (GB/T 36904 identifier)", field=field)
    text = value.strip()
    m = _IDENTIFIER_RE.fullmatch(text)
    if m is not None:  # the common case: well-formed; check the check
        type_code, issuer_code, serial, version, check = m.groups()
        if version != "000":
            # the regex admits 0-9A-Z only, and "001" is f"{1:03d}": LicenceIdentifier.check
            expected = _mod37_36(type_code + issuer_code + serial + version)
            if expected != check:
                raise InputError(
                    f"wrong check character {check!r}, ISO 7064 MOD 37,36 gives {expected!r}",
                    field=field,
                )
            return LicenceIdentifier(type_code, issuer_code, serial, int(version))
    if not text.startswith(IDENTIFIER_PREFIX + "."):
        raise InputError(f"must start with {IDENTIFIER_PREFIX}. (GB/T 36904)", field=field)
    parts = text[len(IDENTIFIER_PREFIX) + 1 :].split(".")
    if len(parts) != 5:
        raise InputError(
            "must have type, issuer, serial, version and check after the prefix (GB/T 36904)",
            field=field,
        )
    type_code, issuer_code, serial, version, check = parts
    if not _TYPE_CODE_RE.fullmatch(type_code):
        raise InputError("type code must be 18 characters and 3 digits", field=field)
    if len(issuer_code) != 18 or any(c not in _USCC_VALUE for c in issuer_code):
        raise InputError("issuer code must be an 18-character USCC", field=field)
    if not _SERIAL_RE.fullmatch(serial):
        raise InputError("serial must be 1-32 characters 0-9A-Z", field=field)
    if not _VERSION_RE.fullmatch(version) or version == "000":
        raise InputError("version must be 3 digits from 001", field=field)
    if len(check) != 1 or check not in _ALNUM36_VALUE:
        raise InputError("check must be one character 0-9A-Z", field=field)
    ident = LicenceIdentifier(type_code, issuer_code, serial, int(version))
    if ident.check != check:
        raise InputError(
            f"wrong check character {check!r}, ISO 7064 MOD 37,36 gives {ident.check!r}",
            field=field,
        )
    return ident


def new_serial() -> str:
    """A fresh serial from the CSPRNG: 16 characters 0-9A-Z, uniform (about 82.7 bits)."""
    return (
        str(gmpy2.digits(secrets.randbelow(36**SERIAL_LENGTH), 36))
        .upper()
        .rjust(SERIAL_LENGTH, "0")
    )
