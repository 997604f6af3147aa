"""Erasure and access on the example project, for real: warehouse, S3 with versions, the local
endpoint's own storage, the ledger — and an erasure killed mid-run, then resumed."""

import base64
import json

import boto3

from conftest import dfg_json, kill_when_logged, run_dfg
from dataflow_governance import load_project
from dataflow_governance.local import s3 as local_s3
from dataflow_governance.dagster_ext.parts import open_keyring, reach_of, scope_of
from dataflow_governance.crypto.hashing import keyed_hash
from dataflow_governance.ledger.chain import Ledger
from dataflow_governance import open_warehouse


def identifiers(project, subject_id: int) -> dict[str, str]:
    from assets import data

    email = next(r["email"] for r in data.registrations() if r["user_id"] == subject_id)
    return {"email": email, "pseudonym": keyed_hash(open_keyring(project).key("pseudonym"), subject_id)}


def remnants(project, subject_id: int) -> list[str]:
    """An independent search of every table, every object version and the endpoint's own files."""
    ids = identifiers(project, subject_id)
    found = []
    warehouse = open_warehouse(project)
    for schema, table in warehouse.fetch("SELECT table_schema, table_name FROM information_schema.tables"):
        if table == "governance_ledger":
            continue
        for column, kind in warehouse.columns(f"{schema}.{table}").items():
            text = f'CAST("{column}" AS TEXT)'
            rows = warehouse.fetch(f"SELECT count(*) FROM \"{schema}\".\"{table}\" WHERE {text} LIKE '%{ids['email']}%' "
                                   f"OR {text} = '{ids['pseudonym']}'")[0][0]
            if column == "user_id":
                rows += warehouse.fetch(f"SELECT count(*) FROM \"{schema}\".\"{table}\" WHERE {text} = '{subject_id}'")[0][0]
            if rows:
                found.append(f"{table}.{column}")
    endpoint = local_s3.ensure_running(project.state_dir)
    client = boto3.client("s3", endpoint_url=endpoint.url, region_name="eu-central-1",
                          aws_access_key_id="x", aws_secret_access_key="x")
    for bucket in client.list_buckets()["Buckets"]:
        versions = client.list_object_versions(Bucket=bucket["Name"])
        for item in versions.get("Versions", []):
            body = client.get_object(Bucket=bucket["Name"], Key=item["Key"], VersionId=item["VersionId"])["Body"].read()
            if ids["email"].encode() in body or f'"user_id": {subject_id},'.encode() in body \
                    or item["Key"].startswith(f"attachments/{subject_id}/"):
                found.append(f"s3://{bucket['Name']}/{item['Key']}")
    store_dir = project.state_dir / "s3"
    for path in store_dir.rglob("*"):
        if not path.is_file():
            continue
        raw = path.read_bytes()
        texts = [raw]
        if path.suffix == ".jsonl":
            texts += [base64.b64decode(json.loads(line)["body"]) for line in raw.splitlines()
                      if line.strip() and json.loads(line).get("body_encoded")]
        if any(ids["email"].encode() in t or f"attachments/{subject_id}/".encode() in t for t in texts):
            found.append(str(path.relative_to(project.state_dir)))
    return found


