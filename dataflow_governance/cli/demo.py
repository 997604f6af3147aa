"""`dfg materialize` (and `dfg demo`, the example's name for it): materialize any governed project
in-process, run its checks, write its reports.

A command, so it lives with the CLI; it drives Dagster through its public API like any user of the
project would.
"""

from __future__ import annotations

import contextlib
import getpass
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from dataflow_governance.cli import render
from dataflow_governance.cli.common import CliError, emit, load_definitions
from dataflow_governance.dagster_ext.parts import warehouse_of

if TYPE_CHECKING:
    import dagster as dg

    from dataflow_governance.model.manifest import Project


def register(subparsers, common) -> None:
    """The `materialize` family's commands and options."""
    for name, what in (("materialize", "materialize any governed project's assets and checks in-process, write the reports"),
                       ("demo", "the same as materialize (the name the example's README uses)")):
        p = subparsers.add_parser(name, parents=[common], help=what, description=what + (
            ": every asset but the retention sweep (which deletes by today's date and runs on its schedule), in one "
            "run on the manifest's resources, then the static policy rules; reports under output_dir"))
        p.add_argument("--select", metavar="SELECTION",
                       help="only these assets, in Dagster's selection syntax (`key:users+`, `group:sales`, `tag:pii`)")
        p.set_defaults(handler="demo:cmd_demo", command_name=name)


def cmd_demo(args, project: Project) -> int:
    name = f"dfg {args.command_name}"
    with one_at_a_time(project, name):
        summary = run_demo(project, load_definitions(project), select=args.select, actor=name.replace(" ", ":"))
    emit(args, summary, render.demo(summary))
    ok = summary["run_success"] and not summary["checks_failed"] and not summary["finding_errors"]
    return 0 if ok and not summary.get("openlineage_error") else 1


@contextlib.contextmanager
def one_at_a_time(project: Project, what: str):
    """One materialization of the whole project at a time in a state folder: a second one says so and
    stops, instead of racing the first one for its buckets, tables and run storage."""
    import fcntl
    import os

    locks = project.state_dir / "locks"
    locks.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd = os.open(locks / "materialize.lock", os.O_RDWR | os.O_CREAT, 0o600)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 200, 0).decode(errors="replace").strip() or "another process"
            raise CliError(f"{holder} is already materializing this project (state folder {project.state_dir}); "
                           "wait for it to finish") from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{what} (pid {os.getpid()})".encode(), 0)
        yield
    finally:
        os.close(fd)


