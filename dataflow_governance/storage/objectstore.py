"""S3 through boto3: clients, buckets with their regions, and errors that say what failed.

With no endpoint configured the project uses its local S3-compatible endpoint (see `local_s3`),
so everything works on a laptop; with an endpoint or none-and-real-credentials it is AWS S3,
MinIO or any S3-compatible store. Nothing here patches boto3: requests go over real HTTP.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from dataflow_governance.errors import ObjectStoreError
from dataflow_governance.local import s3 as local_s3

if TYPE_CHECKING:
    from dataflow_governance.model.manifest import BucketConfig

# The local endpoint accepts any credentials; fixed dummy ones keep real ones from being sent to it.
LOCAL_CREDENTIALS = {"aws_access_key_id": "dfg-local", "aws_secret_access_key": "dfg-local"}


@dataclass(frozen=True)
class ObjectStore:
    endpoint_url: str | None
    region: str
    local: bool = False
    state_dir: Path | None = None  # the local endpoint's, when `local`

    def client(self, region: str | None = None):
        """A boto3 client for this store (one per process and region: building one costs ~10 ms)."""
        return _client(self, region or self.region, os.getpid())

    def describe(self) -> str:
        return self.endpoint_url or f"AWS S3 ({self.region})"

    def reclaim(self) -> None:
        """After deletions: deleted bodies leave the store's own files. The local endpoint compacts
        its log (also what a killed run deleted); on S3 proper, deleting every version is the end."""
        if self.local:
            if self.state_dir is None:  # silently skipping would let a certificate say "verified" too early
                raise ObjectStoreError("a local store opened without its state dir cannot compact its log; "
                                       "open it with open_object_store")
            local_s3.compact(self.state_dir)


@functools.cache
def _client(store: ObjectStore, region: str, pid: int):
    """Clients are thread-safe but not fork-safe: the pid keeps a forked child from sharing its parent's."""
    options = dict(
        region_name=region,
        endpoint_url=store.endpoint_url,
        config=Config(retries={"max_attempts": 3, "mode": "standard"}, connect_timeout=5, read_timeout=60,
                      s3={"addressing_style": "path"} if store.endpoint_url else {}),
    )
    if store.local:
        options.update(LOCAL_CREDENTIALS)
    return boto3.client("s3", **options)


def open_object_store(endpoint_url: str | None, region: str, state_dir: Path, use_local: bool) -> ObjectStore:
    """The configured endpoint, or the project's local endpoint (started if needed) when none is set."""
    if endpoint_url or not use_local:
        return ObjectStore(endpoint_url=endpoint_url, region=region)
    endpoint = local_s3.ensure_running(state_dir)
    return ObjectStore(endpoint_url=endpoint.url, region=region, local=True, state_dir=Path(state_dir))


@contextmanager
def s3_errors(what: str, store: ObjectStore) -> Iterator[None]:
    """Turn botocore's exceptions into one clear ObjectStoreError naming the operation."""
    try:
        yield
    except ClientError as exc:
        code = exc.response.get("Error", {}).get("Code", "Error")
        raise ObjectStoreError(f"S3 {what} failed at {store.describe()}: {code}", code) from None
    except BotoCoreError as exc:
        raise ObjectStoreError(f"S3 {what} failed: endpoint {store.describe()} unreachable or refused ({type(exc).__name__})") from None


def split_s3_uri(uri: str) -> tuple[str, str]:
    """s3://bucket/key/or/prefix → (bucket, key or prefix)."""
    bucket, _, key = uri.removeprefix("s3://").partition("/")
    return bucket, key