def test_erase_everywhere_with_holds_and_a_certificate(demo_copy):
    project = load_project(demo_copy)
    subject = 42
    assert remnants(project, subject)  # the search finds the subject before
    ledger = Ledger(open_warehouse(project))
    before = ledger.head().seq

    code, plan, _ = dfg_json("erase", "--subject-id", str(subject), "--dry-run", project=demo_copy)
    assert code == 0 and plan["status"] == "planned" and ledger.head().seq == before
    planned = {t["target"]: t for t in plan["targets"]}
    assert planned["users"]["count"] == 1 and planned["orders"]["action"] == "anonymize"
    assert planned["s3://deepwater-raw-eu/signups/"]["action"] == "rewrite"
    assert {t["system"] for t in plan["targets"]} >= {"warehouse", "s3", "processor"}

    held_before = open_warehouse(project).fetch("SELECT count(*) FROM orders WHERE user_id IS NULL")[0][0]
    code, result, err = dfg_json("erase", "--subject-id", str(subject), "--now", project=demo_copy)
    assert code == 0, err
    assert result["status"] == "verified" and all(t["verified"] for t in result["targets"]
                                                  if t["system"] != "processor" and t["action"] != "expire")
    # Telling a processor is an operator's step: outstanding, never shown as verified.
    assert all(t["outcome"] == "outstanding" and not t["verified"] for t in result["targets"] if t["system"] == "processor")
    # So is a backup that still holds the subject: the certificate says until when.
    [backup] = [t for t in result["targets"] if t["action"] == "expire"]
    assert (backup["target"], backup["outcome"], backup["verified"]) == ("warehouse_backups", "outstanding", False)
    assert any(step.startswith("backup warehouse_backups (s3://deepwater-backups-eu/warehouse/) still holds")
               and "35 days after they were written" in step for step in result["outstanding"])
    assert remnants(project, subject) == []
    held_after = open_warehouse(project).fetch("SELECT count(*) FROM orders WHERE user_id IS NULL")[0][0]
    assert held_after > held_before  # tax-held orders stay, without the person
    code, verified, _ = dfg_json("audit", "verify", project=demo_copy)
    assert code == 0 and verified["ok"]

    head = Ledger(open_warehouse(project)).head()
    code, again, _ = dfg_json("erase", "--subject-id", str(subject), "--now", project=demo_copy)
    assert code == 0 and again["status"] == "verified"
    assert Ledger(open_warehouse(project)).head().hash == head.hash  # a second run is a no-op
    # A rerun reports what it did (nothing came back: zeros) and refers to the original execution.
    assert all(t["count"] == 0 for t in again["targets"]) and again["reappeared"] == 0
    assert again["original"]["counts"]["users"] == 1
    # Erased bytes left the database file too, not only its query results.
    assert identifiers(project, subject)["email"].encode() not in project.warehouse_path.read_bytes()

    certificate = (project.output_dir / "erasures" / f"{result['subject']}.md").read_text()
    ids = identifiers(project, subject)
    assert result["subject"] in certificate and ids["email"] not in certificate and ids["pseudonym"] not in certificate
    assert f"attachments/{subject}/" not in json.dumps(result)

    code, out, err = run_dfg("access", "--subject-id", str(subject), project=demo_copy)
    assert code == 0 and "erased on" in out and "unknown" not in out + err  # erased: said so, with its certificate


def test_access_grace_cancel_and_unknown(demo_copy):
    project = load_project(demo_copy)
    subject = open_warehouse(project).fetch("SELECT min(user_id) FROM tickets")[0][0]  # one with tickets
    code, export, _ = dfg_json("access", "--subject-id", str(subject), project=demo_copy)
    assert code == 0 and export["subject"] == str(subject)
    assert export["assets"]["users"]["records"][0]["email"] == identifiers(project, subject)["email"]
    assert "users.user_id" in export["assets"]["users"]["lineage"]
    assert export["assets"]["ticket_features"]["lineage"][-1] == "← tickets_clean.user_pseudo_id"
    assert len(export["assets"]["tickets"]["records"]) == len(export["assets"]["tickets_clean"]["records"])

    code, pending, _ = dfg_json("erase", "--subject-id", str(subject), project=demo_copy)
    assert code == 0 and pending["status"] == "planned" and pending["due"]
    assert open_warehouse(project).fetch(f"SELECT count(*) FROM users WHERE user_id = {subject}")[0][0] == 1
    code, cancelled, _ = dfg_json("erase", "--subject-id", str(subject), "--cancel", project=demo_copy)
    assert code == 0 and cancelled["status"] == "cancelled"

    head = Ledger(open_warehouse(project)).head()
    code, _out, err = run_dfg("erase", "--subject-id", "no-such-customer", "--now", project=demo_copy)
    assert code == 2 and "unknown subject" in err and "Traceback" not in err
    assert Ledger(open_warehouse(project)).head().hash == head.hash


def test_killed_erasure_resumes_to_the_same_state(demo_copy):
    project = load_project(demo_copy)
    subject = 11
    # Kill the erasure the moment it rewrites the raw sign-ups, after the warehouse targets.
    killed = kill_when_logged(demo_copy, ["erase", "--subject-id", str(subject), "--now"],
                              b'"method":"PUT","url":"/deepwater-raw-eu/signups/')
    assert killed, "the erasure finished before it could be killed"
    done_before = [e for e in Ledger(open_warehouse(project)).entries() if e.action == "erasure.target_done"]
    assert done_before and not any(e.action == "erasure.executed" for e in Ledger(open_warehouse(project)).entries())
    assert Ledger(open_warehouse(project)).verify().ok

    code, result, err = dfg_json("erase", "--subject-id", str(subject), "--now", project=demo_copy)
    assert code == 0, err
    assert result["status"] == "verified" and remnants(project, subject) == []
    done = [e.details_dict()["target"] for e in Ledger(open_warehouse(project)).entries() if e.action == "erasure.target_done"]
    assert len(done) == len(set(done))  # no target was done twice
    assert Ledger(open_warehouse(project)).verify().ok


