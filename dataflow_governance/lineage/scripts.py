"""Lineage across a SQL script, as a session runs it: temp tables, CTAS chains, INSERT then SELECT.

Each statement that moves data is traced in order. A table the script creates joins the session's
schema with the columns the statement gave it, so later statements resolve `SELECT *` from it and
its columns; a statement that moves no data (DROP, SET, DELETE, GRANT …) is listed as skipped.
The script's end-to-end lineage composes each written table's columns through the tables written
earlier in the same script, down to the tables the script only reads.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

import sqlglot
from sqlglot import exp
from sqlglot.errors import SchemaError, SqlglotError
from sqlglot.schema import MappingSchema

from dataflow_governance.lineage.dml import NotAMove, as_move
from dataflow_governance.lineage.sql import (
    ColumnLineage,
    DirectSource,
    IndirectSource,
    LineageAnalyzer,
    StatementLineage,
    declared_table,
    parse_statements,
)

_RANK = {"identity": 0, "transformation": 1, "aggregation": 2}


@dataclass(frozen=True)
class ScriptLineage:
    statements: tuple[StatementLineage, ...]
    skipped: tuple[str, ...]
    end_to_end: dict[str, dict[str, ColumnLineage]]
    numbers: tuple[int, ...] = ()  # each traced statement's place in the script, from 1

    def to_dict(self) -> dict:
        return {"statements": [{"statement": n, **s.to_dict()} for n, s in zip(self.numbers, self.statements)],
                "skipped": list(self.skipped),
                "end_to_end": {table: {name: c.to_dict() for name, c in columns.items()}
                               for table, columns in self.end_to_end.items()}}


def parse_script(sql: str, dialect: str | None) -> list[exp.Expr]:
    """The script's statements, procedure bodies flattened in."""
    return _flatten(parse_statements(sql, dialect), dialect)


_BODY = re.compile(r"^\s*(?:AS\s+)?BEGIN\b(.*?)(?:\bEND\s*;?\s*)?$", re.IGNORECASE | re.DOTALL)


def _flatten(statements: list[exp.Expr], dialect: str | None) -> list[exp.Expr]:
    """Statements inside stored procedures (`CREATE PROCEDURE … BEGIN … END`) count as the
    script's own: a procedure is the script a scheduler runs."""
    flat: list[exp.Expr] = []
    for statement in statements:
        body = statement.expression if isinstance(statement, exp.Create) and str(
            statement.args.get("kind") or "").upper() in ("PROCEDURE", "FUNCTION") else None
        if isinstance(body, exp.Block):
            flat += _flatten(list(body.expressions), dialect)
        elif isinstance(body, exp.Command):
            match = _BODY.match(f"{body.this} {body.expression or ''}")
            try:
                flat += _flatten([s for s in sqlglot.parse(match.group(1), read=dialect) if s is not None], dialect)
            except (SqlglotError, AttributeError):  # no BEGIN … END, or a body sqlglot cannot read
                flat.append(statement)  # reported as skipped
        else:
            flat.append(statement)
    return flat


def script_lineage(sql: str, schema: Mapping | None = None, dialect: str | None = None,
                   strict: bool = False) -> ScriptLineage:
    session = MappingSchema(dict(schema or {}), dialect=dialect)
    given = schema is not None
    traced, skipped, numbers = [], [], []
    written: dict[str, dict[str, ColumnLineage]] = {}
    for number, statement in enumerate(parse_script(sql, dialect), start=1):
        if declared_table(statement) is None:  # a CREATE TABLE with columns declares them for what follows
            try:
                as_move(statement)
            except NotAMove as exc:
                skipped.append(f"statement {number}: {exc}")
                continue
        analyzer = LineageAnalyzer(session if (given or written) else None, dialect, strict=strict and given,
                                   strict_columns=strict and given)
        lineage = analyzer.statement_lineage(statement)
        if not given and lineage.warnings:  # tables the script did not create were never in a schema
            lineage = StatementLineage(**{**lineage.__dict__, "warnings": ()})
        traced.append(lineage)
        numbers.append(number)
        if lineage.target and "*" not in lineage.columns:
            composed = {name: compose(column, written) for name, column in lineage.columns.items()}
            previous = written.get(lineage.target, {}) if lineage.kind in ("insert", "update", "merge") else {}
            written[lineage.target] = {**previous, **{n: merge(previous.get(n), c) for n, c in composed.items()}}
            try:
                if session.find(exp.to_table(lineage.target), ensure_data_types=False) is None:
                    session.add_table(lineage.target, {name: "unknown" for name in lineage.columns}, dialect=dialect)
            except SchemaError:
                pass  # named at another depth than the schema's tables: traced by composition only
    return ScriptLineage(tuple(traced), tuple(skipped), written, tuple(numbers))


def compose(column: ColumnLineage, written: dict[str, dict[str, ColumnLineage]]) -> ColumnLineage:
    """A column's lineage with every source the script wrote earlier replaced by that source's own."""
    direct: dict[tuple[str, str], tuple[int, bool, bool]] = {}
    indirect = set(column.indirect)
    ambiguous = set(column.ambiguous)

    def add(table: str, name: str, rank: int, masking: bool, reveals: bool) -> None:
        old = direct.get((table, name))
        direct[(table, name)] = (max(rank, old[0]), masking or old[1], reveals or old[2]) if old else (rank, masking, reveals)

    for source in column.direct:
        upstream = written.get(source.table, {}).get(source.column)
        if upstream is None:
            add(source.table, source.column, _RANK[source.transformation], source.masking, source.reveals_values)
            continue
        for inner in upstream.direct:
            add(inner.table, inner.column, max(_RANK[source.transformation], _RANK[inner.transformation]),
                source.masking or inner.masking, source.reveals_values or inner.reveals_values)
        indirect |= set(upstream.indirect)
        ambiguous |= set(upstream.ambiguous)
    for influence in column.indirect:
        upstream = written.get(influence.table, {}).get(influence.column)
        if upstream is not None:
            indirect.discard(influence)
            indirect |= {IndirectSource(d.table, d.column, influence.kind) for d in upstream.direct}
            indirect |= set(upstream.indirect)
    names = {v: k for k, v in _RANK.items()}
    return ColumnLineage(
        direct=tuple(sorted(DirectSource(t, c, names[r], m, v) for (t, c), (r, m, v) in direct.items())),
        indirect=tuple(sorted(indirect)), ambiguous=tuple(sorted(ambiguous)))


def merge(old: ColumnLineage | None, new: ColumnLineage) -> ColumnLineage:
    """Two writes into one column (INSERT after CREATE, a MERGE): the sources of both."""
    if old is None:
        return new
    return ColumnLineage(direct=tuple(sorted(set(old.direct) | set(new.direct))),
                         indirect=tuple(sorted(set(old.indirect) | set(new.indirect))),
                         ambiguous=tuple(sorted(set(old.ambiguous) | set(new.ambiguous))))
