"""`dfg incident`: personal data found where it should not be — traced, measured, planned, ledgered."""

from __future__ import annotations

from . import render
from .common import CliError, emit, object_store, policy, uses_s3


def cmd_incident(args, project) -> int:
    from ..incident import IncidentError, trace_incident
    from ..ledger import Ledger
    from ..retention import run_sweep

    ctx = policy(project)
    warehouse = project.open_warehouse()
    store = object_store(project) if uses_s3(ctx) else None
    try:
        sweep = run_sweep(project, dict(ctx.governance), warehouse, store, graph=ctx.graph, dry_run=True)["assets"]
        report = trace_incident(ctx, args.found, args.location, warehouse, store, sweep)
    except IncidentError as exc:
        raise CliError(str(exc)) from None
    exposure = report["exposure"]
    Ledger(warehouse).append("dfg:incident", "incident.traced", f"asset:{report['asset']}", {
        "category": report["category"], "found_in": report["found_in"], "rows": exposure["rows"],
        "objects": exposure["objects"], "measured": exposure["measured"],
        "affected": [report["asset"], *report["forward"]["assets"]], "processors": report["forward"]["processors"]})
    emit(args, report, render.incident(report))
    return 0
