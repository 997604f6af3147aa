"""Counting, carrying out and verifying one target of an erasure plan.

Warehouse rows are matched typed and bound (see `matching`); rows under a legal hold lose the
person instead of going. S3 prefixes lose every version; JSON-lines objects are rewritten without
the subject (see `records`). Models are flagged through the MLflow adapter.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from sqlglot import exp

from pathlib import Path

from dataflow_governance.storage import anonymize
from dataflow_governance.storage import delta
from dataflow_governance.subjects.matching import Condition, column_matches
from dataflow_governance.model.ids import canonical_id
from dataflow_governance.ml.model_registry import flag_model, model_is_flagged
from dataflow_governance.ledger.chain import Ledger
from dataflow_governance.model.manifest import Project
from dataflow_governance.storage.objectstore import ObjectStore, object_versions, purge_prefix, split_s3_uri
from dataflow_governance.storage.object_records import count_records, purge_records, subject_test
from dataflow_governance.detection.places import table_problems
from dataflow_governance.storage.warehouse import Warehouse, column_expr, table_expr
from dataflow_governance.subjects import shredding
from dataflow_governance.subjects.plan import Target, pseudonym_of


def match_rows(target: Target, project: Project, warehouse: Warehouse, subject_id: str) -> Condition:
    """The target's rows that are the subject: typed, with the value bound (see `matching`)."""
    column_type = warehouse.columns(target.target).get(target.column)
    if column_type is None:
        return Condition.never()
    pseudonym = pseudonym_of(project, subject_id) if target.pseudonymized else None
    return column_matches(target.column, column_type, subject_id, pseudonym)


def confirm_place(target: Target, project: Project, warehouse: Warehouse, store: ObjectStore | None) -> str | None:
    """Why the target's declared place cannot be searched (its table, a column it names, its bucket,
    its Delta folder is not there), or None. Zero rows found in a place that does not exist proves
    nothing: such a target is never verified."""
    if target.system == "warehouse" and (target.column or target.action == "recompute"):
        columns = [target.column] if target.column else []
        columns += [c for c in target.held if c != target.column]
        if target.hold_days and target.timestamp_column:
            columns.append(target.timestamp_column)
        problems = table_problems(target.asset, target.target, columns, warehouse)
        return "; ".join(map(str, problems)) or None
    if target.system == "s3" and store is not None and target.action in ("delete", "rewrite"):
        bucket, _prefix = split_s3_uri(target.target)
        if bucket not in _bucket_names(store):
            return (f"asset {target.asset}: the declared bucket {bucket!r} does not exist at {store.describe()}; "
                    "correct storage.bucket, or create it")
        return None
    if target.system == "delta" and not (project.state_dir / target.target / "_delta_log").is_dir():
        return f"asset {target.asset}: no Delta table at {target.target!r}; materialize it or correct storage.path"
    return None


def _bucket_names(store: ObjectStore) -> set[str]:
    from dataflow_governance.storage.objectstore import s3_errors

    with s3_errors("list buckets", store):
        return {b["Name"] for b in store.client().list_buckets().get("Buckets", [])}


