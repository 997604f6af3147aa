"""Erased bytes must leave the engine's own files, not only its query results (invariant 6).

A DELETE makes rows invisible; the values stay in the database file's freed blocks (DuckDB) or in
dead row versions (PostgreSQL) until something overwrites them. After an erasure or a sweep the
engine reclaims the touched tables' storage (DuckDB rewrites its file with live rows only;
PostgreSQL runs VACUUM, or VACUUM FULL on request) and says what it cannot reach, for the
certificate: backups, WAL archives, page free space.
"""

from __future__ import annotations

from .warehouse import Warehouse


def reclaim_storage(warehouse: Warehouse, tables: list[str], full: bool = False) -> dict[str, list[str]]:
    """Reclaim the storage of the touched tables; returns what was done and what is left to an operator."""
    if not tables:
        return {"done": [], "operator": []}
    return warehouse.engine.reclaim(tables, full)
