"""Free text inside shared objects on S3, rewritten in place: a subject's mentions in other
people's records (a JSON-lines field, a text attachment) replaced by `[erased]`, the records kept.

Like the records' rewrite (`object_records`), each object is rewritten conditionally on the version
read (If-Match), so a writer in between is never overwritten, and earlier versions that still
mention the subject are purged. An object in a format whose text cannot be rewritten here (CSV,
Parquet, anything else) or that cannot be read whole is listed as unsearched, never verified.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor

from dataflow_governance.storage.object_records import REWRITE_ATTEMPTS, Tally, format_of, get_body
from dataflow_governance.storage.objectstore import ObjectStore, ObjectStoreError, delete_versions, list_keys, s3_errors

Redact = Callable[[str], tuple[str, int]]  # a text → the text with the mentions replaced, and how many
_TEXT_SUFFIXES = (".txt", ".log", ".text", ".md")
# Objects read (and rewritten) four at a time: S3 answers each request slowly; the client is thread-safe.
_READERS = 4


def text_format(key: str, declared: str | None = None) -> str | None:
    """jsonl or text, by the key's suffix or the asset's declared format; None for anything else."""
    if key.lower().endswith(_TEXT_SUFFIXES):
        return "text"
    fmt = format_of(key, declared)
    return fmt if fmt in ("jsonl", "text") else None


def _redact_value(value: object, redact: Redact) -> tuple[object, int]:
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, list):
        done = [_redact_value(v, redact) for v in value]
        return [v for v, _n in done], sum(n for _v, n in done)
    if isinstance(value, dict):
        pairs = {k: _redact_value(v, redact) for k, v in value.items()}
        return {k: v for k, (v, _n) in pairs.items()}, sum(n for _v, n in pairs.values())
    return value, 0


def redact_body(fmt: str, body: bytes, fields: tuple[str, ...] | None, redact: Redact) -> tuple[bytes, int, str | None]:
    """(new body, records changed, why part of it could not be read). `fields`: the JSON fields
    holding free text; None: every text value (a whole text object, every string of a record)."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        return body, 0, "not UTF-8 text"
    if fmt == "text":
        new, found = redact(text)
        return (new.encode() if found else body), (1 if found else 0), None
    lines, changed, bad = [], 0, 0
    for line in text.splitlines():
        try:
            record = json.loads(line) if line.strip() else None
        except json.JSONDecodeError:
            bad += 1
            lines.append(line)
            continue
        if not isinstance(record, dict):
            lines.append(line)
            continue
        hits = 0
        for name in (fields if fields is not None else tuple(record)):
            if name in record:
                record[name], n = _redact_value(record[name], redact)
                hits += n
        if hits:
            changed += 1
            lines.append(json.dumps(record, ensure_ascii=False))
        else:
            lines.append(line)  # (a record that does not mention them stays byte for byte)
    new_body = "".join(line + "\n" for line in lines).encode() if changed else body
    return new_body, changed, f"{bad} line(s) are not JSON" if bad else None


def _mentions(store: ObjectStore, bucket: str, key: str, fmt: str, fields: tuple[str, ...] | None, redact: Redact,
              version: str | None = None) -> tuple[int, str | None]:
    body, _etag = get_body(store, bucket, key, version)
    _new, changed, unreadable = redact_body(fmt, body, fields, redact)
    return changed, unreadable


def _earlier_versions(store: ObjectStore, bucket: str, prefix: str) -> dict[str, list[str]]:
    """key → the ids of its noncurrent versions, from one paginated listing of the whole prefix."""
    found: dict[str, list[str]] = {}
    with s3_errors(f"list versions of s3://{bucket}/{prefix}", store):
        for page in store.client().get_paginator("list_object_versions").paginate(Bucket=bucket, Prefix=prefix):
            for item in page.get("Versions", []):
                if not item.get("IsLatest") and item.get("VersionId") not in (None, "null"):
                    found.setdefault(item["Key"], []).append(item["VersionId"])
    return found


def _stale(store: ObjectStore, bucket: str, key: str, fmt: str, fields: tuple[str, ...] | None, redact: Redact,
           earlier: list[str]) -> tuple[list[dict], list[str]]:
    """Earlier versions of `key` that mention the subject; versions that could not be read."""
    stale, unreadable = [], []
    for version in earlier:
        changed, why = _mentions(store, bucket, key, fmt, fields, redact, version)
        if changed:
            stale.append({"Key": key, "VersionId": version})
        elif why:
            unreadable.append(f"{key} (an earlier version: {why})")
    return stale, unreadable


