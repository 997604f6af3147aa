"""Asset checks generated from the governance model: PII scans, residency, snapshot integrity.

Table-driven: each kind of check is one `CheckKind` row — which assets it applies to and how one
asset is evaluated — and one multi-asset check is built per row. Adding a check is adding a row.
Evidence is counts, column names and masked examples only.
"""

from collections.abc import Callable, Iterable
from dataclasses import dataclass

import dagster as dg

from dataflow_governance.dagster_ext.resources import S3Resource, WarehouseResource
from dataflow_governance.detection.detectors import DETECTORS, allowing, select_detectors
from dataflow_governance.detection.places import needed_columns, table_problems
from dataflow_governance.detection.residency import row_regions, storage_region
from dataflow_governance.detection.scan import ScanReport, absent_declarations, scan_s3, scan_table, undeclared_findings
from dataflow_governance.ledger.chain import Ledger, NewEntry
from dataflow_governance.ml.datasets import dataset_records, verify_snapshot
from dataflow_governance.model.manifest import TenancyConfig
from dataflow_governance.model.spec import AssetGovernance, table_of
from dataflow_governance.storage.objectstore import bucket_region
from dataflow_governance.tenancy.census import (
    object_census,
    pinned_outside,
    tenant_census,
    tenant_directory,
    tenant_placement,
)

NO_PII = "no_personal_data"
NO_PII_IN_LOG = "no_personal_data_in_log"
DECLARED_PII = "pii_matches_declarations"
STORED_IN_REGION = "stored_in_declared_region"
ROWS_IN_REGION = "rows_in_declared_region"
SNAPSHOTS_INTACT = "snapshots_intact"
TENANT_ROWS = "tenant_rows"
TENANT_SCHEMAS = "tenant_schemas"
TENANT_OBJECTS = "tenant_objects"
CARD_DATA = "card_data_where_declared"
SAFE_HARBOR = "safe_harbor_deidentified"
DECLARED_PLACE = "declared_table_present"
CARD_DETECTORS = ("credit_card", "track_data")


@dataclass
class Services:
    """What an evaluation may use, opened once per check run and only when asked for."""

    warehouse: WarehouseResource
    s3: S3Resource
    tenancy: TenancyConfig | None = None
    entity: tuple[str, str] | None = None  # the tenant entity's table and column
    _store: object = None

    def store(self):
        if self._store is None:
            self._store = self.s3.get()
        return self._store

    def store_region(self, bucket: str) -> str:
        return bucket_region(self.store(), bucket)


Evaluation = tuple[bool, dict]  # passed, metadata


@dataclass(frozen=True)
class CheckKind:
    name: str
    description: str
    applies: Callable[[AssetGovernance], bool]
    evaluate: Callable[[str, AssetGovernance, Services], Evaluation]


def _scannable(gov: AssetGovernance) -> bool:
    # (A table per tenant's schema is checked by `tenant_schemas`; scans read one table.)
    return (gov.storage.kind == "warehouse" and not gov.per_tenant_table) or (
        gov.storage.kind == "s3" and bool(gov.storage.bucket))


def _scan(asset: str, gov: AssetGovernance, services: Services, detectors=DETECTORS) -> ScanReport:
    detectors = allowing(detectors, gov.scan.allow)
    if gov.storage.kind == "s3":
        return scan_s3(services.store(), gov.storage.bucket, gov.storage.prefix or "", detectors=detectors)
    return scan_table(services.warehouse.get(), gov.storage.table or asset, detectors=detectors)


def _per_column(mapping: dict, unit: str = "") -> dg.TextMetadataValue:
    """column → {name: value or values} as one line of text (`email: email 12 rows; notes: phone 2
    rows`): the check's result shows text as it is, where JSON and Markdown hide behind a button."""
    parts = []
    for column, found in sorted(mapping.items()):
        items = []
        for name, value in (found.items() if isinstance(found, dict) else [(v, None) for v in found]):
            shown = ", ".join(map(str, value)) if isinstance(value, (list, tuple)) else value
            items.append(name if shown is None else f"{name} {shown}{unit}")
        parts.append(f"{column}: {', '.join(items)}")
    return dg.MetadataValue.text("; ".join(parts) or "none")


