"""DuckDB, the embedded warehouse: one database file, one writing process at a time.

Connections are short-lived (each Dagster run is its own process). Every connection holds a shared
lock on a sidecar file; replacing the database file (storage reclamation) holds it exclusively.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import time
from collections.abc import Iterator, Sequence
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

from sqlglot import exp

from dataflow_governance.storage.engines.base import Engine, WarehouseError, private_file

LOCK_WAIT_S = 30.0


SMALL_INSERT = 16  # rows inserted as bound parameters; more go in as one Arrow table


class DuckDBEngine(Engine):
    name = "duckdb"
    dialect = "duckdb"
    dbt_adapter = "duckdb"

    @classmethod
    def config_problem(cls, path: str | None, dsn: str | None) -> str | None:
        return None if path else "kind duckdb needs `path`"

    def __init__(self, warehouse):
        super().__init__(warehouse)
        self._pinned: Any = None  # the session's connection
        self._session: ExitStack | None = None  # holds it (and the shared file lock) open

    def describe(self) -> str:
        return str(self.warehouse.path)

    def dbt_target(self, scratch: Path | None = None) -> dict[str, Any]:
        return {"type": "duckdb", "path": str(scratch or self.warehouse.path), "schema": self.warehouse.schema or "main",
                "threads": 1}

    @contextmanager
    def external_writer(self) -> Iterator[None]:
        """One process at a time may open a DuckDB file: the file lock, held exclusively, keeps every
        process of the project out (they wait) while dbt has the file."""
        with self.file_lock(exclusive=True):
            yield

    def dataset_namespace(self) -> tuple[str, str]:
        return f"duckdb://{Path(self.warehouse.path).resolve().as_posix()}", f"{self.warehouse.schema or 'main'}."

    @contextmanager
    def session(self) -> Iterator[None]:
        """Opening the database costs ~10–25 ms (an erasure opens it hundreds of times): one open
        connection serves the session, each `connect` a cursor of it."""
        if self._session is not None:
            yield
            return
        self._session = self._hold()
        try:
            yield
        finally:
            session, self._session, self._pinned = self._session, None, None
            session.close()

    def _hold(self) -> ExitStack:
        stack = ExitStack()
        try:
            stack.enter_context(self.file_lock(exclusive=False))
            self._pinned = stack.enter_context(self._open())
        except BaseException:
            stack.close()
            raise
        return stack

    @contextmanager
    def connect(self) -> Iterator[Any]:
        if self._pinned is not None:
            cursor = self._pinned.cursor()
            try:
                self._use_schema(cursor)  # the default schema is each connection's own
                yield cursor
            finally:
                cursor.close()
            return
        with self.file_lock(exclusive=False), self._open() as con:
            yield con

    def _use_schema(self, con: Any) -> None:
        if self.warehouse.schema:
            ident = self.render(exp.to_identifier(self.warehouse.schema, quoted=True))
            con.execute(f"CREATE SCHEMA IF NOT EXISTS {ident}")
            con.execute(f"USE {ident}")  # an identifier, quoted by the generator: never a pasted value

    @contextmanager
    def file_lock(self, exclusive: bool) -> Iterator[None]:
        lock_path = Path(f"{self.warehouse.path}.lock")
        lock_path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH)
            yield
        finally:
            os.close(fd)

    @contextmanager
    def _open(self) -> Iterator[Any]:
        import duckdb

        deadline = time.monotonic() + LOCK_WAIT_S
        while True:
            try:
                con = duckdb.connect(str(self.warehouse.path))
                break
            except duckdb.Error as exc:
                # One process at a time may hold a DuckDB file: wait briefly for another command.
                if "lock" not in str(exc).lower() or time.monotonic() > deadline:
                    raise WarehouseError(f"cannot open DuckDB warehouse {self.warehouse.path}: {exc}") from None
                time.sleep(0.05)
        private_file(Path(self.warehouse.path))
        try:
            self._use_schema(con)
            yield con
        finally:
            con.close()

    def driver_errors(self) -> tuple[type[BaseException], ...]:
        import duckdb

        return (duckdb.Error,)

    def affected_rows(self, cursor: Any) -> int:
        return int(cursor.fetchall()[0][0])  # DuckDB answers a DELETE/UPDATE with one row: the count

    def fetch_frame(self, con: Any, sql: str, params: Sequence | None):
        return con.execute(sql, list(params or [])).df()

    def fetch_columns(self, con: Any, sql: str, width: int) -> list[list]:
        table = con.sql(sql).to_arrow_table()
        return [table.column(i).to_pylist() for i in range(width)]

    def insert_rows(self, con: Any, target: exp.Table, columns: Sequence[str], rows: Sequence[tuple]) -> None:
        if len(rows) <= SMALL_INSERT:  # a command's one ledger entry: no Arrow table (nor the pandas DuckDB loads for it)
            marks = ", ".join("?" for _ in columns)
            con.executemany(f"INSERT INTO {self.render(target)} VALUES ({marks})", [list(r) for r in rows])
            return
        import pyarrow as pa

        con.register("_dfg_rows", pa.table({c: [r[i] for r in rows] for i, c in enumerate(columns)}))
        con.execute(f"INSERT INTO {self.render(target)} SELECT * FROM _dfg_rows")
        con.unregister("_dfg_rows")

    def write_frame(self, con: Any, target: exp.Table, frame, replace: bool) -> None:
        con.register("_dfg_frame", frame)
        rows = exp.select("*").from_("_dfg_frame")
        if replace:
            con.execute(self.render(exp.Create(this=target, kind="TABLE", replace=True, expression=rows)))
        else:
            con.execute(self.render(exp.Create(this=target, kind="TABLE", exists=True, expression=rows.limit(0))))
            con.execute(self.render(exp.insert(rows, target)))
        con.unregister("_dfg_frame")

    def create_table_as(self, con: Any, target: exp.Table, query: exp.Expr) -> None:
        con.execute(self.render(exp.Create(this=target, kind="TABLE", replace=True, expression=query)))

    # HMAC spelled out with the engine's vectorized sha256: H((K⊕opad) ‖ H((K⊕ipad) ‖ m)).
    def keyed_hash(self, text: exp.Expr) -> exp.Expr:
        inner = exp.func("sha256", exp.DPipe(this=exp.cast(exp.Placeholder(), "BLOB"),
                                             expression=exp.Anonymous(this="encode", expressions=[text])))
        outer = exp.func("sha256", exp.DPipe(this=exp.cast(exp.Placeholder(), "BLOB"), expression=exp.func("unhex", inner)))
        return exp.func("left", outer, exp.Literal.number(32))

    def keyed_hash_parameters(self, key: bytes) -> list:
        block = (hashlib.sha256(key).digest() if len(key) > 64 else key).ljust(64, b"\0")
        return [bytes(b ^ 0x5C for b in block), bytes(b ^ 0x36 for b in block)]  # opad, ipad

    def sha256_hex(self, text_sql: str) -> str:
        return f"sha256({text_sql})"

    @contextmanager
    def ledger_writer(self, lock_timeout_s: float) -> Iterator[Any]:
        """A file lock serializes ledger writers; the database file itself may be busy a moment."""
        lock_path = Path(f"{self.warehouse.path}.ledger.lock")
        lock_path.parent.mkdir(parents=True, exist_ok=True)
        with open(lock_path, "w") as lock, ExitStack() as stack:
            fcntl.flock(lock, fcntl.LOCK_EX)
            deadline = time.monotonic() + lock_timeout_s
            while True:
                try:
                    con = stack.enter_context(self.connect())
                    break
                except WarehouseError as exc:
                    # Another process holds the DuckDB file (e.g. a running asset); wait for it.
                    if "lock" not in str(exc).lower() or time.monotonic() > deadline:
                        raise
                    time.sleep(0.05)
            con.execute("BEGIN TRANSACTION")
            try:
                yield con
            except BaseException:
                con.execute("ROLLBACK")
                raise
            con.execute("COMMIT")

    def reclaim(self, tables: list[str], full: bool) -> dict[str, list[str]]:
        """A DELETE leaves values in the file's freed blocks: copy the live database into a fresh
        file (`COPY FROM DATABASE`) and rename it over the old one, with no other connection open."""
        held = self._session is not None
        if held:  # the session's connection lets go of the file while it is replaced, then reopens it
            self._session.close()
            self._session = self._pinned = None
        try:
            self._rewrite()
        finally:
            if held:
                self._session = self._hold()
        return {"done": [f"DuckDB database file rewritten with live rows only after changes to {len(tables)} table(s)"],
                "operator": ["copies of the DuckDB file made before this erasure (backups, snapshots) still hold the "
                             "erased rows: expire or rewrite them"]}

    def files_contain(self, needle: bytes) -> bool | None:
        """Search the database file and its write-ahead log, a block at a time (with an overlap, so
        a needle across two blocks is found)."""
        path = Path(self.warehouse.path)
        for candidate in (path, path.with_name(path.name + ".wal")):
            if candidate.exists():
                with open(candidate, "rb") as handle:
                    tail = b""
                    while block := handle.read(1 << 22):
                        if needle in tail + block:
                            return True
                        tail = block[-len(needle):]
        return False

    def _rewrite(self) -> None:
        path = Path(self.warehouse.path)
        fresh = path.with_name(path.name + ".rewrite")
        fresh.unlink(missing_ok=True)
        Path(str(fresh) + ".wal").unlink(missing_ok=True)
        with self.file_lock(exclusive=True):
            with self._open() as con:
                con.execute("CHECKPOINT")
                (source,) = con.execute("SELECT current_database()").fetchone()
                con.execute(f"ATTACH {exp.Literal.string(str(fresh)).sql('duckdb')} AS dfg_rewrite")
                con.execute(f"COPY FROM DATABASE {exp.to_identifier(source, quoted=True).sql('duckdb')} TO dfg_rewrite")
                con.execute("DETACH dfg_rewrite")
            private_file(fresh)
            os.replace(fresh, path)
