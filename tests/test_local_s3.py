"""The local S3 endpoint: real HTTP through boto3, shared across processes, persistent across restarts."""

import subprocess
import sys

import pytest

from dataflow_governance import local_s3
from dataflow_governance.manifest import BucketConfig
from dataflow_governance.objectstore import (
    ObjectStore,
    ObjectStoreError,
    bucket_region,
    ensure_buckets,
    get_object,
    list_keys,
    put_object,
)


@pytest.fixture
def state_dir(tmp_path):
    yield tmp_path
    local_s3.stop(tmp_path)


def open_store(state_dir) -> ObjectStore:
    endpoint = local_s3.ensure_running(state_dir)
    assert endpoint.url.startswith("http://127.0.0.1:")
    return ObjectStore(endpoint_url=endpoint.url, region="eu-central-1", local=True)


def test_objects_and_regions_survive_a_restart(state_dir):
    store = open_store(state_dir)
    ensure_buckets(store, {"eu-data": BucketConfig(region="eu-central-1", versioned=True),
                           "us-data": BucketConfig(region="us-east-1")})
    put_object(store, "eu-data", "a/1.txt", b"one")
    put_object(store, "eu-data", "a/1.txt", b"one, second version")
    put_object(store, "eu-data", "a/2.txt", b"two")
    store.client().delete_object(Bucket="eu-data", Key="a/2.txt")

    assert local_s3.stop(state_dir)
    assert local_s3.read_endpoint(state_dir) is None
    store = open_store(state_dir)

    assert list(list_keys(store, "eu-data")) == ["a/1.txt"]
    assert get_object(store, "eu-data", "a/1.txt") == b"one, second version"
    versions = store.client().list_object_versions(Bucket="eu-data", Prefix="a/")
    assert len(versions.get("Versions", [])) == 3 and len(versions.get("DeleteMarkers", [])) == 1
    assert bucket_region(store, "eu-data") == "eu-central-1"
    assert bucket_region(store, "us-data") == "us-east-1"


def test_concurrent_starts_share_one_endpoint(state_dir):
    code = ("import sys; from pathlib import Path; from dataflow_governance import local_s3; "
            "print(local_s3.ensure_running(Path(sys.argv[1])).url)")
    procs = [subprocess.Popen([sys.executable, "-c", code, str(state_dir)], stdout=subprocess.PIPE, text=True)
             for _ in range(3)]
    urls = {p.communicate(timeout=120)[0].strip() for p in procs}
    assert len(urls) == 1 and urls.pop().startswith("http://127.0.0.1:")


def test_unreachable_endpoint_is_a_clear_error():
    store = ObjectStore(endpoint_url="http://127.0.0.1:9", region="eu-central-1", local=True)
    with pytest.raises(ObjectStoreError, match="put s3://b/k failed: endpoint http://127.0.0.1:9 unreachable"):
        put_object(store, "b", "k", b"x")


def test_missing_bucket_names_the_bucket(state_dir):
    store = open_store(state_dir)
    with pytest.raises(ObjectStoreError, match="get s3://no-such-bucket/k failed.*NoSuchBucket"):
        get_object(store, "no-such-bucket", "k")
