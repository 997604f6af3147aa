"""Erasure under attack and accident: parallel runs, hostile ids and config, late data, typed ids,
key templates — each a case that once certified what did not happen."""

import subprocess
from datetime import datetime, timedelta, timezone
import sys
import os

import boto3
import pytest

from conftest import PG_DSN, copy_demo, dfg_json, run_dfg
from dataflow_governance import load_project
from dataflow_governance.local import s3 as local_s3
from dataflow_governance.catalog.artifact import read
from dataflow_governance.dagster_ext.parts import reach_of, scope_of
from dataflow_governance.subjects import erase
from dataflow_governance.model.spec import table_of
from dataflow_governance.ledger.chain import Ledger
from dataflow_governance.model.spec import GovernanceError, build_governance
from test_erasure import identifiers, remnants
from dataflow_governance import open_warehouse


def s3_client(project):
    endpoint = local_s3.ensure_running(project.state_dir)
    return boto3.client("s3", endpoint_url=endpoint.url, region_name="eu-central-1",
                        aws_access_key_id="x", aws_secret_access_key="x")


def final_state(manifest) -> dict:
    """Every row of every data table and the body of every current object, for byte comparison.

    Aggregates are left out: an erasure rebuilds them from what is there at that moment, so whether
    a sweep ran before or after is visible in them by design."""
    project = load_project(manifest)
    warehouse = open_warehouse(project)
    aggregates = {table_of(asset, gov) for asset, gov in read(project.paths.catalog).governance.items()
                  if gov.pii_free and gov.anonymization}
    state = {}
    for schema, table in warehouse.fetch("SELECT table_schema, table_name FROM information_schema.tables ORDER BY 1, 2"):
        if not table.startswith("governance_") and table not in aggregates:
            state[f"{schema}.{table}"] = sorted(map(repr, warehouse.fetch(f'SELECT * FROM "{schema}"."{table}"')))
    client = s3_client(project)
    for bucket in client.list_buckets()["Buckets"]:
        if bucket["Name"] == project.ledger.anchors.bucket:
            continue  # ledger anchors: heads of two different ledgers
        for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket["Name"]):
            for item in page.get("Contents", []):
                if "datasets/" not in item["Key"]:  # dataset snapshots are content-addressed, checked by digest
                    state[f"s3://{bucket['Name']}/{item['Key']}"] = client.get_object(
                        Bucket=bucket["Name"], Key=item["Key"])["Body"].read()
    return state


def test_parallel_erasures_and_a_sweep_equal_the_same_work_done_one_by_one(demo_project, tmp_path):
    subjects = ["21", "22", "23", "24"]
    serial, parallel = copy_demo(demo_project, tmp_path / "serial"), copy_demo(demo_project, tmp_path / "parallel")
    # Both sweeps cut off at the same moment: a row whose age crosses its retention between the two
    # runs would otherwise differ by the clock, not by the concurrency under test.
    as_of = (datetime.now(timezone.utc) - timedelta(minutes=1)).strftime("%Y-%m-%dT%H:%M:%S")
    try:
        for subject in subjects:
            code, _out, err = run_dfg("erase", "--subject-id", subject, "--now", project=serial)
            assert code == 0, err
        assert run_dfg("sweep", "--as-of", as_of, project=serial)[0] == 0
        env = {k: v for k, v in os.environ.items() if k != "DFG_PROJECT"}
        base = [sys.executable, "-m", "dataflow_governance.cli", "--project", str(parallel)]
        procs = [subprocess.Popen(base + ["erase", "--subject-id", s, "--now"], env=env, text=True,
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE) for s in subjects]
        procs.append(subprocess.Popen(base + ["sweep", "--as-of", as_of], env=env, text=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE))
        outcomes = [(p.wait(timeout=600), p.stdout.read(), p.stderr.read()) for p in procs]
        assert [code for code, _o, _e in outcomes] == [0] * 5, [e[-1500:] for _c, _o, e in outcomes]
        assert any("waiting for" in err for _c, _o, err in outcomes)  # they were serialized, and said so
        assert final_state(parallel) == final_state(serial)
        project = load_project(parallel)
        for subject in subjects:
            assert remnants(project, int(subject)) == []
        assert Ledger(open_warehouse(project)).verify().ok
        local_s3.stop(project.state_dir)
        assert final_state(parallel) == final_state(serial)  # and the store restarts to the same state
    finally:
        for manifest in (serial, parallel):
            local_s3.stop(load_project(manifest).state_dir)


