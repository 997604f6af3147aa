"""Tenant isolation over column lineage: static rules that find one tenant's rows reaching another's.

An asset is tenant-scoped when it declares `tenant_key` (the column holding each row's tenant) or
`tenant_strategy` (`row`, `schema`, `database`). With the row strategy every scoped asset carries
its tenant column, derived from its sources' tenant columns; a join of two scoped sources equates
their tenant columns; an aggregate over a scoped source either keeps the tenant (grouped, or one
tenant filtered) or is anonymous by the propagation rules. Anything else is a finding.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from sqlglot import exp
from sqlglot.errors import OptimizeError
from sqlglot.optimizer.scope import Scope, traverse_scope

from dataflow_governance.errors import LineageError
from dataflow_governance.lineage.parsing import parse_statements
from dataflow_governance.model import taxonomy
from dataflow_governance.model.spec import table_of
from dataflow_governance.policy.context import Finding, PolicyContext, Rule


def _scoped_tables(ctx: PolicyContext) -> dict[str, tuple[str, str | None]]:
    """table name → (asset, its tenant column) for every tenant-scoped asset."""
    return {table_of(a, g): (a, g.tenant_key) for a, g in ctx.governance.items() if g.tenant_scoped}


def _scoped_sources(ctx: PolicyContext, asset: str) -> dict[str, tuple[str, str | None]]:
    """The scoped tables the asset's SQL reads (itself excluded)."""
    scoped = _scoped_tables(ctx)
    return {t: scoped[t] for t in ctx.column_graph.lineage[asset].tables if t in scoped and scoped[t][0] != asset}


def tenant_column_missing(ctx: PolicyContext) -> Iterator[Finding]:
    for asset, gov in sorted(ctx.governance.items()):
        if gov.tenant_scoped and gov.tenant_strategy in (None, "row") and not gov.tenant_key \
                and gov.storage.kind != "s3":  # (objects: see tenant-objects-untagged)
            yield Finding(asset, "tenant-column-missing", "error",
                          f"{asset} is tenant-scoped with the row strategy but declares no tenant column",
                          "declare tenant_key: <column holding each row's tenant> (or a schema/database strategy)")


def tenant_objects_untagged(ctx: PolicyContext) -> Iterator[Finding]:
    """Tenant-scoped objects (S3, events) must say whose they are: in each record or in the key."""
    for asset, gov in sorted(ctx.governance.items()):
        if gov.tenant_scoped and gov.storage.kind == "s3" and not (gov.tenant_key or gov.tenant_prefix):
            yield Finding(asset, "tenant-objects-untagged", "error",
                          f"{asset} holds tenants' objects but neither its records (tenant_key) nor its keys "
                          "(tenant_prefix) carry the tenant: one tenant's objects cannot be told from another's",
                          "declare tenant_key: <the records' tenant field> or tenant_prefix: 'prefix/{tenant_id}/'")


def tenant_column_not_derived(ctx: PolicyContext) -> Iterator[Finding]:
    for asset, gov in sorted(ctx.governance.items()):
        if not (gov.tenant_key and ctx.traced(asset)):
            continue
        sources = _scoped_sources(ctx, asset)
        if not sources:
            continue
        item = ctx.column_graph.lineage[asset].columns.get(gov.tenant_key)
        wanted = {(table, key) for table, (_a, key) in sources.items() if key}
        if item is None or not {(d.table, d.column) for d in item.direct} & wanted:
            got = ", ".join(f"{d.table}.{d.column}" for d in item.direct) if item is not None else "nothing (no such column)"
            yield Finding(asset, "tenant-column-not-derived", "error",
                          f"{asset}.{gov.tenant_key} is its tenant column but comes from {got}, not from the tenant "
                          f"column of {', '.join(sorted(f'{t}.{k}' for t, k in wanted))}",
                          f"select the source's tenant column as {gov.tenant_key}")