def _walk(store: ObjectStore, bucket: str, prefix: str, declared: str | None, tally: Tally) -> Iterable[tuple[str, str]]:
    for key in list(list_keys(store, bucket, prefix)):
        fmt = text_format(key, declared)
        if fmt is None:
            tally.unsearched.append(f"{key} (a format whose text the project cannot rewrite)")
            continue
        yield key, fmt


def count_mentions(store: ObjectStore, bucket: str, prefix: str, fields: tuple[str, ...] | None,
                   redact: Redact, declared: str | None = None) -> Tally:
    """Records (or text objects) mentioning the subject now, plus earlier versions that do."""
    tally = Tally()
    earlier = _earlier_versions(store, bucket, prefix)

    def search(item: tuple[str, str]) -> tuple[int, list[dict], list[str]]:
        key, fmt = item
        changed, why = _mentions(store, bucket, key, fmt, fields, redact)
        stale, unreadable = _stale(store, bucket, key, fmt, fields, redact, earlier.get(key, []))
        return changed, stale, ([f"{key} ({why})"] if why else []) + unreadable

    with ThreadPoolExecutor(max_workers=_READERS) as pool:
        for changed, stale, unsearched in pool.map(search, list(_walk(store, bucket, prefix, declared, tally))):
            tally.count += changed + len(stale)
            tally.unsearched += unsearched
    return tally


def redact_mentions(store: ObjectStore, bucket: str, prefix: str, fields: tuple[str, ...] | None,
                    redact: Redact, declared: str | None = None) -> Tally:
    """Rewrite every object under the prefix with the mentions redacted; purge earlier versions
    that still mention the subject. Returns records changed plus versions purged."""
    tally = Tally()
    items = list(_walk(store, bucket, prefix, declared, tally))
    with ThreadPoolExecutor(max_workers=_READERS) as pool:
        rewritten = list(pool.map(lambda item: _rewrite(store, bucket, item[0], item[1], fields, redact), items))
        earlier = _earlier_versions(store, bucket, prefix)  # (after the rewrites: the versions they replaced too)
        stales = list(pool.map(lambda item: _stale(store, bucket, item[0], item[1], fields, redact,
                                                   earlier.get(item[0], [])), items))
    stale_all: list[dict] = []
    for (key, _fmt), (changed, why), (stale, unreadable) in zip(items, rewritten, stales):
        stale_all += stale
        tally.count += changed + len(stale)
        tally.unsearched += ([f"{key} ({why})"] if why else []) + unreadable
    delete_versions(store, bucket, stale_all)
    return tally


def _rewrite(store: ObjectStore, bucket: str, key: str, fmt: str, fields: tuple[str, ...] | None,
             redact: Redact) -> tuple[int, str | None]:
    for _attempt in range(REWRITE_ATTEMPTS):
        body, etag = get_body(store, bucket, key)
        new, changed, why = redact_body(fmt, body, fields, redact)
        if not changed:
            return 0, why
        try:
            with s3_errors(f"rewrite s3://{bucket}/{key}", store):
                store.client().put_object(Bucket=bucket, Key=key, IfMatch=etag, Body=new)
            return changed, why
        except ObjectStoreError as exc:  # only a lost race is retried
            if exc.code not in ("PreconditionFailed", "412", "ConditionalRequestConflict"):
                raise
    raise ObjectStoreError(f"s3://{bucket}/{key} kept changing while it was rewritten ({REWRITE_ATTEMPTS} attempts); "
                           "run again", "Conflict")


def texts(store: ObjectStore, bucket: str, prefix: str, fields: tuple[str, ...] | None,
          declared: str | None = None) -> tuple[list[tuple[str, str]], list[str]]:
    """The free text under the prefix, with where it is (`key` or `key: field`), for an access export;
    and the objects that could not be read."""
    unsearched_tally = Tally()
    found: list[tuple[str, str]] = []
    for key, fmt in _walk(store, bucket, prefix, declared, unsearched_tally):
        body, _etag = get_body(store, bucket, key)
        try:
            text = body.decode("utf-8")
        except UnicodeDecodeError:
            unsearched_tally.unsearched.append(f"{key} (not UTF-8 text)")
            continue
        if fmt == "text":
            found.append((key, text))
            continue
        for line in text.splitlines():
            try:
                record = json.loads(line) if line.strip() else None
            except json.JSONDecodeError:
                continue
            if isinstance(record, dict):
                found += [(f"{key}: {name}", value) for name, value in record.items()
                          if isinstance(value, str) and (fields is None or name in fields)]
    return found, unsearched_tally.unsearched
