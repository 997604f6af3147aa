"""The ledger and the catalog cannot be quietly edited: a cut-off ledger is caught without the state
folder (Object Lock anchors, the certificates handed out), PostgreSQL's disabled triggers are
reported, and a catalog edited into a blind spot is refused and rebuilt."""

import hashlib
import json
import shutil

import boto3
import pytest

from conftest import PG_DSN, dfg_json
from dataflow_governance import Ledger, Warehouse, load_project
from dataflow_governance.local import s3 as local_s3
from dataflow_governance import open_warehouse


def s3(project):
    endpoint = local_s3.ensure_running(project.state_dir)
    return boto3.client("s3", endpoint_url=endpoint.url, region_name="eu-central-1", aws_access_key_id="x",
                        aws_secret_access_key="x")


def test_a_cut_off_ledger_is_caught_by_object_lock_anchors_and_certificates_without_the_state_folder(demo_copy,
                                                                                                      tmp_path):
    project = load_project(demo_copy)
    code, result, err = dfg_json("erase", "--subject-id", "17", "--now", project=demo_copy)
    assert code == 0 and result["ledger_seq"], err
    kept = tmp_path / "subjects_copy.json"  # the certificate the subject was given
    shutil.copy(project.output_dir / "erasures" / f"{result['subject']}.json", kept)
    client = s3(project)
    versions = client.list_object_versions(Bucket="deepwater-audit-eu", Prefix="ledger-anchors/")["Versions"]
    assert any(v["Key"].endswith(f"{result['ledger_seq']:012d}-{result['ledger_head']}.json") for v in versions)
    locked = versions[0]
    with pytest.raises(client.exceptions.ClientError, match="AccessDenied"):  # compliance mode: nobody deletes it
        client.delete_object(Bucket="deepwater-audit-eu", Key=locked["Key"], VersionId=locked["VersionId"])

    # The operator cuts the tail off and removes every anchor they can reach.
    warehouse = open_warehouse(project)
    warehouse.execute(f"DELETE FROM governance_ledger WHERE seq >= {result['ledger_seq'] - 3}")
    (project.state_dir / "ledger" / "anchors.jsonl").unlink()
    shutil.rmtree(project.output_dir / "erasures")
    code, verified, _ = dfg_json("audit", "verify", project=demo_copy)
    assert code == 1 and verified["damage"] == "truncated" and "s3://deepwater-audit-eu" in verified["explanation"]

    # Even without the bucket's anchors, the subject's own copy of the certificate says so.
    manifest = demo_copy.read_text()
    assert "\nledger:\n  anchors: {bucket" in manifest
    demo_copy.write_text(manifest.replace("\nledger:\n  anchors: {bucket", "\n#ledger:\n#  anchors: {bucket"))
    code, verified, _ = dfg_json("audit", "verify", "--certificate", str(kept), project=demo_copy)
    assert code == 1 and verified["damage"] == "truncated" and "certificate" in verified["explanation"]
    code, verified, _ = dfg_json("audit", "verify", project=demo_copy)
    assert code == 0  # nothing left to compare with: exactly why anchors go where the operator cannot reach


def test_postgres_reports_disabled_triggers_and_an_owner_the_pipeline_writes_as(pg_schema):
    warehouse = Warehouse("postgres", dsn=PG_DSN, schema=pg_schema)
    ledger = Ledger(warehouse)
    ledger.append("test", "x.y", "thing:1")
    problems = ledger.guard_problems()
    assert [p["severity"] for p in problems] == ["warning"] and "can disable the ledger's triggers" in problems[0]["problem"]
    warehouse.execute(f'ALTER TABLE "{pg_schema}".governance_ledger DISABLE TRIGGER ledger_no_update')
    warehouse.execute(f'DELETE FROM "{pg_schema}".governance_ledger WHERE seq = 1')
    problems = ledger.guard_problems()
    assert any(p["severity"] == "error" and "ledger_no_update" in p["problem"] and "DISABLED" in p["problem"]
               for p in problems)


def test_postgres_audit_verify_fails_on_a_disabled_trigger(tmp_path, pg_schema):
    manifest = tmp_path / "dagster_project.yaml"
    manifest.write_text("project: audited\n")
    env = {"DFG_WAREHOUSE_DSN": PG_DSN, "DFG_WAREHOUSE_SCHEMA": pg_schema}
    Ledger(Warehouse("postgres", dsn=PG_DSN, schema=pg_schema)).append("test", "x.y", "thing:1")
    code, verified, _ = dfg_json("audit", "verify", project=manifest, env=env)
    assert code == 0 and verified["guard"][0]["severity"] == "warning"
    Warehouse("postgres", dsn=PG_DSN, schema=pg_schema).execute(
        f'ALTER TABLE "{pg_schema}".governance_ledger DISABLE TRIGGER ALL')
    code, verified, _ = dfg_json("audit", "verify", project=manifest, env=env)
    assert code == 1 and verified["chain_ok"] and any("DISABLED" in g["problem"] for g in verified["guard"])


def test_a_catalog_edited_into_a_blind_spot_is_refused_and_rebuilt(demo_copy):
    project = load_project(demo_copy)
    warehouse = open_warehouse(project)
    subject = warehouse.fetch("SELECT min(user_id) FROM email_campaign_sends")[0][0]
    path = project.state_dir / "catalog.json"
    data = json.loads(path.read_text())
    del data["assets"]["email_campaign_sends"]  # … and the plain checksum recomputed, as an attacker would
    body = {k: data.get(k) for k in ("processors", "tenancy", "landscape", "assets")}
    data["content_sha256"] = hashlib.sha256(json.dumps(body, sort_keys=True, separators=(",", ":")).encode()).hexdigest()
    path.write_text(json.dumps(data))

    code, status, _ = dfg_json("catalog", "status", project=demo_copy)
    assert code == 1 and not status["fresh"] and status["authentic"] is False
    code, ropa, err = dfg_json("ropa", project=demo_copy)
    assert "not authentic" in err and any(a["asset"] == "email_campaign_sends" for a in ropa["activities"])
    path.write_text(json.dumps(data))
    code, result, err = dfg_json("erase", "--subject-id", str(subject), "--now", project=demo_copy)
    assert code == 0 and "not authentic" in err and result["status"] == "verified"
    assert "email_campaign_sends" in {t["asset"] for t in result["targets"]}
    assert warehouse.fetch("SELECT count(*) FROM email_campaign_sends WHERE user_id = ?", [subject])[0][0] == 0
    code, status, _ = dfg_json("catalog", "status", project=demo_copy)
    assert code == 0 and status["fresh"] and status["authentic"]
