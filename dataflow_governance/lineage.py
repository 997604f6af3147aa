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

import sqlglot
from sqlglot import exp
from sqlglot.errors import OptimizeError, ParseError, SqlglotError
from sqlglot.optimizer.normalize_identifiers import normalize_identifiers
from sqlglot.optimizer.qualify import qualify
from sqlglot.optimizer.scope import Scope, build_scope
from sqlglot.schema import MappingSchema

_RANK = {"identity": 0, "transformation": 1, "aggregation": 2}
# Functions that return one of their arguments unchanged: the value is copied, not transformed.
_VALUE_PRESERVING = (exp.Coalesce, exp.Paren)
# Aggregates whose result is one of the input values (max(ssn) is an SSN): not anonymizing.
_REVEALING = tuple(getattr(exp, name) for name in (
    "Max", "Min", "AnyValue", "First", "Last", "ArgMax", "ArgMin", "GroupConcat", "ArrayAgg", "Mode",
    "FirstValue", "LastValue", "NthValue", "Lag", "Lead") if hasattr(exp, name))
MASKED, REVEALS = 1, 2  # flags carried along a path
_HASH_NAMES = {"md5", "sha1", "sha2", "sha256", "sha512", "hash", "hmac", "xxhash64", "farm_fingerprint",
               "hash_md5", "keyed_hash", "md5_number", "sha256_hex"}


class LineageError(ValueError):
    """The SQL cannot be analysed; the message names the line/column or the unknown table/column."""


@dataclass(frozen=True, order=True)
class DirectSource:
    table: str
    column: str
    transformation: str = "identity"
    masking: bool = False
    reveals_values: bool = False  # an aggregate that returns input values (max, first, string_agg)

    def to_dict(self) -> dict:
        return {"table": self.table, "column": self.column, "transformation": self.transformation, "masking": self.masking}


@dataclass(frozen=True, order=True)
class IndirectSource:
    table: str
    column: str
    kind: str

    def to_dict(self) -> dict:
        return {"table": self.table, "column": self.column, "kind": self.kind}


@dataclass(frozen=True)
class ColumnLineage:
    direct: tuple[DirectSource, ...] = ()
    indirect: tuple[IndirectSource, ...] = ()

    def to_dict(self) -> dict:
        return {"direct": [d.to_dict() for d in self.direct], "indirect": [i.to_dict() for i in self.indirect]}


@dataclass(frozen=True)
class StatementLineage:
    columns: dict[str, ColumnLineage]
    tables: tuple[str, ...]
    target: str | None = None
    grouped: bool = False  # one output row per group (GROUP BY or aggregates), not per input row

    def to_dict(self) -> dict:
        out = {"columns": {name: c.to_dict() for name, c in self.columns.items()}, "tables": list(self.tables)}
        if self.target:
            out["target"] = self.target
        return out


# --- trace results inside one statement ------------------------------------------------------

@dataclass
class _Trace:
    """What reaches one expression: direct {(table, column): (rank, flags)} and indirect set."""

    direct: dict[tuple[str, str], tuple[int, bool]] = field(default_factory=dict)
    indirect: set[tuple[str, str, str]] = field(default_factory=set)

    def add_direct(self, key: tuple[str, str], rank: int, flags: int) -> None:
        old = self.direct.get(key)
        self.direct[key] = (max(rank, old[0]), flags | old[1]) if old else (rank, flags)

    def merge(self, other: _Trace, rank: int = 0, masked: int = 0, as_indirect: str | None = None) -> None:
        """Fold `other` in, composing its direct kinds with `rank`/`masked` — or all as indirect."""
        if as_indirect:
            self.indirect.update((t, c, as_indirect) for (t, c) in other.direct)
        else:
            for key, (r, m) in other.direct.items():
                self.add_direct(key, max(rank, r), masked | m)
        self.indirect |= other.indirect


def _table_name(table: exp.Table) -> str:
    return ".".join(part.name for part in table.parts)


