"""Erased bytes must leave the engine's own files, not only its query results (invariant 6).

A DELETE makes rows invisible; the values stay in the database file's freed blocks (DuckDB) or in
dead row versions (PostgreSQL) until something overwrites them. After an erasure or a sweep the
engine reclaims the touched tables' storage (DuckDB rewrites its file with live rows only;
PostgreSQL runs VACUUM, or VACUUM FULL on request) and says what it cannot reach, for the
certificate: backups, WAL archives, page free space.
"""

from __future__ import annotations

from collections.abc import Sequence

from dataflow_governance.storage.warehouse import Warehouse


def reclaim_storage(warehouse: Warehouse, tables: list[str], full: bool = False,
                    dropped: Sequence[str] = ()) -> dict[str, list[str]]:
    """Reclaim the storage of the touched tables and of dropped schemas (whose blocks a DuckDB file
    keeps too); returns what was done and what is left to an operator."""
    if not tables and not dropped:
        return {"done": [], "operator": []}
    result = warehouse.engine.reclaim(tables, full)
    if dropped:
        result["done"].append(f"tenant schema(s) dropped or changed: {', '.join(dropped)}")
    return result