def _evidence(report: ScanReport) -> dict:
    """Counts per column and detector, masked examples only; what could not be searched, said."""
    evidence = {
        "rows_scanned": report.rows_scanned,
        "target": report.target,
        "findings": _per_column(report.findings_by_column(), " rows"),
        "masked_examples": _per_column({c: r.examples for c, r in report.columns.items() if r.examples}),
    }
    if report.unavailable:
        evidence["not_searched"] = dg.MetadataValue.text("; ".join(f"{d}: {why}" for d, why in report.unavailable.items()))
    cut = {c: r.cut_short for c, r in report.columns.items() if r.cut_short}
    if cut:
        evidence["values_cut_short"] = _per_column({c: {"values": n} for c, n in cut.items()})
    return evidence


def _ledger(services: Services, check: str, report: ScanReport, passed: bool) -> dict:
    """Record the scan's outcome (counts only) and return the ledger head for the check metadata."""
    entry = Ledger(services.warehouse.get()).append_many([NewEntry(
        f"dagster:{check}", "pii_scan.result", report.target,
        {"rows_scanned": report.rows_scanned, "findings": report.findings_by_column(), "passed": passed},
    )])[-1]
    return {"ledger/head_seq": entry.seq, "ledger/head_hash": entry.hash}


def _no_pii(asset: str, gov: AssetGovernance, services: Services) -> Evaluation:
    report = _scan(asset, gov, services)
    # Personal data a detector could not look for is not shown absent: not passed.
    passed = report.total_findings == 0 and not report.unavailable
    return passed, {**_evidence(report), **_ledger(services, NO_PII, report, passed)}


def _declared_pii(asset: str, gov: AssetGovernance, services: Services) -> Evaluation:
    report = _scan(asset, gov, services)
    categories = {name: col.categories for name, col in gov.columns.items()}
    undeclared = undeclared_findings(report, categories)
    passed = not undeclared and not report.unavailable
    # Declared-but-absent is information (a tokenized card column holds no card numbers), not failure.
    return passed, {**_evidence(report), "undeclared": _per_column(undeclared, " rows"),
                    "declared_but_not_found": _per_column(absent_declarations(report, categories)),
                    **_ledger(services, DECLARED_PII, report, passed)}


def _card_data(asset: str, gov: AssetGovernance, services: Services) -> Evaluation:
    """PCI DSS at run time: track data nowhere; card numbers only in the columns declared to hold one
    (past the tokenization boundary: none)."""
    report = _scan(asset, gov, services, select_detectors(CARD_DETECTORS))
    misplaced = {column: {name: n for name, n in found.items()
                          if name == "track_data" or column not in gov.pan_columns}
                 for column, found in report.findings_by_column().items()}
    misplaced = {column: found for column, found in misplaced.items() if found}
    passed = not misplaced
    return passed, {**_evidence(report), "misplaced": _per_column(misplaced, " rows"),
                    "pan_columns": ", ".join(gov.pan_columns) or "none", **_ledger(services, CARD_DATA, report, passed)}


def _safe_harbor(asset: str, gov: AssetGovernance, services: Services) -> Evaluation:
    """HIPAA Safe Harbor on the data: no identifier left, dates to the year, ZIP codes to three digits."""
    from dataflow_governance.detection.deidentified import check_safe_harbor
    from dataflow_governance.policy.safe_harbor import own_time

    report = check_safe_harbor(services.warehouse.get(), table_of(asset, gov), gov.scan.allow, own_time(gov))
    passed = report.passed
    metadata = {**_evidence(report.scan), "identifiers_left": _per_column(report.problems, " rows")}
    return passed, {**metadata, **_ledger(services, SAFE_HARBOR, report.scan, passed)}


def _stored_in_region(asset: str, gov: AssetGovernance, services: Services) -> Evaluation:
    store = services.store() if gov.storage.kind == "s3" else None
    result = storage_region(asset, gov, store, services.warehouse.region)
    return bool(result is None or result.passed), {
        "explanation": result.message if result else "nothing to compare",
        "declared": gov.region, "actual": (result.actual if result else None) or "n/a"}


def _rows_in_region(asset: str, gov: AssetGovernance, services: Services) -> Evaluation:
    result = row_regions(asset, gov, services.warehouse.get(), gov.region_column)
    return result.passed, {"explanation": result.message, "rows_outside": result.violations}


