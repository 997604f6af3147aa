"""Set-based anonymization in the warehouse: per column null, keyed hash, or generalization.

The keyed hash is HMAC-SHA256 with the project's key, hex, first 32 characters — the same value
`keys.keyed_hash` computes, so a pseudonym written by a sweep matches one written by an asset.
Each engine spells it in its own SQL (`Engine.keyed_hash`). Key material is always a bound
parameter, never SQL text.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlglot import exp

from dataflow_governance.storage.warehouse import Warehouse, column_expr, table_expr

_TEXT_TYPES = ("VARCHAR", "TEXT", "CHAR", "STRING", "CHARACTER")


def prepare(warehouse: Warehouse, con: Any) -> None:
    """Whatever the engine needs before a keyed hash runs in SQL (PostgreSQL: pgcrypto)."""
    warehouse.engine.prepare_keyed_hash(con)


def key_parameters(warehouse: Warehouse, key: bytes) -> list:
    """The bound values one keyed-hash expression takes, in the order it takes them."""
    return warehouse.engine.keyed_hash_parameters(key)


def keyed_hash_expr(warehouse: Warehouse, text: exp.Expr) -> exp.Expr:
    """`keys.keyed_hash` in SQL over a text expression; takes `key_parameters` as bound values."""
    return warehouse.engine.keyed_hash(text)


def method_expr(warehouse: Warehouse, method: str, column: str) -> exp.Expr:
    col = column_expr(column)
    text = exp.cast(col, "TEXT")
    if method == "nullify":
        return exp.Null()
    if method == "hash":
        return keyed_hash_expr(warehouse, text)
    if method == "generalize_date":
        return exp.func("date_trunc", exp.Literal.string("month"), col)
    if method == "generalize_ip":  # IPv4 → its /24 network address
        return exp.func("regexp_replace", text, exp.Literal.string(r"\.[0-9]+$"), exp.Literal.string(".0"))
    if method == "generalize_postcode":
        return exp.func("substr", text, exp.Literal.number(1), exp.Literal.number(2))
    raise ValueError(f"unknown anonymization method {method!r}")


def needs_text(warehouse: Warehouse, table: str, methods: Mapping[str, str]) -> list[str]:
    """Columns whose type cannot hold what their method writes (a hash into a BIGINT id)."""
    types = warehouse.columns(table)
    return [c for c, m in methods.items()
            if m in ("hash", "generalize_ip", "generalize_postcode") and not types.get(c, "").upper().startswith(_TEXT_TYPES)]


def widen_to_text(warehouse: Warehouse, con: Any, table: str, columns: list[str]) -> None:
    for column in columns:
        alter = exp.Alter(this=table_expr(table), kind="TABLE", actions=[
            exp.AlterColumn(this=exp.to_identifier(column, quoted=True), dtype=exp.DataType.build("TEXT"))])
        con.execute(warehouse.render(alter))


def update_statement(warehouse: Warehouse, table: str, methods: Mapping[str, str], where: exp.Expr,
                     key: bytes) -> tuple[str, list]:
    """UPDATE … SET col = method(col) … WHERE …, with its bound parameters (key material)."""
    update = exp.Update(
        this=table_expr(table),
        expressions=[exp.EQ(this=column_expr(c), expression=method_expr(warehouse, m, c)) for c, m in methods.items()],
        where=exp.Where(this=where),
    )
    params = [p for m in methods.values() if m == "hash" for p in key_parameters(warehouse, key)]
    return warehouse.render_bound(update), params
