"""The ledger in Dagster: an asset for the table, a check that verifies the chain, a daily schedule."""

from typing import TYPE_CHECKING, Any

import dagster as dg

from dataflow_governance.dagster_ext.parts import anchors_of
from dataflow_governance.dagster_ext.resources import WarehouseResource
from dataflow_governance.ledger.chain import LEDGER_TABLE, Anchor, Ledger
from dataflow_governance.model.manifest import Project

if TYPE_CHECKING:  # (what define_asset_job returns; named for the checker only, never imported at run time)
    from dagster._core.definitions.unresolved_asset_job_definition import UnresolvedAssetJobDefinition

LEDGER_ASSET = "governance_ledger"
LEDGER_CHECK = "chain_intact"


def ledger_metadata(anchor: Anchor) -> dict[str, Any]:
    """What every governance job records: the ledger head it left behind (an anchor)."""
    return {"ledger/head_seq": anchor.seq, "ledger/head_hash": anchor.hash}


def ledger_definitions(project: Project) -> tuple[dg.AssetSpec, dg.AssetChecksDefinition, "UnresolvedAssetJobDefinition",
                                                 dg.ScheduleDefinition]:
    spec = dg.AssetSpec(
        LEDGER_ASSET,
        group_name="governance",
        description="Hash-chained, append-only log of every governance action (see README: the ledger).",
        kinds={project.warehouse.kind},
        tags={"pii": "false", "pii_free": "true"},
        metadata={"dagster/table_name": LEDGER_TABLE},
    )

    @dg.asset_check(asset=LEDGER_ASSET, name=LEDGER_CHECK, blocking=False,
                    description="recompute the whole chain and compare it with the recorded anchors")
    def chain_intact(warehouse: WarehouseResource) -> dg.AssetCheckResult:
        ledger = Ledger(warehouse.get())
        anchors = anchors_of(project)
        result = ledger.verify(anchors.load())
        if result.ok:
            anchors.record(Anchor(result.head_seq, result.head_hash), source=f"dagster:{LEDGER_CHECK}")
        metadata = {**ledger_metadata(Anchor(result.head_seq, result.head_hash)), "entries": result.entries,
                    "anchors_checked": result.anchors_checked}
        if not result.ok:
            metadata.update({"first_bad_seq": result.first_bad_seq, "damage": result.damage,
                             "explanation": result.explanation})
        return dg.AssetCheckResult(passed=result.ok, severity=dg.AssetCheckSeverity.ERROR, metadata=metadata)

    job = dg.define_asset_job("verify_governance_ledger", selection=dg.AssetSelection.checks(chain_intact))
    schedule = dg.ScheduleDefinition(job=job, cron_schedule="0 3 * * *", execution_timezone="UTC",
                                     default_status=dg.DefaultScheduleStatus.RUNNING)
    return spec, chain_intact, job, schedule