def count_target(target: Target, project: Project, warehouse: Warehouse, store: ObjectStore | None, subject_id: str,
                 now: datetime | None = None) -> int:
    """What the target holds of the subject (or tenant) now; rows an offboarding keeps under a
    legal hold are counted apart, in `target.retained`. A target whose place is not there counts
    nothing and says why (`target.problem`)."""
    target.problem = confirm_place(target, project, warehouse, store)
    if target.problem:
        return 0
    if target.system in ("model", "operator", "processor"):
        return 1  # one model version to flag; one step for an operator; one processor to tell
    if target.action == "drop-schema":
        return len(warehouse.schema_tables(target.target))
    if target.action == "shredded":
        return shredding.count_sealed(target, project, warehouse, store, subject_id)
    if target.system == "keys":
        return shredding.count_key(project, warehouse, subject_id)
    if target.system == "delta":
        return delta.count_rows(project.state_dir / target.target, target.column, subject_id)
    if target.system == "warehouse" and target.column:
        if not warehouse.table_exists(target.target):
            return 0
        match = match_rows(target, project, warehouse, subject_id)
        if not target.keep_held:
            query = exp.select(exp.func("count", exp.Star())).from_(table_expr(target.target)).where(match.where)
            return int(warehouse.fetch(query, list(match.params))[0][0])
        held, held_params = held_rows(target, warehouse, match, now or datetime.now(timezone.utc).replace(tzinfo=None))
        kept = exp.Filter(this=exp.func("count", exp.Star()), expression=exp.Where(this=held))
        query = exp.select(exp.func("count", exp.Star()), kept).from_(table_expr(target.target)).where(match.where)
        found, target.retained = (int(v) for v in warehouse.fetch(query, [*held_params, *match.params])[0])
        return found - target.retained
    if target.system == "s3" and store is not None:
        bucket, prefix = subject_location(target.target, subject_id)
        if prefix is None:
            return 0
        if target.action == "delete":
            return len(object_versions(store, bucket, prefix))
        tally = count_records(store, bucket, prefix, target.column, subject_test(subject_id), target.fmt)
        target.unsearched = [_masked(key, subject_id) for key in tally.unsearched]
        return tally.count
    return 0


def _masked(text: str, subject_id: str) -> str:
    """An object key as a certificate may name it: the subject's id never appears in it."""
    return text.replace(canonical_id(subject_id), "…") if len(canonical_id(subject_id)) > 0 else text


def subject_location(uri: str, subject_id: str) -> tuple[str, str | None]:
    """Bucket and the subject's (or tenant's) own prefix; None when the id cannot be one key
    segment (a `/` in it would reach into other subjects' folders)."""
    bucket, prefix = split_s3_uri(uri)
    placeholder = next((p for p in ("{subject_id}", "{tenant_id}") if p in prefix), None)
    if placeholder is None:
        return bucket, prefix
    segment = canonical_id(subject_id)
    if "/" in segment or segment in (".", ".."):
        return bucket, None
    return bucket, prefix.replace(placeholder, segment)


def execute_target(target: Target, project: Project, warehouse: Warehouse, store: ObjectStore | None,
                   subject_id: str, now: datetime) -> int:
    """Carry out one target; returns the count affected."""
    if target.problem:
        return 0
    if target.action == "shredded" or target.system == "processor":
        return target.count  # left in place: the key's destruction erases them; a processor is told by an operator
    if target.system == "keys":
        return shredding.shred_key(target, project, warehouse, subject_id, now)
    if target.system == "delta":
        return _erase_delta(target, project, subject_id)
    if target.system == "warehouse" and target.column:
        if not warehouse.table_exists(target.target):
            return 0
        return _erase_rows(target, project, warehouse, subject_id, now)
    if target.system == "warehouse" and target.action == "recompute":
        return _recompute(target, warehouse)
    if target.action == "drop-schema":
        return warehouse.drop_schema(target.target)
    if target.system == "model":
        return flag_model(project.mlflow_tracking_uri, Ledger(warehouse), target.target,
                          reason="trained on data of an erased subject", actor="dfg:erase")
    if target.system == "s3" and store is not None:
        bucket, prefix = subject_location(target.target, subject_id)
        if prefix is None:
            return 0
        if target.action == "delete":
            return purge_prefix(store, bucket, prefix)
        tally = purge_records(store, bucket, prefix, target.column, subject_test(subject_id), target.fmt)
        target.unsearched = [_masked(key, subject_id) for key in tally.unsearched]
        return tally.count
    return 0


def _erase_rows(target: Target, project: Project, warehouse: Warehouse, subject_id: str, now: datetime) -> int:
    return erase_matching_rows(target, project, warehouse, match_rows(target, project, warehouse, subject_id), now)


def held_rows(target: Target, warehouse: Warehouse, match: Condition, now: datetime) -> tuple[exp.Expression, list]:
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


