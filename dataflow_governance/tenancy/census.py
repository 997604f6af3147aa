"""Tenant checks on stored data: rows (pushed down to the warehouse in one pass per table), a
schema per tenant, and objects (their keys and JSON-lines records).

- Every row has a tenant, and one the tenant entity lists (`tenancy.tenant`).
- No row belongs to a tenant pinned to another jurisdiction than where the asset is stored (the
  pinning read from `tenancy.tenants` and from the entity's region column), and none to a tenant
  the asset does not declare in `tenants:`.
Rows are counted per tenant first and those few counts joined with the entity; tenant values
are compared in the column's own type. Counts only: no tenant id or row value leaves the warehouse.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from sqlglot import exp

from dataflow_governance.model import taxonomy
from dataflow_governance.model.manifest import TenancyConfig
from dataflow_governance.storage.warehouse import Warehouse, column_expr, table_expr


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


def _storable(kind: exp.DataType, ids: Sequence[str]) -> list[str]:
    """The ids a column of this type can hold: an id that is no integer matches no row of an
    integer column (and would fail the cast), so it is left out rather than sent."""
    if kind.is_type(*exp.DataType.INTEGER_TYPES):
        return sorted(i for i in ids if re.fullmatch(r"[+-]?\d{1,18}", str(i).strip()))
    return sorted(str(i) for i in ids)


def _entity_regions(warehouse: Warehouse, tenancy: TenancyConfig, entity: tuple[str, str]) -> list[str]:
    query = exp.select(column_expr(tenancy.region_column)).distinct().from_(table_expr(entity[0]))
    return [str(region) for (region,) in warehouse.fetch(query) if region]


def tenant_census(warehouse: Warehouse, table: str, column: str, *, tenancy: TenancyConfig | None = None,
                  entity: tuple[str, str] | None = None, region: str | None = None,
                  declared: Sequence[str] = ()) -> TenantCensus:
    """One pass over `table`: rows without a tenant, of a tenant the entity (table, column) does not
    list, of a tenant pinned outside `region`'s jurisdiction, of a tenant outside `declared`.

    The rows are first counted per tenant (a table has millions of rows but few tenants), then
    the few per-tenant counts are joined with the entity: cheaper than joining every row.
    """
    kind = exp.DataType.build(warehouse.columns(table).get(column) or "TEXT", dialect=warehouse.dialect)
    home = taxonomy.jurisdiction(region) if region else None
    pinned_ids = _storable(kind, [t for t, cfg in (tenancy.tenants if tenancy else {}).items()
                                  if home and taxonomy.jurisdiction(cfg.region) != home])
    declared_ids = _storable(kind, declared)
    use_regions = bool(entity and tenancy and tenancy.region_column and home)
    foreign_regions = [r for r in _entity_regions(warehouse, tenancy, entity)
                       if taxonomy.jurisdiction(r) != home] if use_regions else []

    key, rows = exp.column("k", table="d"), exp.column("n", table="d")
    present = key.is_(exp.null()).not_()

    def among(values: Sequence[str], as_type: exp.DataType | None, what: exp.Expr = key) -> exp.Expr:
        # Bound values, each cast once to the column's type: never pasted, never a cast per row.
        marks = [exp.cast(exp.Placeholder(), as_type) if as_type is not None else exp.Placeholder() for _ in values]
        return what.isin(*marks)

    def rows_where(condition: exp.Expr) -> exp.Expr:
        return exp.func("sum", exp.Case(ifs=[exp.If(this=condition, true=rows)], default=exp.Literal.number(0)))

    pinned = [among(pinned_ids, kind)] if pinned_ids else []
    if foreign_regions:
        pinned.append(exp.column("f", table="e").eq(exp.true()))
    zero = exp.Literal.number(0)
    counts = [
        exp.func("sum", rows),
        rows_where(key.is_(exp.null())),
        rows_where(exp.and_(present, exp.column("k", table="e").is_(exp.null()))) if entity else zero,
        rows_where(exp.or_(*pinned)) if pinned else zero,
        (rows_where(exp.and_(present, among(declared_ids, kind).not_())) if declared_ids else rows_where(present))
        if declared else zero,
    ]
    per_tenant = exp.select(column_expr(column).as_("k"), exp.func("count", exp.Star()).as_("n")) \
        .from_(table_expr(table)).group_by(column_expr(column))
    query = exp.select(*counts).from_(per_tenant.subquery("d"))
    params = [*pinned_ids, *(declared_ids if declared else [])]  # in the order the SELECT list binds them
    if entity is not None:
        flag = (exp.func("bool_or", among(foreign_regions, None, column_expr(tenancy.region_column)))
                if foreign_regions else exp.false())
        listed = exp.select(column_expr(entity[1]).as_("k"), flag.as_("f")) \
            .from_(table_expr(entity[0])).group_by(column_expr(entity[1]))
        query = query.join(listed.subquery("e"), on=exp.column("k", table="e").eq(key), join_type="left")
        params += foreign_regions
    row = warehouse.fetch(query, params or None)[0]
    return TenantCensus(*(int(value or 0) for value in row))


# --- a schema per tenant ------------------------------------------------------------------

def tenant_tables(warehouse: Warehouse, template: str) -> dict[str, str]:
    """Tenant id → its table, for a schema-per-tenant template (`ws_{tenant_id}.tickets`): every
    schema of the warehouse that the template's schema part matches and that holds the table."""
    *_, schema_part, name = template.split(".")
    before, after = schema_part.split("{tenant_id}")
    pattern = re.compile(re.escape(before) + "(.+)" + re.escape(after))
    found = {}
    for schema in warehouse.schemas():
        match = pattern.fullmatch(schema)
        if match and warehouse.table_exists(f"{schema}.{name}"):
            found[match.group(1)] = f"{schema}.{name}"
    return found