def ensure_buckets(store: ObjectStore, buckets: Mapping[str, BucketConfig]) -> None:
    """Create each bucket in its declared region (and turn on versioning where declared)."""
    client = store.client()
    with s3_errors("list buckets", store):
        existing = {b["Name"] for b in client.list_buckets().get("Buckets", [])}
    for name, config in buckets.items():
        region = config.region
        if name not in existing:
            params: dict = {"Bucket": name}
            if region != "us-east-1":  # S3 rejects us-east-1 as an explicit LocationConstraint
                params["CreateBucketConfiguration"] = {"LocationConstraint": region}
            if getattr(config, "object_lock", False):
                params["ObjectLockEnabledForBucket"] = True  # (only at creation; it turns on versioning)
            with s3_errors(f"create bucket {name}", store):
                store.client(region).create_bucket(**params)
        if getattr(config, "versioned", False):
            with s3_errors(f"enable versioning on {name}", store):
                client.put_bucket_versioning(Bucket=name, VersioningConfiguration={"Status": "Enabled"})


def bucket_region(store: ObjectStore, bucket: str) -> str:
    with s3_errors(f"get location of bucket {bucket}", store):
        location = store.client().get_bucket_location(Bucket=bucket).get("LocationConstraint")
    return location or "us-east-1"


def list_keys(store: ObjectStore, bucket: str, prefix: str = "") -> Iterator[str]:
    paginator = store.client().get_paginator("list_objects_v2")
    with s3_errors(f"list s3://{bucket}/{prefix}", store):
        for page in paginator.paginate(Bucket=bucket, Prefix=prefix):
            for item in page.get("Contents", []):
                yield item["Key"]


def put_object(store: ObjectStore, bucket: str, key: str, body: bytes, metadata: Mapping[str, str] | None = None) -> str | None:
    """Write one object; returns its version id where the bucket is versioned."""
    extra = {"Metadata": dict(metadata)} if metadata else {}
    with s3_errors(f"put s3://{bucket}/{key}", store):
        return store.client().put_object(Bucket=bucket, Key=key, Body=body, **extra).get("VersionId")


def get_object(store: ObjectStore, bucket: str, key: str, version_id: str | None = None) -> bytes:
    extra = {"VersionId": version_id} if version_id else {}
    with s3_errors(f"get s3://{bucket}/{key}", store):
        return store.client().get_object(Bucket=bucket, Key=key, **extra)["Body"].read()


def head_object(store: ObjectStore, bucket: str, key: str) -> dict | None:
    """The object's head (VersionId, Metadata, …), or None when there is no such key."""
    try:
        with s3_errors(f"head s3://{bucket}/{key}", store):
            return store.client().head_object(Bucket=bucket, Key=key)
    except ObjectStoreError as exc:
        if exc.code in ("404", "NoSuchKey", "NotFound"):
            return None
        raise


def object_versions(store: ObjectStore, bucket: str, prefix: str) -> list[dict]:
    """Every object version and delete marker under the prefix (versioned buckets keep history)."""
    found = []
    with s3_errors(f"list versions of s3://{bucket}/{prefix}", store):
        for page in store.client().get_paginator("list_object_versions").paginate(Bucket=bucket, Prefix=prefix):
            for item in page.get("Versions", []) + page.get("DeleteMarkers", []):
                found.append({"Key": item["Key"], "VersionId": item.get("VersionId") or "null"})
    return found


def delete_versions(store: ObjectStore, bucket: str, versions: list[dict]) -> int:
    """Batched deletes, 1,000 keys a call (the S3 limit), every version and marker."""
    client = store.client()
    deleted = 0
    for start in range(0, len(versions), 1000):
        batch = versions[start:start + 1000]
        with s3_errors(f"delete {len(batch)} object versions in s3://{bucket}", store):
            response = client.delete_objects(Bucket=bucket, Delete={"Objects": batch, "Quiet": True})
        if response.get("Errors"):
            raise ObjectStoreError(f"S3 refused {len(response['Errors'])} deletes in bucket {bucket} at {store.describe()}")
        deleted += len(batch)
    return deleted


def purge_prefix(store: ObjectStore, bucket: str, prefix: str) -> int:
    """Every version and delete marker under the prefix; returns how many went (what a plan counts)."""
    versions = object_versions(store, bucket, prefix)
    return delete_versions(store, bucket, versions)
