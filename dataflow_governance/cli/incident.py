"""`dfg incident`: personal data found where it should not be — traced, measured, planned, ledgered."""

from __future__ import annotations

from dataflow_governance.cli import render
from dataflow_governance.cli.common import CliError, emit, policy, uses_s3
from dataflow_governance.dagster_ext.parts import object_store, reach_of, scope_of, warehouse_of


def register(subparsers, common) -> None:
    """The `incident` family's commands and options."""
    p = subparsers.add_parser("incident", parents=[common],
                       help="personal data found where it should not be: trace it, measure it, plan the clean-up")
    p.add_argument("--found", required=True, metavar="CATEGORY", help="the data category found, e.g. user.contact.email")
    p.add_argument("--in", dest="location", required=True, metavar="ASSET|s3://BUCKET/PREFIX", help="where it was found")
    p.set_defaults(handler="incident:cmd_incident")


def cmd_incident(args, project) -> int:
    from dataflow_governance.incident.trace import IncidentError, first_detected, sweep_step, trace_incident
    from dataflow_governance.ledger.chain import Ledger
    from dataflow_governance.retention.sweep import run_sweep

    ctx = policy(project, checked=True)
    warehouse = warehouse_of(project)
    store = object_store(project) if uses_s3(ctx) else None
    with warehouse.session():  # one connection for the trace, the sweep's dry run and the ledger
        try:
            report = trace_incident(ctx, args.found, args.location, warehouse, store)
        except IncidentError as exc:
            raise CliError(str(exc)) from None
        # What the next retention sweep removes of the affected assets besides (a dry run over them only).
        affected = {a: ctx.governance[a] for a in [report["asset"], *report["forward"]["assets"]] if a in ctx.governance}
        sweep = run_sweep(reach_of(project, warehouse, store), scope_of(project, affected, ctx.graph),
                          dry_run=True)["assets"]
        report["plan"] += sweep_step(sweep)
        ledger = Ledger(warehouse)
        exposure = report["exposure"]
        exposure["first_detected"] = first_detected(ledger, ctx, report["asset"], report["category"])
        ledger.append("dfg:incident", "incident.traced", f"asset:{report['asset']}", {
            # The asset, not the location typed: a key prefix may name a person (attachments/<id>/).
            "category": report["category"], "given_as": "s3 location" if report["found_in"].startswith("s3://") else "asset",
            "rows": exposure["rows"],
            "objects": exposure["objects"], "measured": exposure["measured"],
            "affected": [report["asset"], *report["forward"]["assets"]], "processors": report["forward"]["processors"]})
    emit(args, report, render.incident(report))
    return 0