@dataclass(frozen=True)
class TenantPlacement:
    schemas: int  # tenant schemas found
    unknown: int  # schemas of a tenant the entity and the manifest do not list
    pinned_elsewhere: int  # schemas of a tenant pinned to another jurisdiction than the asset's
    misplaced_rows: int  # rows whose tenant column names another tenant than their schema's
    undeclared: int  # schemas of a tenant the asset does not list in `tenants:` (0 when it lists none)

    @property
    def passed(self) -> bool:
        return not (self.unknown or self.pinned_elsewhere or self.misplaced_rows or self.undeclared)


def tenant_directory(warehouse: Warehouse, tenancy: TenancyConfig | None,
                     entity: tuple[str, str] | None) -> dict[str, str | None]:
    """Every tenant the project knows → the region it is pinned to (None: not pinned): the
    manifest's `tenancy.tenants`, then the tenant entity's rows (and its region column)."""
    from dataflow_governance.model.ids import record_canonical

    known: dict[str, str | None] = {t: cfg.region for t, cfg in (tenancy.tenants if tenancy else {}).items()}
    if entity is not None:
        region = column_expr(tenancy.region_column) if tenancy and tenancy.region_column else exp.null()
        query = exp.select(column_expr(entity[1]), region).distinct().from_(table_expr(entity[0]))
        for tenant, where in warehouse.fetch(query):
            if record_canonical(tenant) is not None:
                known[record_canonical(tenant)] = known.get(record_canonical(tenant)) or where
    return known


def pinned_outside(directory: dict[str, str | None], region: str | None) -> set[str]:
    """The tenants pinned to another jurisdiction than `region`'s."""
    home = taxonomy.jurisdiction(region) if region else None
    return {t for t, pin in directory.items() if home and pin and taxonomy.jurisdiction(pin) != home}


