"""`dfg check`, `ropa`, `map` and `catalog`: questions about what the project declares and derives."""

from __future__ import annotations

from pathlib import Path

from dataflow_governance.cli import render
from dataflow_governance.cli.common import CliError, build_catalog, catalog_key, emit, policy
from dataflow_governance.dagster_ext.parts import warehouse_of


def register(subparsers, common) -> None:
    """The `governance` family's commands and options."""
    p = subparsers.add_parser("check", parents=[common], help="static policy rules; exit 1 on any error finding")
    p.add_argument("--live", action="store_true",
                   help="also confirm every declared table, column, bucket and Delta folder in the live stores")
    p.set_defaults(handler="governance:cmd_check")
    p = subparsers.add_parser("ropa", parents=[common], help="GDPR Art. 30 record (md, html, csv, json)")
    p.add_argument("--out", help="output folder (default: the manifest's output_dir)")
    p.set_defaults(handler="governance:cmd_ropa")
    p = subparsers.add_parser("map", parents=[common], help="Mermaid data map with regions and processors; C4 views")
    p.add_argument("--out", help="output folder (default: the manifest's output_dir)")
    p.add_argument("--view", choices=["flow", "c4-context", "c4-container", "c4-component", "bpmn", "swimlane"],
                   default="flow", help="flow: every asset and flow (default); c4-context / c4-container / c4-component: "
                   "the C4 levels; bpmn: each saga as BPMN 2.0; swimlane: each process as BPMN lanes and a sequence")
    p.add_argument("--saga", help="bpmn: only this saga")
    p.add_argument("--flow", help="swimlane: only this process (processes: in the manifest)")
    p.set_defaults(handler="governance:cmd_map")
    p = subparsers.add_parser("scope", parents=[common], help="PCI DSS scope from lineage: the cardholder data environment")
    p.add_argument("--pci", action="store_true", required=True, help="the cardholder data environment (PCI DSS)")
    p.add_argument("--out", help="folder for pci_scope.md, the Mermaid diagram (default: the manifest's output_dir)")
    p.set_defaults(handler="governance:cmd_scope")
    p = subparsers.add_parser("boundaries", parents=[common],
                              help="the trust-boundary catalog: every crossing, its STRIDE threats, data levels, "
                              "controls present and missing")
    p.add_argument("--out", help="folder for boundaries.md and boundaries.html (default: the manifest's output_dir)")
    p.set_defaults(handler="governance:cmd_boundaries")
    p = subparsers.add_parser("catalog", parents=[common], help="the governance catalog file every command reads: build, status")
    p.add_argument("action", choices=["build", "status"])
    p.set_defaults(handler="governance:cmd_catalog")


def cmd_check(args, project) -> int:
    from dataflow_governance.policy.rules import run_policy

    ctx = policy(project)
    findings = run_policy(ctx)
    if args.live:
        findings = sorted([*findings, *live_findings(project, ctx)])
    if project.draft:
        from dataflow_governance.policy.context import Finding

        findings = [Finding(project.name, "manifest-is-draft", "warning",
                            "the manifest is a draft that `dfg init --scan` proposed from the data: its categories are "
                            "proposals, not reviewed facts",
                            "review every entry (those marked REVIEW first, then the commented-out ones), decide the "
                            "legal bases and retentions, then remove `draft: true`"), *findings]
    emit(args, {"findings": [f.to_dict() for f in findings]}, render.findings(findings))
    return 1 if any(f.severity == "error" for f in findings) else 0


def live_findings(project, ctx) -> list:
    """Every declared place confirmed in the live warehouse, object store and state folder."""
    from dataflow_governance.cli.common import uses_s3
    from dataflow_governance.dagster_ext.parts import object_store
    from dataflow_governance.detection.places import declared_place_problems
    from dataflow_governance.policy.context import Finding

    problems = declared_place_problems(dict(ctx.governance), warehouse_of(project),
                                       object_store(project) if uses_s3(ctx) else None, project.state_dir)
    return [Finding(p.asset, "declared-place-missing", "error", p.message, p.fix) for p in problems]


def cmd_ropa(args, project) -> int:
    from dataflow_governance.reports.ropa import ropa_activities, write_ropa

    activities = ropa_activities(policy(project))
    written = write_ropa(activities, Path(args.out) if args.out else project.output_dir)
    emit(args, {"activities": activities},
         f"record of processing: {len(activities)} activities → " + ", ".join(str(p) for p in written.values()))
    return 0


