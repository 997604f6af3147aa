"""Warehouse engines, registered by name the way sqlglot registers its dialects.

`warehouse.kind` in the manifest names an engine; `engine_class(kind)` gives its type. Each engine
is one module here (`duckdb`, `postgres`, `spark`) implementing `base.Engine`: how to connect, bind values,
count affected rows, bulk-insert, hash in SQL, guard the ledger, reclaim storage. Nothing outside
this package asks which engine it is talking to.

An engine module is imported only when a warehouse of its kind is opened, so a DuckDB project
never imports the PostgreSQL driver. A third-party engine is found through the entry point group
`dataflow_governance.engines` (name = kind, value = "module:Class"), or calls `register` itself.
"""

from __future__ import annotations

import importlib

from dataflow_governance.errors import UnknownEngineError
from dataflow_governance.storage.engines.base import Engine

_REGISTRY: dict[str, str] = {
    "duckdb": "dataflow_governance.storage.engines.duckdb:DuckDBEngine",
    "postgres": "dataflow_governance.storage.engines.postgres:PostgresEngine",
    "spark": "dataflow_governance.storage.engines.spark:SparkEngine",
}


def register(name: str, target: str | type[Engine]) -> None:
    """Make `warehouse.kind: <name>` use an engine class (or its "module:Class" path)."""
    _REGISTRY[name] = target if isinstance(target, str) else f"{target.__module__}:{target.__qualname__}"


ENTRY_POINTS = "dataflow_governance.engines"


def _installed() -> dict[str, str]:
    from importlib.metadata import entry_points

    return {ep.name: ep.value for ep in entry_points(group=ENTRY_POINTS)}


def names() -> tuple[str, ...]:
    return tuple(sorted({*_REGISTRY, *_installed()}))


def engine_class(name: str) -> type[Engine]:
    target = _REGISTRY.get(name) or _installed().get(name)
    if target is None:
        raise UnknownEngineError(f"unknown warehouse kind {name!r}; engines: {', '.join(names())}")
    module_name, _, attribute = target.partition(":")
    return getattr(importlib.import_module(module_name), attribute)


__all__ = ["Engine", "UnknownEngineError", "engine_class", "names", "register"]
