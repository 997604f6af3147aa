"""OpenLineage events of Dagster runs: a START and a COMPLETE (or FAIL) event for every step that
materializes assets, read from the run's event log once the run has finished.

Emitting from the event log rather than from inside the assets keeps user code untouched and
a slow or failing lineage backend out of the pipeline: a transport failure fails the sensor's
tick (and says so), never a materialization. Events carry the steps' true times.
"""

from __future__ import annotations

from datetime import UTC, datetime

import dagster as dg

from dataflow_governance.catalog import artifact as catalog_file
from dataflow_governance.dagster_ext.parts import dataset_names, openlineage_enabled
from dataflow_governance.model.manifest import Project
from dataflow_governance.reports.openlineage import client_for, emit, run_event, step_run_id

STEP_EVENTS = {dg.DagsterEventType.STEP_START, dg.DagsterEventType.STEP_SUCCESS, dg.DagsterEventType.STEP_FAILURE,
               dg.DagsterEventType.ASSET_MATERIALIZATION}


def _planned_assets(instance: dg.DagsterInstance, run: dg.DagsterRun) -> dict[str, list[str]]:
    """step key → the asset keys its outputs materialize, from the run's execution plan."""
    if not run.execution_plan_snapshot_id:
        return {}
    plan = instance.get_execution_plan_snapshot(run.execution_plan_snapshot_id)
    planned = {}
    for step in plan.steps:
        keys = [o.properties.asset_key.to_user_string() for o in step.outputs
                if o.properties is not None and o.properties.asset_key is not None]
        if keys:
            planned[step.key] = keys
    return planned


def run_events(instance: dg.DagsterInstance, run_id: str, project: Project) -> list:
    """The OpenLineage events of one finished Dagster run, in the order its steps happened."""
    run = instance.get_run_by_id(run_id)
    if run is None:
        return []
    catalog = catalog_file.read(project.paths.catalog)
    names = dataset_names(project)
    known = set(catalog.upstream) | set(catalog.governance)
    planned = _planned_assets(instance, run)
    started: dict[str, float] = {}
    ended: dict[str, tuple[float, str | None]] = {}
    materialized: dict[str, list[str]] = {}
    for record in instance.all_logs(run_id, of_type=STEP_EVENTS):
        event = record.dagster_event
        if event is None or event.step_key is None:
            continue
        if event.event_type == dg.DagsterEventType.STEP_START:
            started[event.step_key] = record.timestamp
        elif event.event_type == dg.DagsterEventType.ASSET_MATERIALIZATION:
            materialized.setdefault(event.step_key, []).append(event.asset_key.to_user_string())
        else:
            failure = None
            if event.event_type == dg.DagsterEventType.STEP_FAILURE:
                failure = _error_type(event.step_failure_data.error if event.step_failure_data else None)
            ended[event.step_key] = (record.timestamp, failure)
    events = []
    for step, start in sorted(started.items(), key=lambda item: item[1]):
        outputs = [a for a in dict.fromkeys(materialized.get(step) or planned.get(step, [])) if a in known]
        if not outputs:
            continue  # a step of checks only, or of assets outside the catalog
        job = outputs[0] if len(outputs) == 1 else step
        step_id, parent = step_run_id(run_id, step), (run.job_name, run_id)
        events.append(run_event(catalog, names, state="START", when=_utc(start), outputs=planned.get(step, outputs),
                                run_id=step_id, job=job, parent=parent))
        if step in ended:
            when, failure = ended[step]
            events.append(run_event(catalog, names, state="FAIL" if failure else "COMPLETE", when=_utc(when),
                                    outputs=outputs, failure=failure, run_id=step_id, job=job, parent=parent))
    return events


def emit_run(instance: dg.DagsterInstance, run_id: str, project: Project) -> int:
    """Emit a finished run's events through the configured client; the number sent."""
    events = run_events(instance, run_id, project)
    return emit(client_for(project.openlineage, project.root), events) if events else 0


def openlineage_sensors(project: Project) -> list:
    """Sensors that emit every finished run's events (with `dagster dev` or the daemon running)."""
    if not openlineage_enabled(project):
        return []

    def emitter(status: dg.DagsterRunStatus):
        @dg.run_status_sensor(run_status=status, name=f"openlineage_on_{status.value.lower()}",
                              default_status=dg.DefaultSensorStatus.RUNNING,
                              description="emits the run's OpenLineage events (START/COMPLETE/FAIL per step)")
        def sensor(context: dg.RunStatusSensorContext):
            sent = emit_run(context.instance, context.dagster_run.run_id, project)
            context.log.info(f"OpenLineage: {sent} event(s) of run {context.dagster_run.run_id}")

        return sensor

    return [emitter(dg.DagsterRunStatus.SUCCESS), emitter(dg.DagsterRunStatus.FAILURE)]


def _error_type(error) -> str:
    """The user code's exception type, under Dagster's wrapper; never the message (it may quote data)."""
    while error is not None and error.cause is not None and (error.cls_name or "").startswith("Dagster"):
        error = error.cause
    return error.cls_name if error is not None and error.cls_name else "failure"


def _utc(timestamp: float) -> datetime:
    return datetime.fromtimestamp(timestamp, tz=UTC)
