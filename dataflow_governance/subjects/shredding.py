"""Crypto-shredding: erasing a subject from stores that are never rewritten.

The subject's fields in an immutable asset are sealed with the subject's own data key (see
`crypto.fields`). Erasure leaves every event in place and destroys the key. Verification proves
both halves: the subject's events are all still there, byte for byte (same count, same ETags),
and none of their sealed fields opens; the destroyed key's wrapped bytes are gone from the key
store's table and, where the engine's files are readable, from its files too.
"""

from __future__ import annotations

import json
from datetime import datetime

from sqlglot import exp

from dataflow_governance.crypto import KeyringError, KeyStoreError, open_key_store
from dataflow_governance.crypto.data_keys import KEYS_TABLE
from dataflow_governance.crypto.fields import PREFIX, SHREDDED, FieldCryptoError, key_id_of, unseal
from dataflow_governance.model.manifest import Project
from dataflow_governance.model.ids import canonical_id
from dataflow_governance.storage.objectstore import ObjectStore, list_keys, s3_errors, split_s3_uri
from dataflow_governance.storage.warehouse import Warehouse, column_expr, table_expr
from dataflow_governance.subjects.plan import Target


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


def named_key_ids(target: Target, warehouse: Warehouse, store: ObjectStore | None) -> set[str]:
    """Every data key id the target's sealed identity fields name."""
    if target.system == "warehouse":
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
        for line in body.splitlines():
            try:
                record = json.loads(line)
            except json.JSONDecodeError:
                continue
            if isinstance(record, dict) and (key_id := key_id_of(record.get(target.column))):
                found.add(key_id)
    return found


def _no_key_for(target: Target, keys, warehouse: Warehouse, store: ObjectStore | None) -> None:
    """The subject has no key row. That is "never sealed anything" only if the key store holds every
    key the sealed data names; a row that is gone though never shredded (a shredded key keeps its
    row) means the store was damaged or rolled back, and the subject's events may be among the
    orphans: an answer of "none" would be false."""
    named = named_key_ids(target, warehouse, store)
    orphans = named - keys.known_ids(named) if named else set()
    if orphans:
        raise KeyringError(f"the key store ({keys.warehouse.describe()}, {KEYS_TABLE}) has no key for this subject, "
                           f"and {len(orphans)} data key(s) that sealed records in {target.asset} name are missing from "
                           "it although never shredded (a shredded key keeps its row): the key store was damaged or "
                           "rolled back. Restore it from its backup before answering for any subject of "
                           f"{target.asset}")


def sealed_events(target: Target, project: Project, warehouse: Warehouse, store: ObjectStore | None,
                  subject_id: str) -> list[dict]:
    """The subject's events as stored (sealed), for an access export to open; none once the key is
    shredded (what is left of them holds nothing of the subject)."""
    keys = open_key_store(project, warehouse)
    owner = keys.subject_owner(canonical_id(subject_id))
    key_id = keys.key_id_of(owner)
    if key_id is None:
        _no_key_for(target, keys, warehouse, store)
    return _events(target, warehouse, store, key_id)[0] if key_id and keys.is_live(owner) else []


def count_sealed(target: Target, project: Project, warehouse: Warehouse, store: ObjectStore | None,
                 subject_id: str) -> int:
    """The subject's events in an immutable target (found by the key id their tokens name)."""
    key_id = _subject_key_id(project, warehouse, subject_id)
    if key_id is None:
        _no_key_for(target, open_key_store(project, warehouse), warehouse, store)
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


def shred_key(target: Target, project: Project, warehouse: Warehouse, subject_id: str, now: datetime) -> int:
    """Destroy the subject's data key, then retire the KEK that wrapped it: every other live key is
    re-wrapped with a new KEK and the old one destroyed, so no copy of the wrapped key left in WAL,
    backups or replicas opens any more. A rerun after a crash in between finishes the retirement."""
    store = open_key_store(project, warehouse)
    owner = store.subject_owner(canonical_id(subject_id))
    shredded = store.shred(owner)
    if shredded is not None:
        target.evidence, target.kek = shredded
    else:
        target.kek = store.kek_of(owner)
    if target.kek is None or store.kek.retired_at(target.kek, now) is not None or _retirement_scheduled(store, target.kek):
        return int(shredded is not None)
    try:
        rotation = store.retire_kek()
    except KeyStoreError as exc:
        target.pending = f"the key-encryption key {target.kek} could not be retired: {exc}"
        return int(shredded is not None)
    target.notes.append(f"key-encryption key rotated to {rotation['kek']}: {rotation['rewrapped']} live data key(s) "
                        f"re-wrapped; retired: {', '.join(rotation['retired']) or 'none'}")
    return int(shredded is not None)


def _retirement_scheduled(store, kek_id: str) -> bool:
    book = getattr(store.kek, "book", None)
    record = book.recorded(f"kms:{kek_id}") if book is not None else None
    return record is not None and record.action == "retirement_scheduled"


def verify_key(target: Target, project: Project, warehouse: Warehouse, subject_id: str, now: datetime) -> bool:
    """No live key row; (where the engine's files can be read) no copy of its wrapped bytes; and the
    KEK that wrapped it destroyed — until then, copies of the wrapped key elsewhere would open."""
    store = open_key_store(project, warehouse)
    owner = store.subject_owner(canonical_id(subject_id))
    if store.is_live(owner):
        return False
    if target.evidence is not None and warehouse.store.engine.files_contain(target.evidence) is True:
        return False
    kek = target.kek or store.kek_of(owner)
    if kek is None:
        return True  # the subject never had a key: nothing was sealed for them
    target.kek = kek
    target.kek_retired_at = store.kek.retired_at(kek, now)
    if target.kek_retired_at is None:
        scheduled = _scheduled_date(store, kek)
        target.pending = target.pending or (
            f"the key-encryption key {kek} that wrapped the subject's key is scheduled for deletion on {scheduled}"
            if scheduled else f"the key-encryption key {kek} that wrapped the subject's key still exists")
        return False
    target.pending = None
    return True


def _scheduled_date(store, kek_id: str) -> str | None:
    book = getattr(store.kek, "book", None)
    record = book.recorded(f"kms:{kek_id}") if book is not None else None
    return record.details.get("deletion_date") if record is not None and record.action == "retirement_scheduled" else None
