"""What every warehouse engine provides, and the small pieces all of them share.

An `Engine` is bound to one warehouse's settings (kind, path, dsn, schema). The core
asks it for everything that differs between engines; statements themselves are sqlglot trees
rendered in the engine's `dialect`, so names are always quoted by the generator.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Protocol

from sqlglot import exp

from dataflow_governance.errors import WarehouseError

if TYPE_CHECKING:
    import pandas as pd


class Settings(Protocol):
    """Where a warehouse is (`warehouse.Warehouse` is one): what an engine is bound to."""

    @property
    def kind(self) -> str: ...
    @property
    def path(self) -> str | None: ...
    @property
    def dsn(self) -> str | None: ...
    @property
    def schema(self) -> str | None: ...

    def fetch(self, statement: exp.Expr | str, params: Sequence | None = None) -> list[tuple]: ...


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


def private_file(path: Path) -> None:
    """Owner-only permissions on a file the project writes personal data into (and its WAL)."""
    for candidate in (path, path.with_name(path.name + ".wal")):
        if candidate.exists():
            candidate.chmod(0o600)


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


class Engine:
    """One warehouse engine. Subclasses set `name` and `dialect` and implement the methods below."""

    name: ClassVar[str]
    dialect: ClassVar[str]  # sqlglot dialect statements are rendered in
    binary_type: ClassVar[str] = "BLOB"  # the column type for raw bytes (wrapped keys)
    # Whether the ledger and the project's other own tables can live in this engine; if not, they
    # live in the governance store (`Warehouse.governance_store`, a DuckDB file).
    holds_project_tables: ClassVar[bool] = True
    dbt_adapter: ClassVar[str | None] = None  # the dbt adapter that builds dbt projects on this engine

    def __init__(self, warehouse: Settings):
        self.warehouse = warehouse

    # settings ------------------------------------------------------------------------------------
    @classmethod
    def config_problem(cls, path: str | None, dsn: str | None) -> str | None:
        """What is missing from the manifest's warehouse section for this engine, if anything."""
        return None

    def describe(self) -> str:
        """Where the data is, safe to print (no secrets)."""
        raise NotImplementedError

    def dbt_target(self, scratch: Path | None = None) -> dict[str, Any]:
        """A dbt profile target writing where this warehouse is (`scratch`: a throwaway database
        for compiling alone, where the engine has one); the adapter must be installed."""
        raise WarehouseError(f"dbt projects on the {self.name} engine are not supported: no dbt adapter for it "
                             "is installed with the project")

    @contextmanager
    def external_writer(self) -> Iterator[None]:
        """While another program (dbt) writes this warehouse: a database server needs nothing."""
        yield

    def dataset_namespace(self) -> tuple[str, str]:
        """The OpenLineage (namespace, name prefix) of this warehouse's tables, after the spec's
        naming (`postgres://host:port` + `db.schema.`); no secret ever."""
        raise NotImplementedError

    # connections and statements ------------------------------------------------------------------
    @contextmanager
    def connect(self) -> Iterator[Any]:
        """A DB-API style connection with the warehouse's schema selected; committed on success."""
        raise NotImplementedError
        yield

    @contextmanager
    def session(self) -> Iterator[None]:
        """Within it, `connect` may hand out cursors of one open connection (cheaper than opening
        many); `reclaim` lets go of it while it replaces files."""
        yield

    def driver_errors(self) -> tuple[type[BaseException], ...]:
        """The driver's exception types, turned into WarehouseError by the warehouse."""
        raise NotImplementedError

    def bound_sql(self, sql: str, placeholder: str) -> str:
        """SQL text whose `placeholder` marks become the driver's parameter marks."""
        return sql.replace(placeholder, "?")

    def affected_rows(self, cursor: Any) -> int:
        """Rows a DELETE or UPDATE just changed."""
        return int(cursor.rowcount)

    def fetch_frame(self, con: Any, sql: str, params: Sequence | None) -> pd.DataFrame:
        raise NotImplementedError

    def fetch_columns(self, con: Any, sql: str, width: int) -> list[list]:
        """A query's result as `width` column lists (no row objects where the engine can avoid them)."""
        rows = con.execute(sql).fetchall()
        return [list(column) for column in zip(*rows)] if rows else [[] for _ in range(width)]

    def insert_rows(self, con: Any, target: exp.Table, columns: Sequence[str], rows: Sequence[tuple]) -> None:
        """Bulk insert plain rows (the ledger's appends)."""
        raise NotImplementedError

    def write_frame(self, con: Any, target: exp.Table, frame: pd.DataFrame, replace: bool) -> None:
        """Replace `target` with a frame's rows, or append them (creating the table, typed from the frame)."""
        raise NotImplementedError

    def create_table_as(self, con: Any, target: exp.Table, query: exp.Expr) -> None:
        raise NotImplementedError

    def render(self, statement: exp.Expr) -> str:
        return statement.sql(dialect=self.dialect)

    # hashing in SQL ------------------------------------------------------------------------------
    def prepare_keyed_hash(self, con: Any) -> None:
        """Whatever the engine needs before `keyed_hash` runs (an extension, say)."""

    def keyed_hash(self, text: exp.Expr) -> exp.Expr:
        """HMAC-SHA256 of a text expression, hex, first 32 characters (`keys.keyed_hash` in SQL);
        takes `keyed_hash_parameters(key)` as bound values, in order."""
        raise NotImplementedError

    def keyed_hash_parameters(self, key: bytes) -> list:
        raise NotImplementedError

    def sha256_hex(self, text_sql: str) -> str:
        """SQL for the lowercase hex SHA-256 of a text expression's UTF-8 bytes."""
        raise NotImplementedError

    # the ledger ----------------------------------------------------------------------------------
    def ledger_statements(self, table: exp.Table, create: str) -> list[str]:
        """`create` (the ledger table) plus whatever makes it append-only in the database itself."""
        return [create]

    def ledger_guard_problems(self, table: exp.Table) -> list[dict]:
        """[{"severity": "error"|"warning", "problem": …}] of the ledger's append-only guard."""
        return []

    def grant_append(self, con: Any, table: exp.Table, role: str) -> None:
        raise WarehouseError(f"{self.name} has no roles to grant; protect the database file instead")

    @contextmanager
    def ledger_writer(self, lock_timeout_s: float) -> Iterator[Any]:
        """A connection in a transaction that is the only ledger writer until it ends."""
        raise NotImplementedError
        yield

    def lock_for_append(self, con: Any, table: exp.Table) -> None:
        """Inside `ledger_writer`: keep other writers out until the transaction ends, if the file lock does not."""

    def snapshot_reads(self, con: Any) -> None:
        """Make every read on `con` see one snapshot (verification must not see a moving head)."""

    # tenant isolation in the database ------------------------------------------------------------
    def row_security_statements(self, tables: list[tuple[exp.Table, str, str]], role: str, reporting_role: str,
                                readable: list[exp.Table], setting: str,
                                tenant_roles: dict[str, str] | None = None) -> list[str]:
        """Statements that confine `role` to the rows of the tenant in `setting` (or each tenant's
        role in `tenant_roles` to its own tenant's rows) on each (table, tenant column, its type),
        and let `reporting_role` read only the `readable` tables."""
        raise WarehouseError(f"{self.name} has no row-level security; use the schema or database strategy")

    def foreign_policies(self, tables: list[exp.Table]) -> list[tuple[str, str, bool]]:
        """(table, policy, permissive) of row policies on these tables the project did not write."""
        return []

    def drop_policy_statement(self, table: str, name: str) -> str:
        raise WarehouseError(f"{self.name} has no row policies")

    def isolation_leaks(self, con: Any, scoped: list[exp.Table], roles: list[str], unguarded: list[exp.Table]) -> list[dict]:
        """Ways the tenant `roles` reach tenant rows past row-level security ([{severity, via, problem}])."""
        return []

    @contextmanager
    def acting_as(self, con: Any, role: str, settings: dict[str, str]) -> Iterator[None]:
        """Within the transaction on `con`: statements run as `role` with these session settings."""
        raise WarehouseError(f"{self.name} has no roles to act as")
        yield

    def is_refusal(self, exc: BaseException) -> bool:
        """Whether a driver error is the database refusing access (privilege or row policy)."""
        return False

    # the catalog (information_schema, which both SQL databases have) ------------------------------
    def _where_table(self, query: exp.Select, table: str) -> tuple[exp.Select, list]:
        """`information_schema` rows of one table, its name and schema bound."""
        name = table.split(".")[-1]
        schema = table.split(".")[-2] if "." in table else self.warehouse.schema
        query = query.where(exp.column("table_name").eq(exp.Placeholder()))
        if schema:
            return query.where(exp.column("table_schema").eq(exp.Placeholder())), [name, schema]
        return query.where(exp.column("table_schema").eq(exp.func("current_schema"))), [name]

    def table_exists(self, table: str) -> bool:
        query, params = self._where_table(exp.select("count(*)").from_("information_schema.tables"), table)
        return self.warehouse.fetch(query, params)[0][0] > 0

    def columns(self, table: str) -> dict[str, str]:
        query, params = self._where_table(
            exp.select("column_name", "data_type").from_("information_schema.columns").order_by("ordinal_position"), table)
        found = {name: str(kind) for name, kind in self.warehouse.fetch(query, params)}
        if not found:  # (a table always has a column: none listed means no such table)
            raise WarehouseError(f"table {table!r} does not exist in the warehouse ({self.describe()})")
        return found

    def schemas(self) -> list[str]:
        query = exp.select("schema_name").distinct().from_("information_schema.schemata") \
            .where(exp.column("catalog_name").eq(exp.func("current_database"))).order_by("schema_name")
        return [name for (name,) in self.warehouse.fetch(query)]

    def schema_tables(self, schema: str) -> list[str]:
        query = exp.select("table_name").from_("information_schema.tables") \
            .where(exp.column("table_schema").eq(exp.Placeholder())) \
            .where(exp.column("table_catalog").eq(exp.func("current_database"))).order_by("table_name")
        return [f"{schema}.{name}" for (name,) in self.warehouse.fetch(query, [schema])]

    # storage and locks ---------------------------------------------------------------------------
    def reclaim(self, tables: list[str], full: bool) -> dict[str, list[str]]:
        """Make deleted rows' bytes leave the engine's files; says what is left to an operator."""
        raise NotImplementedError

    def files_contain(self, needle: bytes) -> bool | None:
        """Whether the engine's own files still hold these bytes (a destroyed key's wrapped form);
        None when the files are not readable from here (a database server's)."""
        return None

    @contextmanager
    def exclusive(self, holder: str, notify: Callable[[str], None]) -> Iterator[None]:
        """Across machines: one erasure or sweep at a time on this warehouse (nothing to add for a file)."""
        yield