def _is_hash(node: exp.Expression) -> bool:
    # sqlglot names its digest nodes SHA, SHA2, SHA2Digest, SHA1Digest, MD5, MD5Digest, …
    if type(node).__name__.upper().startswith(("SHA", "MD5")):
        return True
    return isinstance(node, exp.Anonymous) and str(node.this).lower() in _HASH_NAMES


class _Tracer:
    def __init__(self, root: Scope):
        self.root = root
        self.scope_of_select: dict[int, Scope] = {}
        for scope in root.traverse():
            self.scope_of_select[id(scope.expression)] = scope
        self._column_memo: dict[tuple[int, str], _Trace] = {}
        self._clauses_memo: dict[int, _Trace] = {}
        self._position_memo: dict[tuple[int, int], _Trace] = {}

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
        for projection in select.selects:
            if projection.alias_or_name == name:
                return self.projection(scope, projection)
        return _Trace()

    def _position(self, scope: Scope, name: str) -> int:
        left = scope.set_operation_scopes[0]
        while left.set_operation_scopes:
            left = left.set_operation_scopes[0]
        names = [p.alias_or_name for p in left.expression.selects]
        return names.index(name) if name in names else -1

    def scope_output(self, scope: Scope, position: int) -> _Trace:
        if scope.set_operation_scopes:
            trace = _Trace()
            for branch in scope.set_operation_scopes:
                trace.merge(self.scope_output(branch, position))
            return trace
        selects = scope.expression.selects
        if not 0 <= position < len(selects):
            return _Trace()
        key = (id(scope), position)  # by position: an output may repeat a name (a.id, b.id)
        if key not in self._position_memo:
            self._position_memo[key] = self.projection(scope, selects[position])
        return self._position_memo[key]

    def projection(self, scope: Scope, projection: exp.Expression) -> _Trace:
        trace = self.expression(scope, projection.unalias() if isinstance(projection, exp.Alias) else projection)
        trace.indirect |= self.clauses(scope).indirect
        return trace

    # one expression inside a scope -------------------------------------------------------------
    def expression(self, scope: Scope, node: exp.Expression) -> _Trace:
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
        if not isinstance(node, exp.Expression):
            return
        if isinstance(node, exp.Column):
            self._column(scope, node, trace, role, rank, masked)
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
        source, _owner = self._source(scope, column.table)
        if source is None:
            # ORDER BY / QUALIFY may name an output column by its alias: what that column reads.
            if role and not column.table and isinstance(scope.expression, exp.Select):
                for projection in scope.expression.selects:
                    if projection.alias_or_name == column.name and isinstance(projection, exp.Alias):
                        self._walk(scope, projection.this, trace, role, rank, masked)
            return
        if isinstance(source, Scope):
            inner = self.scope_column(source, column.name)
            trace.merge(inner, rank=rank, masked=masked, as_indirect=role)
        else:
            key = (_table_name(source), column.name)
            if role:
                trace.indirect.add((*key, role))
            else:
                trace.add_direct(key, rank, masked)

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
        for projection in scope.expression.selects:
            trace.merge(self.scope_column(scope, projection.alias_or_name))
        trace.indirect |= self.clauses(scope).indirect
        return trace


# --- the public entry point ------------------------------------------------------------------

# Past these a statement is no transformation a person wrote; parsing it would take minutes of
# CPU and end in a RecursionError. Counted on tokens, which takes one linear pass.
MAX_SQL_CHARS = 1_000_000
MAX_TOKENS = 200_000
MAX_NESTING = 256
MAX_SET_OPERATIONS = 500
MAX_BOOLEAN_TERMS = 5_000


