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
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path

from dataflow_governance.errors import AnchorError
from dataflow_governance.ledger.chain import Anchor, load_anchors, record_anchor
from dataflow_governance.storage.objectstore import ObjectStore, s3_errors

_KEY = re.compile(r"(\d{12})-([0-9a-f]{64})\.json$")


@dataclass(frozen=True)
class AnchorBucket:
    store: ObjectStore
    bucket: str
    prefix: str
    retain_days: int

    def put(self, anchor: Anchor) -> None:
        until = datetime.now(timezone.utc) + timedelta(days=self.retain_days)
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


def certificate_anchors(output_dir: Path, extra: list[Path] = ()) -> list[Anchor]:
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


def anchor_bucket(project) -> AnchorBucket | None:
    """The project's Object Lock anchor bucket (`ledger.anchors`), or None."""
    config = project.ledger.anchors
    if config is None:
        return None
    from dataflow_governance.storage.objectstore import ensure_buckets, open_object_store
    from dataflow_governance.model.spec import parse_duration_days

    store = open_object_store(project.object_store.endpoint_url, project.object_store.region, project.state_dir, True)
    ensure_buckets(store, {config.bucket: project.buckets[config.bucket]})  # (created with Object Lock if missing)
    return AnchorBucket(store, config.bucket, config.prefix, parse_duration_days(config.retain))


def record_project_anchor(project, anchor: Anchor, source: str) -> Anchor:
    """The head a job leaves behind, in the state folder and (configured) the Object Lock bucket."""
    stamped = record_anchor(project.state_dir, anchor, source)
    bucket = anchor_bucket(project)
    if bucket is not None and stamped.seq:
        bucket.put(stamped)
    return stamped


def project_anchors(project, certificates: list[Path] = ()) -> list[Anchor]:
    """Every anchor the project has: the state folder's, the Object Lock bucket's, the certificates'."""
    bucket = anchor_bucket(project)
    return [*load_anchors(project.state_dir), *(bucket.load() if bucket else []),
            *certificate_anchors(project.output_dir, list(certificates))]
