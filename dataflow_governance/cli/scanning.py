"""`dfg scan` and `dfg residency`: what the data actually holds, and where it actually is."""

from __future__ import annotations

from dataflow_governance.cli import render
from dataflow_governance.cli.common import CliError, emit, policy, positive, uses_s3
from dataflow_governance.dagster_ext.parts import object_store, warehouse_of


def register(subparsers, common) -> None:
    """The `scanning` family's commands and options."""
    p = subparsers.add_parser("scan", parents=[common], help="scan a file, table or S3 prefix for personal data")
    target = p.add_mutually_exclusive_group(required=True)
    target.add_argument("--file", help="CSV, Parquet, JSON lines or text file")
    target.add_argument("--table", help="a warehouse table (the prefilter runs in the warehouse)")
    target.add_argument("--s3", help="s3://bucket/prefix (JSON lines, text logs, CSV, Parquet objects)")
    p.add_argument("--sample", type=positive, help="scan at most N rows (files: the first N)")
    p.add_argument("--exact", action="store_true",
                   help="tables: validate every candidate instead of a budget of 2,000 per column")
    p.add_argument("--fail-on-findings", action="store_true", help="exit 1 when anything is found")
    p.set_defaults(handler="scanning:cmd_scan", needs_project=False)
    p = subparsers.add_parser("residency", parents=[common], help="declared vs actual regions, per-row regions, crossings")
    p.add_argument("--fail-on-findings", action="store_true", help="exit 1 on any violation")
    p.set_defaults(handler="scanning:cmd_residency")


def cmd_scan(args, project) -> int:
    from dataflow_governance.detection.scan import DEFAULT_VALIDATION_BUDGET, scan_file, scan_s3, scan_table
    from dataflow_governance.storage.objectstore import split_s3_uri

    if args.s3 and not args.s3.startswith("s3://"):
        raise CliError(f"--s3 {args.s3!r}: expected s3://bucket/prefix")
    detectors = _allowing(project, args)
    if args.file:
        report = scan_file(args.file, sample=args.sample, detectors=detectors)
    elif args.table:
        report = scan_table(warehouse_of(project), args.table, sample=args.sample, detectors=detectors,
                            budget=None if args.exact else DEFAULT_VALIDATION_BUDGET)
    else:
        bucket, prefix = split_s3_uri(args.s3)
        report = scan_s3(object_store(project), bucket, prefix, sample=args.sample, detectors=detectors)
    if project is not None and not args.file:
        _record_phi_read(project, args)
    emit(args, report.to_dict(), render.scan(report))
    return 1 if args.fail_on_findings and report.total_findings else 0


def _allowing(project, args):
    """The detectors, passing over what the scanned asset's `scan.allow` names (a table or prefix of
    a governed asset; a file has none)."""
    from dataflow_governance.detection.detectors import DETECTORS, allowing
    from dataflow_governance.storage.objectstore import split_s3_uri

    if project is None or args.file:
        return DETECTORS
    ctx = policy(project)
    assets = ctx.assets_at(table=args.table) if args.table else ctx.assets_at(s3=split_s3_uri(args.s3))
    return allowing(DETECTORS, [value for asset in assets for value in ctx.governance[asset].scan.allow])


def _record_phi_read(project, args) -> None:
    """A scan reads every value of what it scans: on PHI, that is an access to ledger (HIPAA)."""
    from dataflow_governance.ledger.chain import Ledger
    from dataflow_governance.policy.hipaa import hipaa_assets
    from dataflow_governance.storage.objectstore import split_s3_uri
    from dataflow_governance.subjects.disclosures import record_command

    ctx = policy(project)
    if not hipaa_assets(ctx):
        return
    scanned = ctx.assets_at(table=args.table) if args.table else ctx.assets_at(s3=split_s3_uri(args.s3))
    record_command(Ledger(warehouse_of(project)), ctx, "scan", scanned, "a scan for personal data (dfg scan)")


def cmd_residency(args, project) -> int:
    from dataflow_governance.detection.residency import residency_report
    from dataflow_governance.policy.gdpr import region_crossing

    ctx = policy(project)
    results = residency_report(ctx.governance, object_store(project) if uses_s3(ctx) else None,
                               warehouse_of(project), project.warehouse.region)
    flows = [f.to_dict() for f in region_crossing(ctx)]
    payload = {"assets": [r.to_dict() for r in results], "flows": flows,
               "ok": all(r.passed for r in results) and not flows}
    emit(args, payload, render.residency(results, flows))
    return 0 if payload["ok"] or not args.fail_on_findings else 1
