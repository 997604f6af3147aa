"""Asset checks generated from the governance model: PII scans and residency, evidence masked."""

import dagster as dg

from ..datasets import dataset_records, verify_snapshot
from ..ledger import Ledger, NewEntry
from ..manifest import Project
from ..residency import row_regions, storage_region
from ..scan import ScanReport, absent_declarations, scan_s3, scan_table, undeclared_findings
from ..spec import AssetGovernance
from .resources import S3Resource, WarehouseResource

NO_PII = "no_personal_data"
DECLARED_PII = "pii_matches_declarations"
STORED_IN_REGION = "stored_in_declared_region"
ROWS_IN_REGION = "rows_in_declared_region"
SNAPSHOTS_INTACT = "snapshots_intact"


def _scan(gov: AssetGovernance, asset: str, warehouse: WarehouseResource, s3: S3Resource) -> ScanReport:
    if gov.storage.kind == "s3":
        return scan_s3(s3.get(), gov.storage.bucket, gov.storage.prefix or "")
    return scan_table(warehouse.get(), gov.storage.table or asset)


def _evidence(report: ScanReport) -> dict:
    """Counts per column and detector, masked examples only."""
    return {
        "rows_scanned": report.rows_scanned,
        "target": report.target,
        "findings": dg.MetadataValue.json(report.findings_by_column()),
        "masked_examples": dg.MetadataValue.json({c: r.examples for c, r in report.columns.items() if r.examples}),
    }


def _ledger(warehouse: WarehouseResource, check: str, report: ScanReport, passed: bool) -> dict:
    """Record the scan's outcome (counts only) and return the ledger head for the check metadata."""
    entry = Ledger(warehouse.get()).append_many([NewEntry(
        f"dagster:{check}", "pii_scan.result", report.target,
        {"rows_scanned": report.rows_scanned, "findings": report.findings_by_column(), "passed": passed},
    )])[-1]
    return {"ledger/head_seq": entry.seq, "ledger/head_hash": entry.hash}


