"""HIPAA access audit of Dagster runs: each finished run's PHI accesses, read from its event log,
appended to the ledger (by a run-status sensor, or by `dfg demo` for the run it executes)."""

from __future__ import annotations

from datetime import UTC, datetime

import dagster as dg

from dataflow_governance.catalog import artifact as catalog_file
from dataflow_governance.dagster_ext.parts import warehouse_of
from dataflow_governance.ledger.chain import Ledger
from dataflow_governance.model.manifest import Project
from dataflow_governance.policy.hipaa import hipaa_assets
from dataflow_governance.subjects.disclosures import RunInfo, run_entries

LAUNCHED_BY_TAG = "dfg/launched_by"  # who launched a run where Dagster itself records no user (`dfg demo`)


def record_run(instance: dg.DagsterInstance, run_id: str, project: Project) -> int:
    """Ledger the PHI accesses of one finished run, once; the number of entries written."""
    run = instance.get_run_by_id(run_id)
    if run is None:
        return 0
    catalog = catalog_file.read(project.paths.catalog)
    materialized = {r.dagster_event.asset_key.to_user_string()
                    for r in instance.all_logs(run_id, of_type=dg.DagsterEventType.ASSET_MATERIALIZATION)
                    if r.dagster_event is not None and r.dagster_event.asset_key is not None}
    stats = instance.get_run_stats(run_id)
    started = datetime.fromtimestamp(stats.start_time or stats.launch_time or 0, tz=UTC)
    info = RunInfo(run_id=run_id, job=run.job_name, started=started.replace(tzinfo=None).isoformat(timespec="seconds"),
                   launched_by=run.tags.get("dagster/user") or run.tags.get(LAUNCHED_BY_TAG) or "dagster (no user recorded)",
                   code_version=catalog.fingerprint)
    entries = run_entries(catalog.context, info, materialized)
    if not entries:
        return 0
    ledger = Ledger(warehouse_of(project))
    if ledger.entries(action=entries[0].action, target=entries[0].target, limit=1):
        return 0  # recorded already (a sensor tick retried, or the demo and the sensor both saw it)
    return len(ledger.append_many(entries))


def access_audit_sensors(project: Project, ctx) -> list:
    """A run-status sensor ledgering every finished run's PHI accesses, when the project has PHI."""
    if not hipaa_assets(ctx):
        return []

    @dg.run_status_sensor(run_status=dg.DagsterRunStatus.SUCCESS, name="phi_access_audit",
                          default_status=dg.DefaultSensorStatus.RUNNING, monitor_all_code_locations=False,
                          description="ledgers who read or wrote PHI in each finished run (HIPAA access audit)")
    def phi_access_audit(context: dg.RunStatusSensorContext):
        written = record_run(context.instance, context.dagster_run.run_id, project)
        context.log.info(f"PHI access audit: {written} ledger entr{'y' if written == 1 else 'ies'}")

    return [phi_access_audit]
