"""Which stored values are a given subject: typed, exact, and bound — never compared as pasted text.

A subject id arrives as text (the CLI, a request table). Stored, it may be a BIGINT, a DOUBLE
(pandas writes that for an int column with a gap), a string, `363.0` in a JSON line, or the
project's keyed pseudonym. Matching compares values of the stored column's type: numbers
numerically, strings exactly, pseudonyms against the pseudonym of the canonical id. The same
functions decide what an erasure deletes and what its verification looks for, so the two can
only agree by being right.

What an id is and its canonical text are `model.ids`; here, the comparisons that find it.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlglot import exp

from dataflow_governance.model.ids import as_number
from dataflow_governance.storage.warehouse import column_expr

_NUMERIC_TYPES = ("TINYINT", "SMALLINT", "INT", "BIGINT", "HUGEINT", "UBIGINT", "UINTEGER", "USMALLINT", "UTINYINT",
                  "INTEGER", "DECIMAL", "NUMERIC", "DOUBLE", "FLOAT", "REAL", "SERIAL", "BIGSERIAL")


def is_numeric_type(sql_type: str) -> bool:
    return str(sql_type).upper().split("(")[0].strip() in _NUMERIC_TYPES


@dataclass(frozen=True)
class Condition:
    """A WHERE condition with its bound values, in the order of its placeholders."""
    where: exp.Expr
    params: tuple

    @staticmethod
    def never() -> Condition:
        return Condition(exp.false(), ())


def column_matches(column: str, column_type: str, subject_id: str, pseudonym: str | None = None) -> Condition:
    """Rows whose `column` is the subject: typed comparison, the value bound as a parameter.

    `pseudonym` is given for a pseudonymized column: the stored value is then the pseudonym.
    """
    col = column_expr(column)
    if pseudonym is not None:
        return Condition(exp.cast(col, "TEXT").eq(exp.Placeholder()), (pseudonym,))
    if is_numeric_type(column_type):
        number = as_number(subject_id)
        if number is None:
            return Condition.never()  # text that is no number is no numeric id
        if isinstance(number, int):
            return Condition(col.eq(exp.cast(exp.Placeholder(), "DECIMAL(38, 0)")), (str(number),))
        return Condition(col.eq(exp.cast(exp.Placeholder(), "DECIMAL(38, 10)")), (str(number),))
    return Condition(exp.cast(col, "TEXT").eq(exp.Placeholder()), (subject_id,))


def sql_canonical_text(column: str, column_type: str) -> exp.Expr:
    """SQL for the canonical id text of a column's values (integral numbers without a fraction)."""
    col = column_expr(column)
    if is_numeric_type(column_type):
        return exp.cast(exp.cast(col, "DECIMAL(38, 0)"), "TEXT")
    return exp.cast(col, "TEXT")
