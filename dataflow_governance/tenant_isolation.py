"""Row-level tenant isolation in the database, generated from the governance and proven by trying.

`plan` / `apply`: for every tenant-scoped table with the row strategy, the engine's row-security
statements (PostgreSQL: ENABLE and FORCE ROW LEVEL SECURITY, a policy on the session setting
`app.tenant_id`), a tenant role confined to that tenant, and a reporting role that may read only
assets declared PII-free or holding no personal data.

`verify` proves it for real, as those roles: with tenant A set, every scoped table shows no row
of another tenant, and inserting a row for tenant B is refused; the reporting role is refused on
every personal table and answered on every readable one. Counts only in the result.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from sqlglot import exp

from .errors import DfgError
from .graph import table_of
from .manifest import TenancyConfig
from .spec import AssetGovernance
from .warehouse import Warehouse, column_expr, first_line_redacted, table_expr

SETTING = "app.tenant_id"


class IsolationError(DfgError, RuntimeError):
    """Tenant isolation cannot be applied or verified here; the message says why."""


@dataclass
class IsolationPlan:
    scoped: dict[str, str] = field(default_factory=dict)  # table → tenant column (row strategy)
    readable: list[str] = field(default_factory=list)  # tables the reporting role may read
    personal: list[str] = field(default_factory=list)  # tables it must not
    statements: list[str] = field(default_factory=list)


def plan(governance: dict[str, AssetGovernance], warehouse: Warehouse, tenancy: TenancyConfig) -> IsolationPlan:
    result = IsolationPlan()
    typed = []
    for asset, gov in sorted(governance.items()):
        table = table_of(asset, gov)
        if gov.storage.kind != "warehouse" or not warehouse.table_exists(table):
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
    result.statements = warehouse.engine.row_security_statements(
        typed, tenancy.role, tenancy.reporting_role, [table_expr(t) for t in result.readable], SETTING)
    return result


def apply(isolation: IsolationPlan, warehouse: Warehouse) -> None:
    """All statements in one transaction: isolation is in place for every table, or for none."""
    with warehouse.connect() as con, warehouse.errors():
        for statement in isolation.statements:
            con.execute(statement)


def verify(isolation: IsolationPlan, warehouse: Warehouse, tenancy: TenancyConfig, tenant: str, other: str) -> dict:
    """Try it: read and write as the tenant role with `tenant` set, read as the reporting role."""
    engine, tables, reporting = warehouse.engine, {}, {}
    types = {table: _type_of(warehouse, table, column) for table, column in isolation.scoped.items()}
    with warehouse.connect() as con, _roles_needed(engine, tenancy):
        for table, column in sorted(isolation.scoped.items()):
            theirs = exp.cast(column_expr(column), "TEXT").neq(exp.Placeholder())
            query = warehouse.render_bound(exp.select(exp.func("count", exp.Star()), exp.func(
                "sum", exp.Case(ifs=[exp.If(this=theirs, true=exp.Literal.number(1))], default=exp.Literal.number(0))))
                .from_(table_expr(table)))
            # As the pipeline sees it: with no other tenant's row in the table, hiding them proves nothing.
            stored_others = con.execute(query, [tenant]).fetchone()[1]
            with engine.acting_as(con, tenancy.role, {SETTING: tenant}):
                visible, others = con.execute(query, [tenant]).fetchone()
                insert = exp.insert(exp.select(exp.cast(exp.Placeholder(), types[table])), table_expr(table),
                                    columns=[exp.to_identifier(column, quoted=True)])
                refused = _refused(con, engine, warehouse.render_bound(insert), [other])
            tables[table] = {"rows_visible": int(visible), "rows_of_other_tenants": int(others or 0),
                             "insert_for_other_tenant_refused": refused,
                             "reads_proven": bool(stored_others)}
        for table in isolation.personal + isolation.readable:
            with engine.acting_as(con, tenancy.reporting_role, {}):
                refused = _refused(con, engine, warehouse.render(exp.select("1").from_(table_expr(table)).limit(1)), [])
            reporting[table] = "refused" if refused else "readable"
        con.rollback()  # nothing a verification tried stays
    ok = (all(not t["rows_of_other_tenants"] and t["insert_for_other_tenant_refused"] for t in tables.values())
          and all(reporting[t] == "refused" for t in isolation.personal)
          and all(reporting[t] == "readable" for t in isolation.readable))
    return {"ok": ok, "tables": tables, "reporting": reporting}


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


