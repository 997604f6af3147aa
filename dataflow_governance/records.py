"""One subject's records inside JSON-lines objects on S3: find them, rewrite without them, and
purge the earlier versions that still hold them.

A JSON-lines object holds many subjects, so it is rewritten, never deleted. The rewrite is
conditional on the version read (If-Match): a writer that changed the object in between — another
erasure, an ingest — makes it fail, and it is read and filtered again, so no one else's records
are ever lost or brought back.
"""

from __future__ import annotations

import json
from collections.abc import Callable

from .matching import record_matches
from .objectstore import ObjectStore, ObjectStoreError, delete_versions, list_keys, s3_errors

REWRITE_ATTEMPTS = 20  # conditional rewrites of one object before giving up
RecordTest = Callable[[object], bool]  # is this record's id field value one to remove?


def subject_test(subject_id: str) -> RecordTest:
    return lambda value: record_matches(value, subject_id)


def is_record_of(line: str, field_name: str, is_gone: RecordTest) -> bool:
    try:
        record = json.loads(line)
    except json.JSONDecodeError:
        return False
    return isinstance(record, dict) and field_name in record and is_gone(record[field_name])


def split_lines(store: ObjectStore, bucket: str, key: str, field_name: str, is_gone: RecordTest):
    """(lines to keep, the matching lines, the ETag read) of the object's current version."""
    with s3_errors(f"get s3://{bucket}/{key}", store):
        got = store.client().get_object(Bucket=bucket, Key=key)
        body = got["Body"].read().decode()
    keep, drop = [], []
    for line in body.splitlines():
        (drop if is_record_of(line, field_name, is_gone) else keep).append(line)
    return keep, drop, got["ETag"]


def matching_records(store: ObjectStore, bucket: str, prefix: str, field_name: str, is_gone: RecordTest) -> list[dict]:
    """The matching records of every current object under the prefix (an access export)."""
    return [json.loads(line) for key in list_keys(store, bucket, prefix)
            for line in split_lines(store, bucket, key, field_name, is_gone)[1]]


def rewrite_without(store: ObjectStore, bucket: str, key: str, field_name: str, is_gone: RecordTest) -> int:
    """Rewrite one object without the matching records; returns how many went."""
    for _attempt in range(REWRITE_ATTEMPTS):
        keep, drop, etag = split_lines(store, bucket, key, field_name, is_gone)
        if not drop:
            return 0
        try:
            with s3_errors(f"rewrite s3://{bucket}/{key}", store):
                store.client().put_object(Bucket=bucket, Key=key, IfMatch=etag,
                                          Body="".join(line + "\n" for line in keep).encode())
            return len(drop)
        except ObjectStoreError as exc:  # only a lost race is retried
            if exc.code not in ("PreconditionFailed", "412", "ConditionalRequestConflict"):
                raise
    raise ObjectStoreError(f"s3://{bucket}/{key} kept changing while it was rewritten ({REWRITE_ATTEMPTS} attempts); "
                           "run again", "Conflict")


def stale_versions(store: ObjectStore, bucket: str, key: str, field_name: str, is_gone: RecordTest) -> list[dict]:
    """Noncurrent versions of `key` whose records include a matching one."""
    client = store.client()
    stale = []
    with s3_errors(f"list versions of s3://{bucket}/{key}", store):
        versions = client.list_object_versions(Bucket=bucket, Prefix=key).get("Versions", [])
    for item in versions:
        if item["Key"] != key or item.get("IsLatest") or item.get("VersionId") in (None, "null"):
            continue
        with s3_errors(f"get s3://{bucket}/{key}", store):
            body = client.get_object(Bucket=bucket, Key=key, VersionId=item["VersionId"])["Body"].read().decode()
        if any(is_record_of(line, field_name, is_gone) for line in body.splitlines()):
            stale.append({"Key": key, "VersionId": item["VersionId"]})
    return stale


def count_records(store: ObjectStore, bucket: str, prefix: str, field_name: str, is_gone: RecordTest) -> int:
    """Matching records in current objects plus earlier versions holding any."""
    return sum(len(split_lines(store, bucket, key, field_name, is_gone)[1])
               + len(stale_versions(store, bucket, key, field_name, is_gone)) for key in list_keys(store, bucket, prefix))


def purge_records(store: ObjectStore, bucket: str, prefix: str, field_name: str, is_gone: RecordTest) -> int:
    """Matching records out of every object under the prefix and out of every earlier version that
    held them; returns records removed plus versions purged."""
    removed = 0
    for key in list(list_keys(store, bucket, prefix)):
        removed += rewrite_without(store, bucket, key, field_name, is_gone)
        # Earlier versions still hold the records (also after an interrupted rewrite): purge them.
        stale = stale_versions(store, bucket, key, field_name, is_gone)
        delete_versions(store, bucket, stale)
        removed += len(stale)
    return removed
