"""Offboarding a tenant: every place the project keeps the tenant's data, gone through the erasure
lifecycle (requested with a grace period, ledgered, resumable, verified, certified).

Per strategy: the tenant's rows of every row-strategy table (rows under a legal hold stay, their
hold's columns anonymized), its schema of every schema-strategy asset, its S3 prefix (every
version) or its records in shared JSON-lines objects; anonymous aggregates over tenant data are
rebuilt, models trained on snapshots of tenant data flagged, processors that received it told.
A database per tenant is an operator's step the project lists but cannot take or verify (its
connection reaches one database).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime

from sqlglot import exp

from dataflow_governance.crypto.keyring import Keyring
from dataflow_governance.ledger.chain import Ledger
from dataflow_governance.ledger.erasures import offboarded_tenants
from dataflow_governance.ml.datasets import dataset_records
from dataflow_governance.ml.model_registry import models_trained_on
from dataflow_governance.model.ids import canonical_id, record_canonical
from dataflow_governance.model.spec import AssetGovernance, table_of
from dataflow_governance.storage.locks import governance_lock
from dataflow_governance.storage.objectstore import ObjectStore
from dataflow_governance.storage.warehouse import Warehouse, column_expr, table_expr
from dataflow_governance.subjects.certificate import ErasureResult
from dataflow_governance.subjects.execute import count_target, execute_target, utc
from dataflow_governance.subjects.lifecycle import (
    DEFAULT_GRACE_DAYS,
    ErasureError,
    Options,
    Request,
    check_grace_days,
    checked_id,
    preview,
    run_request,
)
from dataflow_governance.subjects.reach import Reach
from dataflow_governance.subjects.scope import Scope
from dataflow_governance.subjects.targets import Action, Outcome, System, Target
from dataflow_governance.tenancy.census import stored_object_tenants, tenant_tables

NAME_SEGMENT = re.compile(r"^[A-Za-z0-9_-]{1,48}$")  # a tenant id that may become part of a schema name


def tenant_hash(keyring: Keyring, tenant_id: str) -> str:
    """How a tenant appears in the ledger and its certificate (apart from any subject's hash)."""
    return keyring.hash("subject", f"tenant:{canonical_id(tenant_id)}")


def _placed(template: str, tenant_id: str) -> str:
    segment = canonical_id(tenant_id)
    if not NAME_SEGMENT.match(segment):
        raise ErasureError("the tenant id cannot be part of a schema or database name (letters, digits, _ and - "
                           "only, at most 48): nothing was changed")
    return template.replace("{tenant_id}", segment)


def plan_offboarding(scope: Scope, warehouse: Warehouse, tenant_id: str) -> list[Target]:
    """Every target of one tenant's offboarding, without touching data (counts come later)."""
    governance = scope.governance
    data: list[Target] = []
    scoped_tables = set()
    for asset, gov in sorted(governance.items()):
        if not gov.tenant_scoped:
            continue
        table = table_of(asset, gov)
        scoped_tables.add(table)
        kind = gov.storage.kind
        if kind == "warehouse" and gov.tenant_strategy == "schema":
            schema = _placed(table.split(".")[-2], tenant_id)
            data.append(Target(System.WAREHOUSE, schema, Action.DROP_SCHEMA, asset,
                               lineage=(f"{asset}: the tenant's schema {schema}",)))
        elif kind == "warehouse" and gov.tenant_strategy == "database":
            database = _placed(table.split(".")[-3], tenant_id)
            data.append(Target(System.OPERATOR, f"database {database}", Action.DROP_DATABASE, asset,
                               lineage=(f"{asset}: drop the tenant's database {database} (outside this connection)",)))
        elif kind == "warehouse" and gov.tenant_key:
            data.append(_row_target(asset, gov, table))
        elif kind == "s3" and gov.tenant_prefix:
            data.append(Target(System.S3, f"s3://{gov.storage.bucket}/{gov.tenant_prefix}", Action.DELETE, asset,
                               lineage=(f"{asset}: objects under {gov.tenant_prefix}",)))
        elif kind == "s3" and gov.tenant_key:
            data.append(Target(System.S3, f"s3://{gov.storage.bucket}/{gov.storage.prefix or ''}", Action.REWRITE,
                               asset, column=gov.tenant_key,
                               lineage=(f"{asset}: records whose {gov.tenant_key} is the tenant",)))
    # The tenant's own row in the tenant entity goes last: a run killed before it still knows the tenant.
    data.sort(key=lambda t: t.asset == scope.tenant_directory)
    rebuilt = _aggregates(scope, scoped_tables)
    flagged = _models(warehouse, scoped_tables)
    sent_from = {t.asset for t in data}
    receivers = sorted({p for a in sent_from for p in governance[a].processors})
    told = [Target(System.PROCESSOR, name, Action.NOTIFY,
                   ", ".join(sorted(a for a in sent_from if name in governance[a].processors)))
            for name in receivers]
    return [*data, *flagged, *rebuilt, *told]


def keep_directory_while_held(targets: list[Target], reach: Reach, scope: Scope, tenant_id: str) -> list[Target]:
    """Rows kept under a legal hold still name the tenant (an invoice must say whom it was for):
    its row in the tenant entity stays with them, and goes in a later run once nothing is held."""
    held = [Outcome(t) for t in targets if t.keep_held]
    for outcome in held:
        count_target(outcome, reach, tenant_id)
    if not any(o.retained for o in held):
        return targets
    return [replace(t, action=Action.RETAIN, column=None,
                    lineage=(*t.lineage, "kept while rows of the tenant are under a legal hold"))
            if t.asset == scope.tenant_directory and t.system == System.WAREHOUSE else t
            for t in targets]


def _row_target(asset: str, gov: AssetGovernance, table: str) -> Target:
    target = Target(System.WAREHOUSE, table, Action.DELETE, asset, column=gov.tenant_key,
                    lineage=(f"{asset}.{gov.tenant_key} holds the tenant",))
    holds = gov.retention.legal_holds if gov.retention else ()
    if not holds:
        return target
    # Rows the law keeps (invoices, say) stay with their tenant, their hold's columns anonymized.
    hold = holds[0]
    return replace(target, action=Action.ANONYMIZE, keep_held=True, held=tuple(hold.anonymize.items()),
                   hold_where=hold.where, hold_days=hold.keep_days, timestamp_column=gov.retention.timestamp_column)


def _aggregates(scope: Scope, scoped: set[str]) -> list[Target]:
    """Unscoped warehouse SQL assets over tenant data (anonymous aggregates, by the tenancy rules):
    rebuilt so they no longer count the tenant."""
    governance, graph = scope.governance, scope.graph
    if graph is None:
        return []
    return [Target(System.WAREHOUSE, table_of(asset, governance[asset]), Action.RECOMPUTE, asset,
                   sql=definition.sql, dialect=definition.dialect)
            for asset, definition in sorted(graph.sql.items())
            if asset in governance and not governance[asset].tenant_scoped
            and governance[asset].storage.kind == "warehouse" and set(graph.lineage[asset].tables) & scoped]


def _models(warehouse: Warehouse, scoped: set[str]) -> list[Target]:
    """Models trained on a snapshot read from tenant-scoped tables: flagged, since snapshots have a
    membership index of subjects, not of tenants."""
    ledger = Ledger(warehouse)
    digests = {r.digest for r in dataset_records(ledger) if set(r.sources) & scoped and not r.deleted}
    return [Target(System.MODEL, f"models:/{m['model']}/{m['version']}", Action.FLAG, m["model"],
                   lineage=(f"trained on {', '.join(sorted(digests & set(m['datasets'])))} (tenant data)",))
            for m in models_trained_on(ledger, digests)] if digests else []


def returned_tenant_data(reach: Reach, scope: Scope, now: datetime, dry_run: bool = False) -> dict[str, int]:
    """Data of offboarded tenants stored again (a late batch, a replay, a restored backup), removed
    as their offboarding removed it, legal holds included; asset → records removed. Tenants are
    recognised by the keyed hash the ledger keeps, never by an id: the few distinct tenants of each
    table, schema and prefix are hashed and compared."""
    warehouse = reach.warehouse
    gone = offboarded_tenants(Ledger(warehouse))
    if not gone:
        return {}
    removed: dict[str, int] = {}
    stored = _stored_tenants(scope.governance, warehouse, reach.object_store)
    for tenant_id in sorted(t for t in stored if tenant_hash(reach.keyring, t) in gone):
        targets = keep_directory_while_held(plan_offboarding(scope, warehouse, tenant_id), reach, scope, tenant_id)
        for target in targets:
            if target.system in (System.WAREHOUSE, System.S3) and target.action != Action.RECOMPUTE:
                outcome = Outcome(target)
                found = count_target(outcome, reach, tenant_id, now)
                count = found if dry_run or not found else execute_target(outcome, reach, tenant_id, now)
                if count:
                    removed[target.asset] = removed.get(target.asset, 0) + count
    return removed


def _stored_tenants(governance, warehouse: Warehouse, store: ObjectStore | None) -> set[str]:
    """Every tenant id that tenant-scoped assets hold now: in tenant columns, schemas and prefixes."""
    found: set[str] = set()
    for asset, gov in governance.items():
        table = table_of(asset, gov)
        if gov.storage.kind == "warehouse" and gov.tenant_strategy == "schema":
            found |= set(tenant_tables(warehouse, table))
        elif gov.storage.kind == "warehouse" and gov.tenant_key and not gov.per_tenant_table \
                and warehouse.table_exists(table):
            query = exp.select(column_expr(gov.tenant_key)).distinct().from_(table_expr(table))
            found |= {c for (value,) in warehouse.fetch(query) if (c := record_canonical(value)) is not None}
        elif gov.storage.kind == "s3" and store is not None and (gov.tenant_prefix or gov.tenant_key):
            found |= stored_object_tenants(store, gov.storage.bucket, gov.storage.prefix or "",
                                           tenant_prefix=gov.tenant_prefix, field=gov.tenant_key)
    return found


def offboard(reach: Reach, scope: Scope, tenant_id: str, *, immediately: bool = False, dry_run: bool = False,
             cancel: bool = False, grace_days: int = DEFAULT_GRACE_DAYS, actor: str = "dfg:tenant-offboard",
             now: datetime | None = None, vacuum_full: bool = False, notified: Sequence[str] = ()) -> ErasureResult:
    """Request, execute (after the grace period, or `immediately`), verify and certify a tenant's offboarding.

    Args:
        reach: the stores, keys and folders the tenant's data may be in.
        scope: the governance and graph to plan from (with the tenant entity's asset).
        tenant_id: the tenant's id, as its tenant column holds it.

    Returns:
        The result, as `erase` gives it, for the tenant.
    """
    tenant_id = checked_id(tenant_id, "tenant")
    check_grace_days(grace_days)
    warehouse = reach.warehouse
    request = Request("offboarding", tenant_hash(reach.keyring, tenant_id), tenant_id, what="tenant")

    def plan() -> list[Target]:
        return keep_directory_while_held(plan_offboarding(scope, warehouse, tenant_id), reach, scope, tenant_id)

    if dry_run:
        with warehouse.session():
            return preview(reach, request, plan())
    with governance_lock(reach.paths.state, warehouse, f"offboarding of tenant {request.key[:12]}…"), \
            warehouse.session():
        options = Options(immediately, cancel, grace_days, actor, utc(now), vacuum_full, tuple(notified))
        return run_request(reach, request, plan(), {}, options)
