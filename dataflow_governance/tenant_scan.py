"""Tenant checks on the stored rows, pushed down to the warehouse in one pass per table.

- Every row has a tenant, and one the tenant entity lists (`tenancy.tenant`).
- No row belongs to a tenant pinned to another jurisdiction than where the asset is stored, and
  none to a tenant the asset does not declare in `tenants:`.
Counts only: no tenant id or row value leaves the warehouse in the result.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlglot import exp

from . import taxonomy
from .manifest import TenancyConfig
from .warehouse import Warehouse, column_expr, table_expr


@dataclass(frozen=True)
class TenantCensus:
    rows: int
    missing: int  # no tenant at all
    unknown: int  # a tenant the tenant entity does not list (0 when there is no entity to ask)
    pinned_elsewhere: int  # a tenant pinned to another jurisdiction than the asset's storage
    undeclared: int  # a tenant the asset does not list in `tenants:` (0 when it lists none)

    @property
    def passed(self) -> bool:
        return not (self.missing or self.unknown or self.pinned_elsewhere or self.undeclared)


def _text(column: exp.Expression) -> exp.Expression:
    return exp.cast(column, "TEXT")


def _count_if(condition: exp.Expression) -> exp.Expression:
    return exp.func("sum", exp.Case(ifs=[exp.If(this=condition, true=exp.Literal.number(1))],
                                    default=exp.Literal.number(0)))


def tenant_census(warehouse: Warehouse, table: str, column: str, *, entity: tuple[str, str] | None = None,
                  foreign: Sequence[str] = (), declared: Sequence[str] = ()) -> TenantCensus:
    """One pass over the table: rows without a tenant, of a tenant the entity (table, column) does
    not list, of a tenant in `foreign`, of a tenant outside `declared`. Tenant ids are bound."""
    tenant = exp.column(column, table="t", quoted=True)
    present = tenant.is_(exp.null()).not_()
    params: list = []

    def among(ids: Sequence[str]) -> exp.Expression:
        params.extend(ids)
        return _text(tenant).isin(*[exp.Placeholder() for _ in ids])

    counts = [exp.func("count", exp.Star()), _count_if(tenant.is_(exp.null())),
              _count_if(exp.and_(present, exp.column("k", table="e").is_(exp.null()))) if entity else exp.Literal.number(0),
              _count_if(among(foreign)) if foreign else exp.Literal.number(0),
              _count_if(exp.and_(present, among(declared).not_())) if declared else exp.Literal.number(0)]
    query = exp.select(*counts).from_(table_expr(table).as_("t"))
    if entity is not None:
        listed = exp.select(_text(column_expr(entity[1])).as_("k")).distinct().from_(table_expr(entity[0]))
        query = query.join(listed.subquery("e"), on=exp.column("k", table="e").eq(_text(tenant)), join_type="left")
    row = warehouse.fetch(query, params or None)[0]
    return TenantCensus(*(int(value or 0) for value in row))


def foreign_tenants(tenancy: TenancyConfig, region: str, warehouse: Warehouse | None = None) -> list[str]:
    """Tenants pinned to another jurisdiction than `region`: from `tenancy.tenants`, and from the
    tenant entity's region column where one is declared."""
    pinned = {tenant: cfg.region for tenant, cfg in tenancy.tenants.items()}
    if warehouse is not None and tenancy.tenant and tenancy.region_column:
        query = exp.select(_text(column_expr(tenancy.tenant_column)), column_expr(tenancy.region_column)).distinct() \
            .from_(table_expr(tenancy.tenant_asset))
        pinned.update({str(t): str(r) for t, r in warehouse.fetch(query) if t is not None and r})
    home = taxonomy.jurisdiction(region)
    return sorted(t for t, r in pinned.items() if taxonomy.jurisdiction(r) != home)