def _snapshots_intact(asset: str, gov: AssetGovernance, services: Services) -> Evaluation:
    # Models trained on older snapshots name them too: check every one not erased.
    records = [r for r in dataset_records(Ledger(services.warehouse.get()), asset) if not r.deleted]
    problems = [p for r in {r.digest: r for r in records}.values() for p in verify_snapshot(services.store(), r)]
    return not problems, {"snapshots": len({r.digest for r in records}),
                          "problems": dg.MetadataValue.text("; ".join(problems) or "none")}


def _tenant_rows(asset: str, gov: AssetGovernance, services: Services) -> Evaluation:
    table = table_of(asset, gov)
    directory = services.entity is not None and services.entity[0] == table  # lists every tenant, wherever pinned
    census = tenant_census(services.warehouse.get(), table, gov.tenant_key, tenancy=services.tenancy,
                           entity=services.entity, region=None if directory else gov.region, declared=gov.tenants)
    return census.passed, {
        "rows": census.rows, "rows_without_tenant": census.missing, "rows_of_unknown_tenants": census.unknown,
        "rows_of_tenants_pinned_elsewhere": census.pinned_elsewhere, "rows_of_undeclared_tenants": census.undeclared,
        "region": gov.region or "not declared",
        "tenant_entity": ".".join(services.entity) if services.entity else "none declared"}


def _tenant_schemas(asset: str, gov: AssetGovernance, services: Services) -> Evaluation:
    warehouse = services.warehouse.get()
    directory = tenant_directory(warehouse, services.tenancy, services.entity)
    placement = tenant_placement(warehouse, table_of(asset, gov), gov.tenant_key, directory=directory, region=gov.region,
                                 declared=gov.tenants)
    return placement.passed, {
        "tenant_schemas": placement.schemas, "schemas_of_unknown_tenants": placement.unknown,
        "schemas_of_tenants_pinned_elsewhere": placement.pinned_elsewhere,
        "rows_of_another_tenant": placement.misplaced_rows, "schemas_of_undeclared_tenants": placement.undeclared,
        "template": table_of(asset, gov)}


def _tenant_objects(asset: str, gov: AssetGovernance, services: Services) -> Evaluation:
    directory = tenant_directory(services.warehouse.get(), services.tenancy, services.entity)
    census = object_census(services.store(), gov.storage.bucket, gov.storage.prefix or "",
                           tenant_prefix=gov.tenant_prefix, field=gov.tenant_key, listed=set(directory),
                           pinned=pinned_outside(directory, gov.region or services.store_region(gov.storage.bucket)),
                           declared=set(gov.tenants))
    return census.passed, {
        "objects": census.objects, "records": census.records, "without_tenant": census.missing,
        "of_unknown_tenants": census.unknown, "of_tenants_pinned_elsewhere": census.pinned_elsewhere,
        "under_another_tenants_prefix": census.misplaced, "of_undeclared_tenants": census.undeclared,
        "location": f"s3://{gov.storage.bucket}/{gov.tenant_prefix or gov.storage.prefix or ''}"}


def _declared_place(asset: str, gov: AssetGovernance, services: Services) -> Evaluation:
    problems = table_problems(asset, table_of(asset, gov), needed_columns(gov), services.warehouse.get())
    return not problems, {"table": table_of(asset, gov), "columns_checked": len(needed_columns(gov)),
                          "problems": dg.MetadataValue.text(" · ".join(map(str, problems)) or "none")}


def _row_tenancy(gov: AssetGovernance) -> bool:
    return bool(gov.tenant_key) and gov.storage.kind == "warehouse" and not gov.per_tenant_table


def _declares_pii(gov: AssetGovernance) -> bool:
    return _scannable(gov) and bool(gov.columns) and gov.storage.kind == "warehouse" and not gov.pii_free


