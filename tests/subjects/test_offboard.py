"""Offboarding a tenant: every strategy's data of the tenant gone (rows, its schema, every version of
its objects), legal holds kept, other tenants untouched; ledgered, resumable, verified, certified."""

from datetime import datetime, timedelta, timezone

import boto3
import pandas as pd
import pytest

from conftest import PG_DSN, copy_project, dfg_json, kill_when_logged, run_dfg
from dataflow_governance import load_project
from dataflow_governance.local import s3 as local_s3
from dataflow_governance.dagster_ext.parts import keyring_of, reach_of, scope_of
from dataflow_governance.subjects.offboard import offboard, tenant_hash
from dataflow_governance.ledger.erasures import suppression_list
from dataflow_governance.ledger.chain import Ledger
from dataflow_governance import open_warehouse

US_BUCKET = "deepwater-bi-us"


def s3_client(project):
    endpoint = local_s3.ensure_running(project.state_dir)
    return boto3.client("s3", endpoint_url=endpoint.url, region_name="us-east-1",
                        aws_access_key_id="x", aws_secret_access_key="x")


def tenant_rows(warehouse) -> dict[str, dict[int, int]]:
    """Rows per tenant of every row-strategy table of the example."""
    return {table: dict(warehouse.fetch(f"SELECT workspace_id, count(*) FROM {table} GROUP BY 1"))
            for table in ("workspaces", "workspace_documents", "workspace_invoices")}


def versions_under(client, prefix: str) -> list[str]:
    listed = client.list_object_versions(Bucket=US_BUCKET, Prefix=prefix)
    return [v["Key"] for v in listed.get("Versions", []) + listed.get("DeleteMarkers", [])]


def test_offboarding_the_eu_tenant_takes_its_rows_and_schema_keeps_held_invoices_and_spares_the_other(demo_copy):
    from assets import data

    project = load_project(demo_copy)
    warehouse = open_warehouse(project)
    before = tenant_rows(warehouse)
    assert before["workspace_documents"][1] and warehouse.schema_exists("ws_1")
    head = Ledger(warehouse).head().hash

    code, plan, err = dfg_json("tenant", "offboard", "--tenant", "1", "--dry-run", project=demo_copy)
    assert code == 0, err
    actions = {t["target"]: (t["action"], t["count"]) for t in plan["targets"]}
    assert actions["workspace_documents"] == ("delete", before["workspace_documents"][1])
    assert actions["ws_1"] == ("drop-schema", 1)
    assert actions["workspace_activity"][0] == "recompute"
    held = [i for i in data.workspace_invoices(1) if i["issued_at"] >= datetime.now(timezone.utc).replace(tzinfo=None)
            - timedelta(days=365)]
    invoices = next(t for t in plan["targets"] if t["target"] == "workspace_invoices")
    assert 0 < len(held) < before["workspace_invoices"][1]  # the example holds some invoices and not others
    assert invoices["retained_under_legal_hold"] == len(held)
    assert invoices["count"] == before["workspace_invoices"][1] - len(held)
    assert tenant_rows(warehouse) == before and Ledger(warehouse).head().hash == head  # a plan changes nothing

    code, pending, _ = dfg_json("tenant", "offboard", "--tenant", "1", project=demo_copy)
    assert code == 0 and pending["status"] == "planned" and pending["due"]
    code, cancelled, _ = dfg_json("tenant", "offboard", "--tenant", "1", "--cancel", project=demo_copy)
    assert code == 0 and cancelled["status"] == "cancelled" and tenant_rows(warehouse) == before

    code, result, err = dfg_json("tenant", "offboard", "--tenant", "1", "--now", project=demo_copy)
    assert code == 0, err
    assert result["status"] == "verified" and all(t["verified"] for t in result["targets"])
    after = tenant_rows(warehouse)
    assert 1 not in after["workspace_documents"] and not warehouse.schema_exists("ws_1")
    assert after["workspace_invoices"] == {1: len(held)}  # only what the law keeps
    assert warehouse.fetch("SELECT count(billing_email) FROM workspace_invoices")[0][0] == 0  # its contact gone
    assert after["workspaces"] == before["workspaces"]  # the directory keeps the tenant while invoices name it
    assert warehouse.fetch("SELECT documents FROM workspace_activity")[0][0] == 0  # rebuilt without the tenant
    assert versions_under(s3_client(project), "workspaces/2/")  # the other tenant's objects stay

    ledger = Ledger(warehouse)
    entries = ledger.entries(target=f"tenant:{tenant_hash(keyring_of(project), '1')}")
    assert [e.action for e in entries][-2:] == ["offboarding.executed", "offboarding.verified"]
    assert not ledger.entries(action_prefix="erasure.") and not suppression_list(ledger)  # no subject was erased
    certificate = (project.output_dir / "offboarding" / f"{result['tenant']}.md").read_text()
    assert "Tenant offboarding certificate" in certificate and "**verified**" in certificate
    assert "billing1@example.com" not in certificate + str([e.details_dict() for e in ledger.entries()])

    head = ledger.head().hash
    code, again, _ = dfg_json("tenant", "offboard", "--tenant", "1", "--now", project=demo_copy)
    assert code == 0 and again["status"] == "verified" and Ledger(warehouse).head().hash == head  # a no-op

    # A late batch of the offboarded tenant: the next sweep removes it, as the offboarding did.
    warehouse.execute("INSERT INTO workspace_documents VALUES (9001, 1, 'late', 10)")
    warehouse.create_schema("ws_1")
    warehouse.execute("CREATE TABLE ws_1.tickets AS SELECT 9002::BIGINT AS ticket_id, 1::BIGINT AS workspace_id, "
                      "'open' AS status, 1::BIGINT AS priority")
    others = {table: {t: n for t, n in rows.items() if t != 1} for table, rows in tenant_rows(warehouse).items()}
    code, sweep, err = dfg_json("sweep", project=demo_copy)
    assert code == 0, err
    assert sweep["suppressed"] == {"workspace_documents": 1, "workspace_tickets": 1}
    assert 1 not in tenant_rows(warehouse)["workspace_documents"] and not warehouse.schema_exists("ws_1")
    assert tenant_rows(warehouse)["workspace_invoices"] == {1: len(held)}  # the hold still keeps these
    assert {table: {t: n for t, n in rows.items() if t != 1} for table, rows in tenant_rows(warehouse).items()} == others


