"""Tenant isolation over column lineage: static rules that find one tenant's rows reaching another's.

An asset is tenant-scoped when it declares `tenant_key` (the column holding each row's tenant) or
`tenant_strategy` (`row`, `schema`, `database`). With the row strategy every scoped asset carries
its tenant column, derived from its sources' tenant columns; a join of two scoped sources equates
their tenant columns; an aggregate over a scoped source either keeps the tenant (grouped, or one
tenant filtered) or is anonymous by the propagation rules. Anything else is a finding.
"""

from __future__ import annotations

from collections.abc import Iterator

from sqlglot import exp

from . import taxonomy
from .findings import Finding, PolicyContext, Rule
from .graph import table_of
from .lineage import LineageError, parse_statements


def _scoped_tables(ctx: PolicyContext) -> dict[str, tuple[str, str | None]]:
    """table name → (asset, its tenant column) for every tenant-scoped asset."""
    return {table_of(a, g): (a, g.tenant_key) for a, g in ctx.governance.items() if g.tenant_scoped}


def _scoped_sources(ctx: PolicyContext, asset: str) -> dict[str, tuple[str, str | None]]:
    """The scoped tables the asset's SQL reads (itself excluded)."""
    scoped = _scoped_tables(ctx)
    return {t: scoped[t] for t in ctx.graph.lineage[asset].tables if t in scoped and scoped[t][0] != asset}


def tenant_column_missing(ctx: PolicyContext) -> Iterator[Finding]:
    for asset, gov in sorted(ctx.governance.items()):
        if gov.tenant_scoped and gov.tenant_strategy in (None, "row") and not gov.tenant_key:
            yield Finding(asset, "tenant-column-missing", "error",
                          f"{asset} is tenant-scoped with the row strategy but declares no tenant column",
                          "declare tenant_key: <column holding each row's tenant> (or a schema/database strategy)")


def tenant_column_not_derived(ctx: PolicyContext) -> Iterator[Finding]:
    for asset, gov in sorted(ctx.governance.items()):
        if not (gov.tenant_key and ctx.traced(asset)):
            continue
        sources = _scoped_sources(ctx, asset)
        if not sources:
            continue
        item = ctx.graph.lineage[asset].columns.get(gov.tenant_key)
        wanted = {(table, key) for table, (_a, key) in sources.items() if key}
        if item is None or not {(d.table, d.column) for d in item.direct} & wanted:
            got = ", ".join(f"{d.table}.{d.column}" for d in item.direct) if item is not None else "nothing (no such column)"
            yield Finding(asset, "tenant-column-not-derived", "error",
                          f"{asset}.{gov.tenant_key} is its tenant column but comes from {got}, not from the tenant "
                          f"column of {', '.join(sorted(f'{t}.{k}' for t, k in wanted))}",
                          f"select the source's tenant column as {gov.tenant_key}")


def cross_tenant_join(ctx: PolicyContext) -> Iterator[Finding]:
    """A join of two scoped tables whose condition does not equate their tenant columns."""
    if ctx.graph is None:
        return
    scoped = _scoped_tables(ctx)
    for asset, definition in sorted(ctx.graph.sql.items()):
        try:
            statements = parse_statements(definition.sql, definition.dialect)
        except LineageError:
            continue  # reported by lineage
        for statement in statements:
            for select in statement.find_all(exp.Select):
                yield from _select_joins(asset, select, scoped)


def _select_joins(asset: str, select: exp.Select, scoped: dict[str, tuple[str, str | None]]) -> Iterator[Finding]:
    from_ = select.args.get("from") or select.args.get("from_")
    seen = [from_.this] if from_ is not None and isinstance(from_.this, exp.Table) else []
    for join in select.args.get("joins") or []:
        right = join.this
        if isinstance(right, exp.Table) and right.name in scoped:
            for left in seen:
                if left.name in scoped and not _equates(join, left, right, scoped):
                    where = right.this.meta.get("line") if isinstance(right.this, exp.Identifier) else None
                    yield Finding(asset, "cross-tenant-join", "error",
                                  f"{asset} joins {left.name} and {right.name}"
                                  + (f" (SQL line {where})" if where else "")
                                  + f" without equating their tenant columns ({left.name}.{scoped[left.name][1]} = "
                                    f"{right.name}.{scoped[right.name][1]}): rows of one tenant meet another's",
                                  f"add {left.alias_or_name}.{scoped[left.name][1]} = {right.alias_or_name}."
                                  f"{scoped[right.name][1]} to the join condition")
        if isinstance(right, exp.Table):
            seen.append(right)


def _equates(join: exp.Join, left: exp.Table, right: exp.Table, scoped: dict[str, tuple[str, str | None]]) -> bool:
    left_key, right_key = scoped[left.name][1], scoped[right.name][1]
    if not left_key or not right_key:
        return False  # a scoped table without a tenant column: reported by tenant-column-missing
    using = {i.name for i in join.args.get("using") or []}
    if left_key == right_key and left_key in using:
        return True
    wanted = {(left.alias_or_name, left_key), (right.alias_or_name, right_key)}
    condition = join.args.get("on")
    return condition is not None and any(
        isinstance(eq.left, exp.Column) and isinstance(eq.right, exp.Column)
        and {(eq.left.table, eq.left.name), (eq.right.table, eq.right.name)} == wanted
        for eq in condition.find_all(exp.EQ))


def cross_tenant_aggregate(ctx: PolicyContext) -> Iterator[Finding]:
    """An aggregate over a scoped source that drops the tenant and is not anonymous."""
    for asset, gov in sorted(ctx.governance.items()):
        if gov.tenant_scoped or not ctx.traced(asset) or not ctx.graph.lineage[asset].grouped:
            continue
        lineage = ctx.graph.lineage[asset]
        sources = _scoped_sources(ctx, asset)
        filtered = {(i.table, i.column) for item in lineage.columns.values() for i in item.indirect if i.kind == "filter"}
        across = sorted(t for t, (_a, key) in sources.items() if key and (t, key) not in filtered)
        personal = sorted(ctx.personal_columns(asset))
        if across and personal:
            yield Finding(asset, "cross-tenant-aggregate", "error",
                          f"{asset} aggregates across the tenants of {', '.join(across)} and is not anonymous "
                          f"({', '.join(personal)} still personal data)",
                          "group by (or filter on) the tenant column, or aggregate so that no column stays personal")


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


TENANCY_RULES: tuple[Rule, ...] = (tenant_column_missing, tenant_column_not_derived, cross_tenant_join,
                                   cross_tenant_aggregate, tenant_entity_unknown, tenant_region_crossing)