def governance_checks(project: Project, governance: dict[str, AssetGovernance]) -> list[dg.AssetChecksDefinition]:
    scannable = {a: g for a, g in governance.items()
                 if (g.storage.kind == "warehouse") or (g.storage.kind == "s3" and g.storage.bucket)}
    pii_free = {a: g for a, g in scannable.items() if g.pii_free}
    declared = {a: g for a, g in scannable.items() if g.columns and g.storage.kind == "warehouse" and not g.pii_free}
    located = {a: g for a, g in scannable.items() if g.region}
    row_located = {a: g for a, g in declared.items() if g.region_column}
    checks = []

    def spec(asset, name, gov, description):
        return dg.AssetCheckSpec(name, asset=asset, blocking=gov.blocking_checks, description=description)

    if pii_free:
        @dg.multi_asset_check(specs=[spec(a, NO_PII, g, "scan for personal data in an asset declared PII-free")
                                     for a, g in sorted(pii_free.items())], can_subset=True, name="pii_free_scans")
        def pii_free_scans(context: dg.AssetCheckExecutionContext, warehouse: WarehouseResource, s3: S3Resource):
            for key in context.selected_asset_check_keys:
                asset = key.asset_key.to_user_string()
                report = _scan(pii_free[asset], asset, warehouse, s3)
                passed = report.total_findings == 0
                meta = {**_evidence(report), **_ledger(warehouse, NO_PII, report, passed)}
                yield dg.AssetCheckResult(asset_key=key.asset_key, check_name=NO_PII, passed=passed,
                                          severity=dg.AssetCheckSeverity.ERROR, metadata=meta)
        checks.append(pii_free_scans)

    if declared:
        @dg.multi_asset_check(specs=[spec(a, DECLARED_PII, g, "personal data only in columns declared to hold it")
                                     for a, g in sorted(declared.items())], can_subset=True, name="declared_pii_scans")
        def declared_pii_scans(context: dg.AssetCheckExecutionContext, warehouse: WarehouseResource, s3: S3Resource):
            for key in context.selected_asset_check_keys:
                asset = key.asset_key.to_user_string()
                gov = declared[asset]
                report = _scan(gov, asset, warehouse, s3)
                categories = {name: col.categories for name, col in gov.columns.items()}
                undeclared = undeclared_findings(report, categories)
                absent = absent_declarations(report, categories)
                passed = not undeclared
                meta = {**_evidence(report), "undeclared": dg.MetadataValue.json(undeclared),
                        "declared_but_not_found": dg.MetadataValue.json(absent),
                        **_ledger(warehouse, DECLARED_PII, report, passed)}
                # Declared-but-absent is information (a tokenized card column holds no card numbers).
                yield dg.AssetCheckResult(asset_key=key.asset_key, check_name=DECLARED_PII, passed=passed,
                                          severity=dg.AssetCheckSeverity.ERROR, metadata=meta)
        checks.append(declared_pii_scans)

    if located:
        @dg.multi_asset_check(specs=[spec(a, STORED_IN_REGION, g, "the asset is stored in its declared region")
                                     for a, g in sorted(located.items())], can_subset=True, name="storage_residency")
        def storage_residency(context: dg.AssetCheckExecutionContext, warehouse: WarehouseResource, s3: S3Resource):
            store = s3.get() if any(g.storage.kind == "s3" for g in located.values()) else None
            for key in context.selected_asset_check_keys:
                asset = key.asset_key.to_user_string()
                result = storage_region(asset, located[asset], store, warehouse.region)
                yield dg.AssetCheckResult(
                    asset_key=key.asset_key, check_name=STORED_IN_REGION, passed=bool(result is None or result.passed),
                    severity=dg.AssetCheckSeverity.ERROR,
                    metadata={"explanation": result.message if result else "nothing to compare",
                              "declared": located[asset].region, "actual": (result.actual if result else None) or "n/a"})
        checks.append(storage_residency)

    if row_located:
        @dg.multi_asset_check(specs=[spec(a, ROWS_IN_REGION, g, "each row's own region matches where it is stored")
                                     for a, g in sorted(row_located.items())], can_subset=True, name="row_residency")
        def row_residency(context: dg.AssetCheckExecutionContext, warehouse: WarehouseResource):
            for key in context.selected_asset_check_keys:
                asset = key.asset_key.to_user_string()
                gov = row_located[asset]
                result = row_regions(asset, gov, warehouse.get(), gov.region_column)
                yield dg.AssetCheckResult(asset_key=key.asset_key, check_name=ROWS_IN_REGION, passed=result.passed,
                                          severity=dg.AssetCheckSeverity.ERROR,
                                          metadata={"explanation": result.message, "rows_outside": result.violations})
        checks.append(row_residency)

    snapshotted = {a: g for a, g in governance.items() if g.storage.snapshots}
    if snapshotted:
        @dg.multi_asset_check(specs=[spec(a, SNAPSHOTS_INTACT, g, "every recorded snapshot still holds the rows "
                                          "its digest was recorded for") for a, g in sorted(snapshotted.items())],
                              can_subset=True, name="training_snapshots")
        def training_snapshots(context: dg.AssetCheckExecutionContext, warehouse: WarehouseResource, s3: S3Resource):
            store, ledger = s3.get(), Ledger(warehouse.get())
            for key in context.selected_asset_check_keys:
                # Models trained on older snapshots name them too: check every one not erased.
                records = [r for r in dataset_records(ledger, key.asset_key.to_user_string()) if not r.deleted]
                problems = [p for r in {r.digest: r for r in records}.values() for p in verify_snapshot(store, r)]
                yield dg.AssetCheckResult(asset_key=key.asset_key, check_name=SNAPSHOTS_INTACT, passed=not problems,
                                          severity=dg.AssetCheckSeverity.ERROR,
                                          metadata={"snapshots": len({r.digest for r in records}),
                                                    "problems": dg.MetadataValue.json(problems)})
        checks.append(training_snapshots)
    return checks
