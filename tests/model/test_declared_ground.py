"""What a declaration names is confirmed before anything rests on it: a typo'd table or a renamed
id column fails the erasure's verification, the sweep, the runtime check and `dfg check --live`;
a retention with nothing to date rows by is an error; the manifest's defaults reach governance
declared in Python as they reach the manifest's own."""

import dagster as dg
import pytest

from conftest import dfg_json, run_dfg
from dataflow_governance import GovernanceError, build_governance, load_project
from dataflow_governance.dagster_ext import governed_definitions, governed_spec, read_governance
from dataflow_governance import open_warehouse


def retype(manifest, old: str, new: str) -> None:
    text = manifest.read_text()
    assert old in text
    manifest.write_text(text.replace(old, new))


def test_a_typod_table_fails_the_erasure_the_sweep_and_the_live_check(demo_copy):
    project = load_project(demo_copy)
    warehouse = open_warehouse(project)
    subject = warehouse.fetch("SELECT min(user_id) FROM email_campaign_sends")[0][0]
    retype(demo_copy, "table: email_campaign_sends}", "table: email_campaign_sendz}")

    code, check, _ = dfg_json("check", "--live", project=demo_copy)
    [finding] = [f for f in check["findings"] if f["rule"] == "declared-place-missing"]
    assert code == 1 and finding["asset"] == "email_campaign_sends"
    assert "'email_campaign_sendz' does not exist" in finding["message"] and "'email_campaign_sends'" in finding["fix"]
    assert dfg_json("check", project=demo_copy)[0] == 0  # (the static rules cannot see the warehouse)

    code, result, err = dfg_json("erase", "--subject-id", str(subject), "--now", project=demo_copy)
    target = next(t for t in result["targets"] if t["asset"] == "email_campaign_sends")
    assert code == 1 and result["status"] == "executed" and target["outcome"] == "failed", err
    assert "did you mean 'email_campaign_sends'" in target["problem"]
    assert warehouse.fetch("SELECT count(*) FROM email_campaign_sends WHERE user_id = ?", [subject])[0][0] > 0
    certificate = (project.output_dir / "erasures" / f"{result['subject']}.md").read_text()
    assert "Not verified: declared places that are not there" in certificate and "email_campaign_sendz" in certificate

    code, sweep, _ = dfg_json("sweep", project=demo_copy)
    assert code == 1 and "'email_campaign_sendz' does not exist" in sweep["assets"]["email_campaign_sends"]["problem"]

    retype(demo_copy, "table: email_campaign_sendz}", "table: email_campaign_sends}")
    code, again, err = dfg_json("erase", "--subject-id", str(subject), "--now", project=demo_copy)
    assert code == 0 and again["status"] == "verified", err  # the fix, then one rerun, and the rows are gone
    assert warehouse.fetch("SELECT count(*) FROM email_campaign_sends WHERE user_id = ?", [subject])[0][0] == 0


def test_a_renamed_id_column_fails_verification_and_the_runtime_check(demo_copy):
    project = load_project(demo_copy)
    warehouse = open_warehouse(project)
    subject = warehouse.fetch("SELECT min(user_id) FROM email_campaign_sends")[0][0]
    warehouse.execute("ALTER TABLE email_campaign_sends RENAME COLUMN user_id TO customer_ref")
    code, result, _ = dfg_json("erase", "--subject-id", str(subject), "--now", project=demo_copy)
    target = next(t for t in result["targets"] if t["asset"] == "email_campaign_sends")
    assert code == 1 and not target["verified"] and "has no column 'user_id'" in target["problem"]

    from assets.definitions import ALL_ASSETS

    job = dg.define_asset_job("checks", selection=dg.AssetSelection.checks_for_assets("email_campaign_sends"))
    defs = governed_definitions(project, ALL_ASSETS, jobs=[job])
    with dg.DagsterInstance.ephemeral() as instance:
        run = defs.resolve_job_def("checks").execute_in_process(instance=instance, raise_on_error=False)
    [evaluation] = [e.event_specific_data for e in run.all_events if e.event_type_value == "ASSET_CHECK_EVALUATION"
                    and e.event_specific_data.check_name == "declared_table_present"]
    assert not evaluation.passed and "has no column 'user_id'" in evaluation.metadata["problems"].value


def test_a_retention_without_a_timestamp_column_is_an_error_and_a_misspelt_one_is_named(tmp_path):
    from dataflow_governance.policy.context import PolicyContext
    from dataflow_governance.policy.rules import run_policy

    events = build_governance("events", {"storage": {"kind": "warehouse"}, "retention": {"keep": "30 days"},
                                         "columns": {"kind": {}, "at": {"type": "timestamp"}}})
    [finding] = [f for f in run_policy(PolicyContext({"events": events}, {"events": frozenset()}, {}))
                 if f.rule == "retention-unenforceable"]
    assert finding.severity == "error" and "declare retention.timestamp_column (e.g. at)" == finding.fix
    manifest = tmp_path / "dagster_project.yaml"
    manifest.write_text("project: p\ngroups: {g: {assets: {events: {storage: {kind: warehouse}, "
                        "retention: {keep: 30 days}}}}}\n")
    from dataflow_governance import Warehouse
    from dataflow_governance.dagster_ext.parts import reach_of, scope_of
    from dataflow_governance.retention.sweep import run_sweep

    project = load_project(manifest)
    warehouse = Warehouse("duckdb", path=str(tmp_path / "w.duckdb"))
    result = run_sweep(reach_of(project, warehouse), scope_of(project, project.governance, None), dry_run=True)
    assert "retention.timestamp_column is not declared" in result["assets"]["events"]["problem"]
    with pytest.raises(GovernanceError, match=r"retention.timestamp_column names column 'creatd_at'.*did you mean "
                                              r"'created_at'"):
        build_governance("events", {"retention": {"keep": "30 days", "timestamp_column": "creatd_at"},
                                    "columns": {"created_at": {"type": "timestamp"}, "kind": {}}})
    # An S3 prefix is dated by its objects: no column needed.
    assert build_governance("logs", {"storage": {"kind": "s3", "bucket": "b"}, "retention": {"keep": "30 days"}})


