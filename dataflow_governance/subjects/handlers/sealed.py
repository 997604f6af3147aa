"""Crypto-shredding: erasing a subject from stores that are never rewritten.

The subject's fields in an immutable asset (a warehouse table or S3 JSON lines) are sealed with the
subject's own data key (see `crypto.fields`). Erasure leaves every event in place and destroys the
key (the `keys` handler). Verification here proves the other half: the subject's events are all
still there, byte for byte (same count, same ETags), and none of their sealed fields opens.
"""

from __future__ import annotations

import json
from datetime import datetime

from sqlglot import exp

from dataflow_governance.crypto.data_keys import KEYS_TABLE, DataKeyStore
from dataflow_governance.crypto.fields import PREFIX, SHREDDED, FieldCryptoError, key_id_of, unseal
from dataflow_governance.errors import KeyringError
from dataflow_governance.model.ids import canonical_id
from dataflow_governance.storage.objectstore import list_keys, s3_errors, split_s3_uri
from dataflow_governance.storage.warehouse import column_expr, table_expr
from dataflow_governance.subjects.handlers.base import Handler, json_records
from dataflow_governance.subjects.reach import Reach
from dataflow_governance.subjects.targets import Outcome, System, Target


class Sealed(Handler):
    def count(self, outcome: Outcome, reach: Reach, value: str, now: datetime) -> int:
        """The subject's events in the immutable target (found by the key id their tokens name)."""
        keys = reach.keyring.data_keys()
        key_id = keys.key_id_of(keys.subject_owner(canonical_id(value)))
        if key_id is None:
            _no_key_for(outcome.plan, keys, reach)
            return 0
        events, outcome.fingerprint = _events(outcome.plan, reach, key_id)
        return len(events)

    def execute(self, outcome: Outcome, reach: Reach, value: str, now: datetime) -> int:
        return outcome.count  # left in place: the key's destruction erases them

    def verify(self, outcome: Outcome, reach: Reach, value: str, now: datetime) -> bool:
        """Every event counted before is still there, unchanged, and none of its tokens opens."""
        target = outcome.plan
        keys = reach.keyring.data_keys()
        key_id = keys.key_id_of(keys.subject_owner(canonical_id(value)))
        if key_id is None:
            return outcome.count == 0
        before = dict(outcome.fingerprint)
        events, etags = _events(target, reach, key_id)
        if len(events) != outcome.count or etags != before:
            return False  # the log changed: an immutable store was rewritten, or events went missing
        opened = keys.keys_by_id({key_id})
        try:
            return all(unseal(opened, target.asset, field, event[field]) is SHREDDED
                       for event in events for field in target.personal or (target.column,)
                       if event.get(field) is not None)
        except FieldCryptoError:
            return False

    def records(self, target: Target, reach: Reach, value: str) -> tuple[list[dict], int] | None:
        """The subject's events as stored (sealed), for an access export to open; none once the key
        is shredded (what is left of them holds nothing of the subject)."""
        keys = reach.keyring.data_keys()
        owner = keys.subject_owner(canonical_id(value))
        key_id = keys.key_id_of(owner)
        if key_id is None:
            _no_key_for(target, keys, reach)
        return (_events(target, reach, key_id)[0] if key_id and keys.is_live(owner) else []), 0


def _events(target: Target, reach: Reach, key_id: str) -> tuple[list[dict], dict[str, str]]:
    """The subject's events in the target (records whose identity token names the subject's key),
    and (S3) the ETag of each object holding one."""
    warehouse, store = reach.warehouse, reach.object_store
    if target.system == System.WAREHOUSE:
        if not warehouse.table_exists(target.target):
            return [], {}
        query = exp.select("*").from_(table_expr(target.target)).where(
            exp.func("starts_with", column_expr(target.column), exp.Placeholder()))
        frame = warehouse.fetch_df(query, [f"{PREFIX}{key_id}:"])
        return json_records(frame), {}
    if store is None:
        return [], {}
    bucket, prefix = split_s3_uri(target.target)
    events, etags = [], {}
    for key in list_keys(store, bucket, prefix):
        with s3_errors(f"get s3://{bucket}/{key}", store):
            got = store.client().get_object(Bucket=bucket, Key=key)
            body = got["Body"].read().decode(errors="replace")
        found = [r for r in _json_lines(body) if key_id_of(r.get(target.column)) == key_id]
        if found:
            events += found
            etags[key] = got["ETag"]
    return events, etags


def _json_lines(body: str) -> list[dict]:
    records = []
    for line in body.splitlines():
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(record, dict):
            records.append(record)
    return records


def named_key_ids(target: Target, reach: Reach) -> set[str]:
    """Every data key id the target's sealed identity fields name."""
    warehouse, store = reach.warehouse, reach.object_store
    if target.system == System.WAREHOUSE:
        if not warehouse.table_exists(target.target):
            return set()
        column = column_expr(target.column)
        query = exp.select(exp.func("split_part", column, exp.Literal.string(":"), exp.Literal.number(2))).distinct() \
            .from_(table_expr(target.target)).where(exp.func("starts_with", column, exp.Literal.string(PREFIX)))
        return {value for (value,) in warehouse.fetch(query) if value and value != "erased"}
    if store is None:
        return set()
    bucket, prefix = split_s3_uri(target.target)
    found: set[str] = set()
    for key in list_keys(store, bucket, prefix):
        with s3_errors(f"get s3://{bucket}/{key}", store):
            body = store.client().get_object(Bucket=bucket, Key=key)["Body"].read().decode(errors="replace")
        found |= {key_id for r in _json_lines(body) if (key_id := key_id_of(r.get(target.column)))}
    return found


def _no_key_for(target: Target, keys: DataKeyStore, reach: Reach) -> None:
    """The subject has no key row. That is "never sealed anything" only if the key store holds every
    key the sealed data names; a row that is gone though never shredded (a shredded key keeps its
    row) means the store was damaged or rolled back, and the subject's events may be among the
    orphans: an answer of "none" would be false."""
    named = named_key_ids(target, reach)
    orphans = named - keys.known_ids(named) if named else set()
    if orphans:
        raise KeyringError(f"the key store ({keys.warehouse.describe()}, {KEYS_TABLE}) has no key for this subject, "
                           f"and {len(orphans)} data key(s) that sealed records in {target.asset} name are missing from "
                           "it although never shredded (a shredded key keeps its row): the key store was damaged or "
                           "rolled back. Restore it from its backup before answering for any subject of "
                           f"{target.asset}")
