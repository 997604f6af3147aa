"""Erasure where data cannot be deleted: the example's order event log is never rewritten; erasing a
customer destroys their key, and the verification proves both halves."""

import json
import os
import subprocess
import sys

import boto3

from conftest import dfg_json
from dataflow_governance import load_project
from dataflow_governance.local import s3 as local_s3
from dataflow_governance.dagster_ext.parts import open_key_store
from dataflow_governance.crypto.fields import SHREDDED, key_id_of, unseal
from dataflow_governance import open_warehouse

BUCKET, PREFIX = "deepwater-raw-eu", "order-events/"

PROJECT_HISTORY = """
import sys
sys.path.insert(0, '.')
import dagster as dg
from assets.definitions import defs
from dataflow_governance.dagster_ext import project_resources
from resources import project

job = dg.define_asset_job('history', selection=dg.AssetSelection.assets('order_history')) \\
    .resolve(asset_graph=defs.resolve_asset_graph())
assert job.execute_in_process(resources=project_resources(project())).success
"""


def log_objects(client) -> dict[str, tuple[str, bytes]]:
    found = {}
    for item in client.list_objects_v2(Bucket=BUCKET, Prefix=PREFIX).get("Contents", []):
        got = client.get_object(Bucket=BUCKET, Key=item["Key"])
        found[item["Key"]] = (got["ETag"], got["Body"].read())
    return found


def events(objects) -> list[dict]:
    return [json.loads(line) for _etag, body in objects.values() for line in body.decode().splitlines()]


def test_erasing_a_customer_shreds_their_key_and_leaves_the_event_log_byte_for_byte(demo_copy):
    from assets import data

    project = load_project(demo_copy)
    warehouse = open_warehouse(project)
    endpoint = local_s3.ensure_running(project.state_dir)
    client = boto3.client("s3", endpoint_url=endpoint.url, region_name="eu-central-1",
                          aws_access_key_id="x", aws_secret_access_key="x")
    subject = next(u for (u,) in warehouse.fetch("SELECT DISTINCT user_id FROM orders WHERE user_id IS NOT NULL "
                                                 "ORDER BY 1"))
    email = next(r["email"] for r in data.registrations() if r["user_id"] == subject)
    store = open_key_store(project, warehouse)
    owner = store.subject_owner(subject)
    key_id = store.key_id_of(owner)
    before = log_objects(client)
    theirs = [e for e in events(before) if key_id_of(e["customer_id"]) == key_id]
    assert theirs and all(email not in body.decode() for _etag, body in before.values())  # sealed at rest
    wrapped = bytes(warehouse.fetch("SELECT wrapped FROM governance_subject_keys WHERE owner = ?", [owner])[0][0])
    assert warehouse.engine.files_contain(wrapped)  # the search finds a key that is there

    code, export, err = dfg_json("access", "--subject-id", str(subject), project=demo_copy)
    assert code == 0, err
    exported = export["assets"]["order_events"]["records"]
    assert len(exported) == len(theirs) and {e["email"] for e in exported if e["event"] == "OrderPlaced"} == {email}
    assert any(e.action == "fields.decrypted" and e.actor == "dfg:access" for e in
               __import__("dataflow_governance").Ledger(warehouse).entries())

    code, result, err = dfg_json("erase", "--subject-id", str(subject), "--now", project=demo_copy)
    assert code == 0, err
    assert result["status"] == "verified"
    shredded = next(t for t in result["targets"] if t["action"] == "shredded")
    assert shredded["count"] == len(theirs) and shredded["verified"]
    assert next(t for t in result["targets"] if t["system"] == "keys")["count"] == 1
    assert log_objects(client) == before  # not one byte of the log changed
    keys = open_key_store(project, warehouse).keys_by_id({key_id})
    assert all(unseal(keys, "order_events", field, e[field]) is SHREDDED for e in theirs
               for field in ("customer_id", "email", "amount") if field in e)
    others = [e for e in events(before) if key_id_of(e["customer_id"]) != key_id][:5]
    other_keys = open_key_store(project, warehouse).keys_by_id({key_id_of(e["customer_id"]) for e in others})
    assert all(unseal(other_keys, "order_events", "customer_id", e["customer_id"]) is not SHREDDED for e in others)
    assert not warehouse.engine.files_contain(wrapped)  # gone from the DuckDB file, not only from the table
    certificate = (project.output_dir / "erasures" / f"{result['subject']}.md").read_text()
    assert "Crypto-shredded" in certificate and f"{len(theirs)} record(s)" in certificate

    code, status, _ = dfg_json("keys", "status", project=demo_copy)
    # The shred retired the KEK that had wrapped the key: local:1 is gone, every live key is under local:2.
    assert code == 0 and status["shredded"] == 1 and status["live"] > 0 and status["kek"] == "local:2"
    assert not (project.state_dir / "keys" / "kek-1.bin").exists()
    code, rotated, err = dfg_json("keys", "rotate", project=demo_copy)  # the projection below opens with the new KEK
    assert code == 0 and rotated["rewrapped"] == status["live"] and rotated["retired"] == ["local:2"], err
    assert not (project.state_dir / "keys" / "kek-2.bin").exists()

    done = subprocess.run([sys.executable, "-c", PROJECT_HISTORY], cwd=demo_copy.parent, capture_output=True,
                          text=True, timeout=300, env={**os.environ, "DFG_PROJECT": str(demo_copy)})
    assert done.returncode == 0, done.stderr[-2000:]
    history = warehouse.fetch_df("SELECT * FROM order_history")
    placeholders = history[history["erased"]]
    assert len(placeholders) == len({e["order_id"] for e in theirs})  # their orders, as erased placeholders
    assert placeholders["customer_id"].isna().all() and placeholders["email"].isna().all()
    assert subject not in history["customer_id"].dropna().tolist() and email not in history["email"].dropna().tolist()

    code, again, _ = dfg_json("erase", "--subject-id", str(subject), "--now", project=demo_copy)
    assert code == 0 and again["status"] == "verified"  # the events left in place are no reason to reopen
