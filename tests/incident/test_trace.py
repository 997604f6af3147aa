"""Post-incident tracing: personal data found in the application logs (the seed's worked incident)
is traced backward and forward, measured in S3, planned for, and ledgered — with no value leaked."""

import json

import pytest
from conftest import dfg_json, run_dfg

from dataflow_governance import load_project, put_object
from dataflow_governance.storage.objectstore import open_object_store

LEAKED = ["anna.muller@example.com", "ben.schmidt@mail.example.org", "chloe.dubois@posteo.example"]


def leak_into_logs(manifest) -> None:
    """What a careless log statement writes: request bodies with customers' email addresses."""
    project = load_project(manifest)
    store = open_object_store(project.object_store.endpoint_url, project.object_store.region, project.state_dir, True)
    lines = [{"ts": "2026-11-30T10:00:00", "level": "DEBUG", "path": "/api/login", "body": f"login for {email}"}
             for email in LEAKED] + [{"ts": "2026-11-30T10:00:01", "level": "INFO", "path": "/health", "body": "ok"}]
    put_object(store, "deepwater-logs-eu", "app/day=99/debug.jsonl", "".join(json.dumps(x) + "\n" for x in lines).encode())


def test_email_in_the_logs_is_traced_measured_planned_and_ledgered(demo_copy):
    leak_into_logs(demo_copy)
    code, report, err = dfg_json("incident", "--found", "user.contact.email", "--in", "s3://deepwater-logs-eu/app/",
                                 project=demo_copy)
    assert code == 0, err
    assert report["asset"] == "app_logs"
    exposure = report["exposure"]
    assert (exposure["objects"], exposure["rows"], exposure["columns"]) == (1, 3, {"body": 3})
    assert exposure["oldest"] and exposure["retention"] == "30 days, then delete"
    # Nothing upstream of the logs carries email: the code wrote it; the declared holders are the candidates.
    assert report["backward"]["paths"] == {} and "users" in report["backward"]["candidates"]
    assert report["readers"]["app_logs"]["owner"] == "team:platform"
    plan = "\n".join(report["plan"])
    assert "1 object(s), 3 record(s) in s3://deepwater-logs-eu/app/" in plan
    assert "set blocking_checks: true" in plan
    code, text, _err = run_dfg("incident", "--found", "user.contact.email", "--in", "app_logs", project=demo_copy)
    for email in LEAKED:
        assert email not in text and email not in json.dumps(report)  # masked samples only
    code, exported, _err = dfg_json("audit", "export", "--actor", "dfg:incident", project=demo_copy)
    entries = [e for e in exported["entries"] if e["action"] == "incident.traced"]
    assert len(entries) == 2 and entries[0]["details"]["objects"] == 1 and entries[0]["details"]["rows"] == 3
    assert entries[0]["target"] == "asset:app_logs" and "s3://" not in json.dumps(entries)  # a prefix may name a person
    assert not any(email in json.dumps(entries) for email in LEAKED)


def test_a_narrower_location_is_measured_alone(demo_copy):
    leak_into_logs(demo_copy)
    code, report, _err = dfg_json("incident", "--found", "user.contact", "--in", "s3://deepwater-logs-eu/app/day=01/",
                                  project=demo_copy)
    assert code == 0 and report["exposure"]["objects"] == 0  # the leak is under day=99/
    assert "nothing in s3://deepwater-logs-eu/app/day=01/ holds user.contact now" in report["plan"][0]


def test_lineage_traces_a_category_back_to_its_source_and_forward(demo_copy):
    manifest = demo_copy  # a trace is ledgered: not on the shared demo
    code, report, _err = dfg_json("incident", "--found", "user.contact.email", "--in", "tickets", project=manifest)
    assert code == 0
    assert report["forward"]["assets"] == sorted(report["forward"]["assets"])
    assert {"tickets_clean", "ticket_health_notes", "support_attachments"} <= set(report["forward"]["assets"])
    assert "care_partner" in report["forward"]["processors"]
    code, report, _err = dfg_json("incident", "--found", "user.contact.email", "--in", "customer_dim", project=manifest)
    assert report["backward"]["paths"]["email"]["origins"] == ["users.email"]


@pytest.mark.parametrize("args, message", [
    (["--found", "user.email", "--in", "app_logs"], "unknown data category 'user.email'; did you mean user.contact.email"),
    (["--found", "user.contact.email", "--in", "no_such_asset"], "neither an asset of the project"),
    (["--found", "user.contact.email", "--in", "s3://nowhere/x/"], "is not the storage of any asset"),
])
def test_bad_input_is_a_clear_error(demo_project, args, message):
    manifest, _summary = demo_project
    code, _out, err = run_dfg("incident", *args, project=manifest)
    assert code == 2 and message in err


def test_the_first_detection_comes_from_the_pii_checks_ledgered_results(tmp_path):
    from dataflow_governance import PolicyContext, Warehouse, build_governance
    from dataflow_governance.dagster_ext import S3Resource, WarehouseResource
    from dataflow_governance.dagster_ext.checks import Services, _no_pii
    from dataflow_governance.incident.trace import first_detected
    from dataflow_governance.ledger.chain import Ledger

    path = str(tmp_path / "w.duckdb")
    wh = Warehouse(kind="duckdb", path=path)
    wh.execute("CREATE TABLE request_log (path TEXT, body TEXT)")
    wh.execute("INSERT INTO request_log VALUES ('/health', 'ok')")
    gov = build_governance("request_log", {"pii_free": True, "storage": {"kind": "warehouse", "table": "request_log"}})
    ctx = PolicyContext(governance={"request_log": gov}, upstream={"request_log": frozenset()}, processors={})
    services = Services(WarehouseResource(path=path), S3Resource(state_dir=str(tmp_path), use_local=False))
    assert _no_pii("request_log", gov, services)[0]  # clean: ledgered, but found nothing
    assert first_detected(Ledger(wh), ctx, "request_log", "user.contact.email") is None
    wh.execute(f"INSERT INTO request_log VALUES ('/api/login', 'login for {LEAKED[0]}')")
    assert not _no_pii("request_log", gov, services)[0]
    [scan] = Ledger(wh).entries(action="pii_scan.result", target="table:request_log")[1:]
    assert first_detected(Ledger(wh), ctx, "request_log", "user.contact.email") == scan.ts
    assert first_detected(Ledger(wh), ctx, "request_log", "user.contact.phone_number") is None
