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

from sqlglot import exp

from dataflow_governance.ml.datasets import dataset_records
from dataflow_governance.lineage.graph import ColumnGraph
from dataflow_governance.model.spec import table_of
from dataflow_governance.crypto import open_keyring
from dataflow_governance.ledger.chain import Ledger
from dataflow_governance.storage.locks import governance_lock
from dataflow_governance.model.manifest import Project
from dataflow_governance.model.ids import SubjectIdError, canonical_id, check_subject_id, record_canonical
from dataflow_governance.ml.model_registry import models_trained_on
from dataflow_governance.storage.objectstore import ObjectStore
from dataflow_governance.model.spec import AssetGovernance
from dataflow_governance.tenancy.census import stored_object_tenants, tenant_tables
from dataflow_governance.storage.warehouse import Warehouse, column_expr, table_expr
from dataflow_governance.subjects.certificate import ErasureResult
from dataflow_governance.subjects.execute import count_target, execute_target
from dataflow_governance.ledger.erasures import offboarded_tenants, request_state
from dataflow_governance.subjects.lifecycle import (
    DEFAULT_GRACE_DAYS,
    ErasureError,
    Request,
    check_grace_days,
    refuse_unknown,
    run_request,
    utc,
)
from dataflow_governance.subjects.plan import Target

NAME_SEGMENT = re.compile(r"^[A-Za-z0-9_-]{1,48}$")  # a tenant id that may become part of a schema name


def tenant_hash(project: Project, tenant_id: str) -> str:
    """How a tenant appears in the ledger and its certificate (apart from any subject's hash)."""
    return open_keyring(project).hash("subject", f"tenant:{canonical_id(tenant_id)}")


def _placed(template: str, tenant_id: str) -> str:
    segment = canonical_id(tenant_id)
    if not NAME_SEGMENT.match(segment):
        raise ErasureError("the tenant id cannot be part of a schema or database name (letters, digits, _ and - "
                           "only, at most 48): nothing was changed")
    return template.replace("{tenant_id}", segment)


def plan_offboarding(project: Project, governance: dict[str, AssetGovernance], graph: ColumnGraph | None,
                     warehouse: Warehouse, tenant_id: str) -> list[Target]:
    """Every target of one tenant's offboarding, without touching data (counts come later)."""
    data: list[Target] = []
    scoped_tables = set()
    for asset, gov in sorted(governance.items()):
        if not gov.tenant_scoped:
            continue
        table = table_of(asset, gov)
        scoped_tables.add(table)
        if gov.storage.kind == "warehouse" and gov.tenant_strategy == "schema":
            schema = _placed(table.split(".")[-2], tenant_id)
            data.append(Target("warehouse", schema, "drop-schema", asset,
                               lineage=[f"{asset}: the tenant's schema {schema}"]))
        elif gov.storage.kind == "warehouse" and gov.tenant_strategy == "database":
            database = _placed(table.split(".")[-3], tenant_id)
            data.append(Target("operator", f"database {database}", "drop-database", asset,
                               lineage=[f"{asset}: drop the tenant's database {database} (outside this connection)"]))
        elif gov.storage.kind == "warehouse" and gov.tenant_key:
            data.append(_row_target(asset, gov, table))
        elif gov.storage.kind == "s3" and gov.tenant_prefix:
            data.append(Target("s3", f"s3://{gov.storage.bucket}/{gov.tenant_prefix}", "delete", asset,
                               lineage=[f"{asset}: objects under {gov.tenant_prefix}"]))
        elif gov.storage.kind == "s3" and gov.tenant_key:
            data.append(Target("s3", f"s3://{gov.storage.bucket}/{gov.storage.prefix or ''}", "rewrite", asset,
                               column=gov.tenant_key, lineage=[f"{asset}: records whose {gov.tenant_key} is the tenant"]))
    # The tenant's own row in the tenant entity goes last: a run killed before it still knows the tenant.
    directory = project.tenancy.tenant_asset
    data.sort(key=lambda t: t.asset == directory)
    rebuilt = _aggregates(governance, graph, scoped_tables)
    flagged = _models(warehouse, scoped_tables)
    sent_from = {t.asset for t in data}
    receivers = sorted({p for a in sent_from for p in governance[a].processors})
    told = [Target("processor", name, "notify", ", ".join(sorted(a for a in sent_from if name in governance[a].processors)))
            for name in receivers]
    return [*data, *flagged, *rebuilt, *told]


def _keep_directory_while_held(targets: list[Target], project: Project, warehouse: Warehouse, tenant_id: str) -> None:
    """Rows kept under a legal hold still name the tenant (an invoice must say whom it was for):
    its row in the tenant entity stays with them, and goes in a later run once nothing is held."""
    directory = project.tenancy.tenant_asset
    held = [t for t in targets if t.keep_held]
    for target in held:
        count_target(target, project, warehouse, None, tenant_id)
    if any(t.retained for t in held):
        for target in targets:
            if target.asset == directory and target.system == "warehouse":
                target.action, target.column, target.retained = "retain", None, 1
                target.lineage.append("kept while rows of the tenant are under a legal hold")


