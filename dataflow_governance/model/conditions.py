"""Conditions users write in configuration (a legal hold's `where`), checked when the manifest loads.

Such a condition is pasted into DELETE and UPDATE statements of erasures and sweeps, so it is
parsed with sqlglot and must be a boolean expression over the asset's own columns, literals and a
few plain scalar functions: no subquery, no table function (`read_text`, `read_csv`), no other
function. A bad condition fails `dfg check` and the manifest load, never an erasure halfway.
"""

from __future__ import annotations

import sqlglot
from sqlglot import exp
from sqlglot.errors import ParseError, TokenError

from dataflow_governance.errors import ConditionError

MAX_LENGTH = 2000

_ALLOWED = (
    exp.Column, exp.Identifier, exp.Literal, exp.Boolean, exp.Null, exp.Paren, exp.Tuple,
    exp.And, exp.Or, exp.Not, exp.EQ, exp.NEQ, exp.GT, exp.GTE, exp.LT, exp.LTE, exp.Is, exp.In, exp.Between,
    exp.Like, exp.ILike, exp.Add, exp.Sub, exp.Mul, exp.Div, exp.Neg, exp.Cast, exp.DataType, exp.DataTypeParam,
    exp.Lower, exp.Upper, exp.Coalesce, exp.Length, exp.Abs, exp.Interval, exp.Var, exp.CurrentDate,
    exp.CurrentTimestamp, exp.Substring, exp.Trim,
)
_BOOLEAN = (exp.And, exp.Or, exp.Not, exp.EQ, exp.NEQ, exp.GT, exp.GTE, exp.LT, exp.LTE, exp.Is, exp.In,
            exp.Between, exp.Like, exp.ILike, exp.Boolean, exp.Paren, exp.Column)


def check_condition(where: str, columns: set[str] | None) -> exp.Expr:
    """Parse and restrict a configured condition; `columns` (when known) are the only ones allowed."""
    if len(where) > MAX_LENGTH:
        raise ConditionError(f"condition longer than {MAX_LENGTH} characters")
    try:
        statements = sqlglot.parse(f"SELECT 1 WHERE {where}")
    except (ParseError, TokenError) as exc:
        raise ConditionError(f"condition does not parse: {str(exc).splitlines()[0]}") from None
    if len(statements) != 1 or not isinstance(statements[0], exp.Select) or not statements[0].args.get("where"):
        raise ConditionError("condition must be one boolean expression (no ';', no second statement)")
    select = statements[0]
    if set(select.args) - {"expressions", "where"} - {k for k, v in select.args.items() if not v}:
        raise ConditionError("condition must be one boolean expression, without clauses after it")
    condition = select.args["where"].this
    for node in condition.walk():
        if not isinstance(node, _ALLOWED):
            raise ConditionError(f"condition may not use {node.key.upper()} (only comparisons, AND/OR/NOT, "
                                 "literals, columns and plain scalar functions)")
        if isinstance(node, exp.Column) and (node.table or (columns is not None and node.name not in columns)):
            known = ", ".join(sorted(columns or ())) or "(none declared)"
            raise ConditionError(f"condition names column {node.sql()!r}, which is not a column of this asset; "
                                 f"columns: {known}")
    while isinstance(condition, exp.Paren):
        condition = condition.this
    if not isinstance(condition, _BOOLEAN):
        raise ConditionError("condition must be a boolean expression (a comparison, IN, LIKE, IS, AND/OR/NOT)")
    return condition
