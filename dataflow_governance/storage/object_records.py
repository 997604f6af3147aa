"""One subject's records inside shared objects on S3 — JSON lines, CSV and Parquet: find them,
rewrite each object without them, and purge the earlier versions that still hold them.

An object holds many subjects, so it is rewritten, never deleted. The rewrite is conditional on
the version read (If-Match): a writer that changed the object in between — another erasure, an
ingest — makes it fail, and it is read and filtered again, so no one else's records are ever
lost or brought back.

The format is the object's (`.jsonl`/`.ndjson`/`.json` JSON lines, `.csv`, `.parquet`), or the
asset's declared `storage.format` for keys without a known suffix. An object in any other format,
or one that cannot be read whole (a line that is not JSON, a damaged Parquet file), is listed as
unsearched: the erasure cannot say it is not there, so it is never verified while one remains.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable
from dataclasses import dataclass, field

from dataflow_governance.model.ids import as_number, record_matches
from dataflow_governance.storage.objectstore import ObjectStore, ObjectStoreError, delete_versions, list_keys, s3_errors

REWRITE_ATTEMPTS = 20  # conditional rewrites of one object before giving up
RecordTest = Callable[[object], bool]  # is this record's id field value one to remove?
_SUFFIXES = {".jsonl": "jsonl", ".ndjson": "jsonl", ".json": "jsonl", ".csv": "csv", ".parquet": "parquet",
             ".pq": "parquet"}


def subject_test(subject_id: str) -> RecordTest:
    """A record's id field is the subject: typed values as `matching` compares them; text read from a
    CSV is compared as the number it spells when the subject's id is one."""
    number = as_number(subject_id)

    def test(value: object) -> bool:
        if isinstance(value, str) and number is not None and as_number(value) is not None:
            return as_number(value) == number
        return record_matches(value, subject_id)
    return test


def format_of(key: str, declared: str | None = None) -> str | None:
    """The object's format by its suffix (a compression suffix is not searched), else the declared one."""
    name = key.rsplit("/", 1)[-1].lower()
    for suffix, fmt in _SUFFIXES.items():
        if name.endswith(suffix):
            return fmt
    return declared if "." not in name else None


@dataclass
class Tally:
    """What a search counted or removed, and the objects it could not search (by key)."""

    count: int = 0
    unsearched: list[str] = field(default_factory=list)

    def add(self, other: Tally) -> None:
        self.count += other.count
        self.unsearched += other.unsearched


@dataclass
class Split:
    kept: bytes  # the object's body without the matching records
    matched: list[dict]
    unreadable: str | None = None  # why (part of) the object could not be searched


class UnreadableObject(ValueError):
    pass


# --- the formats ----------------------------------------------------------------------------------

def _split_jsonl(body: bytes, field_name: str, is_gone: RecordTest) -> Split:
    keep, matched, bad = [], [], 0
    for line in body.decode("utf-8", errors="replace").splitlines():
        try:
            record = json.loads(line) if line.strip() else None
        except json.JSONDecodeError:
            bad += 1
            keep.append(line)
            continue
        if isinstance(record, dict) and field_name in record and is_gone(record[field_name]):
            matched.append(record)
        else:
            keep.append(line)
    kept = "".join(line + "\n" for line in keep).encode()
    return Split(kept, matched, f"{bad} line(s) are not JSON" if bad else None)


def _split_csv(body: bytes, field_name: str, is_gone: RecordTest) -> Split:
    text = body.decode("utf-8-sig", errors="replace")
    if not text.strip():
        return Split(body, [])
    try:
        dialect = csv.Sniffer().sniff(text.split("\n", 1)[0], delimiters=",;\t|")
    except csv.Error:
        dialect = csv.excel
    reader = csv.DictReader(io.StringIO(text, newline=""), dialect=dialect)
    if not reader.fieldnames or field_name not in reader.fieldnames:
        # No such column: no record of it here (the column is the asset's declared identity).
        return Split(body, [], None if reader.fieldnames else "no header row")
    out = io.StringIO(newline="")
    terminator = "\r\n" if "\r\n" in text[:4096] else "\n"
    writer = csv.DictWriter(out, fieldnames=reader.fieldnames, delimiter=dialect.delimiter,
                            quotechar=getattr(dialect, "quotechar", '"') or '"', lineterminator=terminator)
    writer.writeheader()
    matched = []
    for row in reader:
        if is_gone(row.get(field_name)):
            matched.append(dict(row))
        else:
            writer.writerow(row)
    return Split(out.getvalue().encode() if matched else body, matched)


def _split_parquet(body: bytes, field_name: str, is_gone: RecordTest) -> Split:
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        table = pq.read_table(io.BytesIO(body))
    except (pa.ArrowException, OSError) as exc:
        raise UnreadableObject(f"not a readable Parquet file ({type(exc).__name__})") from None
    if field_name not in table.column_names:
        return Split(body, [])
    mask = [bool(is_gone(value)) for value in table.column(field_name).to_pylist()]
    if not any(mask):
        return Split(body, [])
    gone = table.filter(pa.array(mask))
    kept = table.filter(pa.array([not m for m in mask]))
    sink = io.BytesIO()
    pq.write_table(kept, sink)
    return Split(sink.getvalue(), gone.to_pylist())


_SPLITTERS = {"jsonl": _split_jsonl, "csv": _split_csv, "parquet": _split_parquet}