def run_demo(project: Project, defs: dg.Definitions, select: str | None = None, actor: str = "dfg:demo") -> dict:
    """One run over every asset (or the `select`ed ones, in Dagster's selection syntax) and their
    checks on the project's resources; reports under output_dir."""
    import dagster as dg

    from dataflow_governance.dagster_ext import policy_context, project_resources, write_catalog
    from dataflow_governance.dagster_ext.access_audit import LAUNCHED_BY_TAG, record_run
    from dataflow_governance.dagster_ext.openlineage import emit_run
    from dataflow_governance.dagster_ext.parts import anchors_of, keyring_of, openlineage_enabled, platform_of
    from dataflow_governance.ledger.chain import Ledger, NewEntry
    from dataflow_governance.ml.model_registry import registered_models
    from dataflow_governance.policy.boundaries import boundary_catalog
    from dataflow_governance.policy.pci import pci_scope
    from dataflow_governance.policy.rules import run_policy
    from dataflow_governance.reports.boundaries import write_boundaries
    from dataflow_governance.reports.bpmn import write_process_views
    from dataflow_governance.reports.c4 import VIEWS
    from dataflow_governance.reports.mermaid import write_mermaid
    from dataflow_governance.reports.openlineage import OpenLineageError
    from dataflow_governance.reports.pci_scope import scope_mermaid
    from dataflow_governance.reports.ropa import findings_report, ropa_activities, write_data_map, write_ropa

    resources = project_resources(project)
    # The local endpoint is started and the buckets are created up front, for a project that has any.
    store = resources["s3"].get() if project.buckets else None
    home = project.state_dir / "dagster_home"
    home.mkdir(parents=True, exist_ok=True)
    with dg.DagsterInstance.local_temp(tempdir=str(home)) as instance:
        # Everything but the retention sweep, which deletes by today's date and runs on its schedule.
        selection = ((dg.AssetSelection.all() - dg.AssetSelection.assets("retention_sweep"))
                     | dg.AssetSelection.checks_for_assets("governance_ledger"))
        if select:
            selection = selected(select, defs)
        job = dg.define_asset_job("materialize", selection=selection).resolve(asset_graph=defs.resolve_asset_graph())
        with contextlib.redirect_stdout(sys.stderr):  # what tools print (dbt's log) is not the command's output
            result = job.execute_in_process(
                instance=instance, raise_on_error=False, tags={LAUNCHED_BY_TAG: getpass.getuser()},
                run_config={"loggers": {"console": {"config": {"log_level": "WARNING"}}}},
            )
        # The run's PHI accesses and OpenLineage events, as the sensors record them for runs launched from Dagster.
        phi_entries = record_run(instance, result.run_id, project)
        lineage_events, lineage_error = None, None
        if openlineage_enabled(project):
            try:
                lineage_events = emit_run(instance, result.run_id, project)
            except OpenLineageError as exc:  # the data is materialized: say what was not reported, and go on
                lineage_error = str(exc)
                print(f"warning: {exc}", file=sys.stderr)
    materialized = {e.asset_key.to_user_string() for e in result.get_asset_materialization_events()}
    checks = [e.asset_check_evaluation_data for e in result.all_events
              if e.event_type_value == "ASSET_CHECK_EVALUATION"]
    specs = list(defs.resolve_all_asset_specs())
    ctx = policy_context(specs, project)
    # The catalog again, now with its MAC: the Definitions load wrote it before the project had keys.
    keyring_of(project).key("subject")
    write_catalog(project, specs, ctx, force=True)
    findings = run_policy(ctx)
    ledger = Ledger(warehouse_of(project))
    ledger.append_many([
        NewEntry(actor, "run.completed", f"project:{project.name}",
                 {"run_id": result.run_id, "success": result.success, "materialized": len(materialized),
                  "checks_passed": sum(c.passed for c in checks), "checks_failed": sum(not c.passed for c in checks)}),
        NewEntry(actor, "policy.evaluated", f"project:{project.name}",
                 {"findings": len(findings), "errors": sum(f.severity == "error" for f in findings),
                  "rules": sorted({f.rule for f in findings})}),
    ])
    head = anchors_of(project).record(ledger.head(), source=actor)
    trained_now = {str(getattr(e.materialization.metadata.get("mlflow/run_id"), "value", ""))
                   for e in result.get_asset_materialization_events()}
    out = project.output_dir
    views = [write_mermaid(out, "pci_scope", "PCI DSS scope", scope_mermaid(pci_scope(ctx), ctx)),
             *(write_mermaid(out, name.replace("-", "_"), name, view(ctx, platform_of(project))) for name, view in VIEWS.items())]
    reports = [*write_ropa(ropa_activities(ctx), out).values(), write_data_map(ctx, out), *views,
               *write_process_views(ctx.landscape, ctx.processors, out),
               *write_boundaries(boundary_catalog(ctx), out), findings_report(findings, out)]
    return {
        "assets": len(defs.resolve_asset_graph().materializable_asset_keys) - 1,
        "materialized": len(materialized),
        "run_success": result.success,
        "run_id": result.run_id,
        "models": [{k: m[k] for k in ("model", "version", "mlflow_run_id")} for m in registered_models(ledger)
                   if m["mlflow_run_id"] in trained_now],
        "checks_passed": sum(c.passed for c in checks),
        "checks_failed": sum(not c.passed for c in checks),
        "failed_checks": sorted(f"{c.asset_key.to_user_string()}: {c.check_name}" for c in checks if not c.passed),
        "findings": len(findings),
        "finding_errors": sum(f.severity == "error" for f in findings),
        "warehouse": resources["warehouse"].get().describe(),
        "s3_endpoint_url": store.endpoint_url if store else None,
        "dagster_home": str(home),
        "output_dir": str(out),
        "openlineage_events": lineage_events,
        "phi_access_entries": phi_entries,
        **({"openlineage_error": lineage_error} if lineage_error else {}),
        "ledger_entries": head.seq,
        "ledger_head": head.hash,
        "reports": [str(Path(p)) for p in reports],
    }


def selected(select: str, defs: dg.Definitions):
    """The assets `select` names in Dagster's selection syntax, checked: a typo is an error, not an
    empty run that looks like a success."""
    import dagster as dg

    try:
        selection = dg.AssetSelection.from_string(select)
        keys = selection.resolve(defs.resolve_asset_graph())
    except Exception as exc:  # Dagster's own errors for bad syntax and unknown keys (several classes)
        raise CliError(f"--select {select!r}: {str(exc).splitlines()[0]}") from None
    if not keys:
        raise CliError(f"--select {select!r} selects no asset of the project (`dfg catalog status` lists them)")
    return selection
