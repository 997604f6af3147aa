"""Spark, for data that outgrows one machine: a Spark Connect server (`warehouse.remote: sc://…`),
or the project's own local one (`local_spark`) when no remote is set.

What differs from the SQL databases:

- **No DELETE, UPDATE or MERGE on parquet tables** (Spark refuses them: `UNSUPPORTED_FEATURE.
  TABLE_OPERATION`). The connection turns each one into an *atomic table rewrite* (a MERGE into
  the one query of the rows it leaves, `merged_rows`): one pass counts the
  rows it affects (nothing else happens when none is), the rows to keep are written to a staging
  table (`CREATE TABLE … AS SELECT`), the staging table is marked complete, the table is
  overwritten from it (`INSERT OVERWRITE`, which keeps the table's definition and replaces its
  files), the row count is verified and the staging table dropped. A run killed at any point leaves
  either an incomplete staging table (dropped, the table untouched) or a complete one, from which
  the next statement on that table first finishes the overwrite: the change is never half made.
- **No ledger here.** Spark cannot make a table append-only or serialize writers, so the ledger
  and the project's other own tables (requests, subject keys, dataset members) live in the
  governance store (the manifest's `warehouse.store`, a DuckDB file) — `holds_project_tables = False`.
- **Catalog, not information_schema**: tables and columns come from Spark's catalog API.
- **Keyed hashes with Spark's own `hmac`** (SHA-256, matches `keys.keyed_hash`).

Statements are sqlglot trees rendered in the `spark` dialect; values are bound (`?` or `:name`),
never pasted. Spark's own query-context logger, which would print failing SQL, is silenced.
"""

from __future__ import annotations

import atexit
import logging
import warnings
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import sqlglot
from sqlglot import exp
from sqlglot.tokens import TokenType

from dataflow_governance.storage.engines.base import Engine, WarehouseError

STAGING_SUFFIX = "__dfg_rewrite"
COMPLETE = "dfg.rewrite.complete"  # a staging table property: the rows to keep are all written
KEPT_ROWS = "dfg.rewrite.rows"


