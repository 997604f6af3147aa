"""The warehouse: one small interface over whichever engine holds the data.

Statements are built as sqlglot syntax trees and rendered for the engine's dialect, so table and
column names from configuration are quoted by the generator, never pasted into strings. What
differs between engines (connecting, binding, bulk writes) is asked of `self.engine`, an instance
of the engine registered under `kind` (see `engines`).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlglot import exp

from dataflow_governance.model.spec import IDENTIFIER
from dataflow_governance.storage.engines import Engine, UnknownEngineError, engine_class
from dataflow_governance.storage.engines.base import (
    WarehouseError,
    column_expr,
    first_line_redacted,
    private_file,
    redact_dsn,
    table_expr,
)

if TYPE_CHECKING:
    import pandas as pd

    from dataflow_governance.model.manifest import WarehouseConfig

__all__ = ["IDENTIFIER", "Warehouse", "WarehouseError", "check_warehouse", "column_expr", "first_line_redacted",
           "private_file", "redact_dsn", "table_expr", "warehouse_for"]

_PLACEHOLDER = "__dfg_placeholder__"


@dataclass(frozen=True)
class Warehouse:
    kind: str  # a registered engine: "duckdb", "postgres", …
    path: str | None = None
    dsn: str | None = None
    schema: str | None = None
    store_path: str | None = None  # the project's own tables, where the engine cannot hold them

    @cached_property
    def engine(self) -> Engine:
        return engine_class(self.kind)(self)

    @cached_property
    def governance_store(self) -> Warehouse:
        """The governance store: where the ledger and the project's other own tables (requests, subject keys, dataset
        members) live: this warehouse, or — for an engine that cannot keep a table append-only
        (Spark) — a DuckDB file of the project's."""
        if self.engine.holds_project_tables:
            return self
        if not self.store_path:
            raise WarehouseError(f"warehouse kind {self.kind} keeps the ledger in a governance store of its own: "
                                 "set warehouse.store (a DuckDB file)")
        return Warehouse(kind="duckdb", path=self.store_path)

    @property
    def dialect(self) -> str:
        return self.engine.dialect

    @property
    def dbt_adapter(self) -> str | None:
        """The dbt adapter that builds dbt projects here (None: dbt cannot build on this engine)."""
        return self.engine.dbt_adapter

    def describe(self) -> str:
        """Where the data is, safe to print: a DSN's password is never shown."""
        return self.engine.describe()

    @contextmanager
    def connect(self) -> Iterator[Any]:
        with self.engine.connect() as con:
            yield con

    @contextmanager
    def session(self) -> Iterator[None]:
        """Many statements in a row (an erasure, a sweep): connections are reused where the engine can."""
        with self.engine.session():
            yield

    def render(self, statement: exp.Expr) -> str:
        return statement.sql(dialect=self.dialect)

    def render_bound(self, statement: exp.Expr) -> str:
        """SQL whose placeholders take bound values, in the driver's own parameter style."""
        marked = statement.transform(lambda node: exp.column(_PLACEHOLDER) if isinstance(node, exp.Placeholder) else node)
        return self.engine.bound_sql(self.render(marked), _PLACEHOLDER)

    def _sql(self, statement: exp.Expr | str, params: Sequence | None) -> str:
        if isinstance(statement, str):
            return statement
        return self.render_bound(statement) if params else self.render(statement)

    def execute(self, statement: exp.Expr | str, params: Sequence | None = None) -> None:
        sql = self._sql(statement, params)
        with self.connect() as con, self.errors():
            con.execute(sql, params) if params else con.execute(sql)

    def fetch(self, statement: exp.Expr | str, params: Sequence | None = None) -> list[tuple]:
        sql = self._sql(statement, params)
        with self.connect() as con, self.errors():
            cursor = con.execute(sql, params) if params else con.execute(sql)
            return [tuple(row) for row in cursor.fetchall()]

    @contextmanager
    def errors(self) -> Iterator[None]:
        """The engine's error as a WarehouseError: its first line, which names the object, not data."""
        try:
            yield
        except self.engine.driver_errors() as exc:
            raise WarehouseError(f"{self.kind} at {self.describe()}: {first_line_redacted(exc)}") from None

    def fetch_df(self, statement: exp.Expr | str, params: Sequence | None = None) -> pd.DataFrame:
        sql = self._sql(statement, params)
        with self.connect() as con, self.errors():
            return self.engine.fetch_frame(con, sql, params)

    def read_table(self, table: str) -> pd.DataFrame:
        """Every row of a table (name quoted by the generator)."""
        return self.fetch_df(exp.select("*").from_(table_expr(table)))

    def table_exists(self, table: str) -> bool:
        return self.engine.table_exists(table)

    def columns(self, table: str) -> dict[str, str]:
        """Column name → type of an existing table; a missing table is a WarehouseError."""
        return self.engine.columns(table)

    def schemas(self) -> list[str]:
        """The schemas of the database this warehouse is connected to."""
        return self.engine.schemas()

    def create_schema(self, schema: str) -> None:
        self.execute(exp.Create(this=exp.Table(db=exp.to_identifier(schema, quoted=True)), kind="SCHEMA", exists=True))

    def schema_exists(self, schema: str) -> bool:
        return schema in self.schemas()

    def schema_tables(self, schema: str) -> list[str]:
        """`schema.table` for every table (and view) in a schema; none when there is no such schema."""
        return self.engine.schema_tables(schema)

    def drop_schema(self, schema: str) -> int:
        """Drop a schema and everything in it; returns how many tables went."""
        tables = self.schema_tables(schema)
        # (sqlglot's Drop names a schema as a table's `db`; its `this` would render a nameless DROP.)
        self.execute(exp.Drop(tables=[exp.Table(db=exp.to_identifier(schema, quoted=True))], kind="SCHEMA",
                              exists=True, cascade=True))
        return len(tables)

    def row_count(self, table: str) -> int:
        return int(self.fetch(exp.select("count(*)").from_(table_expr(table)))[0][0])

    def create_table_as(self, table: str, select_sql: str, read_dialect: str = "duckdb") -> int:
        """(Re)create `table` from a SELECT written in `read_dialect`, transpiled for this engine."""
        query = _parse(select_sql, read_dialect, f"SQL for {table!r}")
        with self.connect() as con, self.errors():
            self.engine.create_table_as(con, table_expr(table), query)
        return self.row_count(table)

    def create_table_if_missing(self, table: str, types: dict[str, str]) -> None:
        """CREATE TABLE IF NOT EXISTS with the given column types (an incremental asset's first run)."""
        schema = exp.Schema(this=table_expr(table), expressions=[
            exp.ColumnDef(this=exp.to_identifier(column, quoted=True), kind=exp.DataType.build(kind, dialect=self.dialect))
            for column, kind in types.items()])
        self.execute(exp.Create(this=schema, kind="TABLE", exists=True))

    def run_statement(self, sql: str, read_dialect: str = "duckdb") -> None:
        """One data-moving statement (MERGE, UPDATE, INSERT) written in `read_dialect`, transpiled."""
        self.execute(_parse(sql, read_dialect, "SQL"))

    def replace_table(self, table: str, frame: pd.DataFrame) -> int:
        """Replace `table` with the rows of `frame` in one transaction; returns the row count."""
        with self.connect() as con, self.errors():
            self.engine.write_frame(con, table_expr(table), frame, replace=True)
        return len(frame)

    def append_rows(self, table: str, frame: pd.DataFrame) -> int:
        """Add the rows of `frame` to `table`, creating it (typed from the frame) if missing."""
        with self.connect() as con, self.errors():
            self.engine.write_frame(con, table_expr(table), frame, replace=False)
        return len(frame)


