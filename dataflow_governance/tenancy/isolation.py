"""Row-level tenant isolation in the database, generated from the governance and proven by trying.

`plan` / `apply`: for every tenant-scoped table with the row strategy, the engine's row-security
statements (PostgreSQL: ENABLE and FORCE ROW LEVEL SECURITY, a tenant policy), a tenant role, and
a reporting role that may read only assets declared PII-free or holding no personal data. Row
policies on those tables that the project did not write are removed (an extra permissive policy
is ORed with the tenant's and widens what a tenant sees); each is named in the plan.

Two ways of telling the database who the tenant is (`tenancy.isolation`):

- `session`: one tenant role; the application sets `app.tenant_id` for each session. Safe only
  when no tenant-supplied SQL ever runs under the role — a tenant who can run SQL can set the
  setting to another tenant.
- `role`: one role per tenant (`<tenancy.role>_<tenant>`, members of `tenancy.role`); a row is
  visible to members of its tenant's role, so no session can choose its tenant.

`verify` proves it for real, as those roles, in one transaction that is rolled back: a canary row
of the other tenant is written into every scoped table first (so hiding other tenants is tested
even where only one tenant's rows are stored), then the tenant must see none of another tenant's
rows and may not insert one; the catalog is searched for what reaches tenant rows past the
policy (views, materialized views, SECURITY DEFINER functions, other grants); the reporting role
is refused on every personal table and answered on every readable one. Counts only in the result.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from sqlglot import exp

from dataflow_governance.errors import IsolationError
from dataflow_governance.model.manifest import TenancyConfig
from dataflow_governance.model.spec import AssetGovernance, table_of
from dataflow_governance.storage.warehouse import Warehouse, column_expr, first_line_redacted, table_expr

SETTING = "app.tenant_id"
_ROLE_SEGMENT = re.compile(r"^[A-Za-z0-9_]{1,40}$")


@dataclass
class IsolationPlan:
    scoped: dict[str, str] = field(default_factory=dict)  # table → tenant column (row strategy)
    readable: list[str] = field(default_factory=list)  # tables the reporting role may read
    personal: list[str] = field(default_factory=list)  # tables it must not
    statements: list[str] = field(default_factory=list)
    tenant_roles: dict[str, str] | None = None  # tenant → its role (the role strategy)
    removed: list[str] = field(default_factory=list)  # policies the project did not write, dropped by apply


def tenant_role(tenancy: TenancyConfig, tenant: str) -> str:
    if not _ROLE_SEGMENT.match(str(tenant)):
        raise IsolationError("a tenant id that names a role must be letters, digits and _ (at most 40): "
                             "use tenancy.isolation: session for other ids")
    return f"{tenancy.role}_{tenant}"


def known_tenants(warehouse: Warehouse, governance: dict[str, AssetGovernance], tenancy: TenancyConfig) -> list[str]:
    """Every tenant the tenant entity lists, and those the manifest pins."""
    found = set(tenancy.tenants)
    if tenancy.tenant_asset:
        table = table_of(tenancy.tenant_asset, governance.get(tenancy.tenant_asset))
        if warehouse.table_exists(table):
            query = exp.select(exp.cast(column_expr(tenancy.tenant_column), "TEXT")).distinct().from_(table_expr(table))
            found |= {value for (value,) in warehouse.fetch(query) if value is not None}
    return sorted(found)


def plan(governance: dict[str, AssetGovernance], warehouse: Warehouse, tenancy: TenancyConfig) -> IsolationPlan:
    result = IsolationPlan()
    typed = []
    for asset, gov in sorted(governance.items()):
        table = table_of(asset, gov)
        if gov.storage.kind != "warehouse" or gov.per_tenant_table or not warehouse.table_exists(table):
            continue
        if gov.tenant_key and gov.tenant_strategy in (None, "row"):
            kind = warehouse.columns(table).get(gov.tenant_key)
            if kind is None:
                raise IsolationError(f"table {table!r} has no tenant column {gov.tenant_key!r}")
            result.scoped[table] = gov.tenant_key
            typed.append((table_expr(table), gov.tenant_key,
                          exp.DataType.build(kind, dialect=warehouse.dialect).sql(warehouse.dialect)))
        (result.readable if gov.pii_free or not gov.is_personal else result.personal).append(table)
    if not result.scoped:
        raise IsolationError("no materialized tenant-scoped table with the row strategy to isolate")
    engine = warehouse.engine
    if tenancy.isolation == "role":
        result.tenant_roles = {t: tenant_role(tenancy, t) for t in known_tenants(warehouse, governance, tenancy)}
        if not result.tenant_roles:
            raise IsolationError("the role strategy needs the tenants: declare tenancy.tenant (the tenant entity) "
                                 "or tenancy.tenants")
    result.statements = engine.row_security_statements(
        typed, tenancy.role, tenancy.reporting_role, [table_expr(t) for t in result.readable], SETTING,
        tenant_roles=result.tenant_roles)
    foreign = engine.foreign_policies([table_expr(t) for t in result.scoped])
    result.removed = [f"{name} on {table}" for table, name, _permissive in foreign]
    result.statements += [engine.drop_policy_statement(table, name) for table, name, _permissive in foreign]
    return result


def apply(isolation: IsolationPlan, warehouse: Warehouse) -> None:
    """All statements in one transaction: isolation is in place for every table, or for none."""
    with warehouse.connect() as con, warehouse.errors():
        for statement in isolation.statements:
            con.execute(statement)


def verify(isolation: IsolationPlan, warehouse: Warehouse, tenancy: TenancyConfig, tenant: str, other: str) -> dict:
    """Try it: canaries of `other` in every scoped table, then read and write as `tenant`; search
    the catalog for ways around the policy; read as the reporting role. Nothing stays."""
    engine, tables, reporting = warehouse.engine, {}, {}
    types = {table: _type_of(warehouse, table, column) for table, column in isolation.scoped.items()}
    by_role = isolation.tenant_roles is not None
    if by_role and (tenant not in isolation.tenant_roles or other not in isolation.tenant_roles):
        raise IsolationError("both tenants need a role: run `dfg tenancy apply` after they are listed")
    acting = isolation.tenant_roles[tenant] if by_role else tenancy.role
    # With a role per tenant, the setting is set to the other tenant: it must not widen anything.
    settings = {SETTING: other if by_role else tenant}
    with warehouse.connect() as con, _roles_needed(engine, tenancy):
        for table, column in sorted(isolation.scoped.items()):
            theirs = exp.cast(column_expr(column), "TEXT").neq(exp.Placeholder())
            query = warehouse.render_bound(exp.select(exp.func("count", exp.Star()), exp.func(
                "sum", exp.Case(ifs=[exp.If(this=theirs, true=exp.Literal.number(1))], default=exp.Literal.number(0))))
                .from_(table_expr(table)))
            canary = _write_canary(con, engine, warehouse, table, column, types[table], other)
            stored_others = con.execute(query, [tenant]).fetchone()[1]
            with engine.acting_as(con, acting, settings):
                visible, others = con.execute(query, [tenant]).fetchone()
                insert = exp.insert(exp.select(exp.cast(exp.Placeholder(), types[table])), table_expr(table),
                                    columns=[exp.to_identifier(column, quoted=True)])
                refused = _refused(con, engine, warehouse.render_bound(insert), [other])
            tables[table] = {"rows_visible": int(visible), "rows_of_other_tenants": int(others or 0),
                             "insert_for_other_tenant_refused": refused,
                             "reads_proven": bool(stored_others), "canary": canary}
        roles = sorted(set(isolation.tenant_roles.values())) if by_role else [tenancy.role]
        unguarded = [table_expr(t) for t in isolation.personal if t not in isolation.scoped]
        leaks = engine.isolation_leaks(con, [table_expr(t) for t in isolation.scoped], roles, unguarded)
        for table in isolation.personal + isolation.readable:
            with engine.acting_as(con, tenancy.reporting_role, {}):
                refused = _refused(con, engine, warehouse.render(exp.select("1").from_(table_expr(table)).limit(1)), [])
            reporting[table] = "refused" if refused else "readable"
        con.rollback()  # nothing a verification tried stays, the canaries included
    ok = (all(not t["rows_of_other_tenants"] and t["insert_for_other_tenant_refused"] and t["reads_proven"]
              for t in tables.values())
          and not any(leak["severity"] == "error" for leak in leaks)
          and all(reporting[t] == "refused" for t in isolation.personal)
          and all(reporting[t] == "readable" for t in isolation.readable))
    return {"ok": ok, "strategy": tenancy.isolation, "tenant_chooses_tenant": not by_role, "tables": tables,
            "leaks": leaks, "reporting": reporting}


def _write_canary(con, engine, warehouse: Warehouse, table: str, column: str, kind: exp.DataType, tenant: str) -> str:
    """A row of `tenant` in `table`, as the pipeline (rolled back with the verification): one with
    only the tenant column set, or else a copy of a stored row moved to the tenant."""
    bare = exp.insert(exp.select(exp.cast(exp.Placeholder(), kind)), table_expr(table),
                      columns=[exp.to_identifier(column, quoted=True)])
    if _tried(con, engine, warehouse.render_bound(bare), [tenant]):
        return "written"
    names = list(warehouse.columns(table))
    values = [exp.cast(exp.Placeholder(), kind) if name == column else column_expr(name) for name in names]
    copy = exp.insert(exp.select(*values).from_(table_expr(table)).limit(1), table_expr(table),
                      columns=[exp.to_identifier(n, quoted=True) for n in names])
    return "copied" if _tried(con, engine, warehouse.render_bound(copy), [tenant]) else "refused by the table"


def _tried(con, engine, sql: str, params: list) -> bool:
    con.execute("SAVEPOINT dfg_canary")
    try:
        con.execute(sql, params or None)
    except engine.driver_errors():
        con.execute("ROLLBACK TO SAVEPOINT dfg_canary")
        return False
    con.execute("RELEASE SAVEPOINT dfg_canary")
    return True


@contextmanager
def _roles_needed(engine, tenancy: TenancyConfig) -> Iterator[None]:
    """A role that cannot be taken (not created yet) is one clear error, not a driver traceback."""
    try:
        yield
    except engine.driver_errors() as exc:
        raise IsolationError(f"cannot act as {tenancy.role} / {tenancy.reporting_role}: {first_line_redacted(exc)}; "
                             "run `dfg tenancy apply` first") from None


def _type_of(warehouse: Warehouse, table: str, column: str) -> exp.DataType:
    return exp.DataType.build(warehouse.columns(table)[column], dialect=warehouse.dialect)


def _refused(con, engine, sql: str, params: list) -> bool:
    """Run `sql` in a savepoint: True if the database refused it for lack of privilege or policy."""
    con.execute("SAVEPOINT dfg_try")
    try:
        con.execute(sql, params or None)
    except engine.driver_errors() as exc:
        con.execute("ROLLBACK TO SAVEPOINT dfg_try")
        if engine.is_refusal(exc):
            return True
        raise IsolationError(f"the check itself failed on {first_line_redacted(exc)}") from None
    con.execute("ROLLBACK TO SAVEPOINT dfg_try")
    return False