class SparkEngine(Engine):
    name = "spark"
    dialect = "spark"
    binary_type = "BINARY"
    holds_project_tables = False

    def __init__(self, warehouse):
        super().__init__(warehouse)
        self._spark: Any = None

    @classmethod
    def config_problem(cls, path: str | None, dsn: str | None) -> str | None:
        if dsn and not dsn.startswith("sc://"):
            return "kind spark: `remote` must be a Spark Connect URL (sc://host:port)"
        return None

    def dataset_namespace(self) -> tuple[str, str]:
        remote = self.warehouse.dsn.split(";")[0].removeprefix("sc://").rstrip("/") if self.warehouse.dsn else "local"
        return f"spark://{remote}", f"{self.warehouse.schema or 'default'}."

    def describe(self) -> str:
        if self.warehouse.dsn:
            return self.warehouse.dsn.split(";")[0].rstrip("/")  # (";token=…" parameters never shown)
        return f"local Spark Connect server in {self.warehouse.path}"

    # the session ---------------------------------------------------------------------------------
    def spark(self) -> Any:
        """This warehouse's own Spark Connect session (its current schema is the warehouse's)."""
        if self._spark is None:
            self._spark = self._open()
        return self._spark

    def _open(self) -> Any:
        _quiet_pyspark()
        try:
            from pyspark.sql import SparkSession
        except ImportError:
            raise WarehouseError("warehouse.kind spark needs the Spark extra: "
                                 "pip install 'dataflow-governance[spark]'") from None
        url = self.warehouse.dsn
        if not url:
            from dataflow_governance.local import spark as local_spark

            url = local_spark.ensure_running(Path(self.warehouse.path)).url
        _reachable(url, self.describe())  # (the client would otherwise retry a dead address for minutes)
        try:
            spark = SparkSession.builder.remote(url).create()
            _bounded_retries(spark)
            atexit.register(_close, spark)  # (runs before the client's own exit hook, which may call a gone server)
            spark.conf.set("spark.sql.session.timeZone", "UTC")  # naive timestamps mean what they say
            if self.warehouse.schema:
                ident = self.render(exp.to_identifier(self.warehouse.schema, quoted=True))
                spark.sql(f"CREATE DATABASE IF NOT EXISTS {ident}")
                spark.sql(f"USE {ident}")  # an identifier, quoted by the generator
        except self.driver_errors() as exc:
            from dataflow_governance.storage.engines.base import first_line_redacted

            raise WarehouseError(f"cannot reach Spark at {self.describe()}: {first_line_redacted(exc)}") from None
        return spark

    @contextmanager
    def connect(self) -> Iterator[Any]:
        yield SparkConnection(self, self.spark())

    def driver_errors(self) -> tuple[type[BaseException], ...]:
        from pyspark.errors import PySparkException

        try:
            import grpc

            return (PySparkException, grpc.RpcError)
        except ImportError:  # pragma: no cover - grpc comes with the connect extra
            return (PySparkException,)

    def fetch_frame(self, con: Any, sql: str, params: Sequence | None):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)  # pyspark on pandas 3
            frame = con.dataframe(sql, params).toPandas()
        frame.attrs.clear()  # (Spark attaches its query metrics, which nothing downstream can serialize)
        return frame

    def fetch_columns(self, con: Any, sql: str, width: int) -> list[list]:
        table = con.dataframe(sql, None).toArrow()
        return [table.column(i).to_pylist() for i in range(width)]

    def insert_rows(self, con: Any, target: exp.Table, columns: Sequence[str], rows: Sequence[tuple]) -> None:
        import pandas as pd

        self.write_frame(con, target, pd.DataFrame(list(rows), columns=list(columns)), replace=False)

    def write_frame(self, con: Any, target: exp.Table, frame, replace: bool) -> None:
        # A rewrite a kill interrupted was a change to the table's present rows: new contents
        # supersede it; appended rows must come after it (else finishing it would drop them).
        if replace:
            con.run(drop_table(staging_table(target)))
        else:
            con.finish_interrupted(target)
        data = con.spark.createDataFrame(_arrow(frame))
        data.write.mode("overwrite" if replace else "append").format("parquet").saveAsTable(self.render(target))

    def create_table_as(self, con: Any, target: exp.Table, query: exp.Expr) -> None:
        """(Re)create a table from a query — through a staging table, so a query reading the table
        it replaces (an incremental model) reads it whole, and a failed query leaves it as it was."""
        staging = staging_table(target)
        con.run(drop_table(staging))
        con.run(exp.Create(this=staging, kind="TABLE", expression=query,
                           properties=exp.Properties(expressions=[exp.FileFormatProperty(this=exp.var("PARQUET"))])))
        con.run(drop_table(target.copy()))
        con.run(f"ALTER TABLE {self.render(staging)} RENAME TO {self.render(target)}")

    # hashing in SQL ------------------------------------------------------------------------------
    def keyed_hash(self, text: exp.Expr) -> exp.Expr:
        digest = exp.func("lower", exp.func("hex", exp.Anonymous(this="hmac", expressions=[exp.Placeholder(), text])))
        return exp.func("substr", digest, exp.Literal.number(1), exp.Literal.number(32))

    def keyed_hash_parameters(self, key: bytes) -> list:
        return [key]

    def sha256_hex(self, text_sql: str) -> str:
        return f"sha2({text_sql}, 256)"

    # the ledger is never here ----------------------------------------------------------------------
    @contextmanager
    def ledger_writer(self, lock_timeout_s: float) -> Iterator[Any]:
        raise WarehouseError("Spark cannot keep an append-only ledger; it lives in the project's store")
        yield

    # the catalog ---------------------------------------------------------------------------------
    def table_exists(self, table: str) -> bool:
        name, schema = self._split(table)
        return bool(self.spark().catalog.tableExists(name, schema))

    def columns(self, table: str) -> dict[str, str]:
        name, schema = self._split(table)
        if not self.table_exists(table):
            raise WarehouseError(f"table {table!r} does not exist in the warehouse ({self.describe()})")
        return {c.name: c.dataType for c in self.spark().catalog.listColumns(name, schema)}

    def schemas(self) -> list[str]:
        return sorted(d.name for d in self.spark().catalog.listDatabases())

    def schema_tables(self, schema: str) -> list[str]:
        if schema not in self.schemas():
            return []
        return sorted(f"{schema}.{t.name}" for t in self.spark().catalog.listTables(schema)
                      if not t.isTemporary and not t.name.endswith(STAGING_SUFFIX))

    def _split(self, table: str) -> tuple[str, str | None]:
        parts = table.split(".")
        return parts[-1], parts[-2] if len(parts) > 1 else (self.warehouse.schema or self.spark().catalog.currentDatabase())

    # storage ---------------------------------------------------------------------------------------
    def reclaim(self, tables: list[str], full: bool) -> dict[str, list[str]]:
        done = [f"Spark rewrote {', '.join(tables)}: INSERT OVERWRITE replaced the table files that held the rows"] if tables else []
        return {"done": done,
                "operator": ["the storage under the Spark tables (object-store versioning, trash, snapshots or backups of "
                             "the warehouse directory) may still hold the replaced files: expire them"]}


