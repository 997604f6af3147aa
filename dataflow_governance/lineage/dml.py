"""Statements that move data, each turned into the one query whose outputs are the target's columns.

Lineage traces queries. A statement that writes a table is a query plus a target:

- `INSERT [OVERWRITE] INTO t [(cols)] <query>` — parenthesized bodies and `WITH … INSERT` included;
- `CREATE TABLE t [(cols)] AS <query>`, `CREATE VIEW v [(cols)] AS <query>`;
- `UPDATE t SET c = e, … [FROM s] [WHERE w]` → `SELECT e AS c, … FROM t [, s] [WHERE w]`;
- `MERGE INTO t USING s ON j WHEN …` → per target column, the expressions every WHEN clause
  assigns it (`CASE WHEN <when condition> THEN e END` where the clause has one), `FROM t JOIN s
  ON j`; the ON columns become `join` influences, WHEN conditions `conditional` ones, and a
  `WHEN … THEN DELETE` is reported in `deletes`.

Each becomes a `Move`: the query, the target's name and, where the statement lists them, the
target columns the query's outputs land in, by position.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import cast

from sqlglot import exp


@dataclass(frozen=True)
class Move:
    query: exp.Query
    target: str | None
    target_columns: list[str] | None = None
    kind: str = "select"  # select | insert | create | update | merge
    deletes: bool = False  # a MERGE that deletes target rows
    static_partitions: tuple[str, ...] = ()  # `PARTITION (dt = '…')` columns the query does not fill


class NotAMove(ValueError):
    """A statement that moves no data between tables (DROP, SET, GRANT, a DELETE, …)."""


def table_name(table: exp.Table) -> str:
    return ".".join(part.name for part in table.parts)


def _unwrap(query: exp.Expr) -> exp.Expr:
    while isinstance(query, exp.Subquery) and not query.alias:
        query = query.this
    return query


def _target(node: exp.Expr) -> tuple[str, list[str] | None]:
    table = node.this if isinstance(node, exp.Schema) else node
    columns = [c.name for c in node.expressions] if isinstance(node, exp.Schema) and node.expressions else None
    return table_name(cast(exp.Table, table)), columns


def as_move(statement: exp.Expr) -> Move:
    if isinstance(statement, (exp.Insert, exp.Create)):
        query = _unwrap(statement.expression) if statement.expression is not None else None
        if not isinstance(query, exp.Query):
            raise NotAMove(f"a {statement.key.upper()} without a query")
        query = _with_ctes(query, statement)
        target, columns = _target(statement.this)
        table = statement.this.this if isinstance(statement.this, exp.Schema) else statement.this
        partition = table.args.get("partition") if isinstance(table, exp.Table) else None
        static = tuple(e.this.name for e in (partition.expressions if partition else [])
                       if isinstance(e, exp.EQ) and isinstance(e.this, exp.Column))
        return Move(query, target, columns, "insert" if isinstance(statement, exp.Insert) else "create",
                    static_partitions=static)
    if isinstance(statement, exp.Update):
        return _update(statement)
    if isinstance(statement, exp.Merge):
        return _merge(statement)
    if isinstance(statement, exp.Query):
        return Move(statement, None)
    raise NotAMove(f"a {statement.key.upper()} statement moves no data between tables")


def _with_ctes(query: exp.Query, statement: exp.Expr) -> exp.Query:
    """`WITH … INSERT/UPDATE …`: the statement's CTEs belong to the query that reads them."""
    with_ = statement.args.get("with_") or statement.args.get("with")
    if with_ is None or not isinstance(query, exp.Select | exp.SetOperation):
        return query
    query = query.copy()
    inner = query.args.get("with_") or query.args.get("with")
    ctes = [*with_.expressions, *(inner.expressions if inner else [])]
    query.set("with_", exp.With(expressions=[c.copy() for c in ctes], recursive=with_.args.get("recursive")))
    return query


def _update(statement: exp.Update) -> Move:
    target = statement.this
    projections, columns = [], []
    for assignment in statement.expressions:
        column = assignment.this
        columns.append(column.name)
        projections.append(exp.alias_(assignment.expression.copy(), column.name, quoted=True))
    if not projections:
        raise NotAMove("an UPDATE that sets nothing")
    source = statement.args.get("from_") or statement.args.get("from")
    joins = (source.args.get("joins") or []) if source is not None else []
    from_tables = [source.this, *(j.this for j in joins)] if source is not None else []
    # T-SQL's `UPDATE t SET … FROM tab1 t JOIN …`: the target is an alias the FROM clause defines.
    aliased = next((t for t in from_tables if isinstance(t, exp.Table) and not target.db and t.alias == target.name), None)
    query = exp.select(*projections).from_((source.this if aliased is not None else target).copy())
    if source is not None and aliased is None:
        query = query.join(source.this.copy(), join_type="cross")
    for join in joins:
        query = query.join(join.copy())
    target = aliased if aliased is not None else target
    if statement.args.get("where") is not None:
        query = query.where(statement.args["where"].this.copy())
    return Move(_with_ctes(query, statement), table_name(target), columns, "update")


def _merge(statement: exp.Merge) -> Move:
    target, source = statement.this, statement.args.get("using")
    assigned: dict[str, list[exp.Expr]] = {}
    deletes = False
    whens = statement.args.get("whens")
    for when in (whens.expressions if whens is not None else []):
        condition = when.args.get("condition")
        action = when.args.get("then")
        pairs: list[tuple[str, exp.Expr]] = []
        if isinstance(action, exp.Update):
            pairs = [(a.this.name, a.expression) for a in action.expressions]
        elif isinstance(action, exp.Insert):
            names = [c.name for c in action.this.expressions] if isinstance(action.this, exp.Tuple | exp.Schema) else []
            values = action.expression.expressions if isinstance(action.expression, exp.Tuple) else []
            pairs = list(zip(names, values))
        elif (isinstance(action, exp.Var) and action.name.upper() == "DELETE") or action is None:
            deletes = True
            continue
        for name, value in pairs:
            value = value.copy()
            if condition is not None:
                value = exp.Case(ifs=[exp.If(this=condition.copy(), true=value)])
            assigned.setdefault(name, []).append(value)
    if not assigned:
        raise NotAMove("a MERGE that writes no column")
    projections = [exp.alias_(values[0] if len(values) == 1 else exp.Coalesce(this=values[0], expressions=values[1:]),
                              name, quoted=True) for name, values in assigned.items()]
    query = exp.select(*projections).from_(target.copy()).join(source.copy(), on=statement.args["on"].copy(),
                                                                join_type="full")
    return Move(query, table_name(target), list(assigned), "merge", deletes)