def test_a_misspelt_timestamp_column_of_a_python_asset_fails_the_sweep_naming_the_column(demo_copy):
    project = load_project(demo_copy)
    open_warehouse(project).execute("ALTER TABLE ticket_features RENAME COLUMN created_at TO created")
    code, sweep, _ = dfg_json("sweep", "--dry-run", project=demo_copy)
    assert code == 1 and "has no column 'created_at'" in sweep["assets"]["ticket_features"]["problem"]
    assert "did you mean 'created'" in sweep["assets"]["ticket_features"]["problem"]


def test_the_sweep_dry_run_previews_the_suppression_list(demo_copy):
    project = load_project(demo_copy)
    warehouse = open_warehouse(project)
    code, result, err = dfg_json("erase", "--subject-id", "8", "--now", project=demo_copy)
    assert code == 0, err
    warehouse.execute("INSERT INTO email_campaign_sends VALUES (8, 'late@example.com', 'late', now())")
    code, preview, _ = dfg_json("sweep", "--dry-run", project=demo_copy)
    assert code == 0 and preview["suppressed"] == {"email_campaign_sends": 1}
    assert warehouse.fetch("SELECT count(*) FROM email_campaign_sends WHERE user_id = 8")[0][0] == 1  # nothing done
    code, swept, _ = dfg_json("sweep", project=demo_copy)
    assert code == 0 and swept["suppressed"] == {"email_campaign_sends": 1}
    assert warehouse.fetch("SELECT count(*) FROM email_campaign_sends WHERE user_id = 8")[0][0] == 0


MANIFEST = """project: both_ways
definitions: defs:defs
buckets: {{logs-eu: {{region: eu-central-1}}}}
defaults:
  region: eu-central-1
  owner: "team:platform"
  data_subjects: [customer]
  encryption: {{at_rest: AES-256, in_transit: TLS 1.2+}}
groups:
  g:
    assets:
{assets}
"""
FACTS = {"users": {"legal_basis": "contract", "purposes": ["essential.service"], "storage": {"kind": "warehouse"},
                   "columns": {"user_id": {"identity": True, "categories": ["user.unique_id"]},
                               "email": {"categories": ["user.contact.email"]}}},
         "logs": {"pii_free": True, "storage": {"kind": "s3", "bucket": "logs-eu", "prefix": "app/"}}}


def test_defaults_reach_governance_declared_in_python_as_they_reach_the_manifests(tmp_path):
    import yaml

    declared_in_manifest = tmp_path / "manifest" / "dagster_project.yaml"
    declared_in_manifest.parent.mkdir()
    declared_in_manifest.write_text(MANIFEST.format(assets="\n".join(
        f"      {name}: {yaml.safe_dump(facts, default_flow_style=True).strip()}" for name, facts in FACTS.items())))
    declared_in_code = tmp_path / "code" / "dagster_project.yaml"
    declared_in_code.parent.mkdir()
    declared_in_code.write_text(MANIFEST.format(assets="      {}").replace("groups:\n  g:\n    assets:\n      {}\n", ""))

    by_manifest = governed_definitions(load_project(declared_in_manifest), [dg.AssetSpec(n) for n in FACTS])
    by_code = governed_definitions(load_project(declared_in_code), [governed_spec(n, f) for n, f in FACTS.items()])
    manifest_gov = read_governance(by_manifest.resolve_all_asset_specs())
    code_gov = read_governance(by_code.resolve_all_asset_specs())
    for name in FACTS:
        assert code_gov[name].model_dump(exclude={"group"}) == manifest_gov[name].model_dump(exclude={"group"}), name
    assert code_gov["users"].data_subjects == ("customer",) and code_gov["users"].owner == "team:platform"
    assert code_gov["logs"].region == "eu-central-1" and code_gov["users"].encryption.at_rest == "AES-256"
    code_spec = {s.key.to_user_string(): s for s in by_code.resolve_all_asset_specs()}["users"]
    assert code_spec.owners == ["team:platform"] and code_spec.tags["region"] == "eu-central-1"
    # Encryption is declared by default, so no encryption-missing warning for the Python-declared asset either.
    (declared_in_code.parent / "defs.py").write_text(
        "import os\nfrom dataflow_governance import load_project\n"
        "from dataflow_governance.dagster_ext import governed_definitions, governed_spec\n"
        f"FACTS = {FACTS!r}\n"
        "defs = governed_definitions(load_project(os.environ['DFG_PROJECT']), "
        "[governed_spec(n, f) for n, f in FACTS.items()])\n")
    code, out, err = run_dfg("check", "--json", project=declared_in_code)
    assert "encryption-missing" not in out, err
