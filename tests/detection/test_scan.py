"""Scans for real: DuckDB and PostgreSQL (prefilter pushed down), files, S3 over HTTP, GX;
the example's checks; and that no raw value escapes into any report."""

import json

import dagster as dg
import pandas as pd
import pytest

from conftest import ENGINES, copy_project, dfg_json, make_warehouse, run_dfg
from dataflow_governance import load_project
from dataflow_governance.local import s3 as local_s3
from dataflow_governance.detection.expectations import validate_dataframe
from dataflow_governance.model.manifest import BucketConfig
from dataflow_governance.storage.objectstore import ObjectStore, ensure_buckets, put_object
from dataflow_governance.detection.residency import storage_region
from dataflow_governance.detection.scan import ScanError, scan_dataframe, scan_file, scan_s3, scan_table

RAW = ["anna.muller@example.com", "+49 30 12345678", "4242 4242 4242 4242", "123-45-6789", "192.168.7.21",
       "DE89 3704 0044 0532 0130 00"]
FRAME = pd.DataFrame({
    "email": ["anna.muller@example.com", "ben@example.org", None, "not-an-email"],
    "note": ["call +49 30 12345678", "card 4242 4242 4242 4242 please", "ssn 123-45-6789", "nothing here"],
    "ip": ["192.168.7.21", "2.13.7", "n/a", "10.0.0.300"],
    "iban": ["DE89 3704 0044 0532 0130 00", "DE89370400440532013001", "", ""],
    "order_no": ["1234567812345678", "550e8400-e29b-41d4-a716-446655440000", "SKU-1", "EUR 12.50"],
    "amount": [12.5, 4242.4242424242, 3.0, 1.0],
})
EXPECTED = {"email": {"email": 2}, "note": {"phone": 1, "credit_card": 1, "ssn": 1}, "ip": {"ip_address": 1},
            "iban": {"iban": 1}}


def no_raw(text: str) -> None:
    leaked = [value for value in RAW if value in text or value.replace(" ", "") in text]
    assert leaked == [], f"{len(leaked)} raw value(s) leaked"


def test_dataframe_and_files(tmp_path):
    assert scan_dataframe(FRAME).findings_by_column() == EXPECTED
    FRAME.to_csv(tmp_path / "d.csv", index=False)
    FRAME.to_parquet(tmp_path / "d.parquet")
    (tmp_path / "d.jsonl").write_text("".join(json.dumps(r) + "\n" for r in FRAME.to_dict("records")))
    for name in ("d.csv", "d.parquet", "d.jsonl"):
        report = scan_file(tmp_path / name)
        assert report.rows_scanned == 4 and report.findings_by_column() == EXPECTED, name
        no_raw(json.dumps(report.to_dict()))
    with pytest.raises(ScanError, match="no such file"):
        scan_file(tmp_path / "missing.csv")


@pytest.mark.parametrize("engine", ENGINES)
def test_warehouse_table_scan_is_pushed_down(engine, tmp_path, request):
    warehouse = make_warehouse(engine, request, tmp_path)
    warehouse.replace_table("leaky", FRAME)
    report = scan_table(warehouse, "leaky")
    assert report.rows_scanned == 4 and report.findings_by_column() == EXPECTED
    assert not any(c.estimated for c in report.columns.values())
    no_raw(json.dumps(report.to_dict()))
    tight = scan_table(warehouse, "leaky", budget=1)  # more candidates than validated: estimated, and said so
    assert tight.columns["email"].estimated == {"email": 1}
    sampled = scan_table(warehouse, "leaky", sample=2)
    assert sampled.rows_scanned == 2 and sampled.to_dict()["sample"] == 2
    with pytest.raises(ScanError, match="table 'ghost' does not exist"):
        scan_table(warehouse, "ghost")


def test_s3_prefix_over_http(tmp_path):
    endpoint = local_s3.ensure_running(tmp_path)
    try:
        store = ObjectStore(endpoint.url, "eu-central-1", local=True)
        ensure_buckets(store, {"logs": BucketConfig(region="eu-central-1")})
        lines = [{"path": "/api", "status": 200}, {"path": "/login", "body": "user anna.muller@example.com"}]
        put_object(store, "logs", "app/a.jsonl", "".join(json.dumps(x) + "\n" for x in lines).encode())
        put_object(store, "logs", "app/b.log", b"GET /health 200\nPOST /pay card=4242424242424242\n")
        for i in range(3):  # more than one listing page is not needed, but several objects are
            put_object(store, "logs", f"app/c{i}.log", b"clean line\n")
        report = scan_s3(store, "logs", "app/")
        assert report.rows_scanned == 7
        assert report.findings_by_column() == {"body": {"email": 1}, "line": {"credit_card": 1}}
        no_raw(json.dumps(report.to_dict()))
        assert scan_s3(store, "logs", "app/", sample=2).rows_scanned == 2
    finally:
        local_s3.stop(tmp_path)


def test_gx_expectation_counts_match_and_hold_no_values():
    assert validate_dataframe(FRAME) == EXPECTED