def test_dagster_erasure_job_and_sweep_asset(demo_copy):

    from assets.definitions import ALL_ASSETS
    from dataflow_governance.dagster_ext import governed_definitions

    project = load_project(demo_copy)
    defs = governed_definitions(project, ALL_ASSETS)
    job = defs.resolve_job_def("erase_subject_job")
    from dataflow_governance.subjects.queue import REQUESTS_TABLE, file_request

    request_id = file_request(open_warehouse(project), "5")
    result = job.execute_in_process(run_config={"ops": {"erase_subject": {"config": {"request_id": request_id, "now": True}}}})
    assert result.success
    assert "5" not in json.dumps(result.dagster_run.run_config).replace(request_id, "")  # run storage never holds the id
    assert open_warehouse(project).row_count(REQUESTS_TABLE) == 0  # the request is gone once carried out
    again = job.execute_in_process(run_config={"ops": {"erase_subject": {"config": {"request_id": request_id}}}},
                                   raise_on_error=False)
    assert not again.success
    output = result.output_for_node("erase_subject")
    assert output["status"] == "verified" and output["subject"] != "5"
    assert open_warehouse(project).fetch("SELECT count(*) FROM users WHERE user_id = 5")[0][0] == 0

    sweep = defs.resolve_job_def("retention_sweep_job").execute_in_process()
    event = sweep.get_asset_materialization_events()[0].event_specific_data.materialization
    assert event.metadata["affected"].value["analytics_events"] > 0
    assert event.metadata["ledger/head_hash"].value == Ledger(open_warehouse(project)).head().hash
    assert Ledger(open_warehouse(project)).verify().ok


def test_s3_unreachable_stops_cleanly_and_the_rerun_completes(demo_copy):
    project = load_project(demo_copy)
    head = Ledger(open_warehouse(project)).head()
    code, _out, err = run_dfg("erase", "--subject-id", "9", "--now", project=demo_copy,
                              env={"DFG_S3_ENDPOINT_URL": "http://127.0.0.1:9"})
    assert code == 2 and "unreachable" in err and "Traceback" not in err
    assert Ledger(open_warehouse(project)).head().hash == head.hash  # nothing was done, nothing recorded
    assert open_warehouse(project).fetch("SELECT count(*) FROM users WHERE user_id = 9")[0][0] == 1
    code, result, err = dfg_json("erase", "--subject-id", "9", "--now", project=demo_copy)
    assert code == 0 and result["status"] == "verified", err
    assert remnants(project, 9) == []


def test_one_rerun_finishes_an_erasure_whose_endpoint_replayed_its_log(demo_copy, monkeypatch):
    """The erasure dies just before the local endpoint compacts its log; the endpoint is then killed
    and restarts, and its log replay brings back the rewritten sign-up line and the deleted
    attachments. The first rerun must re-verify every target, redo the ones that fail and
    end verified."""
    import os
    import signal

    from dataflow_governance.cli.common import policy
    from dataflow_governance.dagster_ext.parts import object_store
    from dataflow_governance.subjects import erase
    from dataflow_governance.storage.objectstore import ObjectStore

    project = load_project(demo_copy)
    subject = 14
    ctx = policy(project)

    def crash(self):
        raise KeyboardInterrupt("killed before the endpoint compacted its log")

    monkeypatch.setattr(ObjectStore, "reclaim", crash)
    try:
        erase(reach_of(project, open_warehouse(project), object_store(project)),
              scope_of(project, dict(ctx.governance), ctx.graph), str(subject), immediately=True)
    except KeyboardInterrupt:
        pass
    monkeypatch.undo()
    os.kill(local_s3.read_endpoint(project.state_dir).pid, signal.SIGKILL)  # the endpoint dies too …
    (project.state_dir / "s3" / "endpoint.json").unlink(missing_ok=True)
    back = remnants(project, subject)  # … and its log replay brings the erased bodies back
    assert any("signups/" in r for r in back) and any("attachments/" in r for r in back), back

    code, result, err = dfg_json("erase", "--subject-id", str(subject), "--now", project=demo_copy)
    assert code == 0 and result["status"] == "verified", (err, [t for t in result["targets"] if not t["verified"]])
    assert remnants(project, subject) == []