def erase_matching_rows(target: Target, project: Project, warehouse: Warehouse, match: Condition, now: datetime) -> int:
    """Delete the matching rows of a warehouse target. Under a legal hold, a subject's held rows
    lose the person instead; a tenant's held rows stay, their hold's columns anonymized."""
    params = list(match.params)
    table = table_expr(target.target)
    gone, gone_params = match.where, params
    with warehouse.connect() as con:
        anonymize.prepare(warehouse, con)  # the match may use the keyed hash (suppression)
        count_sql = warehouse.render_bound(exp.select(exp.func("count", exp.Star())).from_(table).where(match.where))
        count = int(con.execute(count_sql, params).fetchall()[0][0])
        if target.action == "anonymize" and (target.held or target.keep_held):
            held, held_params = held_rows(target, warehouse, match, now)
            if target.held:
                from dataflow_governance.crypto import open_keyring

                key = open_keyring(project, warehouse).key("pseudonym")
                anonymize.widen_to_text(warehouse, con, target.target,
                                        anonymize.needs_text(warehouse, target.target, target.held))
                sql, key_params = anonymize.update_statement(warehouse, target.target, target.held, held, key)
                # The SET clause's key material comes before the WHERE clause's values.
                con.execute(sql, [*key_params, *held_params])
            if target.keep_held:
                # The held rows still carry the tenant: everything else of it goes.
                gone, gone_params = exp.and_(match.where, exp.not_(held)), [*params, *held_params]
                kept_sql = warehouse.render_bound(exp.select(exp.func("count", exp.Star())).from_(table).where(held))
                target.retained = int(con.execute(kept_sql, held_params).fetchall()[0][0])
                count -= target.retained
        # Whatever the hold did not keep goes; a subject's held rows no longer match its id.
        con.execute(warehouse.render_bound(exp.delete(table, where=gone)), gone_params)
    return count


def _erase_delta(target: Target, project: Project, subject_id: str) -> int:
    """The subject's rows, the data files that held them and any log statistic naming them. Their
    personal values are read first (kept in memory only) so verification can search the log for them."""
    path = project.state_dir / target.target
    rows = delta.rows_of(path, target.column, subject_id)
    target.values = tuple(sorted({str(r[c]) for r in rows for c in target.personal if r.get(c) is not None}))
    done = delta.erase_rows(path, target.column, subject_id, target.values)
    target.notes = done.describe(Path(target.target))
    return done.deleted


def _recompute(target: Target, warehouse: Warehouse) -> int:
    """Rebuild an aggregate from its SQL, so it no longer counts the erased subject."""
    if not target.sql or not warehouse.table_exists(target.target):
        return 0
    return warehouse.create_table_as(target.target, target.sql, read_dialect=target.dialect)


def verify_target(target: Target, project: Project, warehouse: Warehouse, store: ObjectStore | None, subject_id: str,
                  now: datetime | None = None) -> bool:
    target.problem = confirm_place(target, project, warehouse, store)
    if target.problem:
        return False
    if target.system == "model":
        return model_is_flagged(project.mlflow_tracking_uri, target.target)
    if target.action == "drop-schema":
        return not warehouse.schema_exists(target.target)
    if target.action == "shredded":
        return shredding.verify_sealed(target, project, warehouse, store, subject_id)
    if target.system == "keys":
        return shredding.verify_key(target, project, warehouse, subject_id,
                                    now or datetime.now(timezone.utc).replace(tzinfo=None))
    if target.system == "delta":
        return delta.verify_erased(project.state_dir / target.target, target.column, subject_id, target.values).clean
    if target.system == "operator" or target.outstanding:
        return False  # the project cannot do it, so it cannot say it was done
    if target.system in ("warehouse", "s3") and (target.column or target.system == "s3"):
        # Zero found where an object could not be searched proves nothing: it is named, not verified.
        return count_target(target, project, warehouse, store, subject_id) == 0 and not target.unsearched
    return target.action in ("recompute", "retain")