def _row_target(asset: str, gov: AssetGovernance, table: str) -> Target:
    target = Target("warehouse", table, "delete", asset, column=gov.tenant_key,
                    lineage=[f"{asset}.{gov.tenant_key} holds the tenant"])
    holds = gov.retention.legal_holds if gov.retention else ()
    if holds:
        # Rows the law keeps (invoices, say) stay with their tenant, their hold's columns anonymized.
        hold = holds[0]
        target.action, target.keep_held, target.held = "anonymize", True, dict(hold.anonymize)
        target.hold_where, target.hold_days = hold.where, hold.keep_days
        target.timestamp_column = gov.retention.timestamp_column
    return target


def _aggregates(governance: dict[str, AssetGovernance], graph: ColumnGraph | None, scoped: set[str]) -> list[Target]:
    """Unscoped warehouse SQL assets over tenant data (anonymous aggregates, by the tenancy rules):
    rebuilt so they no longer count the tenant."""
    if graph is None:
        return []
    return [Target("warehouse", table_of(asset, governance[asset]), "recompute", asset,
                   sql=definition.sql, dialect=definition.dialect)
            for asset, definition in sorted(graph.sql.items())
            if asset in governance and not governance[asset].tenant_scoped
            and governance[asset].storage.kind == "warehouse" and set(graph.lineage[asset].tables) & scoped]


def _models(warehouse: Warehouse, scoped: set[str]) -> list[Target]:
    """Models trained on a snapshot read from tenant-scoped tables: flagged, since snapshots have a
    membership index of subjects, not of tenants."""
    ledger = Ledger(warehouse)
    digests = {r.digest for r in dataset_records(ledger) if set(r.sources) & scoped and not r.deleted}
    return [Target("model", f"models:/{m['model']}/{m['version']}", "flag", m["model"],
                   lineage=[f"trained on {', '.join(sorted(digests & set(m['datasets'])))} (tenant data)"])
            for m in models_trained_on(ledger, digests)] if digests else []


def returned_tenant_data(project: Project, governance: dict[str, AssetGovernance], graph: ColumnGraph | None,
                         warehouse: Warehouse, store: ObjectStore | None, now, dry_run: bool = False) -> dict[str, int]:
    """Data of offboarded tenants stored again (a late batch, a replay, a restored backup), removed
    as their offboarding removed it, legal holds included; asset → records removed. Tenants are
    recognised by the keyed hash the ledger keeps, never by an id: the few distinct tenants of each
    table, schema and prefix are hashed and compared."""
    gone = offboarded_tenants(Ledger(warehouse))
    if not gone:
        return {}
    removed: dict[str, int] = {}
    for tenant_id in sorted(t for t in _stored_tenants(governance, warehouse, store) if tenant_hash(project, t) in gone):
        targets = plan_offboarding(project, governance, graph, warehouse, tenant_id)
        _keep_directory_while_held(targets, project, warehouse, tenant_id)
        for target in targets:
            if target.system in ("warehouse", "s3") and target.action != "recompute":
                found = count_target(target, project, warehouse, store, tenant_id, now)
                count = found if dry_run or not found else execute_target(target, project, warehouse, store,
                                                                          tenant_id, now)
                if count:
                    removed[target.asset] = removed.get(target.asset, 0) + count
    return removed


def _stored_tenants(governance: dict[str, AssetGovernance], warehouse: Warehouse, store: ObjectStore | None) -> set[str]:
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


def offboard(project: Project, governance: dict[str, AssetGovernance], graph: ColumnGraph | None, tenant_id: str, *,
             warehouse: Warehouse, store: ObjectStore | None, immediately: bool = False, dry_run: bool = False,
             cancel: bool = False, grace_days: int = DEFAULT_GRACE_DAYS, actor: str = "dfg:tenant-offboard",
             now=None, vacuum_full: bool = False, notified=()) -> ErasureResult:
    """Request, execute (after the grace period, or `immediately`), verify and certify a tenant's offboarding."""
    try:
        tenant_id = check_subject_id(tenant_id)
    except SubjectIdError as exc:
        raise ErasureError(str(exc).replace("subject", "tenant")) from None
    check_grace_days(grace_days)
    request = Request("offboarding", tenant_hash(project, tenant_id), tenant_id, what="tenant")
    if dry_run:
        with warehouse.session():
            targets = plan_offboarding(project, governance, graph, warehouse, tenant_id)
            _keep_directory_while_held(targets, project, warehouse, tenant_id)
            for target in targets:
                target.count = count_target(target, project, warehouse, store, tenant_id)
            if not request_state(Ledger(warehouse), request.target, "offboarding")["executed"]:
                refuse_unknown(targets, "tenant")
            return ErasureResult(request.key, "planned", targets, Ledger(warehouse).head().hash, kind="offboarding")
    with governance_lock(project.state_dir, warehouse, f"offboarding of tenant {request.key[:12]}…"), \
            warehouse.session():
        targets = plan_offboarding(project, governance, graph, warehouse, tenant_id)
        _keep_directory_while_held(targets, project, warehouse, tenant_id)
        return run_request(project, request, targets, {}, warehouse=warehouse, store=store, immediately=immediately,
                           cancel=cancel, grace_days=grace_days, actor=actor, current=utc(now),
                           vacuum_full=vacuum_full, notified=tuple(notified))