def tenant_placement(warehouse: Warehouse, template: str, column: str | None, *,
                     directory: dict[str, str | None], region: str | None, declared: Sequence[str] = ()) -> TenantPlacement:
    """Each tenant's objects stay in its own schema: every tenant schema belongs to a listed tenant
    pinned where the asset is stored, and (with a tenant column) holds only that tenant's rows."""
    tables = tenant_tables(warehouse, template)
    listed, pinned = set(directory), pinned_outside(directory, region)
    misplaced = 0
    for tenant, table in tables.items():
        if column:
            # The column's own value rendered as text: a tenant id from a schema name is text.
            other = exp.cast(column_expr(column), "TEXT").neq(exp.Placeholder())
            query = exp.select(exp.func("count", exp.Star())).from_(table_expr(table)) \
                .where(exp.or_(column_expr(column).is_(exp.null()), other))
            misplaced += int(warehouse.fetch(query, [tenant])[0][0])
    return TenantPlacement(len(tables), sum(1 for t in tables if listed and t not in listed),
                           sum(1 for t in tables if t in pinned), misplaced,
                           sum(1 for t in tables if declared and t not in declared))


# --- objects ------------------------------------------------------------------------------

@dataclass(frozen=True)
class ObjectCensus:
    objects: int
    records: int
    missing: int  # records without a tenant (with a tenant field declared), or keys outside the template
    unknown: int  # records (or objects, by key) of a tenant no one lists
    pinned_elsewhere: int  # records (or objects) of a tenant pinned to another jurisdiction
    misplaced: int  # records under another tenant's prefix
    undeclared: int  # records (or objects) of a tenant the asset does not list in `tenants:`

    @property
    def passed(self) -> bool:
        return not (self.missing or self.unknown or self.pinned_elsewhere or self.misplaced or self.undeclared)


def _object_tenants(store, bucket: str, prefix: str, tenant_prefix: str | None, field: str | None):
    """Per object under the prefix (the tenant prefix's fixed part when there is one): ("object",
    tenant its key names, None); then, when records name their tenant, ("record", the key's tenant,
    the record's tenant) per JSON line (None for a line without one)."""
    import json

    from dataflow_governance.model.ids import record_canonical
    from dataflow_governance.storage.objectstore import get_object, list_keys

    key_pattern = None
    if tenant_prefix:
        before, after = tenant_prefix.split("{tenant_id}")
        prefix, key_pattern = before, re.compile(re.escape(before) + "([^/]+)" + re.escape(after))
    for key in list_keys(store, bucket, prefix):
        match = key_pattern.match(key) if key_pattern is not None else None
        owner = match.group(1) if match else None
        yield "object", owner, None
        if not field:
            continue
        for line in get_object(store, bucket, key).decode(errors="replace").splitlines():
            if line.strip():
                try:
                    record = json.loads(line)
                except json.JSONDecodeError:
                    record = None
                yield "record", owner, record_canonical(record.get(field)) if isinstance(record, dict) else None


def stored_object_tenants(store, bucket: str, prefix: str, *, tenant_prefix: str | None, field: str | None) -> set[str]:
    """Every tenant the objects name, by key or record."""
    return {t for _kind, owner, tenant in _object_tenants(store, bucket, prefix, tenant_prefix, field)
            for t in (owner, tenant) if t is not None}


def object_census(store, bucket: str, prefix: str, *, tenant_prefix: str | None, field: str | None,
                  listed: set[str], pinned: set[str], declared: set[str]) -> ObjectCensus:
    """Every object's tenant from its key and, when records name it, every JSON-lines record's.
    Counts only."""
    counts = dict.fromkeys(("objects", "records", "missing", "unknown", "pinned", "misplaced", "undeclared"), 0)
    for kind, owner, tenant in _object_tenants(store, bucket, prefix, tenant_prefix, field):
        counts[f"{kind}s"] += 1
        if kind == "object" and (field or not tenant_prefix):
            continue  # judged by its records (or not tenant-keyed at all)
        tenant = owner if kind == "object" else tenant
        if tenant is None:
            counts["missing"] += 1
            continue
        counts["unknown"] += bool(listed) and tenant not in listed
        counts["pinned"] += tenant in pinned
        counts["undeclared"] += bool(declared) and tenant not in declared
        counts["misplaced"] += kind == "record" and tenant_prefix is not None and tenant != owner
    return ObjectCensus(counts["objects"], counts["records"], counts["missing"], counts["unknown"], counts["pinned"],
                        counts["misplaced"], counts["undeclared"])