def _check_size(sql: str, dialect: str | None) -> None:
    from sqlglot.tokens import TokenType

    if len(sql) > MAX_SQL_CHARS:
        raise LineageError(f"SQL is {len(sql):,} characters; the limit is {MAX_SQL_CHARS:,}")
    try:
        tokens = sqlglot.Dialect.get_or_raise(dialect).tokenize(sql)
    except SqlglotError as exc:
        raise LineageError(f"SQL does not parse: {str(exc).splitlines()[0]}") from None
    if len(tokens) > MAX_TOKENS:
        raise LineageError(f"SQL has {len(tokens):,} tokens; the limit is {MAX_TOKENS:,}")
    depth = deepest = set_ops = booleans = 0
    for token in tokens:
        if token.token_type == TokenType.L_PAREN:
            depth += 1
            deepest = max(deepest, depth)
        elif token.token_type == TokenType.R_PAREN:
            depth -= 1
        elif token.token_type in (TokenType.UNION, TokenType.INTERSECT, TokenType.EXCEPT):
            set_ops += 1
        elif token.token_type in (TokenType.AND, TokenType.OR):
            booleans += 1
    for count, limit, what in ((deepest, MAX_NESTING, "levels of parentheses"),
                               (set_ops, MAX_SET_OPERATIONS, "UNION/INTERSECT/EXCEPT branches"),
                               (booleans, MAX_BOOLEAN_TERMS, "AND/OR terms")):
        if count > limit:
            raise LineageError(f"SQL has {count:,} {what}; the limit is {limit:,} (split the statement)")


def check_dialect(dialect: str | None) -> None:
    try:
        sqlglot.Dialect.get_or_raise(dialect)
    except ValueError:
        known = ", ".join(sorted(d.value for d in sqlglot.dialects.Dialects if d.value))
        raise LineageError(f"unknown SQL dialect {dialect!r}; known: {known}") from None


def _parse(sql: str, dialect: str | None) -> exp.Expression:
    check_dialect(dialect)
    _check_size(sql, dialect)
    try:
        statements = [s for s in sqlglot.parse(sql, read=dialect) if s is not None]
    except ParseError as exc:
        first = exc.errors[0] if exc.errors else {}
        where = f"line {first.get('line')}, column {first.get('col')}: " if first else ""
        description = first.get("description") or str(exc).splitlines()[0]
        description = re.sub(r"<Token token_type: [^,]+, text: ([^,]*),[^>]*>", r"'\1'", description)
        raise LineageError(f"SQL does not parse: {where}{description}") from None
    except SqlglotError as exc:
        raise LineageError(f"SQL does not parse: {str(exc).splitlines()[0]}") from None
    except RecursionError:
        raise LineageError("SQL is nested too deeply to parse (split the statement)") from None
    if len(statements) != 1:
        raise LineageError(f"expected one SQL statement, got {len(statements)}")
    return statements[0]


def _split_target(statement: exp.Expression) -> tuple[exp.Expression, str | None, list[str] | None]:
    """CTAS and INSERT … SELECT → (query, target table, target column names if listed)."""
    if isinstance(statement, exp.Create) and isinstance(statement.expression, exp.Query):
        target = statement.this
        table = target.this if isinstance(target, exp.Schema) else target
        columns = [c.name for c in target.expressions] if isinstance(target, exp.Schema) else None
        return statement.expression, _table_name(table), columns
    if isinstance(statement, exp.Insert) and isinstance(statement.expression, exp.Query):
        target = statement.this
        table = target.this if isinstance(target, exp.Schema) else target
        columns = [c.name for c in target.expressions] if isinstance(target, exp.Schema) else None
        return statement.expression, _table_name(table), columns
    if isinstance(statement, exp.Query):
        return statement, None, None
    raise LineageError(f"no query to trace in a {statement.key.upper()} statement; expected SELECT, CTAS or INSERT … SELECT")


def _check_tables(query: exp.Expression, schema: MappingSchema) -> None:
    ctes = {cte.alias_or_name for cte in query.find_all(exp.CTE)}
    for table in query.find_all(exp.Table):
        if not table.name or table.name in ctes and not table.db:
            continue
        if isinstance(table.this, exp.Func):  # table functions (read_parquet(...), UNNEST)
            continue
        if schema.find(table, ensure_data_types=False) is None:
            raise LineageError(f"unknown table {_table_name(table)!r}: not in the schema given")


