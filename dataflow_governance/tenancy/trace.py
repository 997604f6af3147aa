"""`dfg tenancy trace --from A --to B`: did tenant B ever receive tenant A's data?

Answered from what can be seen, and saying what could not:
  - stored data: every place that holds B's data apart (a per-tenant S3 prefix, a schema per tenant)
    is read for records or rows of A — counted, never shown;
  - lineage: every way the declarations let tenants' data mix (a consumer of a multi-tenant topic
    without a tenant filter, a join or an aggregate across tenants, a copy that drops the tenant) is
    a path A's data could take to B;
  - what is not seen: shared tables and objects (row strategy), where who reads which row is decided
    at read time (`dfg tenancy verify` proves it), places whose records name no tenant, and the
    ledger, which records no delivery per tenant.
"""

from __future__ import annotations

import re
from typing import Any

from dataflow_governance.errors import DfgError
from dataflow_governance.model.spec import table_of
from dataflow_governance.policy.context import PolicyContext

TENANT_ID = re.compile(r"^[A-Za-z0-9_.-]{1,128}$")  # what may name a prefix or a schema
MIXING_RULES = ("topic-consumer-unfiltered", "topic-tenant-field-missing", "cross-tenant-join", "cross-tenant-aggregate",
                "tenant-scope-dropped", "tenant-column-not-derived")


class TenantIdError(DfgError):
    """A tenant id that cannot name a tenant's place (the CLI's exit 2)."""


def trace_tenants(ctx: PolicyContext, source: str, target: str, *, warehouse: Any = None, store: Any = None) -> dict:
    for tenant in (source, target):
        if not TENANT_ID.match(tenant):
            raise TenantIdError("a tenant id is 1 to 128 letters, digits, '_', '.' or '-'")
    if source == target:
        raise TenantIdError("--from and --to name the same tenant")
    found: list[dict[str, Any]] = []
    unseen: list[dict[str, Any]] = []
    for asset, gov in sorted(ctx.governance.items()):
        scoped = gov.tenant_key or gov.tenant_prefix or gov.tenant_strategy or gov.multi_tenant
        if not scoped:
            continue
        if gov.storage.kind == "s3" and gov.tenant_prefix:
            if not gov.tenant_key:
                unseen.append({"asset": asset, "why": "its records name no tenant: only its keys say whose they are"})
                continue
            records = _records_of(store, gov.storage.bucket, gov.tenant_prefix.replace("{tenant_id}", target),
                                  gov.tenant_key, source)
            found.append({"asset": asset, "place": f"s3://{gov.storage.bucket}/{gov.tenant_prefix}"
                          .replace("{tenant_id}", "<to>"), **records})
        elif gov.storage.kind == "warehouse" and gov.tenant_strategy in ("schema", "database") and gov.tenant_key:
            rows = _rows_of(warehouse, table_of(asset, gov), target, gov.tenant_key, source)
            found.append({"asset": asset, "place": f"the schema of {table_of(asset, gov)} for <to>", **rows})
        else:
            unseen.append({"asset": asset, "why": "shared by every tenant (rows or objects side by side): who reads "
                                                  "which is decided at read time; `dfg tenancy verify --tenant <to> "
                                                  "--other <from>` proves the isolation"})
    from dataflow_governance.policy.rules import run_policy

    paths = [{"asset": f.asset, "rule": f.rule, "how": f.message} for f in run_policy(ctx) if f.rule in MIXING_RULES]
    unseen.append({"asset": None, "why": "the ledger records no delivery per tenant: it was not read for one"})
    received = sum(f.get("records", 0) + f.get("rows", 0) for f in found)
    return {"from": source, "to": target, "received": received > 0,
            "answer": ("yes: B holds A's data" if received else
                       "not in what could be seen" + (", but the declarations leave paths" if paths else "")),
            "stored": found, "paths": paths, "not_seen": unseen}


def _records_of(store: Any, bucket: str | None, prefix: str, field: str, tenant: str) -> dict:
    import json

    from dataflow_governance.model.ids import record_canonical
    from dataflow_governance.storage.objectstore import get_object, list_keys

    counts = {"objects": 0, "records": 0, "unreadable": 0}
    for key in list_keys(store, bucket or "", prefix):
        counts["objects"] += 1
        for line in get_object(store, bucket or "", key).decode(errors="replace").splitlines():
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except ValueError:
                counts["unreadable"] += 1
                continue
            if isinstance(record, dict) and record_canonical(record.get(field)) == tenant:
                counts["records"] += 1
    return counts


def _rows_of(warehouse: Any, template: str, target: str, column: str, tenant: str) -> dict:
    from sqlglot import exp

    from dataflow_governance.storage.warehouse import column_expr, table_expr
    from dataflow_governance.tenancy.census import tenant_tables

    table = tenant_tables(warehouse, template).get(target)
    if table is None:
        return {"rows": 0, "note": "no table for that tenant"}
    query = exp.select(exp.func("count", exp.Star())).from_(table_expr(table)).where(
        exp.EQ(this=exp.cast(column_expr(column), "TEXT"), expression=exp.Placeholder()))
    [(rows,)] = warehouse.fetch(query, [tenant])
    return {"rows": int(rows)}