def test_cli_scan_contract(tmp_path):
    FRAME.to_csv(tmp_path / "data.csv", index=False)
    code, payload, _ = dfg_json("scan", "--file", str(tmp_path / "data.csv"))
    assert code == 0 and payload["rows_scanned"] == 4
    assert payload["columns"]["email"] == {"rows_scanned": 4, "findings": {"email": 2},
                                           "examples": {"email": ["a***@e***.com", "b***@e***.org"]}}
    assert payload["columns"]["order_no"]["findings"] == {}
    code, out, err = run_dfg("scan", "--file", str(tmp_path / "data.csv"), "--fail-on-findings")
    assert code == 1
    no_raw(out + err + json.dumps(payload))


def _logs_job(project):
    from assets.definitions import ALL_ASSETS
    from dataflow_governance.dagster_ext import governed_definitions

    job = dg.define_asset_job("logs", selection=dg.AssetSelection.assets("app_logs"))
    return governed_definitions(project, ALL_ASSETS, jobs=[job]).resolve_job_def("logs")


def _evaluations(result):
    return {e.event_specific_data.check_name: e.event_specific_data for e in result.all_events
            if e.event_type_value == "ASSET_CHECK_EVALUATION"}


def test_app_logs_check_fails_when_an_email_is_injected(tmp_path):
    manifest = copy_project(tmp_path / "logs")
    project = load_project(manifest)
    job = _logs_job(project)
    try:
        with dg.DagsterInstance.ephemeral() as instance:
            clean = _evaluations(job.execute_in_process(instance=instance))
            assert clean["no_personal_data"].passed and clean["stored_in_declared_region"].passed
            store = ObjectStore(local_s3.read_endpoint(project.state_dir).url, "eu-central-1", local=True)
            put_object(store, "deepwater-logs-eu", "app/day=99/errors.jsonl",
                       json.dumps({"level": "ERROR", "request_body": {"email": "anna.muller@example.com"}}).encode())
            # the asset run rewrites days 0-6; the injected error log stays, as a real leak would
            leaky = _evaluations(job.execute_in_process(instance=instance, raise_on_error=False))
            check = leaky["no_personal_data"]
            assert not check.passed
            assert check.metadata["findings"].value == "request_body: email 1 rows"  # text, shown as it is
            assert check.metadata["masked_examples"].value == "request_body: email a***@e***.com"
            events = [str(r.event_log_entry) for r in instance.get_records_for_run(
                instance.get_runs()[0].run_id).records]
        no_raw(json.dumps({k: str(v) for k, v in check.metadata.items()}) + "\n".join(events))
        code, exported, _ = dfg_json("audit", "export", "--actor", "dagster:no_personal_data", project=manifest)
        assert code == 0 and [e["details"]["passed"] for e in exported["entries"]] == [True, False]
        no_raw(json.dumps(exported))
    finally:
        run_dfg("local", "stop", project=manifest)


def test_bucket_in_the_wrong_region_fails_residency(tmp_path):
    manifest = copy_project(tmp_path / "wrong_region")
    project = load_project(manifest)
    endpoint = local_s3.ensure_running(project.state_dir)
    try:
        store = ObjectStore(endpoint.url, "eu-central-1", local=True)
        ensure_buckets(store, {"deepwater-logs-eu": BucketConfig(region="us-west-2")})  # created by someone else
        ensure_buckets(store, project.buckets)  # the rest as declared; the existing one is left alone
        result = storage_region("app_logs", project.governance.get("app_logs") or _python_governance("app_logs"), store, None)
        assert not result.passed and "us-west-2" in result.message
        code, payload, _ = dfg_json("residency", "--fail-on-findings", project=manifest)
        assert code == 1 and not payload["ok"]
        failed = [a for a in payload["assets"] if not a["passed"]]
        assert [(a["asset"], a["actual"]) for a in failed] == [("app_logs", "us-west-2")]
    finally:
        local_s3.stop(project.state_dir)


def _python_governance(asset):
    from assets.definitions import defs
    from dataflow_governance.dagster_ext import read_governance

    return read_governance(defs.resolve_all_asset_specs())[asset]


def test_app_logs_check_fails_when_a_name_and_an_address_are_written_into_them(tmp_path):
    """The PII-free log holds no email or card, only prose: a customer's name and address, which
    only the free-text detectors see."""
    manifest = copy_project(tmp_path / "logs")
    project = load_project(manifest)
    job = _logs_job(project)
    try:
        with dg.DagsterInstance.ephemeral() as instance:
            assert _evaluations(job.execute_in_process(instance=instance))["no_personal_data"].passed
            store = ObjectStore(local_s3.read_endpoint(project.state_dir).url, "eu-central-1", local=True)
            message = "Refund failed: please call Maria Gonzalez at her flat, 14 Rue des Lilas, 75011 Paris"
            put_object(store, "deepwater-logs-eu", "app/day=99/errors.jsonl",
                       json.dumps({"level": "ERROR", "message": message}).encode())
            check = _evaluations(job.execute_in_process(instance=instance, raise_on_error=False))["no_personal_data"]
        assert not check.passed
        assert check.metadata["findings"].value == "message: person_name 1 rows, postal_address 1 rows"
        assert "M**** G*******" in check.metadata["masked_examples"].value
        shown = json.dumps({k: str(v) for k, v in check.metadata.items()})
        for secret in ("Maria", "Gonzalez", "Lilas", "75011"):
            assert secret not in shown
    finally:
        run_dfg("local", "stop", project=manifest)
