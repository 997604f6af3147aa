"""Column lineage from SQL, in one pass per statement.

The statement is parsed, qualified (stars expanded, columns bound to their sources) and scoped
once; then every output column is traced down the scope tree to table columns, with memoized
per-scope results, so a CTE chain is walked once however many columns read it.

Per output column, in OpenLineage's terms:
  direct   — table columns whose values flow into it: `identity` (the value as is),
             `transformation` (a function of it), `aggregation` (an aggregate over it), with a
             `masking` flag where a hash sits on the path;
  indirect — columns that only influence it: `join`, `filter` (WHERE, HAVING, QUALIFY, FILTER),
             `group_by`, `sort`, `window` (PARTITION BY / ORDER BY), `conditional` (CASE/IF tests).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import cast

import sqlglot
from sqlglot import exp
from sqlglot.errors import OptimizeError, SqlglotError
from sqlglot.optimizer.normalize_identifiers import normalize_identifiers
from sqlglot.optimizer.qualify import qualify
from sqlglot.optimizer.scope import Scope, build_scope
from sqlglot.schema import MappingSchema

from dataflow_governance.errors import LineageError
from dataflow_governance.lineage.dml import Move, NotAMove, as_move, table_name
from dataflow_governance.lineage.parsing import (  # noqa: F401 (public names of this module before the split)
    MAX_SQL_CHARS,
    check_dialect,
    check_size,
    parse_statement,
    parse_statements,
)
from dataflow_governance.lineage.statements import (
    AmbiguousSource,
    ColumnLineage,
    DirectSource,
    IndirectSource,
    StatementLineage,
)

_RANK = {"identity": 0, "transformation": 1, "aggregation": 2}
# Functions that return one of their arguments unchanged: the value is copied, not transformed.
_VALUE_PRESERVING = (exp.Coalesce, exp.Paren)
# Aggregates whose result is one of the input values (max(ssn) is an SSN): not anonymizing.
_REVEALING = tuple(getattr(exp, name) for name in (
    "Max", "Min", "AnyValue", "First", "Last", "ArgMax", "ArgMin", "GroupConcat", "ArrayAgg", "Mode",
    "FirstValue", "LastValue", "NthValue", "Lag", "Lead") if hasattr(exp, name))
MASKED, REVEALS = 1, 2  # flags carried along a path
_VALUE_KINDS = ("window", "conditional")  # influences on one value, not on which rows there are
_HASH_NAMES = {"md5", "sha1", "sha2", "sha256", "sha512", "hash", "hmac", "xxhash64", "farm_fingerprint",
               "hash_md5", "keyed_hash", "md5_number", "sha256_hex"}


@dataclass
class _Trace:
    """What reaches one expression: direct {(table, column): (rank, flags)} and indirect set."""

    direct: dict[tuple[str, str], tuple[int, int]] = field(default_factory=dict)  # flags: a bit set
    indirect: set[tuple[str, str, str]] = field(default_factory=set)
    ambiguous: set[tuple[str, tuple[str, ...]]] = field(default_factory=set)
    unverified: set[tuple[str, str]] = field(default_factory=set)  # sources a partial schema does not list

    def add_direct(self, key: tuple[str, str], rank: int, flags: int) -> None:
        old = self.direct.get(key)
        self.direct[key] = (max(rank, old[0]), flags | old[1]) if old else (rank, flags)

    def merge(self, other: _Trace, rank: int = 0, masked: int = 0, as_indirect: str | None = None) -> None:
        """Fold `other` in, composing its direct kinds with `rank`/`masked` — or all as indirect."""
        if as_indirect:
            # A value used to join or filter: what it was computed from (its own window or CASE
            # inputs too) shapes the join or filter; what shaped its rows keeps its kind.
            self.indirect.update((t, c, as_indirect) for (t, c) in other.direct)
            self.indirect.update((t, c, as_indirect if kind in _VALUE_KINDS else kind) for (t, c, kind) in other.indirect)
        else:
            for key, (r, m) in other.direct.items():
                self.add_direct(key, max(rank, r), masked | m)
            self.indirect |= other.indirect
        self.ambiguous |= other.ambiguous
        self.unverified |= other.unverified


_table_name = table_name


def _is_hash(node: exp.Expr) -> bool:
    # sqlglot names its digest nodes SHA, SHA2, SHA2Digest, SHA1Digest, MD5, MD5Digest, …
    if type(node).__name__.upper().startswith(("SHA", "MD5")):
        return True
    return isinstance(node, exp.Anonymous) and str(node.this).lower() in _HASH_NAMES


def _field_path(node: exp.Dot) -> tuple[exp.Column, str] | None:
    """`col.a.b` → (col, "a.b") when the chain is plain field names on a column."""
    names = []
    while isinstance(node, exp.Dot):
        if not isinstance(node.expression, exp.Identifier):
            return None
        names.append(node.expression.name)
        node = node.this
    return (node, ".".join(reversed(names))) if isinstance(node, exp.Column) and not isinstance(node.this, exp.Star) else None


def _is_star(projection: exp.Expr) -> bool:
    return isinstance(projection, exp.Star) or (isinstance(projection, exp.Column) and isinstance(projection.this, exp.Star))


def _projections(query: exp.Expr) -> list[exp.Expr]:
    """The select list of a scope's query (sqlglot types a scope's expression as any node)."""
    return cast(exp.Query, query).selects


def _outputs(scope: Scope, name: str) -> bool | None:
    """Whether a derived table or CTE has an output column of that name (or an unexpanded `*`);
    None for a table function whose columns are not named."""
    while scope.set_operation_scopes:
        scope = scope.set_operation_scopes[0]
    node = scope.expression
    if isinstance(node, exp.Lateral) and isinstance(node.this, exp.Subquery):
        node = node.this.this
    elif isinstance(node, (exp.Lateral, exp.Unnest)):
        alias = node.args.get("alias")
        columns = [c.name for c in alias.columns] if alias is not None and alias.columns else []
        return name in columns if columns else None
    return any(p.alias_or_name == name or _is_star(p) for p in _projections(node))


class _Tracer:
    def __init__(self, root: Scope, schema: MappingSchema | None = None, verify: bool = False):
        self.root = root
        self.schema = schema
        self.verify = verify  # the schema did not cover the statement: mark the sources it does not list
        self.scope_of_select: dict[int, Scope] = {}
        for scope in root.traverse():
            self.scope_of_select[id(scope.expression)] = scope
        self._column_memo: dict[tuple[int, str], _Trace] = {}
        self._clauses_memo: dict[int, _Trace] = {}
        self._position_memo: dict[tuple[int, int], _Trace] = {}
        self._alias_stack: set[tuple[int, str]] = set()  # alias references being followed (no cycles)

    # a named output column of a scope ----------------------------------------------------------
    def scope_column(self, scope: Scope, name: str) -> _Trace:
        key = (id(scope), name)
        if key not in self._column_memo:
            self._column_memo[key] = _Trace()  # breaks cycles (recursive CTEs)
            self._column_memo[key] = self._scope_column(scope, name)
        return self._column_memo[key]

    def _scope_column(self, scope: Scope, name: str) -> _Trace:
        if scope.set_operation_scopes:
            position = self._position(scope, name)
            trace = _Trace()
            for branch in scope.set_operation_scopes:
                trace.merge(self.scope_output(branch, position))
            return trace
        select = scope.expression
        if isinstance(select, (exp.Lateral, exp.Unnest)):
            return self._table_function(scope, select, name)
        for projection in _projections(select):
            if projection.alias_or_name == name or (name == "*" and _is_star(projection)):
                return self.projection(scope, projection)
        if name != "*" and any(_is_star(p) for p in _projections(select)):
            # A column of an unexpanded `*`: whichever source holds it.
            trace = _Trace()
            for projection in _projections(select):
                if _is_star(projection):
                    qualifier = projection.table if isinstance(projection, exp.Column) else ""
                    self._unqualified(scope, exp.column(name, table=qualifier or None), trace, None, 0, 0)
            return trace
        return _Trace()

    def _table_function(self, scope: Scope, node: exp.Expr, name: str) -> _Trace:
        """A LATERAL subquery's column is what it selects; a column of UNNEST, EXPLODE, FLATTEN or
        another table function over columns is a transformation of the columns it reads."""
        trace = _Trace()
        if isinstance(node, exp.Lateral) and isinstance(node.this, exp.Subquery):
            inner = self.scope_of_select.get(id(node.this.this))
            if inner is not None:  # the subquery's own scope: its FROM, WHERE and correlations
                return self.scope_column(inner, name)
            for projection in node.this.this.selects:
                if projection.alias_or_name == name or name == "*":
                    trace.merge(self.expression(scope, projection.unalias()))
            return trace
        arguments = [value for key, value in node.args.items() if key not in ("alias", "view", "outer", "offset")]
        self._walk(scope, arguments, trace, None, 1, 0)
        return trace

    def _position(self, scope: Scope, name: str) -> int:
        left = scope.set_operation_scopes[0]
        while left.set_operation_scopes:
            left = left.set_operation_scopes[0]
        names = [p.alias_or_name for p in _projections(left.expression)]
        return names.index(name) if name in names else -1

    def scope_output(self, scope: Scope, position: int) -> _Trace:
        if scope.set_operation_scopes:
            trace = _Trace()
            for branch in scope.set_operation_scopes:
                trace.merge(self.scope_output(branch, position))
            return trace
        selects = _projections(scope.expression)
        if not 0 <= position < len(selects):
            return _Trace()
        key = (id(scope), position)  # by position: an output may repeat a name (a.id, b.id)
        if key not in self._position_memo:
            self._position_memo[key] = self.projection(scope, selects[position])
        return self._position_memo[key]

    def projection(self, scope: Scope, projection: exp.Expr) -> _Trace:
        if _is_star(projection):  # no schema to expand it: every column of the sources, as `*`
            trace = self.star(scope, projection.table if isinstance(projection, exp.Column) else "")
        else:
            trace = self.expression(scope, projection.unalias() if isinstance(projection, exp.Alias) else projection)
        trace.indirect |= self.clauses(scope).indirect
        return trace

    def star(self, scope: Scope, qualifier: str) -> _Trace:
        trace = _Trace()
        for name, source in scope.selected_sources.items():
            if qualifier and name != qualifier:
                continue
            inner = source[1]
            if isinstance(inner, Scope):
                trace.merge(self.scope_column(inner, "*"))
            elif isinstance(inner, exp.Table):
                trace.add_direct((_table_name(inner), "*"), 0, 0)
        return trace

    # one expression inside a scope -------------------------------------------------------------
    def expression(self, scope: Scope, node: exp.Expr) -> _Trace:
        trace = _Trace()
        self._walk(scope, node, trace, role=None, rank=0, masked=0)
        return trace

    def _walk(self, scope: Scope, node, trace: _Trace, role: str | None, rank: int, masked: int) -> None:
        if node is None:
            return
        if isinstance(node, list):
            for item in node:
                self._walk(scope, item, trace, role, rank, masked)
            return
        if not isinstance(node, exp.Expr):
            return
        if isinstance(node, exp.Column):
            self._column(scope, node, trace, role, rank, masked)
            return
        if isinstance(node, exp.Dot) and _field_path(node) is not None:
            # A struct field (`w.asset.id`) is a column path: the field, not the whole struct.
            column, path = _field_path(node)
            self._column(scope, exp.column(f"{column.name}.{path}", table=column.table or None), trace, role, rank, masked)
            return
        if isinstance(node, (exp.Select, exp.SetOperation)):
            inner = self.scope_of_select.get(id(node))
            if inner is not None:
                sub = self.subquery(inner)
                trace.merge(sub, rank=rank, masked=masked, as_indirect=role)
            return
        if isinstance(node, exp.Subquery):
            self._walk(scope, node.this, trace, role, rank, masked)
            return
        if isinstance(node, exp.Window):
            self._walk(scope, node.this, trace, role, rank, masked)
            self._walk(scope, node.args.get("partition_by"), trace, role or "window", rank, masked)
            self._walk(scope, node.args.get("order"), trace, role or "window", rank, masked)
            return
        if isinstance(node, exp.Filter):
            self._walk(scope, node.this, trace, role, rank, masked)
            self._walk(scope, node.expression, trace, role or "filter", rank, masked)
            return
        if isinstance(node, exp.Case):
            self._walk(scope, node.this, trace, role or "conditional", rank, masked)
            for branch in node.args.get("ifs") or []:
                self._walk(scope, branch.this, trace, role or "conditional", rank, masked)
                self._walk(scope, branch.args.get("true"), trace, role, max(rank, 1), masked)
            self._walk(scope, node.args.get("default"), trace, role, max(rank, 1), masked)
            return
        if isinstance(node, exp.If):
            self._walk(scope, node.this, trace, role or "conditional", rank, masked)
            self._walk(scope, node.args.get("true"), trace, role, max(rank, 1), masked)
            self._walk(scope, node.args.get("false"), trace, role, max(rank, 1), masked)
            return
        child_rank = 2 if isinstance(node, exp.AggFunc) else (rank if isinstance(node, _VALUE_PRESERVING) else max(rank, 1))
        child_masked = masked | (MASKED if _is_hash(node) else 0) | (REVEALS if isinstance(node, _REVEALING) else 0)
        for value in node.args.values():
            self._walk(scope, value, trace, role, child_rank, child_masked)

    def _column(self, scope: Scope, column: exp.Column, trace: _Trace, role, rank: int, masked: int) -> None:
        if not column.table:
            self._unqualified(scope, column, trace, role, rank, masked)
            return
        source, _owner = self._source(scope, column.table)
        if source is None:
            return
        self._from_source(source, column.name, trace, role, rank, masked)

    def _unqualified(self, scope: Scope, column: exp.Column, trace: _Trace, role, rank: int, masked: int) -> None:
        """A column the qualifier could not bind (no schema): its one possible source, or ambiguous."""
        if role in ("sort", "filter", "group_by") and isinstance(scope.expression, exp.Select) \
                and (id(scope), column.name) not in self._alias_stack:
            # ORDER BY / GROUP BY / HAVING / QUALIFY may name an output column by its alias.
            for projection in scope.expression.selects:
                if isinstance(projection, exp.Alias) and projection.alias == column.name and not (
                        isinstance(projection.this, exp.Column) and projection.this.name == column.name):
                    self._alias_stack.add((id(scope), column.name))
                    try:
                        self._walk(scope, projection.this, trace, role, rank, masked)
                    finally:
                        self._alias_stack.discard((id(scope), column.name))
                    return
        current = scope
        while current is not None:
            sources = {name: source[1] for name, source in current.selected_sources.items()}
            if column.table:
                sources = {n: s for n, s in sources.items() if n == column.table}
            holds = {n: self._holds(s, column.name) for n, s in sources.items()}
            holders = [n for n, h in holds.items() if h] or [n for n, h in holds.items() if h is None]
            if len(sources) == 1 or len(holders) == 1:
                name = holders[0] if len(holders) == 1 else next(iter(sources))
                self._from_source(sources[name], column.name, trace, role, rank, masked)
                return
            if len(sources) > 1:
                tables = sorted(_table_name(source) if isinstance(source := sources[n], exp.Table) else n
                                for n in (holders or sources))
                trace.ambiguous.add((column.name, tuple(tables)))
                return
            current = current.parent  # no source here: a correlated column of an enclosing scope

    def _holds(self, source, name: str) -> bool | None:
        """Whether a source has the column: known for derived tables and tables in the schema."""
        if isinstance(source, Scope):
            return _outputs(source, name)
        if isinstance(source, exp.Table) and self.schema is not None \
                and self.schema.find(source, ensure_data_types=False) is not None:
            return name in self.schema.column_names(source)
        return None

    def _from_source(self, source, name: str, trace: _Trace, role, rank: int, masked: int) -> None:
        if isinstance(source, Scope):
            inner = self.scope_column(source, name)
            trace.merge(inner, rank=rank, masked=masked, as_indirect=role)
        elif isinstance(source, exp.Table):
            key = (_table_name(source), name)
            if role:
                trace.indirect.add((*key, role))
            else:
                trace.add_direct(key, rank, masked)
            # A table the schema lists without this column (one it does not list at all is a warning of its own).
            if self.verify and name != "*" and self._holds(source, name.split(".")[0]) is False:
                trace.unverified.add(key)

    def _source(self, scope: Scope, name: str):
        current = scope
        while current is not None:  # correlated columns belong to an enclosing scope
            if name in current.sources:
                return current.sources[name], current
            current = current.parent
        return None, None

    # what influences every column of a scope ---------------------------------------------------
    def clauses(self, scope: Scope) -> _Trace:
        key = id(scope)
        if key in self._clauses_memo:
            return self._clauses_memo[key]
        self._clauses_memo[key] = _Trace()
        trace = _Trace()
        select = scope.expression
        if isinstance(select, exp.Select):
            for join in select.args.get("joins") or []:
                self._walk(scope, join.args.get("on"), trace, "join", 0, 0)
            self._walk(scope, select.args.get("where"), trace, "filter", 0, 0)
            self._walk(scope, select.args.get("group"), trace, "group_by", 0, 0)
            self._walk(scope, select.args.get("having"), trace, "filter", 0, 0)
            self._walk(scope, select.args.get("qualify"), trace, "filter", 0, 0)
            self._walk(scope, select.args.get("order"), trace, "sort", 0, 0)
            # Whatever filtered or joined the rows of a derived table or CTE shaped these rows too.
            for source in scope.selected_sources.values():
                inner = source[1]
                if isinstance(inner, Scope):
                    trace.indirect |= self.clauses(inner).indirect
        self._clauses_memo[key] = trace
        return trace

    def subquery(self, scope: Scope) -> _Trace:
        """A scalar / IN / EXISTS subquery: all its outputs, plus what filtered it."""
        trace = _Trace()
        if scope.set_operation_scopes:
            for branch in scope.set_operation_scopes:
                trace.merge(self.subquery(branch))
            return trace
        for projection in _projections(scope.expression):
            trace.merge(self.scope_column(scope, projection.alias_or_name))
        trace.indirect |= self.clauses(scope).indirect
        return trace


# --- the public entry point ------------------------------------------------------------------

# Past these a statement is no transformation a person wrote; parsing it would take minutes of
# CPU and end in a RecursionError. Counted on tokens, which takes one linear pass.
def _split_target(statement: exp.Expr) -> Move:
    try:
        return as_move(statement)
    except NotAMove as exc:
        raise LineageError(f"no query to trace: {exc}; expected SELECT, INSERT, CREATE … AS, UPDATE or MERGE") from None


def _check_tables(query: exp.Expr, schema: MappingSchema, strict: bool = True) -> list[str]:
    """Tables the schema does not know: an error when strict, else warnings."""
    ctes = {cte.alias_or_name for cte in query.find_all(exp.CTE)}
    unknown = []
    for table in query.find_all(exp.Table):
        if not table.name or (table.name in ctes and not table.db):
            continue
        if isinstance(table.this, exp.Func):  # table functions (read_parquet(...), UNNEST)
            continue
        if schema.find(table, ensure_data_types=False) is None:
            if strict:
                raise LineageError(f"unknown table {_table_name(table)!r}: not in the schema given")
            unknown.append(f"table {_table_name(table)!r} is not in the schema given; its columns are best effort")
    return sorted(set(unknown))


class LineageAnalyzer:
    """Lineage for many statements over one schema, normalized once (a project's warehouse)."""

    def __init__(self, schema: Mapping | MappingSchema | None = None, dialect: str | None = None, strict: bool = True,
                 strict_columns: bool = False):
        check_dialect(dialect)
        self.dialect = dialect
        self.strict = strict  # a table the schema does not know is an error, not a warning
        # A column the schema does not list is an error too (else it is traced from its qualified or
        # only possible source and marked unverified: real catalogs are partial).
        self.strict_columns = strict_columns
        if isinstance(schema, MappingSchema) or schema is None:
            self.schema = schema
        else:
            self.schema = MappingSchema(logical_schema(dict(schema), dialect), dialect=dialect)
        self._fold = _presenter(dialect)

    def column_lineage(self, sql: str) -> StatementLineage:
        return self.statement_lineage(parse_statement(sql, self.dialect), sql)

    def statement_lineage(self, statement: exp.Expr, sql: str | None = None) -> StatementLineage:
        """Lineage of a parsed statement; with its `sql`, a retry after a partial schema parses it
        again instead of copying every statement beforehand (qualify works in place)."""
        logical_tables(statement, self.dialect)
        declared = declared_table(statement, self._fold)
        if declared is not None:
            return declared
        move = _split_target(statement)
        mapping, dialect = self.schema, self.dialect
        query, warnings = move.query, []
        written = _written_names(query, dialect)  # before qualify names them `_col_0`
        # Qualify works in place; where a failure is retried leniently, it works on a copy.
        retried = mapping is None or not (self.strict and self.strict_columns)
        first_try = query.copy() if retried and sql is None else query
        verify = False
        try:
            try:
                qualified: exp.Expr = qualify(first_try, schema=mapping, dialect=dialect,
                                    validate_qualify_columns=mapping is not None, identify=False, quote_identifiers=False)
            except OptimizeError as exc:
                if mapping is not None and self.strict:  # name the unknown table rather than a column it would have held
                    _check_tables(normalize_identifiers(query.copy(), dialect=dialect), mapping)
                    if self.strict_columns:
                        raise LineageError(f"cannot resolve the query against the schema: {exc}") from None
                if mapping is not None:  # a partial schema: best effort, and say what was not known
                    warnings.append(f"the schema does not cover every column ({str(exc).splitlines()[0]}); "
                                    "sources it does not list are marked unverified")
                    verify = True
                if sql is not None:  # the first try changed the query in place: start again from the text
                    reparsed = parse_statement(sql, dialect)
                    logical_tables(reparsed, dialect)
                    query = _split_target(reparsed).query
                qualified = _qualify_leniently(query, mapping, dialect)
            if mapping is not None:
                warnings += _check_tables(qualified, mapping, strict=self.strict)
            root = build_scope(qualified)
            if root is None:
                raise LineageError("the statement has no query scope to trace")
            return self._trace(root, move, warnings, written, verify)
        except RecursionError:
            raise LineageError("the statement is nested too deeply to trace (split it)") from None
        except (SqlglotError, ValueError, KeyError) as exc:
            if isinstance(exc, LineageError):
                raise
            raise LineageError(f"cannot trace the statement: {type(exc).__name__}: {str(exc).splitlines()[0]}") from None

    def _trace(self, root: Scope, move: Move, warnings: list[str], written: list[str | None],
               verify: bool = False) -> StatementLineage:
        mapping, dialect, fold = self.schema, self.dialect, self._fold
        target, target_columns = move.target, move.target_columns
        tracer = _Tracer(root, mapping, verify)
        names = _output_names(root)
        if len(written) == len(names):  # an unaliased expression is named by its SQL text, not `_col_0`
            names = [w if w is not None else n for n, w in zip(names, written)]
        # An INSERT without a column list fills the target's columns by position; a CREATE … AS names
        # its columns after the query, whatever an earlier version of the table had (mapping those by
        # position would pin each column on another's source).
        if target_columns is None and target and move.kind == "insert" and mapping is not None and "*" not in names:
            target_table = normalize_identifiers(exp.to_table(target, dialect=dialect), dialect=dialect)
            if mapping.find(target_table, ensure_data_types=False) is not None:
                known = [c for c in mapping.column_names(target_table) if c not in move.static_partitions]
                target_columns = known if len(known) == len(names) else None
        if target_columns is not None and len(target_columns) != len(names):
            raise LineageError(f"{target} takes {len(target_columns)} columns but the query returns {len(names)}")
        columns: dict[str, ColumnLineage] = {}
        for position, name in enumerate(names):
            out_name = fold(target_columns[position] if target_columns is not None else name)
            key, n = out_name, 1
            while key in columns:  # a repeated output name gets a suffix: id, id_2, id_3
                n += 1
                key = f"{out_name}_{n}"
            columns[key] = _finish(tracer.scope_output(root, position), fold)
        tables = sorted({fold(_table_name(source)) for scope in root.traverse() for source in scope.sources.values()
                         if isinstance(source, exp.Table)})
        return StatementLineage(columns=columns, tables=tuple(tables), target=fold(target) if target else None,
                                grouped=_grouped(root), kind=move.kind, deletes=move.deletes, warnings=tuple(warnings))


def column_lineage(sql: str, schema: Mapping | MappingSchema | None = None, dialect: str | None = None,
                   strict: bool = True, strict_columns: bool = False) -> StatementLineage:
    """Lineage of every output column of one statement that moves data (see `dml`)."""
    return LineageAnalyzer(schema, dialect, strict, strict_columns).column_lineage(sql)


def declared_table(statement: exp.Expr, fold=lambda name: name) -> StatementLineage | None:
    """`CREATE TABLE t (a INT, …)` without a query: the table's declared columns, each from nowhere."""
    if not (isinstance(statement, exp.Create) and statement.expression is None
            and str(statement.args.get("kind", "")).upper() == "TABLE" and isinstance(statement.this, exp.Schema)):
        return None
    columns = {fold(c.name): ColumnLineage() for c in statement.this.expressions if isinstance(c, exp.ColumnDef)}
    target = table_name(cast(exp.Table, statement.this.this))
    return StatementLineage(columns=columns, tables=(), target=fold(target), kind="create")


# --- BigQuery's table families ---------------------------------------------------------------------
# Date-sharded tables (events_20230101) are one logical table (events_yyyymmdd), as is a wildcard
# over them (events_2023*, events_*); a partition decorator (t$20230101, t$__UNPARTITIONED__) names
# its base table.
_SHARD = re.compile(r"^(?P<base>.+_)(?:19|20)\d\d(?:0[1-9]|1[0-2])(?:0[1-9]|[12]\d|3[01])$")
_WILDCARD = re.compile(r"^(?P<base>.+_)\d*\*$")
SHARDED = "yyyymmdd"


def logical_table_name(name: str) -> str:
    name = name.split("$", 1)[0] or name
    found = _SHARD.match(name) or _WILDCARD.match(name)
    return found.group("base") + SHARDED if found else name


def _shards_tables(dialect: str | None) -> bool:
    return dialect is not None and dialect.split(",")[0].strip().lower() == "bigquery"


def logical_tables(statement: exp.Expr, dialect: str | None) -> None:
    """Names every shard, wildcard and decorated table of a BigQuery statement by its logical table (in place)."""
    if not _shards_tables(dialect):
        return
    for table in statement.find_all(exp.Table):
        if isinstance(table.this, exp.Identifier):
            logical = logical_table_name(table.name)
            if logical != table.name:
                table.set("this", exp.to_identifier(logical, quoted=table.this.quoted))


def logical_schema(schema: dict, dialect: str | None) -> dict:
    """A BigQuery schema with its shards' tables merged under their logical name."""
    if not _shards_tables(dialect):
        return schema
    out: dict = {}
    for key, value in schema.items():
        if isinstance(value, dict) and value and all(isinstance(v, dict) for v in value.values()):
            out[key] = logical_schema(value, dialect)  # a project or dataset level
        elif isinstance(value, dict):
            name = ".".join(logical_table_name(part) if i == key.count(".") else part
                            for i, part in enumerate(key.split(".")))
            out[name] = {**out.get(name, {}), **value}
        else:
            out[key] = value
    return out


def _presenter(dialect: str | None):
    """Snowflake-like dialects fold unquoted names to upper case; report them as written (lower)."""
    strategy = sqlglot.Dialect.get_or_raise(dialect).NORMALIZATION_STRATEGY
    return str.lower if strategy.name == "UPPERCASE" else (lambda name: name)


def _qualify_leniently(query: exp.Expr, mapping: MappingSchema | None, dialect: str | None) -> exp.Expr:
    """Without a schema (or with a partial one) sqlglot cannot bind every column, and may refuse a
    statement it cannot fully resolve; the tracer binds what is left itself (one source, or
    ambiguous), so qualify what can be qualified and leave the rest."""
    try:
        return qualify(query.copy(), schema=mapping, dialect=dialect, validate_qualify_columns=False,
                       identify=False, quote_identifiers=False)
    except OptimizeError:
        return qualify(query.copy(), schema=mapping, dialect=dialect, validate_qualify_columns=False,
                       qualify_columns=False, identify=False, quote_identifiers=False)


def _written_names(query: exp.Expr, dialect: str | None) -> list[str | None]:
    """Per output position, the SQL text of an unaliased expression (what DuckDB and Spark call such a
    column); None where the query names it (an alias, a column, a star)."""
    while isinstance(query, exp.SetOperation):
        query = query.left
    if not isinstance(query, exp.Select):
        return []
    names: list[str | None] = []
    for projection in query.selects:
        if isinstance(projection, (exp.Alias, exp.Column, exp.Star)):
            names.append(None)
        else:
            names.append(projection.sql(dialect=dialect))
    return names


def _grouped(root: Scope) -> bool:
    scopes = root.set_operation_scopes or [root]
    return all(_grouped(s) if s.set_operation_scopes else _select_grouped(s.expression) for s in scopes)


def _select_grouped(select: exp.Expr) -> bool:
    if select.args.get("group"):
        return True
    # An aggregate whose nearest enclosing window-or-select is this select (not a window, not a subquery).
    return any(agg.find_ancestor(exp.Window, exp.Select) is select
               for projection in _projections(select) for agg in projection.find_all(exp.AggFunc))


def _output_names(root: Scope) -> list[str]:
    scope = root
    while scope.set_operation_scopes:
        scope = scope.set_operation_scopes[0]
    return ["*" if _is_star(p) else p.alias_or_name for p in _projections(scope.expression)]


_NAMES = {v: k for k, v in _RANK.items()}


def _finish(trace: _Trace, fold=lambda name: name) -> ColumnLineage:
    # Sorted as plain tuples: comparing dataclasses is several times slower.
    direct = tuple(DirectSource(*item) for item in sorted(
        (fold(t), fold(c), _NAMES[rank], bool(flags & MASKED), bool(flags & REVEALS))
        for (t, c), (rank, flags) in trace.direct.items()))
    indirect = tuple(IndirectSource(*item) for item in sorted({(fold(t), fold(c), kind) for t, c, kind in trace.indirect}))
    ambiguous = tuple(sorted(AmbiguousSource(fold(c), tuple(fold(t) for t in ts)) for c, ts in trace.ambiguous))
    unverified = tuple(sorted({(fold(t), fold(c)) for t, c in trace.unverified}))
    return ColumnLineage(direct=direct, indirect=indirect, ambiguous=ambiguous, unverified=unverified)


def table_dependencies(sql: str, dialect: str | None = None) -> list[str]:
    """Tables a statement reads (CTEs and its own target excluded), without needing a schema."""
    statement = parse_statement(sql, dialect)
    logical_tables(statement, dialect)
    if declared_table(statement) is not None:
        return []
    move = _split_target(statement)
    root = build_scope(move.query)
    if root is None:
        return []
    # A MERGE or UPDATE reads its own target; that is no dependency on another asset.
    return sorted({_table_name(s) for scope in root.traverse() for s in scope.sources.values() if isinstance(s, exp.Table)}
                  - ({move.target} if move.kind in ("merge", "update", "insert") else set()))