def _parse(sql: str, dialect: str, what: str) -> exp.Expr:
    import sqlglot
    from sqlglot.errors import ParseError

    try:
        return sqlglot.parse_one(sql, read=dialect)
    except ParseError as exc:
        raise WarehouseError(f"{what} does not parse: {str(exc).splitlines()[0]}") from None


def check_warehouse(config: WarehouseConfig) -> None:
    """The configured engine is registered and has the settings it needs; else one clear error."""
    try:
        engine = engine_class(config.kind)
    except UnknownEngineError as exc:
        raise WarehouseError(f"warehouse: {exc}") from None
    problem = engine.config_problem(config.path, config.dsn)
    if problem:
        raise WarehouseError(f"warehouse: {problem}")


def warehouse_for(config: WarehouseConfig, state_dir: Path) -> Warehouse:
    """The warehouse a manifest's `warehouse:` section names: checked, then bound to its engine.

    Args:
        config: the `warehouse:` section (kind, path or dsn, schema, governance store).
        state_dir: the folder relative paths of its files are resolved against.

    Returns:
        The warehouse (connections are opened when used).

    Raises:
        WarehouseError: the engine is not registered or lacks a setting it needs.
    """
    check_warehouse(config)

    def in_state(path: str) -> str:
        return str(Path(path) if Path(path).is_absolute() else Path(state_dir) / path)

    return Warehouse(kind=config.kind, path=in_state(config.path), dsn=config.dsn, schema=config.schema_name,
                     store_path=in_state(config.store))
