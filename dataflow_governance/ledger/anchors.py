"""Anchors of the ledger kept where the operator cannot quietly rewrite them.

A chain cut short, or rewritten with fresh hashes, is self-consistent: only a head recorded
elsewhere exposes it. The state folder's `anchors.jsonl` sits beside the database, so whoever
can truncate the ledger can usually edit it too. Two more places can't be:

- an S3 bucket with Object Lock: each anchor is an object written in compliance mode, which no
  one — the bucket's owner included — can delete or overwrite until its retention ends. The
  object's key carries the anchor (`<prefix><seq>-<hash>.json`), so reading the anchors back is a
  listing, not a read per anchor;
- the certificates handed out (an erasure's, an offboarding's): each carries the ledger head as
  it was when it was signed, and the subject or tenant keeps a copy.

`dfg audit verify` checks the chain against all of them.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

from dataflow_governance.errors import AnchorError, LedgerError
from dataflow_governance.ledger.chain import Anchor, utc_now
from dataflow_governance.storage.objectstore import ObjectStore, s3_errors

if TYPE_CHECKING:
    from dataflow_governance.model.manifest import AnchorsConfig, BucketConfig

_KEY = re.compile(r"(\d{12})-([0-9a-f]{64})\.json$")


class AnchorBucket:
    """An S3 bucket with Object Lock that anchors are written to; opened (and created, with Object
    Lock, if missing) at its first use, so a command that records no anchor never reaches S3."""

    def __init__(self, open_store: Callable[[], ObjectStore], bucket: str, settings: BucketConfig, prefix: str,
                 retain_days: int):
        self._open_store = open_store
        self.bucket, self.settings, self.prefix, self.retain_days = bucket, settings, prefix, retain_days
        self._store: ObjectStore | None = None

    @property
    def store(self) -> ObjectStore:
        if self._store is None:
            from dataflow_governance.storage.objectstore import ensure_buckets

            store = self._open_store()
            ensure_buckets(store, {self.bucket: self.settings})
            self._store = store
        return self._store

    def put(self, anchor: Anchor) -> None:
        until = datetime.now(UTC) + timedelta(days=self.retain_days)
        body = json.dumps({"seq": anchor.seq, "hash": anchor.hash, "recorded_at": anchor.recorded_at,
                           "source": anchor.source}, sort_keys=True).encode()
        with s3_errors(f"put a ledger anchor in s3://{self.bucket}/{self.prefix}", self.store):
            self.store.client().put_object(Bucket=self.bucket, Key=f"{self.prefix}{anchor.seq:012d}-{anchor.hash}.json",
                                           Body=body, ObjectLockMode="COMPLIANCE", ObjectLockRetainUntilDate=until)

    def load(self) -> list[Anchor]:
        found = []
        with s3_errors(f"list ledger anchors in s3://{self.bucket}/{self.prefix}", self.store):
            for page in self.store.client().get_paginator("list_object_versions").paginate(
                    Bucket=self.bucket, Prefix=self.prefix):
                for item in page.get("Versions", []):
                    match = _KEY.search(item["Key"])
                    if match:
                        found.append(Anchor(int(match.group(1)), match.group(2), source=f"s3://{self.bucket}"))
        return found


def certificate_anchors(output_dir: Path, extra: Sequence[Path] = ()) -> list[Anchor]:
    """The ledger heads certificates carry (each erasure's and offboarding's, and any given)."""
    paths = [*sorted(Path(output_dir).glob("erasures/*.json")), *sorted(Path(output_dir).glob("offboarding/*.json")),
             *map(Path, extra)]
    anchors = []
    for path in paths:
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            if path in extra:
                raise AnchorError(f"certificate {path} cannot be read as JSON") from None
            continue
        seq, head = data.get("ledger_seq"), data.get("ledger_head")
        if isinstance(seq, int) and isinstance(head, str) and re.fullmatch(r"[0-9a-f]{64}", head):
            anchors.append(Anchor(seq, head, source=f"certificate {path.name}"))
        elif path in extra:
            raise AnchorError(f"certificate {path} carries no ledger head with its sequence number")
    return anchors


def anchor_bucket(open_store: Callable[[], ObjectStore], config: AnchorsConfig | None,
                  buckets: Mapping[str, BucketConfig]) -> AnchorBucket | None:
    """The Object Lock anchor bucket `ledger.anchors` names, or None.

    Args:
        open_store: opens the S3 object store (called at the bucket's first use only).
        config: the manifest's `ledger.anchors` section.
        buckets: the manifest's buckets (the anchor bucket's settings are among them).
    """
    if config is None:
        return None
    from dataflow_governance.model.spec import parse_duration_days

    return AnchorBucket(open_store, config.bucket, buckets[config.bucket], config.prefix,
                        parse_duration_days(config.retain))


@dataclass(frozen=True)
class Anchors:
    """Every place a project anchors its ledger: the state folder's file, an Object Lock bucket (when
    configured), and the certificates in the output folder."""

    file: Path
    output: Path
    bucket: AnchorBucket | None = None

    def record(self, anchor: Anchor, source: str) -> Anchor:
        """The head a job leaves behind, in the state folder and (configured) the Object Lock bucket."""
        stamped = append_anchor(self.file, anchor, source)
        if self.bucket is not None and stamped.seq:
            self.bucket.put(stamped)
        return stamped

    def load(self, certificates: Sequence[Path] = ()) -> list[Anchor]:
        """Every anchor there is: the state folder's, the bucket's, the certificates' (and those given)."""
        return [*read_anchors(self.file), *(self.bucket.load() if self.bucket else []),
                *certificate_anchors(self.output, list(certificates))]


def append_anchor(path: Path, anchor: Anchor, source: str) -> Anchor:
    """Remember the head a job saw, so a later truncation or rewrite of the table shows."""
    if anchor.seq == 0:
        return anchor
    stamped = Anchor(anchor.seq, anchor.hash, anchor.recorded_at or utc_now(), source)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a") as handle:
        handle.write(json.dumps(asdict(stamped), sort_keys=True) + "\n")
    return stamped


def read_anchors(path: Path) -> list[Anchor]:
    if not path.exists():
        return []
    anchors = []
    for number, line in enumerate(path.read_text().splitlines(), start=1):
        if not line.strip():
            continue
        try:
            anchors.append(Anchor(**json.loads(line)))
        except (ValueError, TypeError):
            raise LedgerError(f"anchor file {path}, line {number}: not an anchor") from None
    return anchors


def record_anchor(state_dir: Path, anchor: Anchor, source: str) -> Anchor:
    """`append_anchor` to a state folder's anchors file."""
    return append_anchor(Path(state_dir) / "ledger" / "anchors.jsonl", anchor, source)


def load_anchors(state_dir: Path) -> list[Anchor]:
    """The anchors a state folder's anchors file holds."""
    return read_anchors(Path(state_dir) / "ledger" / "anchors.jsonl")
