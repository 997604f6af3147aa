"""Residency: is each asset stored where it says, and do its rows belong there?

Three questions, each answered with evidence: the declared region of every asset against where it
really is (an S3 bucket's location, the warehouse's configured region); per-row regions (a
tenant's or customer's country column) against the storage region; and — statically, in
`policy.region_crossing` — personal data flowing between jurisdictions over lineage.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass

from sqlglot import exp

from dataflow_governance.model import taxonomy
from dataflow_governance.model.spec import AssetGovernance
from dataflow_governance.storage.objectstore import ObjectStore, ObjectStoreError, bucket_region
from dataflow_governance.storage.warehouse import Warehouse, column_expr, table_expr

# EU member states plus the EEA (Iceland, Liechtenstein, Norway): one area for GDPR transfers.
EEA_COUNTRIES = frozenset("AT BE BG CY CZ DE DK EE ES FI FR GR HR HU IE IT LT LU LV MT NL PL PT RO SE SI SK IS LI NO".split())


def country_jurisdiction(code: str) -> str:
    code = (code or "").strip().upper()
    if code in EEA_COUNTRIES:
        return "EU"
    return {"GB": "UK", "UK": "UK"}.get(code, code)


@dataclass(frozen=True)
class ResidencyResult:
    asset: str
    check: str  # "storage_region" | "row_regions"
    passed: bool
    declared: str | None
    actual: str | None
    message: str
    violations: int = 0

    def to_dict(self) -> dict:
        return asdict(self)


def storage_region(asset: str, gov: AssetGovernance, store: ObjectStore | None, warehouse_region: str | None) -> ResidencyResult | None:
    """Where the asset really lives against its declared region (None when nothing to compare)."""
    if not gov.region:
        return None
    if gov.storage.kind == "s3" and gov.storage.bucket and store is not None:
        try:
            actual = bucket_region(store, gov.storage.bucket)
        except ObjectStoreError as exc:
            return ResidencyResult(asset, "storage_region", False, gov.region, None, str(exc))
        where = f"bucket {gov.storage.bucket}"
    elif gov.storage.kind == "warehouse" and warehouse_region:
        actual, where = warehouse_region, "the warehouse"
    else:
        return None
    same = taxonomy.jurisdiction(actual) == taxonomy.jurisdiction(gov.region)
    message = (f"{asset} is declared in {gov.region} and {where} is in {actual}" +
               ("" if same else f": its data sits in {taxonomy.jurisdiction(actual)}, not {taxonomy.jurisdiction(gov.region)}"))
    return ResidencyResult(asset, "storage_region", same, gov.region, actual, message)


def row_regions(asset: str, gov: AssetGovernance, warehouse: Warehouse, column: str) -> ResidencyResult:
    """Rows whose own region/country lies outside the jurisdiction the asset is stored in."""
    table = gov.storage.table or asset
    if not warehouse.table_exists(table):
        return ResidencyResult(asset, "row_regions", True, gov.region, None, f"{asset} is not materialized; no rows to check")
    query = (exp.select(column_expr(column), exp.func("count", exp.Star()))
             .from_(table_expr(table)).group_by(column_expr(column)))
    home = taxonomy.jurisdiction(gov.region or "")
    outside: dict[str, int] = {}
    for value, count in warehouse.fetch(query):
        where = country_jurisdiction(str(value)) if value is not None and len(str(value)) <= 3 else taxonomy.jurisdiction(str(value))
        if value is not None and where != home:
            outside[where] = outside.get(where, 0) + int(count)
    violations = sum(outside.values())
    message = (f"all rows of {asset} belong to {home}" if not violations else
               f"{violations} row(s) of {asset} belong to " + ", ".join(f"{j} ({n})" for j, n in sorted(outside.items()))
               + f" but are stored in {gov.region} ({home})")
    return ResidencyResult(asset, "row_regions", not violations, gov.region, None, message, violations)


def residency_report(governance: Mapping[str, AssetGovernance], store: ObjectStore | None, warehouse: Warehouse | None,
                     warehouse_region: str | None) -> list[ResidencyResult]:
    results = []
    for asset, gov in sorted(governance.items()):
        result = storage_region(asset, gov, store, warehouse_region)
        if result is not None:
            results.append(result)
        if gov.region_column and warehouse is not None and gov.storage.kind == "warehouse":
            results.append(row_regions(asset, gov, warehouse, gov.region_column))
    return results
