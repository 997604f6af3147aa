"""`dfg` end to end on a private copy of the example project: demo, check, ropa, map, local."""

import re
from pathlib import Path

import yaml

from conftest import copy_project, dfg_json, run_dfg
from dataflow_governance import open_warehouse


def test_demo_materializes_everything_and_writes_reports(demo_project):
    _manifest, summary = demo_project
    assert summary["materialized"] == summary["assets"] >= 12
    assert summary["run_success"] and summary["checks_failed"] == 0 and summary["checks_passed"] >= 12
    names = {Path(p).name for p in summary["reports"]}
    assert {"ropa.md", "ropa.html", "ropa.csv", "ropa.json", "data_map.md", "findings.json"} <= names
    assert all(Path(p).stat().st_size > 0 for p in summary["reports"])


def test_check_contract_is_clean_on_the_example(demo_project):
    manifest, _ = demo_project
    code, payload, _ = dfg_json("check", project=manifest)
    assert code == 0 and payload == {"findings": []}


def test_ropa_contract(demo_project):
    manifest, _ = demo_project
    code, payload, _ = dfg_json("ropa", project=manifest)
    assert code == 0
    activities = {a["asset"]: a for a in payload["activities"]}
    keys = {"asset", "purposes", "legal_basis", "data_subjects", "data_categories", "recipients", "transfers",
            "retention", "security_measures"}
    assert all(keys <= set(a) for a in activities.values())
    assert "daily_signups" not in activities  # anonymous aggregates are no processing of personal data
    orders = activities["orders"]
    assert orders["legal_basis"] == "contract (Art. 6(1)(b))"
    assert [r["name"] for r in orders["recipients"]] == ["payments_psp"]
    assert "tax_records" in orders["retention"] and "encryption at rest: AES-256" in orders["security_measures"]
    assert "user.financial.credit_card" in orders["data_categories"]


def test_map_shows_regions_and_processors(demo_project):
    manifest, _ = demo_project
    code, payload, _ = dfg_json("map", project=manifest)
    mermaid = payload["mermaid"]
    assert code == 0 and mermaid.startswith("flowchart LR")
    assert 'subgraph region_us_east_1["US · us-east-1"]' in mermaid
    assert "outside the trust boundary" in mermaid and "mailer (eu-west-1, DPA)" in mermaid
    assert "daily_signups --> global_kpis_us" in mermaid


def test_local_status_contract(demo_project):
    manifest, _ = demo_project
    code, status, _ = dfg_json("local", "status", project=manifest)
    assert code == 0
    assert status["warehouse"].endswith("warehouse.duckdb")
    assert status["s3_endpoint_url"].startswith("http://127.0.0.1:")
    assert status["mlflow_tracking_uri"].startswith("sqlite:///")


def test_no_personal_value_in_reports_event_log_or_output(demo_project):
    """Emails, IPs and passwords of the generated customers appear nowhere the project reports."""
    from assets import data

    manifest, summary = demo_project
    secrets = set()
    for row in data.registrations():
        secrets.update({row["email"], row["ip"], row["password"]})
    places = [Path(summary["output_dir"]), Path(summary["dagster_home"])]
    code, out, err = run_dfg("check", project=manifest)
    texts = [out, err, str(summary)]
    for place in places:
        texts += [p.read_bytes().decode("latin-1") for p in place.rglob("*") if p.is_file()]
    blob = "\n".join(texts)
    assert "team:growth" in blob or "users" in blob  # the places really hold the project's reports
    leaked = [s for s in secrets if s in blob]
    assert leaked == [], f"{len(leaked)} personal values leaked"


def _broken_copy(tmp_path, edit) -> Path:
    manifest = copy_project(tmp_path / "broken")
    raw = yaml.safe_load(manifest.read_text())
    edit(raw)
    manifest.write_text(yaml.safe_dump(raw, sort_keys=False))
    return manifest


