"""Subject ids as the project reads them: checked, parsed as numbers the way ids are written, and
canonicalized — the text pseudonyms and subject hashes are computed over.

The canonical text of an id is the text of the integer for integral numbers (`363`, `363.0` →
`"363"`) and the text itself otherwise. Pure functions: no storage, no SQL.
"""

from __future__ import annotations

import math
import re
from decimal import Decimal, InvalidOperation

from dataflow_governance.errors import SubjectIdError

MAX_SUBJECT_ID_LENGTH = 256


def check_subject_id(subject_id: object) -> str:
    """The id as given, if it can name someone: printable ASCII, at most 256 characters. Other
    scripts' digits (`١٣`) and invisible characters (U+202E, U+0085) are refused, not read as 13."""
    text = "" if subject_id is None else str(subject_id)
    if not text.strip():
        raise SubjectIdError("the subject id is empty; give the value of the subject's identity column")
    if len(text) > MAX_SUBJECT_ID_LENGTH:
        raise SubjectIdError(f"the subject id is longer than {MAX_SUBJECT_ID_LENGTH} characters")
    if re.search(r"[\x00-\x1f\x7f]", text):
        raise SubjectIdError("the subject id contains control characters")
    if not text.isascii():
        raise SubjectIdError("the subject id must be printable ASCII (other characters, invisible ones and other "
                             "scripts' digits included, could name someone else than what is shown)")
    return text


# A number as ids are written: ASCII digits, an optional sign and fraction; no exponent (1e5000 would
# be built digit by digit), no underscores (`1_3` is not 13), at most 38 digits each side.
_NUMBER = re.compile(r"^\s*[+-]?[0-9]{1,38}(\.[0-9]{1,38})?\s*$")


def as_number(value: object) -> int | Decimal | None:
    """The numeric value of an id (`"363"`, `363.0`, `" 363 "` → 363), or None when it is not a number."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        if not math.isfinite(value):
            return None
        if not _NUMBER.match(repr(value)):  # repr() of a float may use an exponent (1e+16)
            return _float_text(repr(value))
        value = repr(value)
    text = str(value)
    if not _NUMBER.match(text):
        return None
    try:
        number = Decimal(text.strip())
    except (InvalidOperation, ValueError):
        return None
    return int(number) if number == number.to_integral_value() else number


def _float_text(text: str) -> int | Decimal | None:
    """repr() of a float may use an exponent (1e+16): read it, bounded, as the float it came from."""
    match = re.fullmatch(r"([+-]?[0-9]+(?:\.[0-9]+)?)e([+-]?[0-9]{1,3})", text.strip())
    if not match or abs(int(match.group(2))) > 38:
        return None
    number = Decimal(text.strip())
    return int(number) if number == number.to_integral_value() else number


def canonical_id(subject_id: object) -> str:
    """The text pseudonyms and subject hashes are computed over."""
    number = as_number(subject_id)
    return str(number) if isinstance(number, int) else str(subject_id)


def record_matches(value: object, subject_id: str) -> bool:
    """A JSON record's id field is the subject: numbers numerically, strings exactly, null never."""
    if value is None or isinstance(value, bool):
        return False
    if isinstance(value, (int, float)):
        number = as_number(subject_id)
        return number is not None and as_number(value) == number
    return isinstance(value, str) and value == subject_id


def record_canonical(value: object) -> str | None:
    """The canonical id text of a JSON record's id field (None for null, booleans, objects)."""
    if value is None or isinstance(value, bool) or not isinstance(value, (int, float, str)):
        return None
    return canonical_id(value) if isinstance(value, (int, float)) else value