class SparkConnection:
    """What the core expects of a connection (`execute(sql, params)` → a cursor), over a Spark
    Connect session; DELETE and UPDATE become atomic table rewrites."""

    def __init__(self, engine: SparkEngine, spark: Any):
        self.engine, self.spark = engine, spark

    def execute(self, sql: str, params: Sequence | None = None) -> Cursor:
        named_sql, args = _named(sql, params)
        statement = _parse(named_sql)
        if isinstance(statement, exp.Delete | exp.Update | exp.Merge):
            return Cursor([], self.rewrite(statement, args))
        if isinstance(statement, exp.Insert):  # (rows added after an interrupted rewrite is finished)
            table = statement.this.this if isinstance(statement.this, exp.Schema) else statement.this
            if isinstance(table, exp.Table):
                self.finish_interrupted(table)
        if statement is not None and statement.key in {"transaction", "commit", "rollback"}:
            return Cursor([], -1)  # (no transactions on Spark tables; each rewrite is atomic by itself)
        frame = self.spark.sql(named_sql, args=args or None)
        if isinstance(statement, exp.Query) or statement is None or statement.key in {"show", "describe", "command"}:
            return Cursor([tuple(row) for row in frame.collect()], -1)
        return Cursor([], -1)

    def dataframe(self, sql: str, params: Sequence | None) -> Any:
        named_sql, args = _named(sql, params)
        return self.spark.sql(named_sql, args=args or None)

    def run(self, statement: exp.Expr | str, args: dict | None = None) -> list[tuple]:
        sql = statement if isinstance(statement, str) else self.engine.render(statement)
        return [tuple(row) for row in self.spark.sql(sql, args=args or None).collect()]

    def cursor(self) -> SparkConnection:
        return self

    def close(self) -> None:
        pass

    # DELETE, UPDATE and MERGE as rewrites -------------------------------------------------------
    def rewrite(self, statement: exp.Delete | exp.Update | exp.Merge, args: dict) -> int:
        """Returns the rows the statement changed (for a MERGE, -1: the rows it wrote are not counted)."""
        target = statement.this
        joined = statement.args.get("from_") or (statement.args.get("using") and not isinstance(statement, exp.Merge))
        if not isinstance(target, exp.Table) or joined:
            raise WarehouseError("Spark: only single-table DELETE and UPDATE can be rewritten")
        alias = target.alias_or_name
        target = target.copy()
        target.set("alias", None)
        # Another session may have rewritten or appended to the table since this one listed its
        # files: a rewrite from a stale listing would drop the new rows.
        self.run(f"REFRESH TABLE {self.engine.render(target)}")
        self.finish_interrupted(target)
        columns = list(self.engine.columns(_name(target)))
        if isinstance(statement, exp.Merge):
            self.replace_rows(target, columns, merged_rows(statement, alias, columns), args, rows=None)
            return -1
        where = statement.args.get("where")
        hit = exp.func("coalesce", exp.paren(where.this.copy()), exp.false()) if where else exp.true()
        affected, total = self.run(exp.select(exp.func("count_if", hit), exp.func("count", exp.Star())).from_(target), args)[0]
        if not affected:
            return 0
        if isinstance(statement, exp.Delete):
            kept, rows = exp.select("*").from_(target).where(exp.not_(hit)), total - affected
        else:
            assigned = {eq.this.name: eq.expression for eq in statement.expressions}
            unknown = set(assigned) - set(columns)
            if unknown:
                raise WarehouseError(f"UPDATE of {_name(target)}: no column {', '.join(sorted(unknown))}")
            outputs = [exp.alias_(exp.Case(ifs=[exp.If(this=hit.copy(), true=assigned[c].copy())],
                                           default=exp.column(c, quoted=True)) if c in assigned else exp.column(c, quoted=True),
                                  c, quoted=True)
                       for c in columns]
            kept, rows = exp.select(*outputs).from_(target), total
        self.replace_rows(target, columns, kept, args, rows)
        return int(affected)

    def replace_rows(self, target: exp.Table, columns: list[str], rows_query: exp.Query, args: dict,
                     rows: int | None) -> None:
        """Staging table, marked complete, then the overwrite (see the module's docstring). No
        staging table is there: `finish_interrupted` has just finished or dropped any."""
        staging = staging_table(target)
        self.run(exp.Create(this=staging.copy(), kind="TABLE", expression=rows_query,
                            properties=exp.Properties(expressions=[exp.FileFormatProperty(this=exp.var("PARQUET"))])), args)
        if rows is None:
            (rows,) = self.run(exp.select(exp.func("count", exp.Star())).from_(staging.copy()))[0]
        self.run(f"ALTER TABLE {self.engine.render(staging)} SET TBLPROPERTIES "
                 f"('{COMPLETE}' = 'true', '{KEPT_ROWS}' = '{int(rows)}')")
        self.overwrite_from(target, staging, int(rows), columns)

    def finish_interrupted(self, target: exp.Table) -> None:
        """A complete staging table left by a killed rewrite: finish it; an incomplete one: drop it."""
        staging = staging_table(target)
        if not self.engine.table_exists(_name(staging)):
            return
        properties = dict(self.run(f"SHOW TBLPROPERTIES {self.engine.render(staging)}"))
        if properties.get(COMPLETE) == "true":
            self.overwrite_from(target, staging, int(properties[KEPT_ROWS]), list(self.engine.columns(_name(target))))
        else:
            self.run(drop_table(staging))

    def overwrite_from(self, target: exp.Table, staging: exp.Table, rows: int, columns: list[str]) -> None:
        named = [exp.column(c, quoted=True) for c in columns]  # the table's order
        self.run(f"INSERT OVERWRITE TABLE {self.engine.render(target)} "
                 f"{self.engine.render(exp.select(*named).from_(staging.copy()))}")
        (now,) = self.run(exp.select(exp.func("count", exp.Star())).from_(target.copy()))[0]
        if now != rows:
            raise WarehouseError(f"rewrite of {_name(target)} left {now} rows, expected {rows}; "
                                 f"the complete staging table {_name(staging)} is kept, run the command again")
        self.run(drop_table(staging.copy()))


