"""HIPAA access accounting: who read or wrote PHI, when and why, and to whom it was disclosed.

Every materialization of an asset that reads PHI (its lineage reads a PHI column of an upstream
asset) or writes PHI lands in the ledger as a `phi.accessed` entry: the run, its job, who launched
it, the code version, the columns read and written, the purposes, and the processors the written
PHI is disclosed to. `dfg access` and decryptions of PHI add their own. The accounting of
disclosures for one subject (`dfg disclosures`) reads those entries back, for the disclosing
assets that hold the subject's rows.

What the project cannot see is said, not hidden: a query run straight against the warehouse, a
BI tool, a Dagster run while no daemon runs the audit sensor.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from dataflow_governance.crypto.keyring import Keyring
from dataflow_governance.ledger.chain import Ledger, NewEntry
from dataflow_governance.lineage.graph import TABLE_LEVEL
from dataflow_governance.model.spec import AssetGovernance, table_of
from dataflow_governance.policy.context import PolicyContext
from dataflow_governance.policy.hipaa import hipaa_assets, phi_columns
from dataflow_governance.storage.warehouse import Warehouse, table_expr
from dataflow_governance.subjects.reach import Reach
from dataflow_governance.subjects.scope import Scope

ACTION = "phi.accessed"
GAPS = ("queries run straight against the warehouse or S3 (SQL consoles, BI tools, notebooks) are not recorded",
        "Dagster runs are recorded by the phi_access_audit sensor: runs while no daemon or `dagster dev` is "
        "running are recorded when it next runs only if their events are still in the run storage")


@dataclass(frozen=True)
class RunInfo:
    run_id: str
    job: str
    launched_by: str
    started: str  # ISO 8601 UTC
    code_version: str | None = None


def phi_read_by(ctx: PolicyContext, asset: str, under: Mapping[str, list[str]]) -> list[str]:
    """The PHI columns (`asset.column`) an asset's computation reads."""
    sources = [s for s in ctx.upstream.get(asset, ()) if s in under]
    if not sources:
        return []
    phi = {s: set(phi_columns(ctx, s)) for s in sources}
    if ctx.traced(asset):
        tables = {table_of(s, ctx.governance.get(s)): s for s in sources} | {s: s for s in sources}
        read = set()
        for item in ctx.column_graph.lineage[asset].columns.values():
            for source in item.sources():
                upstream = tables.get(source.table)
                if upstream and (source.column in phi[upstream] or TABLE_LEVEL in phi[upstream]):
                    read.add(f"{upstream}.{source.column}")
        return sorted(read)
    # Untraced code may read every column it can see.
    return sorted(f"{s}.{c}" for s in sources for c in phi[s])


def access_of(ctx: PolicyContext, asset: str, under: Mapping[str, list[str]] | None = None) -> dict | None:
    """What materializing `asset` does with PHI, or None when it touches none."""
    under = hipaa_assets(ctx) if under is None else under
    read = phi_read_by(ctx, asset, under)
    written = list(phi_columns(ctx, asset)) if asset in under else []
    if not read and not written:
        return None
    gov = ctx.governance.get(asset)
    disclosed = [p for p in (gov.processors if gov is not None and written else ())]
    return {"asset": asset, "read": read, "written": written, "purposes": list(gov.purposes) if gov else [],
            "disclosed_to": disclosed}


def run_entries(ctx: PolicyContext, run: RunInfo, materialized: Iterable[str]) -> list[NewEntry]:
    """The ledger entry of one run's PHI accesses (none when it touched no PHI)."""
    under = hipaa_assets(ctx)
    accesses = [a for a in (access_of(ctx, asset, under) for asset in sorted(set(materialized))) if a]
    if not accesses:
        return []
    details = {"run_id": run.run_id, "job": run.job, "launched_by": run.launched_by, "started": run.started,
               "code_version": run.code_version, "accesses": accesses}
    return [NewEntry("dfg:hipaa", ACTION, f"run:{run.run_id}", details)]