def test_data_that_comes_back_is_erased_by_the_rerun_and_by_every_sweep(demo_copy):
    project = load_project(demo_copy)
    warehouse = open_warehouse(project)
    code, first, err = dfg_json("erase", "--subject-id", "42", "--now", project=demo_copy)
    assert code == 0 and first["status"] == "verified", err
    ids = identifiers(project, 42)
    # A late event: a ticket of the erased subject arrives after the erasure.
    warehouse.execute("INSERT INTO tickets SELECT ticket_id + 100000, 42, ?, 'late', 'late body', created_at "
                      "FROM tickets LIMIT 1", [ids["email"]])
    code, rerun, err = dfg_json("erase", "--subject-id", "42", "--now", project=demo_copy)
    assert code == 0 and rerun["status"] == "verified" and rerun["reappeared"] == 1, err
    assert {t["target"]: t["count"] for t in rerun["targets"]}["tickets"] == 1
    assert rerun["original"]["counts"]["tickets"] == first_count(first, "tickets")
    assert any(e.action == "erasure.reopened" for e in Ledger(warehouse).entries())
    assert remnants(project, 42) == []

    # Again, and this time nobody asks: the nightly sweep applies the suppression list.
    warehouse.execute("INSERT INTO email_campaign_sends VALUES (42, ?, 'late', now())", [ids["email"]])
    warehouse.execute("INSERT INTO tickets_clean SELECT ticket_id + 200000, ?, 'late', 'billing', created_at "
                      "FROM tickets_clean LIMIT 1", [ids["pseudonym"]])
    client = s3_client(project)
    key = client.list_objects_v2(Bucket="deepwater-raw-eu", Prefix="signups/")["Contents"][0]["Key"]
    body = client.get_object(Bucket="deepwater-raw-eu", Key=key)["Body"].read()
    client.put_object(Bucket="deepwater-raw-eu", Key=key, Body=body + b'{"user_id": 42.0, "email": "late"}\n')
    # A restored attachment: the folder is found among object versions, even once deleted.
    client.put_object(Bucket="deepwater-support-eu", Key="attachments/42/restored.pdf", Body=b"scan")
    client.delete_object(Bucket="deepwater-support-eu", Key="attachments/42/restored.pdf")
    code, sweep, err = dfg_json("sweep", project=demo_copy)
    assert code == 0, err
    # The late JSON line, and the object version that held it (a version is a copy too).
    # (Counts of a subject's folder are object versions: the restored object's version and its delete marker.)
    assert sweep["suppressed"] == {"email_campaign_sends": 1, "tickets_clean": 1, "signup_events": 2,
                                   "support_attachments": 2}
    assert not client.list_object_versions(Bucket="deepwater-support-eu", Prefix="attachments/42/").get("Versions")
    assert remnants(project, 42) == []
    assert b'"user_id": 42.0' not in client.get_object(Bucket="deepwater-raw-eu", Key=key)["Body"].read()
    code, _sweep, _ = dfg_json("sweep", project=demo_copy)
    assert _sweep["suppressed"] == {}


def first_count(result, target):
    return {t["target"]: t["count"] for t in result["targets"]}[target]


def test_ids_stored_as_doubles_or_json_floats_are_found_and_verified(demo_copy):
    project = load_project(demo_copy)
    warehouse = open_warehouse(project)
    warehouse.execute('ALTER TABLE email_campaign_sends ALTER COLUMN user_id TYPE DOUBLE')
    sends = warehouse.fetch("SELECT count(*) FROM email_campaign_sends WHERE user_id = 8")[0][0]
    code, plan, _ = dfg_json("erase", "--subject-id", "8", "--dry-run", project=demo_copy)
    assert first_count(plan, "email_campaign_sends") == sends > 0
    code, result, err = dfg_json("erase", "--subject-id", "8.0", "--now", project=demo_copy)
    assert code == 0 and result["status"] == "verified", err
    assert warehouse.fetch("SELECT count(*) FROM email_campaign_sends WHERE user_id = 8")[0][0] == 0
    assert remnants(project, 8) == []


