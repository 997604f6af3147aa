"""Retention sweeps on DuckDB, PostgreSQL and Spark (real servers) and S3 with versioning."""

from datetime import datetime, timedelta

import pandas as pd
import pytest

from conftest import ENGINES, make_warehouse
from dataflow_governance import Warehouse, build_governance, load_project
from dataflow_governance.local import s3 as local_s3
from dataflow_governance.dagster_ext.parts import open_keyring, reach_of, scope_of
from dataflow_governance.crypto.hashing import keyed_hash
from dataflow_governance.ledger.chain import Ledger
from dataflow_governance.model.manifest import BucketConfig
from dataflow_governance.storage.objectstore import ObjectStore, ensure_buckets, put_object
from dataflow_governance.retention.sweep import run_sweep

NOW = datetime(2026, 11, 27, 12, 0, 0)
EVENTS = build_governance("events", {
    "legal_basis": "contract",
    "columns": {
        "event_id": {"type": "bigint"},
        "email": {"type": "varchar", "categories": ["user.contact.email"]},
        "kind": {"type": "varchar"},
        "ts": {"type": "timestamp"},
    },
    "retention": {
        "keep": "1 year", "action": "anonymize", "timestamp_column": "ts", "anonymize": {"email": "hash"},
        "legal_holds": [{"name": "invoices", "reason": "tax", "keep": "7 years", "where": "kind = 'invoice'",
                         "anonymize": {"email": "nullify"}}],
    },
})
PURGE = build_governance("purge", {
    "legal_basis": "contract",
    "columns": {"email": {"type": "varchar", "categories": ["user.contact.email"]}, "ts": {"type": "timestamp"}},
    "retention": {"keep": "2 years", "action": "delete", "timestamp_column": "ts"},
})


def frame(days: list[int], kinds: list[str]) -> pd.DataFrame:
    return pd.DataFrame({
        "event_id": range(len(days)),
        "email": [f"person{i}@example.com" for i in range(len(days))],
        "kind": kinds,
        "ts": [NOW - timedelta(days=d) for d in days],
    })


@pytest.fixture(params=ENGINES)
def setup(request, tmp_path):
    manifest = tmp_path / "dagster_project.yaml"
    manifest.write_text("project: sweep_test\n")
    project = load_project(manifest)
    return project, make_warehouse(request.param, request, tmp_path)


def test_anonymize_and_delete_with_a_legal_hold(setup):
    project, warehouse = setup
    days = [10, 200, 400, 500, 800, 1000, 3000]
    kinds = ["view", "view", "view", "invoice", "view", "invoice", "invoice"]
    warehouse.replace_table("events", frame(days, kinds))
    warehouse.replace_table("purge", frame(days, kinds)[["email", "ts"]])
    governance = {"events": EVENTS, "purge": PURGE}

    plan = run_sweep(reach_of(project, warehouse, None), scope_of(project, governance, None), dry_run=True, now=NOW)
    assert plan["assets"]["events"]["affected"] == 3  # views at 400 and 800 days, the invoice past its hold
    assert plan["assets"]["events"]["held"] == 2       # invoices at 500 and 1000 days (3000 is past 7 years)
    assert plan["assets"]["purge"]["affected"] == 3    # 800, 1000 and 3000 days
    assert warehouse.row_count("purge") == 7 and Ledger(warehouse).head().seq == 0

    result = run_sweep(reach_of(project, warehouse, None), scope_of(project, governance, None), now=NOW)
    assert result["assets"]["events"] == plan["assets"]["events"]
    rows = dict(warehouse.fetch("SELECT event_id, email FROM events ORDER BY event_id"))
    key = open_keyring(project).key("pseudonym")
    assert rows[0] == "person0@example.com" and rows[1] == "person1@example.com"  # within a year
    assert rows[2] == keyed_hash(key, "person2@example.com") and rows[4] == keyed_hash(key, "person4@example.com")
    assert rows[3] is None and rows[5] is None  # held invoices: kept, email gone
    assert rows[6] == keyed_hash(key, "person6@example.com")  # an invoice past its hold is just old data
    assert warehouse.row_count("purge") == 4

    again = run_sweep(reach_of(project, warehouse, None), scope_of(project, governance, None), now=NOW)
    assert again["assets"]["events"]["affected"] == 0 and again["assets"]["purge"]["affected"] == 0
    assert dict(warehouse.fetch("SELECT event_id, email FROM events ORDER BY event_id")) == rows  # no double hashing
    ledger = Ledger(warehouse)
    assert ledger.verify().ok
    assert [e.action for e in ledger.entries(action_prefix="sweep.")][:2] == ["sweep.intent", "sweep.asset_done"]


def test_interrupted_sweep_resumes_with_the_recorded_cutoffs(setup):
    project, warehouse = setup
    warehouse.replace_table("purge", frame([10, 1000, 3000], ["a", "b", "c"])[["email", "ts"]])
    warehouse.replace_table("events", frame([10], ["view"]))
    ledger = Ledger(warehouse)
    # An intent recorded by a sweep that died before doing anything, 500 days ago.
    ledger.append("dfg:sweep", "sweep.intent", "project:sweep_test",
                  {"now": (NOW - timedelta(days=500)).isoformat(), "items": []})
    result = run_sweep(reach_of(project, warehouse, None), scope_of(project, {"purge": PURGE, "events": EVENTS}, None),
                       now=NOW)
    assert result["resumed"] and result["assets"]["purge"]["affected"] == 1  # only 3000 days was past then
    assert warehouse.row_count("purge") == 2


