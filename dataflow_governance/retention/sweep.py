"""Retention sweeps: every asset's rule applied as set-based SQL and batched S3 deletes.

Per asset with a retention rule: rows older than `keep` (on the declared timestamp column) are
deleted, anonymized, or — for `aggregate` — deleted once the declared aggregate holds them; rows
under a legal hold stay for the hold's period, with the hold's columns anonymized. S3 objects older
than `keep` go with every version and delete marker. The plan (with its cutoffs) is ledgered before
anything runs, so an interrupted sweep resumes with the same cutoffs and never deletes twice.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlglot import exp

from dataflow_governance.detection.places import table_problems
from dataflow_governance.ledger.chain import Ledger
from dataflow_governance.model.paths import StatePaths
from dataflow_governance.model.spec import AssetGovernance, Retention, parse_duration_days
from dataflow_governance.storage import anonymize
from dataflow_governance.storage.locks import governance_lock
from dataflow_governance.storage.objectstore import ObjectStore, ObjectStoreError, delete_versions, s3_errors, split_s3_uri
from dataflow_governance.storage.reclaim import reclaim_storage
from dataflow_governance.storage.warehouse import Warehouse, column_expr, table_expr
from dataflow_governance.subjects.reach import Reach
from dataflow_governance.subjects.scope import Scope

_HASHED = "^[0-9a-f]{32}$"  # what a keyed hash writes: a second sweep must not hash it again


@dataclass
class SweepItem:
    asset: str
    system: str  # warehouse | s3 | delta
    target: str
    action: str  # delete | anonymize | aggregate
    cutoff: str  # ISO time: older than this is out of retention
    affected: int = 0
    held: int = 0
    anonymized: int = 0  # rows anonymized early (anonymize_after) by a delete rule
    skipped: str | None = None  # why nothing is done here by design (Delta: what its sweep cannot do yet)
    problem: str | None = None  # why the rule cannot be applied: its declared table or a column is not there

    def to_dict(self) -> dict:
        return asdict(self)


def _ts(value: datetime) -> str:
    return value.strftime("%Y-%m-%d %H:%M:%S")


def plan_sweep(governance: Mapping[str, AssetGovernance], now: datetime,
               backups: tuple[tuple[str, str, int], ...] = ()) -> list[SweepItem]:
    """Every asset with a retention rule, and every declared backup (`backup:<name>`: its objects
    in S3 past the backups' retention go, every version of them)."""
    items = []
    for asset, gov in sorted(governance.items()):
        rule = gov.retention
        if rule is None:
            continue
        cutoff = _ts(now - timedelta(days=rule.keep_days))
        if gov.storage.kind == "warehouse":
            item = SweepItem(asset, "warehouse", gov.storage.table or asset, rule.action, cutoff)
            if not rule.timestamp_column:  # (the retention-unenforceable rule says so too)
                item.problem = f"asset {asset}: retention.timestamp_column is not declared, so no row can be found past its time"
            items.append(item)
        elif gov.storage.kind == "s3" and gov.storage.bucket:
            items.append(SweepItem(asset, "s3", f"s3://{gov.storage.bucket}/{gov.storage.prefix or ''}", "delete", cutoff))
        elif gov.storage.kind == "delta":
            item = SweepItem(asset, "delta", gov.storage.path or asset, rule.action, cutoff)
            # Said, not silently passed over: what a Delta sweep cannot do yet.
            if not rule.timestamp_column:
                item.problem = f"asset {asset}: retention.timestamp_column is not declared, so no row can be found past its time"
            elif rule.action != "delete" or rule.anonymize_after or rule.legal_holds:
                item.skipped = "Delta tables are swept by delete only (no anonymize, aggregate or legal holds yet)"
            items.append(item)
    for name, location, days in backups:
        item = SweepItem(f"backup:{name}", "s3", location, "delete", _ts(now - timedelta(days=days)))
        if not location.startswith("s3://") or not days:
            item.problem = (f"backup {name}: the sweep expires backups in S3 with a declared retention "
                            f"({location}, {days} days): elsewhere they expire by the operator's own means")
        items.append(item)
    return items


def _rule(gov: AssetGovernance) -> Retention:
    """The retention rule of an asset the sweep plan holds (the plan takes only assets with one)."""
    if gov.retention is None:
        raise ValueError(f"asset {gov.asset} declares no retention")
    return gov.retention


def _clock(rule: Retention) -> str:
    """The column rows are dated by (the plan marks an item without one as a problem first)."""
    if not rule.timestamp_column:
        raise ValueError("retention.timestamp_column is not declared")
    return rule.timestamp_column


def _older(rule: Retention, cutoff: str) -> exp.Expr:
    return column_expr(_clock(rule)) < exp.cast(exp.Literal.string(cutoff), "TIMESTAMP")


def _held(rule: Retention, now: datetime, warehouse: Warehouse) -> exp.Expr | None:
    conditions: list[exp.Expr] = []
    for hold in rule.legal_holds:
        condition: exp.Expr = column_expr(_clock(rule)) >= exp.cast(
            exp.Literal.string(_ts(now - timedelta(days=hold.keep_days))), "TIMESTAMP")
        if hold.where:
            condition = exp.and_(condition, exp.condition(hold.where, dialect=warehouse.dialect))
        conditions.append(condition)
    return exp.or_(*conditions) if conditions else None


def _not_yet(methods: Mapping[str, str], warehouse: Warehouse) -> exp.Expr:
    """Rows whose columns still hold original values (idempotence for a rerun or the next day)."""
    conditions: list[exp.Expr] = []
    for column, method in methods.items():
        col = column_expr(column)
        if method == "nullify":
            conditions.append(col.is_(exp.Null()).not_())
        elif method == "hash":
            conditions.append(exp.not_(exp.RegexpLike(this=exp.cast(col, "TEXT"), expression=exp.Literal.string(_HASHED))))
        else:
            conditions.append(exp.cast(col, "TEXT").neq(exp.cast(anonymize.method_expr(warehouse, method, column), "TEXT")))
    return exp.or_(*conditions) if conditions else exp.true()


def _count(con, warehouse: Warehouse, table: str, where: exp.Expr) -> int:
    sql = warehouse.render(exp.select(exp.func("count", exp.Star())).from_(table_expr(table)).where(where))
    return int(con.execute(sql).fetchall()[0][0])


def _affected(con, warehouse: Warehouse, sql: str, params: list | None = None) -> int:
    """Run a DELETE/UPDATE and return how many rows it changed (one pass, no separate count)."""
    return warehouse.engine.affected_rows(con.execute(sql, params or []))


def sweep_warehouse(item: SweepItem, gov: AssetGovernance, warehouse: Warehouse, key: bytes | None, now: datetime,
                    dry_run: bool) -> None:
    if item.skipped or item.problem:
        return
    rule = _rule(gov)
    needed = [rule.timestamp_column, *rule.anonymize, *(c for h in rule.legal_holds for c in h.anonymize)]
    problems = table_problems(item.asset, item.target, [c for c in needed if c], warehouse)
    if problems:  # a rule that cannot be applied is a failure, never "0 rows older than …"
        item.problem = "; ".join(map(str, problems))
        return
    older = _older(rule, item.cutoff)
    held = _held(rule, now, warehouse)
    # In a dry run each step counts what it would touch; otherwise the statement's own row count.
    with warehouse.connect() as con:
        def act(where: exp.Expr, sql_params: tuple[str, list] | None) -> int:
            if dry_run or sql_params is None:
                return _count(con, warehouse, item.target, where)
            return _affected(con, warehouse, *sql_params)

        if held is not None:
            hold_methods = {c: m for h in rule.legal_holds for c, m in h.anonymize.items()}
            held_rows = exp.and_(older, held)
            item.held = _count(con, warehouse, item.target, held_rows)
            if hold_methods and not dry_run:
                _anonymize(con, warehouse, item.target, hold_methods, exp.and_(held_rows, _not_yet(hold_methods, warehouse)), key)
            older = exp.and_(older, exp.not_(exp.paren(held)))
        methods = dict(rule.anonymize)
        if rule.anonymize_after and rule.action != "anonymize":
            # Staged: anonymize what is past `anonymize_after` (and not yet past `keep`) first.
            staged = _older(rule, _ts(now - timedelta(days=parse_duration_days(rule.anonymize_after))))
            pending = exp.and_(staged, exp.not_(exp.paren(_older(rule, item.cutoff))), _not_yet(methods, warehouse))
            if held is not None:
                pending = exp.and_(pending, exp.not_(exp.paren(held)))
            item.anonymized = act(pending, None if dry_run else _update(con, warehouse, item.target, methods, pending, key))
        if rule.action == "anonymize":
            pending = exp.and_(older, _not_yet(methods, warehouse))
            item.affected = act(pending, None if dry_run else _update(con, warehouse, item.target, methods, pending, key))
        else:  # delete, and aggregate (the declared aggregate keeps the rollup)
            item.affected = act(older, (warehouse.render_bound(exp.delete(table_expr(item.target), where=older)), []))


def _update(con, warehouse: Warehouse, table: str, methods: Mapping[str, str], where: exp.Expr,
            key: bytes | None) -> tuple[str, list]:
    if key is None:
        raise ValueError("anonymizing needs the pseudonym key (a dry run changes nothing)")
    anonymize.prepare(warehouse, con)
    anonymize.widen_to_text(warehouse, con, table, anonymize.needs_text(warehouse, table, methods))
    return anonymize.update_statement(warehouse, table, methods, where, key)


def _anonymize(con, warehouse: Warehouse, table: str, methods: Mapping[str, str], where: exp.Expr,
               key: bytes | None) -> None:
    sql, params = _update(con, warehouse, table, methods, where, key)
    con.execute(sql, params)


def sweep_delta(item: SweepItem, gov: AssetGovernance, paths: StatePaths, dry_run: bool) -> None:
    """Rows past retention leave the Delta table, and with them the data files and log statistics
    that still held them (see `delta`): time travel does not keep what retention removed."""
    from dataflow_governance.storage import delta  # (deltalake and pandas: only where a Delta table is swept)

    path, cutoff = paths.delta(item.target), datetime.strptime(item.cutoff, "%Y-%m-%d %H:%M:%S")
    if dry_run:
        item.affected = delta.count_older(path, _clock(_rule(gov)), cutoff)
    else:
        item.affected = delta.delete_older(path, _clock(_rule(gov)), cutoff, gov.personal_columns).deleted


def sweep_s3(item: SweepItem, store: ObjectStore, dry_run: bool) -> None:
    """Objects whose current version is past retention go with every version and marker; of the
    others, each earlier version past retention goes too (an old version is a copy of old data)."""
    bucket, prefix = split_s3_uri(item.target)
    cutoff = datetime.strptime(item.cutoff, "%Y-%m-%d %H:%M:%S").replace(tzinfo=UTC)
    client = store.client()
    expired: set[str] = set()
    versions: list[dict] = []
    with s3_errors(f"list versions of {item.target}", store):
        for page in client.get_paginator("list_object_versions").paginate(Bucket=bucket, Prefix=prefix):
            entries = page.get("Versions", []) + page.get("DeleteMarkers", [])
            for entry in entries:
                if entry.get("IsLatest") and entry["LastModified"] < cutoff:
                    expired.add(entry["Key"])
            versions += [{"Key": e["Key"], "VersionId": e.get("VersionId") or "null", "old": e["LastModified"] < cutoff,
                          "latest": bool(e.get("IsLatest"))} for e in entries]
    old_versions = [v for v in versions if v["Key"] not in expired and v["old"] and not v["latest"]]
    item.affected = len(expired) + len(old_versions)
    doomed = [v for v in versions if v["Key"] in expired] + old_versions
    if not dry_run and doomed:
        delete_versions(store, bucket, [{"Key": v["Key"], "VersionId": v["VersionId"]} for v in doomed])


def run_sweep(reach: Reach, scope: Scope, *, dry_run: bool = False, actor: str = "dfg:sweep",
              now: datetime | None = None) -> dict[str, Any]:
    """Plan, ledger and execute one sweep over every asset with a rule (or resume an interrupted one),
    then re-apply the suppression list of erased subjects.

    Args:
        reach: the warehouse, the object store, the keys and the folders to sweep with.
        scope: the assets to sweep (their governance) and the graph the suppression list plans from.
        dry_run: count what each rule would do; change nothing.
        now: the sweep's time (cut-offs are measured from it); the current time when None.

    Returns:
        Per asset: the action, what it affected, rows held, the cut-off (and any problem); the
        suppression counts; the ledger head.
    """
    if dry_run:
        with reach.warehouse.session():
            return _sweep(reach, scope, dry_run, actor, now)
    with governance_lock(reach.paths.state, reach.warehouse, "a retention sweep"), reach.warehouse.session():
        return _sweep(reach, scope, dry_run, actor, now)


def _sweep(reach: Reach, scope: Scope, dry_run: bool, actor: str, now: datetime | None) -> dict[str, Any]:
    warehouse, store, governance = reach.warehouse, reach.object_store, scope.governance
    ledger = Ledger(warehouse)
    resumed = None if dry_run else _unfinished(ledger)
    current = datetime.fromisoformat(resumed["now"]) if resumed else (now or datetime.now(UTC).replace(tzinfo=None))
    items = plan_sweep(governance, current, scope.backups)
    done = resumed["done"] if resumed else {}
    # Checked before anything is done (a damaged key stops the sweep); a dry run needs no key.
    key = None if dry_run else reach.keyring.key("pseudonym")
    if not dry_run and not resumed:
        ledger.append(actor, "sweep.intent", f"project:{reach.project}",
                      {"now": current.isoformat(), "items": [{"asset": i.asset, "action": i.action, "cutoff": i.cutoff}
                                                            for i in items]})
    for item in items:
        if item.asset in done:
            item.affected = done[item.asset]
            continue
        if item.system == "warehouse":
            sweep_warehouse(item, governance[item.asset], warehouse, key, current, dry_run)
        elif item.system == "s3" and store is not None and not item.problem:
            try:
                sweep_s3(item, store, dry_run)
            except ObjectStoreError as exc:
                if not item.asset.startswith("backup:"):
                    raise
                item.problem = f"{item.asset}: {exc}"  # an unreachable backup place: said, the rest swept
        elif item.system == "delta" and not item.skipped and not item.problem:
            sweep_delta(item, governance[item.asset], reach.paths, dry_run)
        if not dry_run:
            ledger.append(actor, "sweep.asset_done", f"asset:{item.asset}",
                          {"asset": item.asset, "action": item.action, "affected": item.affected, "held": item.held,
                           "cutoff": item.cutoff, "skipped": item.skipped,
                           **({"problem": item.problem} if item.problem else {})})
    from dataflow_governance.subjects.suppression import apply_suppression  # (the erasure machinery: only when a sweep runs)

    suppressed = apply_suppression(reach, scope, current, dry_run=dry_run)
    if not dry_run:
        if suppressed:
            ledger.append(actor, "sweep.suppressed", f"project:{reach.project}", {"removed": suppressed})
        touched_s3 = any(i.system == "s3" and i.affected for i in items) or any(
            governance[a].storage.kind == "s3" for a in suppressed)
        if store is not None and touched_s3:
            store.reclaim()
        touched = sorted({i.target for i in items if i.system == "warehouse" and (i.affected or i.anonymized)}
                         | {governance[a].storage.table or a for a in suppressed
                            if governance[a].storage.kind == "warehouse" and not governance[a].per_tenant_table})
        dropped = [f"{a} (per tenant)" for a in suppressed if governance[a].per_tenant_table]
        storage = reclaim_storage(warehouse, touched, dropped=dropped)
        ledger.append(actor, "sweep.completed", f"project:{reach.project}",
                      {"affected": sum(i.affected for i in items), "suppressed": sum(suppressed.values()),
                       "storage": storage["done"]})
        reach.anchors.record(ledger.head(), source=actor)
    return {"assets": {i.asset: {"action": i.action, "affected": i.affected, "held": i.held, "cutoff": i.cutoff,
                                 **({"anonymized": i.anonymized} if i.anonymized else {}),
                                 **({"skipped": i.skipped} if i.skipped else {}),
                                 **({"problem": i.problem} if i.problem else {})} for i in items},
            "problems": [i.problem for i in items if i.problem],
            "suppressed": suppressed, "ledger_head": ledger.head().hash, "dry_run": dry_run, "resumed": bool(resumed)}


def _unfinished(ledger: Ledger) -> dict | None:
    """The last sweep intent that has no completion: its time and the assets already done."""
    state = None
    for entry in ledger.entries(action_prefix="sweep."):
        details = entry.details_dict()
        if entry.action == "sweep.intent":
            state = {"now": details["now"], "done": {}}
        elif entry.action == "sweep.asset_done" and state is not None:
            state["done"][details["asset"]] = details["affected"]
        elif entry.action == "sweep.completed":
            state = None
    return state


__all__ = ["SweepItem", "plan_sweep", "run_sweep"]