def test_offboarding_the_us_tenant_purges_every_version_of_its_prefix_and_a_killed_run_resumes(demo_copy):
    project = load_project(demo_copy)
    client = s3_client(project)
    client.put_bucket_versioning(Bucket=US_BUCKET, VersioningConfiguration={"Status": "Enabled"})
    client.put_object(Bucket=US_BUCKET, Key="workspaces/2/documents.jsonl", Body=b'{"workspace_id": 2}\n')  # a 2nd version
    client.put_object(Bucket=US_BUCKET, Key="workspaces/20/documents.jsonl", Body=b'{"workspace_id": 20}\n')
    assert len(versions_under(client, "workspaces/2/")) >= 2

    # Kill it the moment the purge of its prefix is under way.
    killed = kill_when_logged(demo_copy, ["tenant", "offboard", "--tenant", "2", "--now"], f'"url":"/{US_BUCKET}'.encode())
    assert killed, "the offboarding finished before it could be killed"
    warehouse = open_warehouse(project)
    assert not Ledger(warehouse).entries(action="offboarding.executed") and Ledger(warehouse).verify().ok

    code, result, err = dfg_json("tenant", "offboard", "--tenant", "2", "--now", project=demo_copy)
    assert code == 0, err
    assert result["status"] == "verified"
    assert versions_under(client, "workspaces/2/") == []  # no version, no delete marker
    assert versions_under(client, "workspaces/20/")  # a prefix of its id is another tenant's
    assert 2 not in tenant_rows(warehouse)["workspaces"]  # nothing held: the directory row goes too
    done = [e.details_dict()["target"] for e in Ledger(warehouse).entries(action="offboarding.target_done")]
    assert len(done) == len(set(done))  # no target done twice
    assert Ledger(warehouse).verify().ok


