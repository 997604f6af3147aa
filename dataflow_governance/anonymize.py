"""Set-based anonymization in the warehouse: per column null, keyed hash, or generalization.

The keyed hash is HMAC-SHA256 with the project's key, hex, first 32 characters — the same value
`keys.keyed_hash` computes, so a pseudonym written by a sweep matches one written by an asset.
On PostgreSQL it runs as pgcrypto's `hmac()`, on DuckDB as a function registered on the
connection; the key is a bound parameter or a closure, never SQL text.
"""

from __future__ import annotations

from typing import Any

from sqlglot import exp

from .keys import keyed_hash
from .warehouse import Warehouse, column_expr, table_expr

HASH_FUNCTION = "dfg_keyed_hash"
_TEXT_TYPES = ("VARCHAR", "TEXT", "CHAR", "STRING", "CHARACTER")


def prepare(warehouse: Warehouse, con: Any, key: bytes) -> None:
    """Make the keyed hash callable from SQL on this connection."""
    if warehouse.kind == "duckdb":
        from duckdb.sqltypes import VARCHAR

        try:
            con.remove_function(HASH_FUNCTION)
        except Exception:  # not registered yet on this connection
            pass
        con.create_function(HASH_FUNCTION, lambda value: keyed_hash(key, value), [VARCHAR], VARCHAR)
    else:
        con.execute("CREATE EXTENSION IF NOT EXISTS pgcrypto")


def method_expr(warehouse: Warehouse, method: str, column: str) -> exp.Expression:
    col = column_expr(column)
    text = exp.cast(col, "TEXT")
    if method == "nullify":
        return exp.Null()
    if method == "hash":
        if warehouse.kind == "duckdb":
            return exp.func(HASH_FUNCTION, text)
        digest = exp.func("hmac", text, exp.Placeholder(), exp.Literal.string("sha256"))
        return exp.func("left", exp.func("encode", digest, exp.Literal.string("hex")), exp.Literal.number(32))
    if method == "generalize_date":
        return exp.func("date_trunc", exp.Literal.string("month"), col)
    if method == "generalize_ip":  # IPv4 → its /24 network address
        return exp.func("regexp_replace", text, exp.Literal.string(r"\.[0-9]+$"), exp.Literal.string(".0"))
    if method == "generalize_postcode":
        return exp.func("substr", text, exp.Literal.number(1), exp.Literal.number(2))
    raise ValueError(f"unknown anonymization method {method!r}")


def needs_text(warehouse: Warehouse, table: str, methods: dict[str, str]) -> list[str]:
    """Columns whose type cannot hold what their method writes (a hash into a BIGINT id)."""
    types = warehouse.columns(table)
    return [c for c, m in methods.items()
            if m in ("hash", "generalize_ip", "generalize_postcode") and not types.get(c, "").upper().startswith(_TEXT_TYPES)]


def widen_to_text(warehouse: Warehouse, con: Any, table: str, columns: list[str]) -> None:
    for column in columns:
        alter = exp.Alter(this=table_expr(table), kind="TABLE", actions=[
            exp.AlterColumn(this=exp.to_identifier(column, quoted=True), dtype=exp.DataType.build("TEXT"))])
        con.execute(warehouse.render(alter))


def update_statement(warehouse: Warehouse, table: str, methods: dict[str, str], where: exp.Expression) -> tuple[str, int]:
    """UPDATE … SET col = method(col) … WHERE …, and how many key parameters it takes."""
    update = exp.Update(
        this=table_expr(table),
        expressions=[exp.EQ(this=column_expr(c), expression=method_expr(warehouse, m, c)) for c, m in methods.items()],
        where=exp.Where(this=where),
    )
    hashed = sum(1 for m in methods.values() if m == "hash") if warehouse.kind == "postgres" else 0
    return warehouse.render(update), hashed
