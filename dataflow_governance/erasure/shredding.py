"""Crypto-shredding: erasing a subject from stores that are never rewritten.

The subject's fields in an immutable asset are sealed with the subject's own data key (see
`crypto.fields`). Erasure leaves every event in place and destroys the key. Verification proves
both halves: the subject's events are all still there, byte for byte (same count, same ETags),
and none of their sealed fields opens; the destroyed key's wrapped bytes are gone from the key
store's table and, where the engine's files are readable, from its files too.
"""

from __future__ import annotations

import json

from sqlglot import exp

from ..crypto import open_key_store
from ..crypto.fields import PREFIX, SHREDDED, FieldCryptoError, key_id_of, unseal
from ..manifest import Project
from ..matching import canonical_id
from ..objectstore import ObjectStore, list_keys, s3_errors, split_s3_uri
from ..warehouse import Warehouse, column_expr, table_expr
from .plan import Target


def _subject_key_id(project: Project, warehouse: Warehouse, subject_id: str) -> str | None:
    store = open_key_store(project, warehouse)
    return store.key_id_of(store.subject_owner(canonical_id(subject_id)))


def _events(target: Target, warehouse: Warehouse, store: ObjectStore | None, key_id: str) -> tuple[list[dict], dict[str, str]]:
    """The subject's events in the target (records whose identity token names the subject's key),
    and (S3) the ETag of each object holding one."""
    if target.system == "warehouse":
        if not warehouse.table_exists(target.target):
            return [], {}
        query = exp.select("*").from_(table_expr(target.target)).where(
            exp.func("starts_with", column_expr(target.column), exp.Placeholder()))
        frame = warehouse.fetch_df(query, [f"{PREFIX}{key_id}:"])
        return json.loads(frame.to_json(orient="records", date_format="iso")), {}
    if store is None:
        return [], {}
    bucket, prefix = split_s3_uri(target.target)
    events, etags = [], {}
    for key in list_keys(store, bucket, prefix):
        with s3_errors(f"get s3://{bucket}/{key}", store):
            got = store.client().get_object(Bucket=bucket, Key=key)
            body = got["Body"].read().decode(errors="replace")
        found = []
        for line in body.splitlines():
            try:
                record = json.loads(line)
            except json.JSONDecodeError:
                continue
            if isinstance(record, dict) and key_id_of(record.get(target.column)) == key_id:
                found.append(record)
        if found:
            events += found
            etags[key] = got["ETag"]
    return events, etags


def sealed_events(target: Target, project: Project, warehouse: Warehouse, store: ObjectStore | None,
                  subject_id: str) -> list[dict]:
    """The subject's events as stored (sealed), for an access export to open; none once the key is
    shredded (what is left of them holds nothing of the subject)."""
    keys = open_key_store(project, warehouse)
    owner = keys.subject_owner(canonical_id(subject_id))
    key_id = keys.key_id_of(owner)
    return _events(target, warehouse, store, key_id)[0] if key_id and keys.is_live(owner) else []


def count_sealed(target: Target, project: Project, warehouse: Warehouse, store: ObjectStore | None,
                 subject_id: str) -> int:
    """The subject's events in an immutable target (found by the key id their tokens name)."""
    key_id = _subject_key_id(project, warehouse, subject_id)
    if key_id is None:
        return 0
    events, target.fingerprint = _events(target, warehouse, store, key_id)
    return len(events)


def verify_sealed(target: Target, project: Project, warehouse: Warehouse, store: ObjectStore | None,
                  subject_id: str) -> bool:
    """Every event counted before is still there, unchanged, and none of its tokens opens."""
    key_id = _subject_key_id(project, warehouse, subject_id)
    if key_id is None:
        return target.count == 0
    before = dict(target.fingerprint)
    events, etags = _events(target, warehouse, store, key_id)
    if len(events) != target.count or etags != before:
        return False  # the log changed: an immutable store was rewritten, or events went missing
    keys = open_key_store(project, warehouse).keys_by_id({key_id})
    try:
        return all(unseal(keys, target.asset, field, event[field]) is SHREDDED
                   for event in events for field in target.personal or (target.column,) if event.get(field) is not None)
    except FieldCryptoError:
        return False


def count_key(project: Project, warehouse: Warehouse, subject_id: str) -> int:
    store = open_key_store(project, warehouse)
    return int(store.is_live(store.subject_owner(canonical_id(subject_id))))


def shred_key(target: Target, project: Project, warehouse: Warehouse, subject_id: str) -> int:
    store = open_key_store(project, warehouse)
    target.evidence = store.shred(store.subject_owner(canonical_id(subject_id)))
    return int(target.evidence is not None)


def verify_key(target: Target, project: Project, warehouse: Warehouse, subject_id: str) -> bool:
    """No live key row, and (where the engine's files can be read) no copy of its wrapped bytes."""
    if count_key(project, warehouse, subject_id):
        return False
    if target.evidence is None:
        return True  # shredded in an earlier run, whose verification searched the files
    return warehouse.store.engine.files_contain(target.evidence) is not True
