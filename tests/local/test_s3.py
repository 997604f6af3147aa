"""The local S3 endpoint: real HTTP through boto3, shared across processes, persistent across restarts."""

import subprocess
import sys

import pytest

from dataflow_governance.local import s3 as local_s3
from dataflow_governance.model.manifest import BucketConfig
from dataflow_governance.storage.objectstore import (
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


def _restart(state_dir) -> ObjectStore:
    assert local_s3.stop(state_dir)
    return open_store(state_dir)


def test_compaction_drops_deleted_versions_from_disk_and_keeps_the_rest(state_dir):
    store = open_store(state_dir)
    ensure_buckets(store, {"eu-data": BucketConfig(region="eu-central-1", versioned=True)})
    put_object(store, "eu-data", "keep.json", b"kept", metadata={"owner": "team_a"})
    version = put_object(store, "eu-data", "gone/42/file.txt", b"secret-of-42")
    store.client().delete_object(Bucket="eu-data", Key="gone/42/file.txt", VersionId=version)
    assert local_s3.compact(state_dir) == 1
    on_disk = b"".join(p.read_bytes() for p in (state_dir / "s3").rglob("*") if p.is_file())
    assert b"secret-of-42" not in on_disk and b"gone/42" not in on_disk
    store = _restart(state_dir)
    assert list(list_keys(store, "eu-data")) == ["keep.json"]
    assert store.client().head_object(Bucket="eu-data", Key="keep.json")["Metadata"] == {"owner": "team_a"}


def test_concurrent_compactions_and_writers_lose_nothing(state_dir):
    store = open_store(state_dir)
    ensure_buckets(store, {"bkt": BucketConfig(region="eu-central-1", versioned=True)})
    code = ("import sys; from pathlib import Path; from dataflow_governance import local_s3\n"
            "from dataflow_governance.objectstore import ObjectStore, put_object\n"
            "d = Path(sys.argv[1]); n = sys.argv[2]\n"
            "store = ObjectStore(local_s3.ensure_running(d).url, 'eu-central-1', local=True)\n"
            "for i in range(15):\n"
            "    put_object(store, 'bkt', f'w{n}/{i}', f'{n}:{i}'.encode())\n"
            "    if i % 5 == 4: local_s3.compact(d)\n")
    procs = [subprocess.Popen([sys.executable, "-c", code, str(state_dir), str(n)]) for n in range(4)]
    assert all(p.wait(timeout=300) == 0 for p in procs)
    store = _restart(state_dir)
    keys = sorted(list_keys(store, "bkt"))
    assert len(keys) == 60
    assert all(get_object(store, "bkt", k) == f"{k[1]}:{k.split('/')[1]}".encode() for k in keys)


def test_a_crash_between_snapshot_and_log_switch_resurrects_nothing(state_dir):
    store = open_store(state_dir)
    ensure_buckets(store, {"bkt": BucketConfig(region="eu-central-1", versioned=True)})
    put_object(store, "bkt", "attachments/7/a.txt", b"subject seven")
    old_log = (state_dir / "s3" / "wal-0.jsonl").read_bytes()
    for item in store.client().list_object_versions(Bucket="bkt")["Versions"]:
        store.client().delete_object(Bucket="bkt", Key=item["Key"], VersionId=item["VersionId"])
    local_s3.compact(state_dir)
    local_s3.stop(state_dir)
    # As if killed right after the new snapshot was renamed into place: the old log is still there,
    # and so is a half-written snapshot of a later compaction.
    (state_dir / "s3" / "wal-0.jsonl").write_bytes(old_log)
    (state_dir / "s3" / "snapshots" / "tmp-2-1" / "blobs").mkdir(parents=True)
    store = open_store(state_dir)
    assert store.client().list_object_versions(Bucket="bkt").get("Versions", []) == []
    assert not (state_dir / "s3" / "wal-0.jsonl").exists()
    assert not (state_dir / "s3" / "snapshots" / "tmp-2-1").exists()


def test_a_torn_last_log_line_is_dropped_and_damage_elsewhere_is_named(state_dir):
    store = open_store(state_dir)
    ensure_buckets(store, {"bkt": BucketConfig(region="eu-central-1")})
    put_object(store, "bkt", "one", b"1")
    local_s3.stop(state_dir)
    log = state_dir / "s3" / "wal-0.jsonl"
    whole = log.read_bytes()
    log.write_bytes(whole + b'{"method": "PUT", "url": "/bkt/two", "hea')  # killed mid-append
    store = open_store(state_dir)
    assert list(list_keys(store, "bkt")) == ["one"]
    assert log.read_bytes() == whole
    local_s3.stop(state_dir)
    log.write_bytes(b"garbage\n" + whole)
    with pytest.raises(local_s3.LocalS3Error, match="line 1 is unreadable"):
        local_s3.ensure_running(state_dir)


def test_store_files_are_private_and_keep_no_request_log(state_dir):
    store = open_store(state_dir)
    ensure_buckets(store, {"bkt": BucketConfig(region="eu-central-1")})
    put_object(store, "bkt", "attachments/99/x.txt", b"x")
    local_s3.compact(state_dir)
    for path in (state_dir / "s3").rglob("*"):
        assert path.stat().st_mode & 0o077 == 0, path
    assert b"attachments/99" not in (state_dir / "s3" / "server.log").read_bytes()


def test_without_motos_server_the_local_endpoint_names_the_extra_to_install(tmp_path, monkeypatch):
    """moto's server is the `local` extra: a production install without it gets a way forward,
    not an ImportError from a child process."""
    from dataflow_governance.errors import LocalS3Error

    monkeypatch.setitem(sys.modules, "moto", None)  # as if not installed
    with pytest.raises(LocalS3Error, match=r"dataflow-governance\[local\]") as err:
        local_s3.ensure_running(tmp_path)
    assert "endpoint_url" in str(err.value) and not (tmp_path / "s3").exists()
