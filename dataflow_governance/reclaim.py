"""Erased bytes must leave the engine's own files, not only its query results (invariant 6).

A DELETE makes rows invisible; the values stay in the database file's freed blocks (DuckDB) or in
dead row versions (PostgreSQL) until something overwrites them. After an erasure or a sweep:

- DuckDB: a checkpoint, then the whole database is copied into a fresh file (`COPY FROM
  DATABASE`), which is renamed over the old one — only live rows are written, so freed blocks
  with erased values are gone with the old file.
- PostgreSQL: `VACUUM` of each touched table (dead versions are pruned and their space marked
  free), or `VACUUM FULL` on request, which rewrites the tables' files.

What the project cannot reach is said, for the certificate: the engine's backups and, on
PostgreSQL, WAL archives / point-in-time-recovery retention and (without FULL) page free space.
"""

from __future__ import annotations

import os
from pathlib import Path

from sqlglot import exp

from .warehouse import Warehouse, WarehouseError, private_file, table_expr


def reclaim_storage(warehouse: Warehouse, tables: list[str], full: bool = False) -> dict[str, list[str]]:
    """Reclaim the storage of the touched tables; returns what was done and what is left to an operator."""
    if not tables:
        return {"done": [], "operator": []}
    if warehouse.kind == "duckdb":
        _rewrite_duckdb(warehouse)
        return {"done": [f"DuckDB database file rewritten with live rows only after changes to {len(tables)} table(s)"],
                "operator": ["copies of the DuckDB file made before this erasure (backups, snapshots) still hold the "
                             "erased rows: expire or rewrite them"]}
    _vacuum_postgres(warehouse, tables, full)
    done = [f"PostgreSQL VACUUM{' FULL' if full else ''} of {', '.join(tables)}"]
    operator = ["PostgreSQL WAL archives and base backups (point-in-time recovery) keep the erased rows until "
                "their retention expires"]
    if not full:
        operator.append("without VACUUM FULL the freed page space keeps erased bytes until overwritten; "
                        "rerun with --vacuum-full to rewrite the tables' files")
    return {"done": done, "operator": operator}


def _vacuum_postgres(warehouse: Warehouse, tables: list[str], full: bool) -> None:
    import psycopg

    try:
        with psycopg.connect(warehouse.dsn, autocommit=True) as con:  # VACUUM cannot run in a transaction
            if warehouse.schema:
                con.execute(f"SET search_path TO {warehouse.render(exp.to_identifier(warehouse.schema, quoted=True))}")
            for table in tables:
                con.execute(f"VACUUM {'FULL ' if full else ''}{warehouse.render(table_expr(table))}")
    except psycopg.Error as exc:
        raise WarehouseError(f"VACUUM after the erasure failed at {warehouse.describe()}: "
                             f"{type(exc).__name__}; the data is erased, run `VACUUM` on {', '.join(tables)}") from None


def _rewrite_duckdb(warehouse: Warehouse) -> None:
    path = Path(warehouse.path)
    fresh = path.with_name(path.name + ".rewrite")
    fresh.unlink(missing_ok=True)
    Path(str(fresh) + ".wal").unlink(missing_ok=True)
    # No other connection (of any process) is open while the file is copied and replaced.
    with warehouse.file_lock(exclusive=True):
        with warehouse._duckdb() as con:
            con.execute("CHECKPOINT")
            (source,) = con.execute("SELECT current_database()").fetchone()
            con.execute(f"ATTACH {exp.Literal.string(str(fresh)).sql('duckdb')} AS dfg_rewrite")
            con.execute(f"COPY FROM DATABASE {exp.to_identifier(source, quoted=True).sql('duckdb')} TO dfg_rewrite")
            con.execute("DETACH dfg_rewrite")
        private_file(fresh)
        os.replace(fresh, path)