class Cursor:
    def __init__(self, rows: list[tuple], rowcount: int):
        self._rows, self.rowcount = rows, rowcount

    def fetchall(self) -> list[tuple]:
        return self._rows

    def fetchone(self) -> tuple | None:
        return self._rows[0] if self._rows else None

    def close(self) -> None:
        pass


MATCHED = "__dfg_matched"


def merged_rows(merge: exp.Merge, alias: str, columns: list[str]) -> exp.Query:
    """The rows a MERGE leaves in its target, as one query: the target's rows (each updated by the
    first WHEN MATCHED clause that applies, or dropped by a DELETE one) and the source rows the
    first applicable WHEN NOT MATCHED clause inserts."""
    whens = merge.args["whens"].expressions
    if any(w.args.get("source") for w in whens):
        raise WarehouseError("Spark: MERGE … WHEN NOT MATCHED BY SOURCE cannot be rewritten on parquet tables")
    using = merge.args["using"]
    source_alias = using.alias_or_name
    marked = exp.select("*", exp.alias_(exp.true(), MATCHED)).from_(using.copy()).subquery(source_alias)
    present = exp.column(MATCHED, table=source_alias)

    def applies(when: exp.When, base: exp.Expr) -> exp.Expr:
        condition = when.args.get("condition")
        both = exp.and_(base.copy(), condition.copy()) if condition else base.copy()
        return exp.func("coalesce", exp.paren(both), exp.false())

    matched = [w for w in whens if w.args.get("matched")]
    own = {c: exp.column(c, table=alias, quoted=True) for c in columns}
    outputs = []
    for c in columns:
        ifs = [exp.If(this=applies(w, present), true=_assigned(w.args["then"], c) or own[c].copy()) for w in matched]
        outputs.append(exp.alias_(exp.Case(ifs=ifs, default=own[c].copy()) if ifs else own[c].copy(), c, quoted=True))
    deleted = exp.Case(ifs=[exp.If(this=applies(w, present), true=exp.true() if _is_delete(w) else exp.false())
                            for w in matched], default=exp.false()) if matched else exp.false()
    target = merge.this.copy()
    kept = exp.select(*outputs).from_(target).join(marked, on=merge.args["on"].copy(), join_type="left") \
        .where(exp.not_(exp.paren(deleted)))
    inserts = [w for w in whens if not w.args.get("matched")]
    if not inserts:
        return kept
    values = []
    for c in columns:
        ifs = [exp.If(this=applies(w, exp.true()), true=_inserted(w.args["then"], c)) for w in inserts]
        values.append(exp.alias_(exp.Case(ifs=ifs, default=exp.null()), c, quoted=True))
    absent = exp.not_(exp.Exists(this=exp.select("1").from_(merge.this.copy()).where(merge.args["on"].copy())))
    any_clause = exp.or_(*[applies(w, exp.true()) for w in inserts])
    added = exp.select(*values).from_(using.copy()).where(exp.and_(absent, any_clause))
    return exp.union(kept, added, distinct=False)