def split_body(fmt: str, body: bytes, field_name: str, is_gone: RecordTest) -> Split:
    try:
        return _SPLITTERS[fmt](body, field_name, is_gone)
    except UnreadableObject as exc:
        return Split(body, [], str(exc))


# --- objects on S3 --------------------------------------------------------------------------------

def get_body(store: ObjectStore, bucket: str, key: str, version: str | None = None) -> tuple[bytes, str]:
    """An object's (or one version's) bytes and ETag."""
    extra = {"VersionId": version} if version else {}
    with s3_errors(f"get s3://{bucket}/{key}", store):
        got = store.client().get_object(Bucket=bucket, Key=key, **extra)
        return got["Body"].read(), got["ETag"]


def _split_object(store: ObjectStore, bucket: str, key: str, fmt: str, field_name: str, is_gone: RecordTest,
                  version: str | None = None) -> tuple[Split, str]:
    body, etag = get_body(store, bucket, key, version)
    return split_body(fmt, body, field_name, is_gone), etag


def _unsearched(key: str, why: str) -> str:
    return f"{key} ({why})"


def matching_records(store: ObjectStore, bucket: str, prefix: str, field_name: str, is_gone: RecordTest,
                     declared: str | None = None) -> tuple[list[dict], list[str]]:
    """The matching records of every current object under the prefix (an access export), and the
    objects that could not be searched."""
    found, unsearched = [], []
    for key in list_keys(store, bucket, prefix):
        fmt = format_of(key, declared)
        if fmt is None:
            unsearched.append(_unsearched(key, "a format the project cannot search"))
            continue
        split, _etag = _split_object(store, bucket, key, fmt, field_name, is_gone)
        found += split.matched
        if split.unreadable:
            unsearched.append(_unsearched(key, split.unreadable))
    return found, unsearched


def rewrite_without(store: ObjectStore, bucket: str, key: str, fmt: str, field_name: str, is_gone: RecordTest) -> Split:
    """Rewrite one object without the matching records; returns what went (and what could not be read)."""
    for _attempt in range(REWRITE_ATTEMPTS):
        split, etag = _split_object(store, bucket, key, fmt, field_name, is_gone)
        if not split.matched:
            return split
        try:
            with s3_errors(f"rewrite s3://{bucket}/{key}", store):
                store.client().put_object(Bucket=bucket, Key=key, IfMatch=etag, Body=split.kept)
            return split
        except ObjectStoreError as exc:  # only a lost race is retried
            if exc.code not in ("PreconditionFailed", "412", "ConditionalRequestConflict"):
                raise
    raise ObjectStoreError(f"s3://{bucket}/{key} kept changing while it was rewritten ({REWRITE_ATTEMPTS} attempts); "
                           "run again", "Conflict")


def stale_versions(store: ObjectStore, bucket: str, key: str, fmt: str, field_name: str,
                   is_gone: RecordTest) -> tuple[list[dict], list[str]]:
    """Noncurrent versions of `key` whose records include a matching one; versions that could not be read."""
    client = store.client()
    stale, unreadable = [], []
    with s3_errors(f"list versions of s3://{bucket}/{key}", store):
        versions = client.list_object_versions(Bucket=bucket, Prefix=key).get("Versions", [])
    for item in versions:
        if item["Key"] != key or item.get("IsLatest") or item.get("VersionId") in (None, "null"):
            continue
        split, _etag = _split_object(store, bucket, key, fmt, field_name, is_gone, item["VersionId"])
        if split.matched:
            stale.append({"Key": key, "VersionId": item["VersionId"]})
        elif split.unreadable:
            unreadable.append(_unsearched(f"{key} (an earlier version)", split.unreadable))
    return stale, unreadable


def count_records(store: ObjectStore, bucket: str, prefix: str, field_name: str, is_gone: RecordTest,
                  declared: str | None = None) -> Tally:
    """Matching records in current objects plus earlier versions holding any; unsearched objects."""
    tally = Tally()
    for key in list_keys(store, bucket, prefix):
        fmt = format_of(key, declared)
        if fmt is None:
            tally.unsearched.append(_unsearched(key, "a format the project cannot search"))
            continue
        split, _etag = _split_object(store, bucket, key, fmt, field_name, is_gone)
        stale, unreadable = stale_versions(store, bucket, key, fmt, field_name, is_gone)
        tally.count += len(split.matched) + len(stale)
        tally.unsearched += ([_unsearched(key, split.unreadable)] if split.unreadable else []) + unreadable
    return tally


def purge_records(store: ObjectStore, bucket: str, prefix: str, field_name: str, is_gone: RecordTest,
                  declared: str | None = None) -> Tally:
    """Matching records out of every object under the prefix and out of every earlier version that
    held them; returns records removed plus versions purged, and the objects it could not search."""
    tally = Tally()
    for key in list(list_keys(store, bucket, prefix)):
        fmt = format_of(key, declared)
        if fmt is None:
            tally.unsearched.append(_unsearched(key, "a format the project cannot search"))
            continue
        split = rewrite_without(store, bucket, key, fmt, field_name, is_gone)
        # Earlier versions still hold the records (also after an interrupted rewrite): purge them.
        stale, unreadable = stale_versions(store, bucket, key, fmt, field_name, is_gone)
        delete_versions(store, bucket, stale)
        tally.count += len(split.matched) + len(stale)
        tally.unsearched += ([_unsearched(key, split.unreadable)] if split.unreadable else []) + unreadable
    return tally
