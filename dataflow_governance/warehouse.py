"""The warehouse: one small interface over DuckDB (embedded) and PostgreSQL.

Statements are built as sqlglot syntax trees and rendered for the engine's dialect, so table and
column names from configuration are quoted by the generator, never pasted into strings.
Connections are short-lived: DuckDB lets one process at a time write a database file, and each
Dagster run is its own process.
"""

from __future__ import annotations

import fcntl
import os
import re
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
from sqlglot import exp
from .errors import DfgError


LOCK_WAIT_S = 30.0
# What the project accepts as a schema name from configuration: it is still quoted by the generator.
IDENTIFIER = r"^[A-Za-z_][A-Za-z0-9_$]{0,62}$"


def private_file(path: Path) -> None:
    """Owner-only permissions on a file the project writes personal data into (and its WAL)."""
    for candidate in (path, path.with_name(path.name + ".wal")):
        if candidate.exists():
            candidate.chmod(0o600)


class WarehouseError(DfgError, RuntimeError):
    """A warehouse operation failed; the message names the table or connection."""


def table_expr(name: str, schema: str | None = None) -> exp.Table:
    """`users` or `analytics.users` → a quoted table reference."""
    parts = name.split(".")
    table = exp.Table(this=exp.to_identifier(parts[-1], quoted=True))
    db = parts[-2] if len(parts) > 1 else schema
    if db:
        table.set("db", exp.to_identifier(db, quoted=True))
    return table


def column_expr(name: str) -> exp.Column:
    return exp.column(name, quoted=True)


_PANDAS_TO_SQL = {"b": "BOOLEAN", "i": "BIGINT", "u": "BIGINT", "f": "DOUBLE", "M": "TIMESTAMP"}


def _sql_type(dtype) -> exp.DataType:
    kind = getattr(dtype, "kind", "O")
    if str(dtype).startswith("datetime64") and getattr(dtype, "tz", None) is not None:
        return exp.DataType.build("TIMESTAMPTZ")
    return exp.DataType.build(_PANDAS_TO_SQL.get(kind, "TEXT"))


