"""S3 objects: a subject's (or tenant's) own prefix loses every version; shared objects (JSON lines,
CSV, Parquet) are rewritten without the subject's records, their earlier versions purged. An
object in a format that cannot be searched is named (masked), never verified."""

from __future__ import annotations

from datetime import datetime

from dataflow_governance.model.ids import canonical_id
from dataflow_governance.storage.object_records import count_records, matching_records, purge_records, subject_test
from dataflow_governance.storage.objectstore import (
    ObjectStore,
    list_keys,
    object_versions,
    purge_prefix,
    s3_errors,
    split_s3_uri,
)
from dataflow_governance.subjects.handlers.base import Handler
from dataflow_governance.subjects.reach import Reach
from dataflow_governance.subjects.targets import Action, Outcome, Target


class Objects(Handler):
    def confirm(self, outcome: Outcome, reach: Reach) -> str | None:
        target = outcome.plan
        if reach.object_store is None:
            return f"asset {target.asset}: no S3 object store was opened to search {target.target}"
        bucket, _prefix = split_s3_uri(target.target)
        if bucket not in _bucket_names(reach.object_store):
            return (f"asset {target.asset}: the declared bucket {bucket!r} does not exist at {reach.object_store.describe()}; "
                    "correct storage.bucket, or create it")
        return None

    def count(self, outcome: Outcome, reach: Reach, value: str, now: datetime) -> int:
        target, store = outcome.plan, reach.object_store
        bucket, prefix = subject_location(target.target, value)
        if prefix is None or store is None:
            return 0
        if target.action == Action.DELETE:
            return len(object_versions(store, bucket, prefix))
        tally = count_records(store, bucket, prefix, target.column, subject_test(value), target.fmt)
        outcome.unsearched = [_masked(key, value) for key in tally.unsearched]
        return tally.count

    def execute(self, outcome: Outcome, reach: Reach, value: str, now: datetime) -> int:
        target, store = outcome.plan, reach.object_store
        bucket, prefix = subject_location(target.target, value)
        if prefix is None or store is None:
            return 0
        if target.action == Action.DELETE:
            return purge_prefix(store, bucket, prefix)
        tally = purge_records(store, bucket, prefix, target.column, subject_test(value), target.fmt)
        outcome.unsearched = [_masked(key, value) for key in tally.unsearched]
        return tally.count

    def verify(self, outcome: Outcome, reach: Reach, value: str, now: datetime) -> bool:
        # Zero found where an object could not be searched proves nothing: it is named, not verified.
        return self.count(outcome, reach, value, now) == 0 and not outcome.unsearched

    def records(self, target: Target, reach: Reach, value: str) -> tuple[list[dict], int] | None:
        store = reach.object_store
        if store is None:
            return None
        bucket, prefix = subject_location(target.target, value)
        if prefix is None:
            return [], 0
        if target.action == Action.DELETE:
            return [{"object": f"s3://{bucket}/{key}"} for key in list_keys(store, bucket, prefix)], 0
        records, unsearched = matching_records(store, bucket, prefix, target.column, subject_test(value), target.fmt)
        return records, len(unsearched)


def _bucket_names(store: ObjectStore) -> set[str]:
    with s3_errors("list buckets", store):
        return {b["Name"] for b in store.client().list_buckets().get("Buckets", [])}


def _masked(text: str, value: str) -> str:
    """An object key as a certificate may name it: the subject's id never appears in it."""
    return text.replace(canonical_id(value), "…") if len(canonical_id(value)) > 0 else text


def subject_location(uri: str, value: str) -> tuple[str, str | None]:
    """Bucket and the subject's (or tenant's) own prefix; None when the id cannot be one key
    segment (a `/` in it would reach into other subjects' folders)."""
    bucket, prefix = split_s3_uri(uri)
    placeholder = next((p for p in ("{subject_id}", "{tenant_id}") if p in prefix), None)
    if placeholder is None:
        return bucket, prefix
    segment = canonical_id(value)
    if "/" in segment or segment in (".", ".."):
        return bucket, None
    return bucket, prefix.replace(placeholder, segment)