class LineageAnalyzer:
    """Lineage for many statements over one schema, normalized once (a project's warehouse)."""

    def __init__(self, schema: Mapping | MappingSchema | None = None, dialect: str | None = None):
        check_dialect(dialect)
        self.dialect = dialect
        if isinstance(schema, MappingSchema) or schema is None:
            self.schema = schema
        else:
            self.schema = MappingSchema(schema, dialect=dialect)
        self._fold = _presenter(dialect)

    def column_lineage(self, sql: str) -> StatementLineage:
        statement = _parse(sql, self.dialect)
        query, target, target_columns = _split_target(statement)
        mapping, dialect, fold = self.schema, self.dialect, self._fold
        try:
            qualified = qualify(query, schema=mapping, dialect=dialect, validate_qualify_columns=mapping is not None,
                                identify=False, quote_identifiers=False)
        except OptimizeError as exc:
            if mapping is not None:  # name the unknown table rather than a column it would have held
                _check_tables(normalize_identifiers(query, dialect=dialect), mapping)
            raise LineageError(f"cannot resolve the query against the schema: {exc}") from None
        if mapping is not None:
            _check_tables(qualified, mapping)
        root = build_scope(qualified)
        if root is None:
            raise LineageError("the statement has no query scope to trace")
        tracer = _Tracer(root)
        names = _output_names(root)
        if target_columns is None and target and mapping is not None:
            target_table = normalize_identifiers(exp.to_table(target, dialect=dialect), dialect=dialect)
            if mapping.find(target_table, ensure_data_types=False) is not None:
                target_columns = list(mapping.column_names(target_table))
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
                                grouped=_grouped(root))


def column_lineage(sql: str, schema: Mapping | MappingSchema | None = None, dialect: str | None = None) -> StatementLineage:
    """Lineage of every output column of one SELECT / CTAS / INSERT … SELECT statement."""
    return LineageAnalyzer(schema, dialect).column_lineage(sql)


def _presenter(dialect: str | None):
    """Snowflake-like dialects fold unquoted names to upper case; report them as written (lower)."""
    strategy = sqlglot.Dialect.get_or_raise(dialect).NORMALIZATION_STRATEGY
    return str.lower if strategy.name == "UPPERCASE" else (lambda name: name)


def _grouped(root: Scope) -> bool:
    scopes = root.set_operation_scopes or [root]
    return all(_grouped(s) if s.set_operation_scopes else _select_grouped(s.expression) for s in scopes)


def _select_grouped(select: exp.Expression) -> bool:
    if select.args.get("group"):
        return True
    # An aggregate whose nearest enclosing window-or-select is this select (not a window, not a subquery).
    return any(agg.find_ancestor(exp.Window, exp.Select) is select
               for projection in select.selects for agg in projection.find_all(exp.AggFunc))


def _output_names(root: Scope) -> list[str]:
    scope = root
    while scope.set_operation_scopes:
        scope = scope.set_operation_scopes[0]
    return [p.alias_or_name for p in scope.expression.selects]


_NAMES = {v: k for k, v in _RANK.items()}


def _finish(trace: _Trace, fold=lambda name: name) -> ColumnLineage:
    # Sorted as plain tuples: comparing dataclasses is several times slower.
    direct = tuple(DirectSource(*item) for item in sorted(
        (fold(t), fold(c), _NAMES[rank], bool(flags & MASKED), bool(flags & REVEALS))
        for (t, c), (rank, flags) in trace.direct.items()))
    indirect = tuple(IndirectSource(*item) for item in sorted({(fold(t), fold(c), kind) for t, c, kind in trace.indirect}))
    return ColumnLineage(direct=direct, indirect=indirect)


def table_dependencies(sql: str, dialect: str | None = None) -> list[str]:
    """Tables a statement reads (CTEs excluded), without needing a schema."""
    query, _target, _cols = _split_target(_parse(sql, dialect))
    root = build_scope(query)
    if root is None:
        return []
    return sorted({_table_name(s) for scope in root.traverse() for s in scope.sources.values() if isinstance(s, exp.Table)})