@dataclass(frozen=True)
class Warehouse:
    kind: str  # "duckdb" | "postgres"
    path: str | None = None
    dsn: str | None = None
    schema: str | None = None

    @property
    def dialect(self) -> str:
        return "duckdb" if self.kind == "duckdb" else "postgres"

    def describe(self) -> str:
        """Where the data is, safe to print: a DSN's password is never shown."""
        if self.kind == "duckdb":
            return str(self.path)
        return redact_dsn(self.dsn or "")

    @contextmanager
    def connect(self) -> Iterator[Any]:
        if self.kind == "duckdb":
            with self.file_lock(exclusive=False):
                with self._duckdb() as con:
                    yield con
        else:
            import psycopg

            try:
                con = psycopg.connect(self.dsn, autocommit=False)
            except psycopg.Error as exc:
                raise WarehouseError(f"cannot connect to PostgreSQL at {self.describe()}: {exc}") from None
            try:
                if self.schema:
                    ident = exp.to_identifier(self.schema, quoted=True).sql("postgres")
                    con.execute(f"CREATE SCHEMA IF NOT EXISTS {ident}")
                    con.execute(f"SET search_path TO {ident}")
                    con.commit()  # the schema is visible to other connections before any work starts
                yield con
                con.commit()
            except BaseException:
                con.rollback()
                raise
            finally:
                con.close()

    @contextmanager
    def file_lock(self, exclusive: bool) -> Iterator[None]:
        """Every connection to the DuckDB file holds this shared; replacing the file holds it exclusively."""
        lock_path = Path(f"{self.path}.lock")
        lock_path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH)
            yield
        finally:
            os.close(fd)

    @contextmanager
    def _duckdb(self) -> Iterator[Any]:
        import duckdb

        deadline = time.monotonic() + LOCK_WAIT_S
        while True:
            try:
                con = duckdb.connect(str(self.path))
                break
            except duckdb.Error as exc:
                # One process at a time may hold a DuckDB file: wait briefly for another command.
                if "lock" not in str(exc).lower() or time.monotonic() > deadline:
                    raise WarehouseError(f"cannot open DuckDB warehouse {self.path}: {exc}") from None
                time.sleep(0.05)
        private_file(Path(self.path))
        try:
            if self.schema:
                ident = self.render(exp.to_identifier(self.schema, quoted=True))
                con.execute(f"CREATE SCHEMA IF NOT EXISTS {ident}")
                con.execute(f"USE {ident}")  # an identifier, quoted by the generator: never a pasted value
            yield con
        finally:
            con.close()

    def render(self, statement: exp.Expression) -> str:
        return statement.sql(dialect=self.dialect)

    def render_bound(self, statement: exp.Expression) -> str:
        """SQL whose placeholders take bound values. psycopg reads `%` as a placeholder's start,
        so a literal percent sign (in a user's hold condition, say) is doubled there."""
        if self.kind != "postgres":
            return self.render(statement)
        marker = "__dfg_placeholder__"
        marked = statement.transform(lambda node: exp.column(marker) if isinstance(node, exp.Placeholder) else node)
        return self.render(marked).replace("%", "%%").replace(marker, "%s")

    def execute(self, statement: exp.Expression | str, params: Sequence | None = None) -> None:
        sql = statement if isinstance(statement, str) else self.render_bound(statement) if params else self.render(statement)
        with self.connect() as con, self._errors():
            con.execute(sql, params) if params else con.execute(sql)

    def fetch(self, statement: exp.Expression | str, params: Sequence | None = None) -> list[tuple]:
        sql = statement if isinstance(statement, str) else self.render_bound(statement) if params else self.render(statement)
        with self.connect() as con, self._errors():
            cursor = con.execute(sql, params) if params else con.execute(sql)
            return [tuple(row) for row in cursor.fetchall()]

    @contextmanager
    def _errors(self) -> Iterator[None]:
        """The engine's error as a WarehouseError: its first line, which names the object, not data."""
        import duckdb
        import psycopg

        try:
            yield
        except (duckdb.Error, psycopg.Error) as exc:
            raise WarehouseError(f"{self.kind} at {self.describe()}: {first_line_redacted(exc)}") from None

    def fetch_df(self, statement: exp.Expression | str, params: Sequence | None = None) -> pd.DataFrame:
        sql = statement if isinstance(statement, str) else self.render_bound(statement) if params else self.render(statement)
        with self.connect() as con, self._errors():
            if self.kind == "duckdb":
                return con.execute(sql, list(params or [])).df()
            cursor = con.execute(sql, list(params)) if params else con.execute(sql)
            names = [d.name for d in cursor.description]
            return pd.DataFrame(cursor.fetchall(), columns=names)

    def table_exists(self, table: str) -> bool:
        name = table.split(".")[-1]
        schema = table.split(".")[-2] if "." in table else self.schema
        query = exp.select("count(*)").from_("information_schema.tables").where(
            exp.column("table_name").eq(exp.Placeholder()))
        params = [name]
        if schema:
            query = query.where(exp.column("table_schema").eq(exp.Placeholder()))
            params.append(schema)
        else:
            query = query.where(exp.column("table_schema").eq(exp.func("current_schema")))
        return self.fetch(query, params)[0][0] > 0

    def columns(self, table: str) -> dict[str, str]:
        """Column name → type of an existing table; a missing table is a WarehouseError."""
        if not self.table_exists(table):
            raise WarehouseError(f"table {table!r} does not exist in the warehouse ({self.describe()})")
        name = table.split(".")[-1]
        query = (
            exp.select("column_name", "data_type").from_("information_schema.columns")
            .where(exp.column("table_name").eq(exp.Placeholder()))
            .order_by("ordinal_position")
        )
        params = [name]
        schema = table.split(".")[-2] if "." in table else self.schema
        if schema:
            query = query.where(exp.column("table_schema").eq(exp.Placeholder()))
            params.append(schema)
        else:
            query = query.where(exp.column("table_schema").eq(exp.func("current_schema")))
        return {name: str(kind) for name, kind in self.fetch(query, params)}

    def row_count(self, table: str) -> int:
        return int(self.fetch(exp.select("count(*)").from_(table_expr(table)))[0][0])

    def create_table_as(self, table: str, select_sql: str, read_dialect: str = "duckdb") -> int:
        """(Re)create `table` from a SELECT written in `read_dialect`, transpiled for this engine."""
        import sqlglot
        from sqlglot.errors import ParseError

        try:
            query = sqlglot.parse_one(select_sql, read=read_dialect)
        except ParseError as exc:
            raise WarehouseError(f"SQL for {table!r} does not parse: {exc}") from None
        target = table_expr(table)
        with self.connect() as con, self._errors():
            if self.kind == "duckdb":
                con.execute(self.render(exp.Create(this=target, kind="TABLE", replace=True, expression=query)))
            else:
                con.execute(self.render(exp.Drop(tables=[target], kind="TABLE", exists=True)))
                con.execute(self.render(exp.Create(this=target, kind="TABLE", expression=query)))
        return self.row_count(table)

    def create_table_if_missing(self, table: str, types: dict[str, str]) -> None:
        """CREATE TABLE IF NOT EXISTS with the given column types (an incremental asset's first run)."""
        schema = exp.Schema(this=table_expr(table), expressions=[
            exp.ColumnDef(this=exp.to_identifier(column, quoted=True), kind=exp.DataType.build(kind, dialect=self.dialect))
            for column, kind in types.items()])
        self.execute(exp.Create(this=schema, kind="TABLE", exists=True))

    def run_statement(self, sql: str, read_dialect: str = "duckdb") -> None:
        """One data-moving statement (MERGE, UPDATE, INSERT) written in `read_dialect`, transpiled."""
        import sqlglot
        from sqlglot.errors import ParseError

        try:
            statement = sqlglot.parse_one(sql, read=read_dialect)
        except ParseError as exc:
            raise WarehouseError(f"SQL does not parse: {str(exc).splitlines()[0]}") from None
        self.execute(statement)

    def replace_table(self, table: str, frame: pd.DataFrame) -> int:
        """Replace `table` with the rows of `frame` in one transaction; returns the row count."""
        return self._write_frame(table, frame, replace=True)

    def append_rows(self, table: str, frame: pd.DataFrame) -> int:
        """Add the rows of `frame` to `table`, creating it (typed from the frame) if missing."""
        return self._write_frame(table, frame, replace=False)

    def _write_frame(self, table: str, frame: pd.DataFrame, replace: bool) -> int:
        target = table_expr(table)
        with self.connect() as con, self._errors():
            if self.kind == "duckdb":
                con.register("_dfg_frame", frame)
                rows = exp.select("*").from_("_dfg_frame")
                if replace:
                    con.execute(self.render(exp.Create(this=target, kind="TABLE", replace=True, expression=rows)))
                else:
                    con.execute(self.render(exp.Create(this=target, kind="TABLE", exists=True, expression=rows.limit(0))))
                    con.execute(self.render(exp.insert(rows, target)))
                con.unregister("_dfg_frame")
            else:
                if replace:
                    con.execute(self.render(exp.Drop(tables=[target], kind="TABLE", exists=True)))
                schema = exp.Schema(this=target, expressions=[
                    exp.ColumnDef(this=exp.to_identifier(str(c), quoted=True), kind=_sql_type(frame[c].dtype))
                    for c in frame.columns
                ])
                con.execute(self.render(exp.Create(this=schema, kind="TABLE", exists=not replace)))
                columns = ", ".join(exp.to_identifier(str(c), quoted=True).sql("postgres") for c in frame.columns)
                with con.cursor().copy(f"COPY {self.render(target)} ({columns}) FROM STDIN") as copy:
                    for row in frame.itertuples(index=False, name=None):
                        copy.write_row([None if _is_missing(v) else v for v in row])
        return len(frame)


def _is_missing(value) -> bool:
    try:
        return bool(pd.isna(value))
    except (TypeError, ValueError):
        return False


def first_line_redacted(exc: BaseException) -> str:
    """An exception's first line without the values it quotes, so it can be shown and logged.

    Engines and libraries quote the offending value — DuckDB "Could not convert string '…' to
    INT64", PostgreSQL 'invalid input syntax for type integer: "…"' — never repeat it. Names of
    tables and columns ('column "x" does not exist') stay.
    """
    first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    first = re.sub(r"'[^']*'", "'…'", first)
    return re.sub(r':\s*"[^"]*"', ': "…"', first)


def redact_dsn(dsn: str) -> str:
    """postgresql://user:secret@host/db → postgresql://user@host/db; key=value DSNs lose password=…"""
    dsn = re.sub(r"(://[^:/@]+):[^@]*@", r"\1@", dsn)
    return re.sub(r"password\s*=\s*\S+\s*", "", dsn).strip()