def cross_tenant_join(ctx: PolicyContext) -> Iterator[Finding]:
    """A join of two scoped sources whose condition does not equate their tenant columns. A
    source is a scoped table, or a CTE or subquery reading one (its tenant column is the output
    that passes the table's tenant column through; one that drops it cannot be joined safely)."""
    if ctx.graph is None:
        return
    scoped = _scoped_tables(ctx)
    for asset, definition in sorted(ctx.column_graph.sql.items()):
        try:
            statements = parse_statements(definition.sql, definition.dialect)
        except LineageError:
            continue  # reported by lineage
        for statement in statements:
            try:
                scopes = traverse_scope(statement)
            except OptimizeError:
                continue  # not a query (DDL, DML without SELECT): no join to read
            for scope in scopes:
                yield from _scope_joins(asset, scope, scoped)


@dataclass(frozen=True)
class _Source:
    alias: str  # how the query names it
    name: str  # the scoped table, or `cte (from table)`
    key: str | None  # its tenant column, None when it drops it


def _tenant_of(source, scoped: dict[str, tuple[str, str | None]]) -> tuple[str, str | None] | None:
    """(name, tenant column) of a scoped source (a table, CTE or subquery scope); None when unscoped."""
    if isinstance(source, exp.Table):
        return (source.name, scoped[source.name][1]) if source.name in scoped else None
    if not isinstance(source, Scope) or not isinstance(source.expression, exp.Select):
        return None
    inner = {alias: found for alias, s in source.sources.items() if (found := _tenant_of(s, scoped))}
    if not inner:
        return None
    names = ", ".join(sorted(name for name, _key in inner.values()))
    for projection in source.expression.selects:
        value = projection.unalias()
        if isinstance(value, exp.Star) and len(inner) == 1:
            return names, next(iter(inner.values()))[1]
        if isinstance(value, exp.Column) and any(
                value.name == key and value.table in (alias, "") for alias, (_n, key) in inner.items() if key):
            return names, projection.alias_or_name
    return names, None


def _scope_joins(asset: str, scope: Scope, scoped: dict[str, tuple[str, str | None]]) -> Iterator[Finding]:
    select = scope.expression
    if not isinstance(select, exp.Select):
        return
    from_ = select.args.get("from") or select.args.get("from_")
    joins = select.args.get("joins") or []
    if from_ is None or not joins:
        return

    def resolve(node: exp.Expr) -> _Source | None:
        alias = node.alias_or_name
        found = _tenant_of(scope.sources.get(alias), scoped)
        if found is None:
            return None
        name = found[0] if isinstance(node, exp.Table) and node.name in scoped else f"{alias} (from {found[0]})"
        return _Source(alias, name, found[1])

    seen = [s for s in [resolve(from_.this)] if s]
    for join in joins:
        right = resolve(join.this)
        if right is None:
            continue
        for left in seen:
            if not _equates(join, left, right):
                node = join.this.this if isinstance(join.this, exp.Table) else join.this
                line = node.meta.get("line") if isinstance(node, exp.Identifier) else None
                yield Finding(asset, "cross-tenant-join", "error",
                              f"{asset} joins {left.name} and {right.name}" + (f" (SQL line {line})" if line else "")
                              + f" without equating their tenant columns ({left.alias}.{left.key or '?'} = "
                                f"{right.alias}.{right.key or '?'}): rows of one tenant meet another's",
                              f"add {left.alias}.{left.key} = {right.alias}.{right.key} to the join condition"
                              if left.key and right.key else
                              "carry the tenant column through the CTE or subquery and equate it in the join")
        seen.append(right)


def _equates(join: exp.Join, left: _Source, right: _Source) -> bool:
    if not left.key or not right.key:
        return False  # a side without its tenant column cannot be kept to one tenant
    using = {i.name for i in join.args.get("using") or []}
    if left.key == right.key and left.key in using:
        return True
    wanted = {(left.alias, left.key), (right.alias, right.key)}
    condition = join.args.get("on")
    return condition is not None and any(
        isinstance(eq.left, exp.Column) and isinstance(eq.right, exp.Column)
        and {(eq.left.table, eq.left.name), (eq.right.table, eq.right.name)} == wanted
        for eq in condition.find_all(exp.EQ))