def _is_delete(when: exp.When) -> bool:
    return isinstance(when.args["then"], exp.Var) and when.args["then"].name.upper() == "DELETE"


def _assigned(then: exp.Expr, column: str) -> exp.Expr | None:
    if isinstance(then, exp.Update):
        for eq in then.expressions:
            if eq.this.name == column:
                return eq.expression.copy()
    return None


def _inserted(then: exp.Expr, column: str) -> exp.Expr:
    names = [c.name for c in then.this.expressions] if isinstance(then.this, exp.Tuple) else None
    values = then.expression.expressions if isinstance(then.expression, exp.Tuple) else []
    if names is None:  # INSERT * or INSERT VALUES without a column list: the target's order
        raise WarehouseError("Spark: MERGE … INSERT needs its column list to be rewritten")
    return values[names.index(column)].copy() if column in names else exp.null()


def drop_table(table: exp.Table) -> exp.Drop:
    return exp.Drop(tables=[table.copy()], kind="TABLE", exists=True)  # (sqlglot's Drop lists its tables)


def staging_table(target: exp.Table) -> exp.Table:
    staging = target.copy()
    staging.set("this", exp.to_identifier(target.name + STAGING_SUFFIX, quoted=True))
    return staging


def _name(table: exp.Table) -> str:
    return ".".join(part.name for part in table.parts)


def _named(sql: str, params: Sequence | None) -> tuple[str, dict]:
    """`?` marks → `:p0, :p1, …` (found by the tokenizer, so a '?' inside a string stays), with
    the values by name: a rewrite may repeat a condition or reorder the statement's parts."""
    if not params:
        return sql, {}
    marks = [t for t in sqlglot.Dialect.get_or_raise("spark").tokenize(sql) if t.token_type == TokenType.PLACEHOLDER
             and t.text == "?"]
    if len(marks) != len(params):
        raise WarehouseError(f"Spark: {len(params)} value(s) bound to {len(marks)} parameter mark(s)")
    pieces, last = [], 0
    for i, mark in enumerate(marks):
        pieces += [sql[last:mark.start], f":p{i}"]
        last = mark.end + 1
    pieces.append(sql[last:])
    return "".join(pieces), {f"p{i}": value for i, value in enumerate(params)}


def _parse(sql: str) -> exp.Expr | None:
    try:
        return sqlglot.parse_one(sql, read="spark")
    except sqlglot.errors.SqlglotError:
        return None  # (Spark parses it itself, and says what is wrong)


def _arrow(frame):
    """A pandas frame as an Arrow table Spark can type: a column of nothing but nulls becomes text."""
    import pyarrow as pa

    table = pa.Table.from_pandas(frame, preserve_index=False)
    fields = [pa.field(f.name, pa.string()) if pa.types.is_null(f.type) else
              pa.field(f.name, pa.string()) if pa.types.is_large_string(f.type) or pa.types.is_string_view(f.type) else f
              for f in table.schema]
    return table.cast(pa.schema(fields))


def _bounded_retries(spark: Any) -> None:
    """Spark Connect retries a lost server for at least 10 minutes by default; a command should say
    what is wrong sooner (about a minute of retries rides out a restart)."""
    from pyspark.sql.connect.client.retries import DefaultPolicy

    spark.client.set_retry_policies([DefaultPolicy(max_retries=8, max_backoff=10_000)])


def _close(spark: Any) -> None:
    try:
        spark.client.close()  # closes the channel: no call to a server that may be gone at exit
    except Exception:
        pass


def _reachable(url: str, where: str) -> None:
    import socket
    from urllib.parse import urlsplit

    address = urlsplit(url.split(";")[0].replace("sc://", "http://", 1))
    try:
        with socket.create_connection((address.hostname or "", address.port or 15002), timeout=10):
            return
    except OSError as exc:
        raise WarehouseError(f"cannot reach Spark at {where}: {type(exc).__name__}; is the Spark Connect server "
                             f"running?") from None


def _quiet_pyspark() -> None:
    """pyspark logs a failing query's text and context (values included) as JSON: not here."""
    for name in ("SQLQueryContextLogger", "DataFrameQueryContextLogger"):
        logging.getLogger(name).disabled = True
    warnings.filterwarnings("ignore", category=FutureWarning, module=r"pyspark\..*")
    warnings.filterwarnings("ignore", category=UserWarning, module=r"pyspark\..*")


__all__ = ["SparkConnection", "SparkEngine", "staging_table"]
