"""HIPAA Safe Harbor (45 CFR 164.514(b)(2)) in SQL: the generalizations it allows, as expressions any
engine runs, and a SELECT that applies them to a source query.

- `year`: every element of a date but the year goes (a birth date, an admission date).
- `zip3`: a ZIP code to its first three digits, or `000` where those three digits cover 20,000
  people or fewer (the Census list HHS names).
- `age_90_plus`: ages over 89 become one group, `90+`.
- `remove`: the column's values become NULL.

Free text cannot be generalized in SQL: redact it with `redact_personal` (names, addresses,
dates of birth, contact details) — the run-time check scans it either way.
"""

from __future__ import annotations

from collections.abc import Mapping

from sqlglot import exp

from dataflow_governance.storage.warehouse import column_expr

# Three-digit ZIP prefixes of 20,000 or fewer people (2000 Census), which Safe Harbor turns into 000.
RESTRICTED_ZIP3 = ("036", "059", "063", "102", "203", "556", "692", "790", "821", "823", "830", "831", "878", "879",
                   "884", "890", "893")
METHODS = ("year", "zip3", "age_90_plus", "remove", "keep")


def generalize(method: str, column: str) -> exp.Expr:
    """One column, generalized by a Safe Harbor method (`keep`: as it is, for what is no identifier)."""
    col = column_expr(column)
    if method == "keep":
        return col
    if method == "remove":
        return exp.Null()
    if method == "year":
        return exp.Year(this=exp.cast(col, "DATE"))
    if method == "zip3":
        prefix = exp.func("substr", exp.cast(col, "TEXT"), exp.Literal.number(1), exp.Literal.number(3))
        restricted = exp.In(this=prefix.copy(), expressions=[exp.Literal.string(z) for z in RESTRICTED_ZIP3])
        return exp.Case(ifs=[exp.If(this=restricted, true=exp.Literal.string("000"))], default=prefix)
    if method == "age_90_plus":
        return exp.Case(ifs=[exp.If(this=exp.GT(this=col, expression=exp.Literal.number(89)), true=exp.Literal.string("90+"))],
                        default=exp.cast(col, "TEXT"))
    raise ValueError(f"unknown Safe Harbor method {method!r}; known: {', '.join(METHODS)}")


def safe_harbor_sql(source: str, methods: Mapping[str, str], dialect: str = "duckdb") -> str:
    """`SELECT <each column generalized> FROM (<source>)`: the columns are the source query's, each
    named with its method; a source column not named is left out (what is not chosen is not kept)."""
    if not methods:
        raise ValueError("name at least one column and its method")
    inner: exp.Expr = exp.maybe_parse(source, dialect=dialect)
    if not isinstance(inner, exp.Query):
        raise ValueError("source must be a query (SELECT …)")
    selects = [generalize(method, column).as_(column) for column, method in methods.items()]
    return exp.select(*selects).from_(inner.subquery("source")).sql(dialect)