@pytest.fixture
def s3_logs(tmp_path):
    """A project with the local endpoint and a versioned `logs` bucket; its sweep governance for app/."""
    manifest = tmp_path / "dagster_project.yaml"
    manifest.write_text("project: s3_sweep\n")
    project = load_project(manifest)
    store = ObjectStore(local_s3.ensure_running(project.state_dir).url, "eu-central-1", local=True,
                        state_dir=project.state_dir)
    ensure_buckets(store, {"logs": BucketConfig(region="eu-central-1", versioned=True)})
    gov = build_governance("logs", {"pii_free": True, "storage": {"kind": "s3", "bucket": "logs", "prefix": "app/"},
                                    "retention": {"keep": "30 days"}})
    yield project, store, gov, Warehouse(kind="duckdb", path=str(tmp_path / "w.duckdb"))
    local_s3.stop(project.state_dir)


def stored_bytes(project) -> bytes:
    return b"".join(p.read_bytes() for p in (project.state_dir / "s3").rglob("*") if p.is_file())


def test_s3_sweep_removes_versions_and_delete_markers(s3_logs):
    project, store, gov, warehouse = s3_logs
    for i in range(3):
        put_object(store, "logs", f"app/{i}.log", b"v1")
        put_object(store, "logs", f"app/{i}.log", b"v2")
    store.client().delete_object(Bucket="logs", Key="app/2.log")  # a delete marker
    put_object(store, "logs", "keep/x.log", b"other prefix")
    soon = run_sweep(reach_of(project, warehouse, store), scope_of(project, {"logs": gov}, None),
                     now=datetime.utcnow() + timedelta(days=10))
    assert soon["assets"]["logs"]["affected"] == 0
    later = run_sweep(reach_of(project, warehouse, store), scope_of(project, {"logs": gov}, None),
                      now=datetime.utcnow() + timedelta(days=40))
    assert later["assets"]["logs"]["affected"] == 3
    left = store.client().list_object_versions(Bucket="logs")
    assert [v["Key"] for v in left.get("Versions", [])] == ["keep/x.log"] and not left.get("DeleteMarkers")
    assert b"v1" not in stored_bytes(project)
    assert Ledger(warehouse).verify().ok


def test_s3_sweep_removes_old_versions_behind_a_recent_one(s3_logs):
    """A previous version holding an email is personal data past retention, whatever came after it."""
    import time

    project, store, gov, warehouse = s3_logs
    put_object(store, "logs", "app/a.log", b"old: jane@example.com")
    time.sleep(1.5)
    boundary = datetime.utcnow()
    time.sleep(1.5)
    put_object(store, "logs", "app/a.log", b"new: nothing personal")
    result = run_sweep(reach_of(project, warehouse, store), scope_of(project, {"logs": gov}, None),
                       now=boundary + timedelta(days=30))
    assert result["assets"]["logs"]["affected"] == 1
    versions = store.client().list_object_versions(Bucket="logs")["Versions"]
    assert len(versions) == 1 and versions[0]["Key"] == "app/a.log"
    assert store.client().get_object(Bucket="logs", Key="app/a.log")["Body"].read() == b"new: nothing personal"
    assert b"jane@" not in stored_bytes(project)


def test_a_declared_backup_expires_with_the_sweep_and_a_missing_place_is_a_problem(tmp_path):
    """Backups past their declared retention go, every version; other prefixes stay; a backup whose
    bucket is not there is a problem the sweep reports, the rest swept."""
    manifest = tmp_path / "dagster_project.yaml"
    manifest.write_text(
        "project: backups\n"
        "systems:\n"
        "  nightly: {kind: backup, zone: data, location: 's3://backups/wh/', retention: 7 days,\n"
        "            encryption: {at_rest: AES-256, key: separate}}\n"
        "  lost: {kind: backup, zone: data, location: 's3://no-such-bucket/x/', retention: 7 days}\n")
    project = load_project(manifest)
    store = ObjectStore(local_s3.ensure_running(project.state_dir).url, "eu-central-1", local=True,
                        state_dir=project.state_dir)
    try:
        ensure_buckets(store, {"backups": BucketConfig(region="eu-central-1", versioned=True)})
        put_object(store, "backups", "wh/2026-12-01.duckdb", b"users: jane@example.com")
        put_object(store, "backups", "wh/2026-12-01.duckdb", b"users: jane@example.com, joe@example.com")
        put_object(store, "backups", "other/keep.txt", b"not a backup of this system")
        warehouse = Warehouse(kind="duckdb", path=str(tmp_path / "w.duckdb"))
        scope = scope_of(project, {}, None)
        assert [b[0] for b in scope.backups] == ["lost", "nightly"]
        soon = run_sweep(reach_of(project, warehouse, store), scope, now=datetime.utcnow() + timedelta(days=3))
        assert soon["assets"]["backup:nightly"]["affected"] == 0
        later = run_sweep(reach_of(project, warehouse, store), scope, now=datetime.utcnow() + timedelta(days=8))
        assert later["assets"]["backup:nightly"]["affected"] == 1
        assert "no-such-bucket" in later["assets"]["backup:lost"]["problem"] and later["problems"]
        left = store.client().list_object_versions(Bucket="backups")
        assert [v["Key"] for v in left.get("Versions", [])] == ["other/keep.txt"]
        assert b"jane@" not in stored_bytes(project)
    finally:
        local_s3.stop(project.state_dir)