def test_check_fails_on_error_findings(tmp_path):
    def no_dpa(raw):
        raw["processors"]["mailer"]["dpa"] = False
        del raw["groups"]["commerce"]["assets"]["orders"]["retention"]

    code, payload, _ = dfg_json("check", project=_broken_copy(tmp_path, no_dpa))
    assert code == 1
    found = {(f["asset"], f["rule"], f["severity"]) for f in payload["findings"]}
    assert found == {("email_campaign_sends", "processor-without-dpa", "error"),
                     ("orders", "retention-missing", "error")}
    assert all(f["message"] for f in payload["findings"])


def test_unknown_taxonomy_key_is_one_clear_line(tmp_path):
    def typo(raw):
        raw["groups"]["support"]["assets"]["tickets"]["purposes"] = ["essential.service.operations.suport"]

    code, out, err = run_dfg("check", project=_broken_copy(tmp_path, typo))
    assert code == 2 and "Traceback" not in err
    assert re.search(r"asset 'tickets', field purposes: unknown data use 'essential\.service\.operations\.suport'", err)
    assert "essential.service.operations.support" in err


def test_missing_manifest(tmp_path):
    code, out, err = run_dfg("--project", str(tmp_path / "none.yaml"), "check")
    assert code == 2 and "no such manifest" in err and "Traceback" not in err


def test_audit_verify_contract_and_tampering(tmp_path):
    from dataflow_governance import load_project
    from dataflow_governance.ledger.chain import Ledger, NewEntry

    manifest = copy_project(tmp_path / "audited")
    ledger = Ledger(open_warehouse(load_project(manifest)))
    ledger.append_many([NewEntry("job:sweep", "sweep.result", f"table:t{i}", {"deleted": i}) for i in range(20)])
    code, out, _ = run_dfg("audit", "verify", project=manifest)
    assert code == 0 and out.startswith(f"20 entries verified, head {ledger.head().hash}")
    with ledger.warehouse.connect() as con:
        con.execute("UPDATE governance_ledger SET details = '{\"deleted\":0}' WHERE seq = 12")
    code, payload, _ = dfg_json("audit", "verify", project=manifest)
    assert code == 1
    assert {k: payload[k] for k in ("ok", "entries", "first_bad_seq", "damage")} == {
        "ok": False, "entries": 20, "first_bad_seq": 12, "damage": "modified"}
    code, exported, _ = dfg_json("audit", "export", "--target", "table:t3", project=manifest)
    assert code == 1 and exported["verification"]["damage"] == "modified"
    assert [e["details"] for e in exported["entries"]] == [{"deleted": 3}]


def test_ledger_check_in_dagster_fails_on_tampering(tmp_path):
    from assets.definitions import ALL_ASSETS
    from dataflow_governance import load_project
    from dataflow_governance.dagster_ext import governed_definitions
    from dataflow_governance.ledger.chain import Ledger

    project = load_project(copy_project(tmp_path / "checked"))
    defs = governed_definitions(project, ALL_ASSETS)
    ledger = Ledger(open_warehouse(project))
    for i in range(5):
        ledger.append("job:test", "event", f"t{i}")
    job = defs.resolve_job_def("verify_governance_ledger")
    evaluation = _check_evaluations(job.execute_in_process())[0]
    assert evaluation.passed and evaluation.metadata["ledger/head_seq"].value == 5
    with ledger.warehouse.connect() as con:
        con.execute("DELETE FROM governance_ledger WHERE seq = 2")
    evaluation = _check_evaluations(job.execute_in_process(raise_on_error=False))[0]
    assert not evaluation.passed and evaluation.metadata["damage"].value == "deleted"
    assert evaluation.metadata["first_bad_seq"].value == 2


def _check_evaluations(result):
    return [e.event_specific_data for e in result.all_events if e.event_type_value == "ASSET_CHECK_EVALUATION"]
