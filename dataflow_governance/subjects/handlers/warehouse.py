"""Warehouse tables: the subject's rows deleted (typed, bound matches: see `matching`), rows under a
legal hold anonymized instead (a subject's) or kept with the hold's columns anonymized (a
tenant's), aggregates rebuilt from their SQL, a tenant's schema dropped."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlglot import exp

from dataflow_governance.detection.places import table_problems
from dataflow_governance.storage import anonymize
from dataflow_governance.storage.warehouse import Warehouse, column_expr, table_expr
from dataflow_governance.subjects.handlers.base import Handler, json_records
from dataflow_governance.subjects.matching import Condition, column_matches
from dataflow_governance.subjects.reach import Reach
from dataflow_governance.subjects.targets import Action, Outcome, Target


class WarehouseRows(Handler):
    def confirm(self, outcome: Outcome, reach: Reach) -> str | None:
        target = outcome.plan
        if not (target.column or target.action == Action.RECOMPUTE):
            return None
        columns = [target.column] if target.column else []
        columns += [c for c, _method in target.held if c != target.column]
        if target.hold_days and target.timestamp_column:
            columns.append(target.timestamp_column)
        return "; ".join(map(str, table_problems(target.asset, target.target, columns, reach.warehouse))) or None

    def count(self, outcome: Outcome, reach: Reach, value: str, now: datetime) -> int:
        target, warehouse = outcome.plan, reach.warehouse
        if target.action == Action.DROP_SCHEMA:
            return len(warehouse.schema_tables(target.target))
        if target.action == Action.RETAIN:
            outcome.retained = 1  # a tenant's own row, kept while rows of it are held
            return 0
        if not target.column or not warehouse.table_exists(target.target):
            return 0
        match = match_rows(target, reach, value)
        if not target.keep_held:
            query = exp.select(exp.func("count", exp.Star())).from_(table_expr(target.target)).where(match.where)
            return int(warehouse.fetch(query, list(match.params))[0][0])
        held, held_params = held_rows(target, warehouse, match, now)
        kept = exp.Filter(this=exp.func("count", exp.Star()), expression=exp.Where(this=held))
        query = exp.select(exp.func("count", exp.Star()), kept).from_(table_expr(target.target)).where(match.where)
        found, outcome.retained = (int(v) for v in warehouse.fetch(query, [*held_params, *match.params])[0])
        return found - outcome.retained

    def execute(self, outcome: Outcome, reach: Reach, value: str, now: datetime) -> int:
        target, warehouse = outcome.plan, reach.warehouse
        if target.action == Action.DROP_SCHEMA:
            return warehouse.drop_schema(target.target)
        if target.action == Action.RECOMPUTE:
            return _recompute(target, warehouse)
        if not target.column or not warehouse.table_exists(target.target):
            return 0
        return erase_matching_rows(outcome, reach, match_rows(target, reach, value), now)

    def verify(self, outcome: Outcome, reach: Reach, value: str, now: datetime) -> bool:
        target = outcome.plan
        if target.action == Action.DROP_SCHEMA:
            return not reach.warehouse.schema_exists(target.target)
        if target.column:
            return self.count(outcome, reach, value, now) == 0
        return target.action in (Action.RECOMPUTE, Action.RETAIN)

    def records(self, target: Target, reach: Reach, value: str) -> tuple[list[dict], int] | None:
        warehouse = reach.warehouse
        if not target.column or not warehouse.table_exists(target.target):
            return None
        match = match_rows(target, reach, value)
        frame = warehouse.fetch_df(exp.select("*").from_(table_expr(target.target)).where(match.where), match.params)
        return json_records(frame), 0


def match_rows(target: Target, reach: Reach, value: str) -> Condition:
    """The target's rows that are the subject (or tenant): typed, with the value bound (see `matching`)."""
    column_type = reach.warehouse.columns(target.target).get(target.column)
    if column_type is None:
        return Condition.never()
    pseudonym = reach.keyring.pseudonym(value) if target.pseudonymized else None
    return column_matches(target.column, column_type, value, pseudonym)


def held_rows(target: Target, warehouse: Warehouse, match: Condition, now: datetime) -> tuple[exp.Expr, list]:
    """The condition (and its bound values) a legal hold keeps among the matching rows: its `where`
    and its time window. No hold keeps every matching row (the caller checks `target.held`)."""
    held, params = match.where, list(match.params)
    if target.hold_where:
        held = exp.and_(held, exp.paren(exp.condition(target.hold_where, dialect=warehouse.dialect)))
    if target.timestamp_column and target.hold_days:
        cutoff = (now - timedelta(days=target.hold_days)).strftime("%Y-%m-%d %H:%M:%S")
        held = exp.and_(held, column_expr(target.timestamp_column) >= exp.cast(exp.Placeholder(), "TIMESTAMP"))
        params.append(cutoff)
    # A row the hold's condition cannot decide (NULL) is not held: it goes.
    return exp.func("coalesce", exp.paren(held), exp.false()), params


def erase_matching_rows(outcome: Outcome, reach: Reach, match: Condition, now: datetime) -> int:
    """Delete the matching rows of a warehouse target. Under a legal hold, a subject's held rows
    lose the person instead; a tenant's held rows stay, their hold's columns anonymized."""
    target, warehouse = outcome.plan, reach.warehouse
    params = list(match.params)
    table = table_expr(target.target)
    gone, gone_params = match.where, params
    with warehouse.connect() as con:
        anonymize.prepare(warehouse, con)  # the match may use the keyed hash (suppression)
        count_sql = warehouse.render_bound(exp.select(exp.func("count", exp.Star())).from_(table).where(match.where))
        count = int(con.execute(count_sql, params).fetchall()[0][0])
        if target.action == Action.ANONYMIZE and (target.held or target.keep_held):
            held, held_params = held_rows(target, warehouse, match, now)
            if target.held:
                methods = dict(target.held)
                anonymize.widen_to_text(warehouse, con, target.target,
                                        anonymize.needs_text(warehouse, target.target, methods))
                sql, key_params = anonymize.update_statement(warehouse, target.target, methods, held,
                                                             reach.keyring.key("pseudonym"))
                # The SET clause's key material comes before the WHERE clause's values.
                con.execute(sql, [*key_params, *held_params])
            if target.keep_held:
                # The held rows still carry the tenant: everything else of it goes.
                gone, gone_params = exp.and_(match.where, exp.not_(held)), [*params, *held_params]
                kept_sql = warehouse.render_bound(exp.select(exp.func("count", exp.Star())).from_(table).where(held))
                outcome.retained = int(con.execute(kept_sql, held_params).fetchall()[0][0])
                count -= outcome.retained
        # Whatever the hold did not keep goes; a subject's held rows no longer match its id.
        con.execute(warehouse.render_bound(exp.delete(table, where=gone)), gone_params)
    return count


def _recompute(target: Target, warehouse: Warehouse) -> int:
    """Rebuild an aggregate from its SQL, so it no longer counts the erased subject."""
    if not target.sql or not warehouse.table_exists(target.target):
        return 0
    return warehouse.create_table_as(target.target, target.sql, read_dialect=target.dialect)