CHECK_KINDS: tuple[CheckKind, ...] = (
    CheckKind(DECLARED_PLACE, "the declared table and every column the governance names exist in the warehouse",
              lambda g: g.storage.kind == "warehouse" and not g.per_tenant_table, _declared_place),
    CheckKind(NO_PII, "scan for personal data in an asset declared PII-free",
              lambda g: _scannable(g) and g.pii_free, _no_pii),
    CheckKind(DECLARED_PII, "personal data only in columns declared to hold it", _declares_pii, _declared_pii),
    CheckKind(CARD_DATA, "no track data, and card numbers only in columns declared to hold them (PCI DSS)",
              lambda g: _scannable(g) and ("pci" in g.regime or g.tokenized), _card_data),
    CheckKind(SAFE_HARBOR, "HIPAA Safe Harbor: none of the 18 identifiers left (names, addresses and birth dates in "
              "free text too), dates to the year, ZIP codes to three digits, ages over 89 grouped",
              lambda g: g.deidentification == "safe_harbor" and g.storage.kind == "warehouse" and not g.per_tenant_table,
              _safe_harbor),
    CheckKind(STORED_IN_REGION, "the asset is stored in its declared region",
              lambda g: _scannable(g) and bool(g.region), _stored_in_region),
    CheckKind(ROWS_IN_REGION, "each row's own region matches where it is stored",
              lambda g: _declares_pii(g) and bool(g.region_column), _rows_in_region),
    CheckKind(SNAPSHOTS_INTACT, "every recorded snapshot still holds the rows its digest was recorded for",
              lambda g: g.storage.snapshots, _snapshots_intact),
    CheckKind(TENANT_ROWS, "every row has a tenant the tenant entity lists; none of a tenant pinned to another "
              "jurisdiction or not declared in `tenants`", _row_tenancy, _tenant_rows),
    CheckKind(TENANT_SCHEMAS, "every tenant schema belongs to a listed tenant pinned here and holds only its rows",
              lambda g: g.storage.kind == "warehouse" and g.tenant_strategy == "schema", _tenant_schemas),
    CheckKind(TENANT_OBJECTS, "every object and record names a listed tenant, under its own prefix, pinned here",
              lambda g: g.storage.kind == "s3" and bool(g.storage.bucket) and bool(g.tenant_key or g.tenant_prefix),
              _tenant_objects),
)


def _build(kind: CheckKind, assets: dict[str, AssetGovernance], tenancy: TenancyConfig | None,
           entity: tuple[str, str] | None) -> dg.AssetChecksDefinition:
    specs = [dg.AssetCheckSpec(kind.name, asset=a, blocking=g.blocking_checks, description=kind.description)
             for a, g in sorted(assets.items())]

    @dg.multi_asset_check(specs=specs, can_subset=True, name=f"{kind.name}_checks")
    def run(context: dg.AssetCheckExecutionContext, warehouse: WarehouseResource, s3: S3Resource):
        services = Services(warehouse, s3, tenancy, entity)
        for key in context.selected_asset_check_keys:
            asset = key.asset_key.to_user_string()
            passed, metadata = kind.evaluate(asset, assets[asset], services)
            yield dg.AssetCheckResult(asset_key=key.asset_key, check_name=kind.name, passed=passed,
                                      severity=dg.AssetCheckSeverity.ERROR, metadata=metadata)

    return run


LOG_KIND = CheckKind(NO_PII_IN_LOG, "scan a log for personal data: scrubbing must leave none",
                     lambda g: _scannable(g) and not g.pii_free, _no_pii)


def governance_checks(governance: dict[str, AssetGovernance], tenancy: TenancyConfig | None = None,
                      kinds: tuple[CheckKind, ...] = CHECK_KINDS, logs: Iterable[str] = ()) -> list[dg.AssetChecksDefinition]:
    """One multi-asset check per kind, over the assets the kind applies to; the assets a declared log
    system holds (`logs`) are scanned like PII-free ones (those declared PII-free are already)."""
    entity = None
    if tenancy is not None and tenancy.tenant:
        entity = (table_of(tenancy.tenant_asset, governance.get(tenancy.tenant_asset)), tenancy.tenant_column)
    checks = []
    for kind in kinds:
        assets = {a: g for a, g in governance.items() if kind.applies(g)}
        if assets:
            checks.append(_build(kind, assets, tenancy, entity))
    logged = {a: governance[a] for a in sorted(set(logs)) if a in governance and LOG_KIND.applies(governance[a])}
    if logged:
        checks.append(_build(LOG_KIND, logged, tenancy, entity))
    return checks
