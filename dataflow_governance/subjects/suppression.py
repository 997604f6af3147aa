"""The suppression list: data of an erased subject (or an offboarded tenant) that comes back is
removed without anyone asking.

Late events, restored backups and upstream replays bring erased subjects back. Every completed
erasure leaves, in the ledger, the subject's keyed hash and the keyed hash of their pseudonym —
never an id. A sweep hashes the stored identity values of every erasure target the same way (in
SQL for tables, in Python for JSON lines and key segments) and erases what matches, exactly as
the erasure did (legal holds included). Counts per asset are returned and ledgered.
"""

from __future__ import annotations

from datetime import datetime

from sqlglot import exp

from dataflow_governance.crypto.hashing import keyed_hash
from dataflow_governance.ledger.chain import Ledger
from dataflow_governance.ledger.erasures import suppression_list
from dataflow_governance.model.ids import record_canonical
from dataflow_governance.storage import anonymize
from dataflow_governance.storage.object_records import count_records, purge_records
from dataflow_governance.storage.objectstore import ObjectStore, object_versions, purge_prefix, s3_errors, split_s3_uri
from dataflow_governance.storage.warehouse import Warehouse, table_expr
from dataflow_governance.subjects.handlers.warehouse import erase_matching_rows
from dataflow_governance.subjects.matching import Condition, sql_canonical_text
from dataflow_governance.subjects.offboard import returned_tenant_data
from dataflow_governance.subjects.plan import plan_erasure
from dataflow_governance.subjects.reach import Reach
from dataflow_governance.subjects.scope import Scope
from dataflow_governance.subjects.targets import Action, Outcome, System, Target

_CHUNK = 500  # hashes per IN list


def apply_suppression(reach: Reach, scope: Scope, now: datetime, dry_run: bool = False) -> dict[str, int]:
    """Erase again whatever of an erased subject — or of an offboarded tenant — is stored now.

    Args:
        reach: the stores and keys to search.
        scope: the governance and graph to plan from.
        now: the time legal holds are measured from.
        dry_run: count what would be removed; change nothing.

    Returns:
        asset → records removed (with `dry_run`: that would be).
    """
    removed = returned_tenant_data(reach, scope, now, dry_run)
    warehouse, store = reach.warehouse, reach.object_store
    suppressed = suppression_list(Ledger(warehouse))
    if not suppressed:
        return removed
    subjects = set(suppressed)
    pseudonyms = {p for p in suppressed.values() if p}
    key = reach.keyring.key("subject")
    for target in plan_erasure(scope, warehouse):
        count = 0
        if target.action == Action.SHREDDED:
            continue  # sealed events stay; what made them the subject's (the key) is gone for good
        if target.action == Action.REDACT:
            continue  # (mentions in others' text are not the subject's records: the list matches ids)
        if target.system == System.WAREHOUSE and target.column and warehouse.table_exists(target.target):
            hashes = pseudonyms if target.pseudonymized else subjects
            column_type = warehouse.columns(target.target).get(target.column)
            for chunk in _chunks(sorted(hashes)) if column_type is not None else []:
                match = _hashed_match(target, column_type, warehouse, key, chunk)
                count += _count_rows(target, warehouse, match) if dry_run else \
                    erase_matching_rows(Outcome(target), reach, match, now)
        elif target.system == System.S3 and store is not None:
            bucket, template = split_s3_uri(target.target)
            is_gone = lambda value: _hash_of(key, record_canonical(value)) in subjects  # noqa: E731
            if target.action == Action.DELETE:
                count = _purge_subject_prefixes(store, bucket, template, key, subjects, dry_run)
            else:
                count = (count_records if dry_run else purge_records)(store, bucket, template, target.column, is_gone,
                                                                      target.fmt).count
        if count:
            removed[target.asset] = removed.get(target.asset, 0) + count
    return removed


def _chunks(values: list[str]) -> list[list[str]]:
    return [values[i:i + _CHUNK] for i in range(0, len(values), _CHUNK)]


def _hash_of(key: bytes, canonical: str | None) -> str | None:
    return keyed_hash(key, canonical) if canonical is not None else None


def _hashed_match(target: Target, column_type: str, warehouse: Warehouse, key: bytes, hashes: list[str]) -> Condition:
    """Rows whose identity value hashes (with the subject key) to one of `hashes`."""
    text = exp.cast(exp.column(target.column, quoted=True), "TEXT") if target.pseudonymized \
        else sql_canonical_text(target.column, column_type)
    hashed = anonymize.keyed_hash_expr(warehouse, text)
    where = exp.In(this=hashed, expressions=[exp.Placeholder() for _ in hashes])
    return Condition(where, (*anonymize.key_parameters(warehouse, key), *hashes))


def _count_rows(target: Target, warehouse: Warehouse, match: Condition) -> int:
    query = exp.select(exp.func("count", exp.Star())).from_(table_expr(target.target)).where(match.where)
    with warehouse.connect() as con:
        anonymize.prepare(warehouse, con)  # (the match uses the keyed hash)
        return int(con.execute(warehouse.render_bound(query), list(match.params)).fetchall()[0][0])


def _purge_subject_prefixes(store: ObjectStore, bucket: str, template: str, key: bytes, subjects: set[str],
                            dry_run: bool = False) -> int:
    """Folders `<base>{subject_id}/…` whose segment hashes to an erased subject: every version goes.

    Folders are found among object versions, not current objects: a folder whose objects were
    deleted but whose versions remain still holds the subject."""
    base, _, rest = template.partition("{subject_id}")
    with s3_errors(f"list s3://{bucket}/{base}", store):
        pages = list(store.client().get_paginator("list_object_versions").paginate(Bucket=bucket, Prefix=base,
                                                                                   Delimiter="/"))
    segments = {common["Prefix"][len(base):].rstrip("/") for page in pages for common in page.get("CommonPrefixes", [])}
    doomed = [base + segment + rest for segment in sorted(segments) if keyed_hash(key, segment) in subjects]
    if dry_run:
        return sum(len(object_versions(store, bucket, prefix)) for prefix in doomed)
    return sum(purge_prefix(store, bucket, prefix) for prefix in doomed)