def test_a_subject_prefix_reaches_only_that_subjects_folder(demo_copy):
    project = load_project(demo_copy)
    client = s3_client(project)
    for folder in ("3", "34", "305"):
        client.put_object(Bucket="deepwater-support-eu", Key=f"attachments/{folder}/note.txt", Body=b"x")
    code, _result, err = dfg_json("erase", "--subject-id", "3", "--now", project=demo_copy)
    assert code == 0, err
    left = {o["Key"] for o in client.list_objects_v2(Bucket="deepwater-support-eu", Prefix="attachments/")["Contents"]}
    assert "attachments/34/note.txt" in left and "attachments/305/note.txt" in left
    assert not any(k.startswith("attachments/3/") for k in left)
    with pytest.raises(GovernanceError, match="delimiter"):
        build_governance("a", {"storage": {"kind": "s3", "bucket": "b"}, "subject_prefix": "attachments/{subject_id}"})


@pytest.mark.parametrize("args, message", [
    (["--grace-days", "-1"], "grace days"),
    (["--grace-days", "999999999"], "grace days"),
])
def test_grace_days_are_bounded(demo_copy, args, message):
    code, _out, err = run_dfg("erase", "--subject-id", "5", *args, project=demo_copy)
    assert code == 2 and message in err and "Traceback" not in err


def test_empty_or_none_ids_match_no_record_with_a_null_id(demo_copy):
    project = load_project(demo_copy)
    client = s3_client(project)
    key = client.list_objects_v2(Bucket="deepwater-raw-eu", Prefix="signups/")["Contents"][0]["Key"]
    body = client.get_object(Bucket="deepwater-raw-eu", Key=key)["Body"].read() + b'{"user_id": null}\n{"email": "x"}\n'
    client.put_object(Bucket="deepwater-raw-eu", Key=key, Body=body)
    code, _out, err = run_dfg("erase", "--subject-id", "", "--now", project=demo_copy)
    assert code == 2 and "empty" in err
    code, _out, err = run_dfg("erase", "--subject-id", "None", "--now", project=demo_copy)
    assert code == 2 and "unknown subject" in err
    assert client.get_object(Bucket="deepwater-raw-eu", Key=key)["Body"].read() == body


def test_a_hostile_schema_setting_is_refused_before_any_sql(demo_copy):
    project = load_project(demo_copy)
    users = open_warehouse(project).row_count("users")
    code, _out, err = run_dfg("check", project=demo_copy,
                              env={"DFG_WAREHOUSE_SCHEMA": "main'; DROP TABLE main.users; --"})
    assert code == 2 and "schema" in err and "Traceback" not in err
    assert open_warehouse(project).row_count("users") == users


def test_postgres_hostile_subject_id_erases_nobody(tmp_path, pg_schema, monkeypatch):
    """With standard_conforming_strings off, a backslash escapes a quote inside a literal: a value
    pasted into SQL text would close its string. Bound values cannot."""
    import pandas as pd
    from conftest import copy_project

    dsn = PG_DSN + ("&" if "?" in PG_DSN else "?") + "options=-c%20standard_conforming_strings%3Doff"
    monkeypatch.setenv("DFG_WAREHOUSE_DSN", dsn)
    monkeypatch.setenv("DFG_WAREHOUSE_SCHEMA", pg_schema)
    project = load_project(copy_project(tmp_path / "pg"))
    warehouse = open_warehouse(project)
    assert warehouse.fetch("SHOW standard_conforming_strings")[0][0] == "off"
    warehouse.replace_table("users", pd.DataFrame({"user_id": ["1", "2", "3"], "email": ["a@x.io", "b@x.io", "c@x.io"],
                                                   "created_at": pd.to_datetime(["2026-01-01"] * 3)}))
    governance = {"users": project.governance["users"]}
    hostile = "\\' OR 1=1 --"
    from dataflow_governance.subjects import ErasureError, access_export

    with pytest.raises(ErasureError, match="unknown subject"):
        erase(reach_of(project, warehouse), scope_of(project, governance, None), hostile, immediately=True)
    with pytest.raises(ErasureError, match="unknown subject"):
        access_export(reach_of(project, warehouse), scope_of(project, governance, None), hostile)
    assert warehouse.row_count("users") == 3
    result = erase(reach_of(project, warehouse), scope_of(project, governance, None), "2", immediately=True,
                   vacuum_full=True)
    assert result.status == "verified" and warehouse.row_count("users") == 2
    assert "VACUUM FULL of users" in " ".join(result.storage["done"])
    assert any("WAL" in line for line in result.storage["operator"])
