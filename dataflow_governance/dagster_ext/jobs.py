"""Governance jobs in Dagster: the daily retention sweep, the erasure of one subject and the
offboarding of one tenant."""

import dagster as dg

from dataflow_governance.dagster_ext.parts import reach_of, scope_of
from dataflow_governance.dagster_ext.resources import S3Resource, WarehouseResource
from dataflow_governance.model.manifest import Project
from dataflow_governance.policy.context import PolicyContext
from dataflow_governance.retention.sweep import run_sweep
from dataflow_governance.subjects import ErasureError, erase
from dataflow_governance.subjects.offboard import offboard
from dataflow_governance.subjects.queue import RequestError, close_request, resolve_request

SWEEP_ASSET = "retention_sweep"


class ErasureConfig(dg.Config):
    # A request filed with `dfg erase --queue` (or `requests.file_request`): run storage keeps run
    # config for good, so it must never hold the subject id itself.
    request_id: str
    now: bool = False  # skip the grace period
    dry_run: bool = False


class OffboardingConfig(dg.Config):
    tenant: str  # the tenant's id: a business identifier, as the manifest's tenancy lists them
    now: bool = False  # skip the grace period
    dry_run: bool = False


def _reported(context: dg.OpExecutionContext, result) -> dict:
    """Log an erasure's or offboarding's outcome (keyed hash and counts only); fail the run when it
    did not verify."""
    context.log.info(f"{result.kind} of {result.what} {result.subject}: {result.status}, "
                     f"{sum(t.count for t in result.targets)} records across {len(result.targets)} targets")
    if result.status not in ("verified", "planned", "cancelled"):
        raise dg.Failure(f"{result.kind} of {result.what} {result.subject} is {result.status}, not verified",
                         metadata=result.to_dict())
    return result.to_dict()


def governance_jobs(project: Project, ctx: PolicyContext) -> tuple[list, list, list]:
    """(assets, jobs, schedules) for retention and erasure over the governed assets."""
    governance = dict(ctx.governance)
    uses_s3 = any(g.storage.kind == "s3" for g in governance.values())
    scope = scope_of(project, governance, ctx.graph)

    @dg.asset(name=SWEEP_ASSET, group_name="governance", kinds={"python"},
              description="Applies every retention rule; records per-asset counts and the ledger head.")
    def retention_sweep(warehouse: WarehouseResource, s3: S3Resource) -> dg.MaterializeResult:
        result = run_sweep(reach_of(project, warehouse.get(), s3.get() if uses_s3 else None), scope,
                           actor=f"dagster:{SWEEP_ASSET}")
        head = result["ledger_head"]
        if result["problems"]:  # a rule that could not be applied fails the run, after the rest was swept
            raise dg.Failure("retention rules not applied: " + " · ".join(result["problems"]),
                             metadata={"ledger/head_hash": head})
        return dg.MaterializeResult(metadata={
            "affected": dg.MetadataValue.json({a: v["affected"] for a, v in result["assets"].items()}),
            "held": dg.MetadataValue.json({a: v["held"] for a, v in result["assets"].items() if v["held"]}),
            "total_affected": sum(v["affected"] for v in result["assets"].values()),
            "suppressed": dg.MetadataValue.json(result["suppressed"]),
            "resumed": result["resumed"],
            "ledger/head_hash": head,
        })

    sweep_job = dg.define_asset_job("retention_sweep_job", selection=dg.AssetSelection.assets(SWEEP_ASSET))
    sweep_schedule = dg.ScheduleDefinition(job=sweep_job, cron_schedule="0 2 * * *", execution_timezone="UTC")

    @dg.op(description="Erase one subject everywhere (GDPR Art. 17); logs only the subject's keyed hash.")
    def erase_subject(context: dg.OpExecutionContext, config: ErasureConfig, warehouse: WarehouseResource,
                      s3: S3Resource) -> dict:
        wh = warehouse.get()
        try:
            subject_id = resolve_request(wh, config.request_id)
        except RequestError as exc:
            raise dg.Failure(str(exc)) from None
        result = erase(reach_of(project, wh, s3.get() if uses_s3 else None), scope, subject_id,
                       immediately=config.now, dry_run=config.dry_run, actor="dagster:erase_subject")
        if result.status == "verified":
            close_request(wh, config.request_id)
        return _reported(context, result)

    @dg.job(description="Erase one subject: run config ops.erase_subject.config.request_id (from `dfg erase --queue`)")
    def erase_subject_job():
        erase_subject()

    @dg.op(description="Offboard one tenant: every strategy's data of it, verified and certified.")
    def offboard_tenant(context: dg.OpExecutionContext, config: OffboardingConfig, warehouse: WarehouseResource,
                        s3: S3Resource) -> dict:
        try:
            result = offboard(reach_of(project, warehouse.get(), s3.get() if uses_s3 else None), scope,
                              config.tenant, immediately=config.now, dry_run=config.dry_run,
                              actor="dagster:offboard_tenant")
        except ErasureError as exc:
            raise dg.Failure(str(exc)) from None
        return _reported(context, result)

    @dg.job(description="Offboard one tenant: run config ops.offboard_tenant.config.tenant")
    def offboard_tenant_job():
        offboard_tenant()

    jobs = [sweep_job, erase_subject_job]
    if any(g.tenant_scoped for g in governance.values()):
        jobs.append(offboard_tenant_job)
    return [retention_sweep], jobs, [sweep_schedule]