def cmd_map(args, project) -> int:
    from dataflow_governance.reports.c4 import VIEWS
    from dataflow_governance.reports.mermaid import write_mermaid
    from dataflow_governance.reports.ropa import data_map, write_data_map

    ctx = policy(project)
    out = Path(args.out) if args.out else project.output_dir
    if args.view == "flow":
        path = write_data_map(ctx, out)
        emit(args, {"path": str(path), "mermaid": data_map(ctx)}, f"data map → {path}")
        return 0
    if args.view in ("bpmn", "swimlane"):
        return _process_views(args, ctx, project, out)
    from dataflow_governance.dagster_ext.parts import platform_of

    diagram = VIEWS[args.view](ctx, platform_of(project))
    path = write_mermaid(out, args.view.replace("-", "_"), args.view, diagram)
    emit(args, {"path": str(path), "view": args.view, "mermaid": diagram}, f"{args.view} view → {path}")
    return 0


def _process_views(args, ctx, project, out: Path) -> int:
    from dataflow_governance.reports.bpmn import write_process_views

    landscape = ctx.landscape
    declared = (landscape.sagas if args.view == "bpmn" else landscape.processes) if landscape is not None else {}
    what, wanted = ("saga", args.saga) if args.view == "bpmn" else ("process", args.flow)
    if not declared:
        raise CliError(f"the project declares no {what} ({what}s: in the manifest)")
    if wanted is not None and wanted not in declared:
        raise CliError(f"unknown {what} {wanted!r}; {what}s: {', '.join(sorted(declared))}")
    names = None if wanted is None else [wanted]
    paths = write_process_views(landscape, ctx.processors, out, sagas=names if args.view == "bpmn" else [],
                                processes=names if args.view == "swimlane" else [])
    emit(args, {"view": args.view, "paths": [str(p) for p in paths]},
         "\n".join(f"{args.view} view → {p}" for p in paths))
    return 0


def cmd_boundaries(args, project) -> int:
    from dataflow_governance.policy.boundaries import BOUNDARY_RULES, boundary_catalog
    from dataflow_governance.policy.levels import system_level
    from dataflow_governance.policy.rules import run_policy
    from dataflow_governance.reports.boundaries import write_boundaries

    ctx = policy(project)
    crossings = boundary_catalog(ctx)
    landscape = ctx.landscape
    systems = [{"system": name, "kind": s.kind, "zone": s.zone, "level": system_level(ctx, s), "derived": s.derived,
                **({"holds": list(s.holds)} if s.holds else {})}
               for name, s in sorted(landscape.systems.items())] if landscape else []
    findings = run_policy(ctx, BOUNDARY_RULES)
    reports = write_boundaries(crossings, Path(args.out) if args.out else project.output_dir)
    payload = {"declared": bool(landscape and landscape.declared), "systems": systems, "crossings": crossings,
               "findings": [f.to_dict() for f in findings], "reports": [str(r) for r in reports]}
    emit(args, payload, render.boundaries(payload))
    return 1 if any(f.severity == "error" for f in findings) else 0


def cmd_scope(args, project) -> int:
    from dataflow_governance.policy.pci import pci_scope
    from dataflow_governance.reports.mermaid import write_mermaid
    from dataflow_governance.reports.pci_scope import scope_mermaid

    ctx = policy(project)
    scope = pci_scope(ctx)
    diagram = scope_mermaid(scope, ctx)
    path = write_mermaid(Path(args.out) if args.out else project.output_dir, "pci_scope", "PCI DSS scope", diagram)
    emit(args, {**scope.to_dict(), "path": str(path), "mermaid": diagram}, render.pci_scope(scope) + f"\ndiagram → {path}")
    return 0


def cmd_catalog(args, project) -> int:
    from dataflow_governance.catalog import artifact as catalog
    from dataflow_governance.dagster_ext.parts import origin_of

    path = project.paths.catalog
    if args.action == "build":
        built = build_catalog(project)
        emit(args, {"path": str(path), "fingerprint": built.fingerprint, "assets": len(built.governance)},
             f"governance catalog of {len(built.governance)} governed assets → {path}\nfingerprint {built.fingerprint}")
        return 0
    key = catalog_key(project, checked=False)
    try:
        current, authentic = catalog.read(path, key), (True if key is not None else None)
    except catalog.UnauthenticCatalog:
        current, authentic = catalog.read(path), False
    changed = catalog.changed_inputs(origin_of(project), current)
    payload = {"path": str(path), "fingerprint": current.fingerprint, "generated_at": current.generated_at,
               "assets": len(current.governance), "fresh": not changed and authentic is not False,
               "authentic": authentic, "changed": changed}
    emit(args, payload, render.catalog_status(payload))
    return 0 if payload["fresh"] else 1