def record_command(ledger: Ledger, ctx: PolicyContext, command: str, assets: Iterable[str], purpose: str) -> None:
    """A dfg command that read PHI (an access export, a scan): who ran it, what, and why."""
    import getpass

    under = hipaa_assets(ctx)
    touched = sorted(a for a in set(assets) if a in under and phi_columns(ctx, a))
    if touched:
        ledger.append(f"dfg:{command}", ACTION, f"command:{command}",
                      {"launched_by": getpass.getuser(), "purpose": purpose,
                       "accesses": [{"asset": a, "read": [f"{a}.{c}" for c in phi_columns(ctx, a)], "written": [],
                                     "purposes": [purpose], "disclosed_to": []} for a in touched]})


def rows_of_subject(governance: Mapping[str, AssetGovernance], asset: str, warehouse: Warehouse, keyring: Keyring,
                    subject_id: str) -> int | None:
    """The subject's rows in a warehouse asset, matched on its identity columns (a pseudonymized
    one by the project's keyed pseudonym); None where that does not apply (S3, Delta, no identity)."""
    from sqlglot import exp

    from dataflow_governance.subjects.matching import column_matches

    gov = governance.get(asset)
    if gov is None or gov.storage.kind != "warehouse" or gov.per_tenant_table or not gov.identity_columns:
        return None
    table = table_of(asset, gov)
    if not warehouse.table_exists(table):
        return 0
    types = warehouse.columns(table)
    conditions, params = [], []
    for column in gov.identity_columns:
        if column not in types:
            continue
        pseudonym = keyring.pseudonym(subject_id) if gov.columns[column].pseudonymized else None
        match = column_matches(column, types[column], subject_id, pseudonym)
        conditions.append(match.where)
        params += list(match.params)
    if not conditions:
        return 0
    query = exp.select(exp.func("count", exp.Star())).from_(table_expr(table)).where(exp.or_(*conditions))
    return int(warehouse.fetch(query, params)[0][0])


def subject_holdings(reach: Reach, scope: Scope, subject_id: str, assets: Iterable[str]) -> dict[str, int]:
    """asset → the subject's rows or records in it now, for the given assets. Warehouse tables are
    matched on their identity columns directly; S3, Delta and tables per tenant through the erasure
    plan, which knows where a subject is there."""
    holding: dict[str, int] = {}
    elsewhere = set()
    for asset in sorted(assets):
        rows = rows_of_subject(scope.governance, asset, reach.warehouse, reach.keyring, subject_id)
        if rows is None:
            elsewhere.add(asset)
        elif rows:
            holding[asset] = rows
    if elsewhere:
        from dataflow_governance.subjects.execute import count_target
        from dataflow_governance.subjects.plan import plan_erasure
        from dataflow_governance.subjects.targets import Action, Outcome, System

        for target in plan_erasure(scope, reach.warehouse):
            # (The subject's own rows: a mention in someone else's text is not a row of theirs.)
            if target.asset in elsewhere and target.system in (System.WAREHOUSE, System.S3, System.DELTA) \
                    and target.action != Action.REDACT:
                rows = count_target(Outcome(target), reach, subject_id)
                if rows:
                    holding[target.asset] = holding.get(target.asset, 0) + rows
    return holding


def disclosures(ledger: Ledger, holding: Mapping[str, int], since: str | None = None) -> list[dict]:
    """Every recorded disclosure of an asset holding the subject's rows (`holding`: asset → rows)."""
    found, seen = [], set()
    for entry in ledger.entries(action=ACTION, since=since):
        details = entry.details_dict()
        for access in details.get("accesses", ()):
            if access["asset"] in holding and access.get("disclosed_to"):
                for recipient in access["disclosed_to"]:
                    once = (details.get("run_id"), access["asset"], recipient)
                    if details.get("run_id") and once in seen:
                        continue  # one run recorded twice (two recorders racing): one disclosure
                    seen.add(once)
                    found.append({"recipient": recipient, "asset": access["asset"], "when": details.get("started") or entry.ts,
                                  "purposes": access.get("purposes", []), "run_id": details.get("run_id"),
                                  "job": details.get("job"), "ledger_seq": entry.seq})
    return found