def cross_tenant_aggregate(ctx: PolicyContext) -> Iterator[Finding]:
    """An aggregate over a scoped source that drops the tenant and is not anonymous."""
    for asset, gov in sorted(ctx.governance.items()):
        if gov.tenant_scoped or not ctx.traced(asset) or not ctx.column_graph.lineage[asset].grouped:
            continue
        lineage = ctx.column_graph.lineage[asset]
        sources = _scoped_sources(ctx, asset)
        filtered = {(i.table, i.column) for item in lineage.columns.values() for i in item.indirect if i.kind == "filter"}
        across = sorted(t for t, (_a, key) in sources.items() if key and (t, key) not in filtered)
        personal = sorted(ctx.personal_columns(asset))
        if across and personal:
            yield Finding(asset, "cross-tenant-aggregate", "error",
                          f"{asset} aggregates across the tenants of {', '.join(across)} and is not anonymous "
                          f"({', '.join(personal)} still personal data)",
                          "group by (or filter on) the tenant column, or aggregate so that no column stays personal")


def tenant_scope_dropped(ctx: PolicyContext) -> Iterator[Finding]:
    """Rows of scoped sources copied, row by row, into an asset that is not tenant-scoped: no rule
    keeps tenants apart there, and offboarding cannot find a tenant's rows in it."""
    for asset, gov in sorted(ctx.governance.items()):
        if gov.tenant_scoped or not ctx.traced(asset) or ctx.column_graph.lineage[asset].grouped:
            continue  # (aggregates: see cross-tenant-aggregate)
        sources = sorted(_scoped_sources(ctx, asset))
        if sources:
            yield Finding(asset, "tenant-scope-dropped", "error",
                          f"{asset} copies rows of the tenant-scoped {', '.join(sources)} but is not tenant-scoped "
                          "itself: tenants' rows mix there and no offboarding finds them",
                          "declare tenant_key (and select the tenant column), or aggregate anonymously")


def tenant_entity_unknown(ctx: PolicyContext) -> Iterator[Finding]:
    tenancy = ctx.tenancy
    if tenancy is None or not tenancy.tenant:
        return
    gov = ctx.governance.get(tenancy.tenant_asset)
    if gov is None or (gov.columns and tenancy.tenant_column not in gov.columns):
        yield Finding(tenancy.tenant_asset, "tenant-entity-unknown", "error",
                      f"tenancy.tenant names {tenancy.tenant}, which no governed asset declares",
                      "point tenancy.tenant at the asset.column that lists every tenant")


def tenant_region_crossing(ctx: PolicyContext) -> Iterator[Finding]:
    """A scoped asset stored in one jurisdiction that may hold rows of a tenant pinned to another."""
    pinned = {tenant: cfg.region for tenant, cfg in (ctx.tenancy.tenants if ctx.tenancy else {}).items()}
    directory = ctx.tenancy.tenant_asset if ctx.tenancy else None
    for asset, gov in sorted(ctx.governance.items()):
        # The tenant entity lists every tenant (and where each is pinned): a directory, not their data.
        if not (gov.tenant_scoped and gov.region and pinned) or asset == directory:
            continue
        home = taxonomy.jurisdiction(gov.region)
        held = gov.tenants or tuple(pinned)
        foreign = sorted(t for t in held if t in pinned and taxonomy.jurisdiction(pinned[t]) != home)
        if foreign:
            yield Finding(asset, "tenant-region-crossing", "error",
                          f"{asset} is stored in {gov.region} ({home}) and may hold rows of tenant(s) "
                          + ", ".join(f"{t} (pinned to {pinned[t]})" for t in foreign),
                          "keep those tenants' rows out and list the tenants the asset holds in `tenants:` "
                          "(checked at run time), or store the asset in their jurisdiction")


TENANCY_RULES: tuple[Rule, ...] = (tenant_column_missing, tenant_objects_untagged, tenant_column_not_derived,
                                   cross_tenant_join, cross_tenant_aggregate, tenant_scope_dropped, tenant_entity_unknown,
                                   tenant_region_crossing)