@pytest.mark.parametrize("hostile", ["1 OR 1=1", "1'; DROP TABLE workspaces; --", "../2", "2/", ""])
def test_hostile_tenant_ids_offboard_nobody(demo_copy, hostile):
    project = load_project(demo_copy)
    warehouse = open_warehouse(project)
    before, head = tenant_rows(warehouse), Ledger(warehouse).head().hash
    code, _out, err = run_dfg("tenant", "offboard", "--tenant", hostile, "--now", project=demo_copy)
    assert code == 2 and "Traceback" not in err and "error:" in err
    assert tenant_rows(warehouse) == before and Ledger(warehouse).head().hash == head
    assert warehouse.schema_exists("ws_1")


def test_offboarding_on_postgres_drops_the_tenant_schema_and_rows_of_that_tenant_only(tmp_path, pg_schema, monkeypatch):
    monkeypatch.setenv("DFG_WAREHOUSE_DSN", PG_DSN)
    monkeypatch.setenv("DFG_WAREHOUSE_SCHEMA", pg_schema)
    manifest = copy_project(tmp_path / "pg")
    project = load_project(manifest)
    warehouse = open_warehouse(project)
    warehouse.create_schema(pg_schema)
    warehouse.replace_table("workspaces", pd.DataFrame({"workspace_id": [1, 2], "name": ["a", "b"],
                                                        "region": ["eu-central-1", "eu-central-1"]}))
    warehouse.replace_table("workspace_documents", pd.DataFrame({"doc_id": [1, 2, 3], "workspace_id": [1, 2, 2],
                                                                 "title": ["x", "y", "z"], "words": [1, 2, 3]}))
    from dataflow_governance.model.spec import build_governance

    tickets = project.governance["workspace_tickets"].model_dump(mode="json", exclude_defaults=True, exclude={"asset", "group"})
    tickets["storage"]["table"] = f"{pg_schema}_t{{tenant_id}}.tickets"
    governance = {name: project.governance[name] for name in ("workspaces", "workspace_documents")}
    governance["workspace_tickets"] = build_governance("workspace_tickets", tickets)
    for tenant in (1, 2):
        warehouse.create_schema(f"{pg_schema}_t{tenant}")
        warehouse.replace_table(f"{pg_schema}_t{tenant}.tickets", pd.DataFrame({"ticket_id": [tenant],
                                "workspace_id": [tenant], "status": ["open"], "priority": [1]}))
    try:
        result = offboard(reach_of(project, warehouse), scope_of(project, governance, None), "2", immediately=True)
        assert result.status == "verified"
        assert not warehouse.schema_exists(f"{pg_schema}_t2") and warehouse.schema_exists(f"{pg_schema}_t1")
        assert warehouse.fetch("SELECT workspace_id FROM workspace_documents") == [(1,)]
        assert warehouse.fetch("SELECT workspace_id FROM workspaces") == [(1,)]
    finally:
        for tenant in (1, 2):
            warehouse.drop_schema(f"{pg_schema}_t{tenant}")


def test_the_dagster_offboarding_job_offboards_and_fails_clearly_on_an_unknown_tenant(demo_copy):
    from assets.definitions import ALL_ASSETS
    from dataflow_governance.dagster_ext import governed_definitions

    project = load_project(demo_copy)
    job = governed_definitions(project, ALL_ASSETS).resolve_job_def("offboard_tenant_job")
    done = job.execute_in_process(run_config={"ops": {"offboard_tenant": {"config": {"tenant": "2", "now": True}}}})
    assert done.success and done.output_for_node("offboard_tenant")["status"] == "verified"
    assert 2 not in tenant_rows(open_warehouse(project))["workspaces"]
    unknown = job.execute_in_process(run_config={"ops": {"offboard_tenant": {"config": {"tenant": "77", "now": True}}}},
                                     raise_on_error=False)
    assert not unknown.success
    failure = next(e for e in unknown.all_events if e.event_type_value == "STEP_FAILURE")
    assert "unknown tenant" in str(failure.event_specific_data.error)
