"""Declared places confirmed against the live catalog of the store that holds them.

A governance declaration names tables, columns, buckets and Delta folders. When one of them does
not exist — a typo'd `storage.table: orderz`, an id column renamed in the warehouse — a query of
it finds nothing, and "nothing found" must never pass for "nothing there": an erasure would
verify while the subject's rows sit in the real table. Every destructive command, the runtime
checks and `dfg check --live` ask here first; a missing place is a failure that names the asset
and suggests the fix.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from dataflow_governance.model.spec import AssetGovernance
from dataflow_governance.storage.warehouse import Warehouse, WarehouseError


@dataclass(frozen=True)
class PlaceProblem:
    asset: str
    place: str  # the table, column, bucket or folder as declared
    message: str
    fix: str

    def __str__(self) -> str:
        return f"{self.message}; {self.fix}"


def nearest(name: str, candidates: Iterable[str]) -> str | None:
    found = difflib.get_close_matches(name, list(candidates), n=1, cutoff=0.6)
    return found[0] if found else None


def _table_candidates(warehouse: Warehouse, table: str) -> list[str]:
    """Tables a misspelt name may have meant: those of its schema, or of every schema."""
    try:
        schemas = [table.split(".")[-2]] if "." in table else [warehouse.schema] if warehouse.schema \
            else warehouse.schemas()
        names = [t.split(".")[-1] for schema in schemas for t in warehouse.schema_tables(schema)]
    except WarehouseError:
        return []
    return [n for n in names if not n.startswith("governance_")]


def table_problems(asset: str, table: str, columns: Iterable[str], warehouse: Warehouse,
                   field: str = "storage.table") -> list[PlaceProblem]:
    """The table and each of `columns` confirmed in the warehouse's catalog."""
    if not warehouse.table_exists(table):
        guess = nearest(table.split(".")[-1], _table_candidates(warehouse, table))
        fix = (f"did you mean {guess!r}? correct {field} of {asset}" if guess else
               f"materialize {asset}, or correct its {field}")
        return [PlaceProblem(asset, table, f"asset {asset}: the declared table {table!r} does not exist in the "
                                           f"warehouse ({warehouse.describe()})", fix)]
    present = warehouse.columns(table)
    folded = {name.lower(): name for name in present}
    problems = []
    for column in dict.fromkeys(columns):
        if column in present or column.lower() in folded:
            continue
        guess = nearest(column, present)
        problems.append(PlaceProblem(
            asset, f"{table}.{column}", f"asset {asset}: table {table!r} has no column {column!r} "
                                        f"(it has {', '.join(present)})",
            f"did you mean {guess!r}? rename the declaration, or the column back" if guess else
            f"declare the column the table has, or add {column!r} to the table"))
    return problems


def needed_columns(gov: AssetGovernance) -> list[str]:
    """The columns a declaration makes the project rely on: declared columns, and the ones its
    retention, tenancy and residency name."""
    named = [*gov.columns]
    if gov.retention:
        named += [c for c in (gov.retention.timestamp_column,) if c]
        named += list(gov.retention.anonymize) + [c for h in gov.retention.legal_holds for c in h.anonymize]
    named += [c for c in (gov.tenant_key, gov.region_column) if c]
    return list(dict.fromkeys(named))


def declared_place_problems(governance: dict[str, AssetGovernance], warehouse: Warehouse | None, store=None,
                            state_dir: Path | None = None) -> list[PlaceProblem]:
    """Every governed asset's declared place, confirmed live: warehouse tables and their columns,
    S3 buckets, Delta folders. (Per-tenant tables are checked per tenant by the tenancy checks.)"""
    from dataflow_governance.model.spec import table_of

    problems: list[PlaceProblem] = []
    buckets = None
    for asset, gov in sorted(governance.items()):
        kind = gov.storage.kind
        if kind == "warehouse" and warehouse is not None and not gov.per_tenant_table:
            problems += table_problems(asset, table_of(asset, gov), needed_columns(gov), warehouse)
        elif kind == "s3" and gov.storage.bucket and store is not None:
            if buckets is None:
                buckets = _buckets(store)
            if gov.storage.bucket not in buckets:
                guess = nearest(gov.storage.bucket, buckets)
                problems.append(PlaceProblem(asset, gov.storage.bucket,
                                             f"asset {asset}: the declared bucket {gov.storage.bucket!r} does not exist "
                                             f"at {store.describe()}",
                                             f"did you mean {guess!r}? correct storage.bucket" if guess else
                                             "create it (declare it under buckets:), or correct storage.bucket"))
        elif kind == "delta" and state_dir is not None and gov.storage.path:
            folder = Path(state_dir) / gov.storage.path
            if not (folder / "_delta_log").is_dir():
                problems.append(PlaceProblem(asset, gov.storage.path,
                                             f"asset {asset}: no Delta table at {gov.storage.path!r} in the state folder",
                                             f"materialize {asset}, or correct storage.path"))
    return problems


def _buckets(store) -> list[str]:
    from dataflow_governance.storage.objectstore import s3_errors

    with s3_errors("list buckets", store):
        return [b["Name"] for b in store.client().list_buckets().get("Buckets", [])]
