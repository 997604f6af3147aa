"""Warehouse engines, registered by name the way sqlglot registers its dialects.

`warehouse.kind` in the manifest names an engine; `engine_class(kind)` gives its type. Each engine
is one module here (`duckdb`, `postgres`) implementing `base.Engine`: how to connect, bind values,
count affected rows, bulk-insert, hash in SQL, guard the ledger, reclaim storage. Nothing outside
this package asks which engine it is talking to.

An engine module is imported only when a warehouse of its kind is opened, so a DuckDB project
never imports the PostgreSQL driver. A third-party engine calls `register(name, "module:Class")`.
"""

from __future__ import annotations

import importlib

from ..errors import DfgError
from .base import Engine

_REGISTRY: dict[str, str] = {
    "duckdb": "dataflow_governance.engines.duckdb:DuckDBEngine",
    "postgres": "dataflow_governance.engines.postgres:PostgresEngine",
}


class UnknownEngineError(DfgError, ValueError):
    """`warehouse.kind` names no registered engine."""


def register(name: str, target: str | type[Engine]) -> None:
    """Make `warehouse.kind: <name>` use an engine class (or its "module:Class" path)."""
    _REGISTRY[name] = target if isinstance(target, str) else f"{target.__module__}:{target.__qualname__}"


def names() -> tuple[str, ...]:
    return tuple(sorted(_REGISTRY))


def engine_class(name: str) -> type[Engine]:
    try:
        module_name, _, attribute = _REGISTRY[name].partition(":")
    except KeyError:
        raise UnknownEngineError(f"unknown warehouse kind {name!r}; engines: {', '.join(names())}") from None
    return getattr(importlib.import_module(module_name), attribute)


__all__ = ["Engine", "UnknownEngineError", "engine_class", "names", "register"]
