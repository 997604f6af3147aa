"""OpenLineage: events of governed runs and of the whole catalog, valid against the spec's JSON
schemas (kept in tests/reports/openlineage_spec), accepted by the client, and free of personal values."""

import json
import os
import re
from pathlib import Path

import dagster as dg
import duckdb
import pytest
from jsonschema import Draft202012Validator
from openlineage.client import OpenLineageClient
from referencing import Registry, Resource

from conftest import REPO, copy_project, dfg_json, run_dfg
from dataflow_governance import load_project
from dataflow_governance.dagster_ext import governed_definitions
from dataflow_governance.dagster_ext.openlineage import openlineage_sensors, run_events
from dataflow_governance.reports.openlineage import (
    GOVERNANCE_FACET,
    GOVERNANCE_FACET_FILE,
    OpenLineageError,
    client_for,
    emit,
    to_json,
)

SPEC = Path(__file__).parent / "openlineage_spec"


def _registry() -> Registry:
    resources = []
    for path in [*SPEC.glob("*.json"), GOVERNANCE_FACET_FILE]:
        schema = json.loads(path.read_text())
        resources.append((schema["$id"], Resource.from_contents(schema)))
    return Registry().with_resources(resources)


REGISTRY = _registry()
RUN_EVENT = Draft202012Validator({"$ref": "https://openlineage.io/spec/2-0-2/OpenLineage.json#/$defs/RunEvent"},
                                 registry=REGISTRY, format_checker=Draft202012Validator.FORMAT_CHECKER)


def assert_valid(event: dict) -> None:
    """The event against the RunEvent schema, and every facet against the schema its _schemaURL names."""
    errors = [e.message for e in RUN_EVENT.iter_errors(event)]
    assert not errors, errors[:3]
    facets = [*event["run"].get("facets", {}).values(), *event["job"].get("facets", {}).values()]
    for dataset in event["inputs"] + event["outputs"]:
        facets += dataset.get("facets", {}).values()
    assert facets
    for facet in facets:
        url = facet["_schemaURL"]
        assert url.split("#")[0] in {r for r in REGISTRY}, f"no schema for {url}"  # every facet's schema is known
        validator = Draft202012Validator({"$ref": url}, registry=REGISTRY, format_checker=Draft202012Validator.FORMAT_CHECKER)
        problems = [e.message for e in validator.iter_errors(facet)]
        assert not problems, (url, problems[:3])


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    manifest = copy_project(tmp_path_factory.mktemp("ol_export"))
    out = manifest.parent / "catalog.ndjson"
    code, payload, err = dfg_json("openlineage", "export", "--out", str(out), project=manifest)
    assert code == 0, err
    events = [json.loads(line) for line in out.read_text().splitlines()]
    assert payload["events"] == len(events)
    return manifest, {e["job"]["name"]: e for e in events}


def test_every_exported_event_validates_against_the_spec(exported):
    _manifest, events = exported
    assert {"daily_signups", "analytics_events", "customer_dim", "ticket_classifier"} <= set(events)
    for event in events.values():
        assert event["eventType"] == "COMPLETE"
        assert_valid(event)


def output_facets(event: dict) -> dict:
    [output] = event["outputs"]
    return output["facets"]


def fields_of(facet: dict, column: str) -> set:
    return {(f["name"].rsplit(".", 1)[-1], f["field"], t["type"], t.get("subtype"), t.get("masking", False))
            for f in facet["fields"][column]["inputFields"] for t in f["transformations"]}


def test_column_lineage_uses_openlineage_transformation_types(exported):
    _manifest, events = exported
    signups = output_facets(events["daily_signups"])["columnLineage"]
    assert fields_of(signups, "country") == {("users", "country", "DIRECT", "IDENTITY", False)}
    # The grouping applies to every column: listed once for the dataset, not on each field.
    dataset_level = {(f["field"], f["transformations"][0]["subtype"]) for f in signups["dataset"]}
    assert ("country", "GROUP_BY") in dataset_level
    assert all(t["type"] == "DIRECT" for col in signups["fields"].values()
               for f in col["inputFields"] for t in f["transformations"])
    # A Python asset's declared lineage, masking included.
    pseudo = output_facets(events["analytics_events"])["columnLineage"]
    assert fields_of(pseudo, "user_pseudo_id") == {("users", "user_id", "DIRECT", "TRANSFORMATION", True)}
    # Inputs name the same datasets the upstream assets are outputs as.
    [users_input] = [i for i in events["daily_signups"]["inputs"] if i["name"].endswith(".users")]
    [users_output] = events["users"]["outputs"] if "users" in events else [users_input]
    assert users_input["namespace"].startswith("duckdb://") and users_input["namespace"] == users_output["namespace"]


def test_the_governance_facet_carries_the_declared_facts(exported):
    _manifest, events = exported
    [users] = [i for i in events["daily_signups"]["inputs"] if i["name"].endswith(".users")]
    facet = users["facets"][GOVERNANCE_FACET]
    assert facet["personal"] and "user.contact.email" in facet["categories"]
    assert facet["legalBasis"] == "contract" and facet["region"] == "eu-central-1" and facet["jurisdiction"] == "EU"
    assert facet["retention"] == {"keep": "3 years", "action": "delete"}
    assert facet["personalColumns"]["email"] == ["user.contact.email"]
    signups = output_facets(events["daily_signups"])[GOVERNANCE_FACET]
    assert signups["piiFree"] and not signups["personal"]
    schema = {f["name"] for f in output_facets(events["daily_signups"])["schema"]["fields"]}
    assert schema == {"signup_date", "country", "signups"}
    tokens = output_facets(events["card_tokens"])[GOVERNANCE_FACET]
    assert tokens["regimes"] == ["pci"] and tokens["tokenized"] and not signups["regimes"]


def test_events_round_trip_through_the_client(exported, tmp_path):
    """The client's own file transport writes exactly the JSON the project builds."""
    manifest, events = exported
    from dataflow_governance.catalog.artifact import read
    from dataflow_governance.dagster_ext.parts import dataset_names
    from dataflow_governance.reports.openlineage import catalog_events

    project = load_project(manifest)
    built = catalog_events(read(project.paths.catalog), dataset_names(project))
    target = tmp_path / "client.ndjson"
    client = OpenLineageClient(config={"transport": {"type": "file", "log_file_path": str(target), "append": True}})
    assert emit(client, built) == len(built)
    written = [json.loads(line) for line in target.read_text().splitlines()]
    assert written == [json.loads(to_json(e)) for e in built]
    assert {e["job"]["name"] for e in written} == set(events)


def test_schema_command_publishes_the_facet_schema():
    code, out, _err = run_dfg("openlineage", "schema", project=REPO / "dagster_project.yaml")
    schema = json.loads(out)
    assert code == 0 and schema["$id"].endswith("GovernanceDatasetFacet.json")
    assert set(schema["$defs"]["GovernanceDatasetFacet"]["allOf"][1]["required"]) == {"personal", "categories", "piiFree"}


# --- runs ---------------------------------------------------------------------------------------

MANIFEST = """
project: ol_runs
state_dir: state
openlineage: {namespace: ol_runs, config: ol.yml}
groups:
  g:
    assets:
      people:
        legal_basis: contract
        retention: {keep: 1 year, action: delete, timestamp_column: t}
        columns:
          person_id: {type: int, identity: true, categories: [user.unique_id]}
          email: {type: varchar, categories: [user.contact.email]}
          t: {type: timestamp}
      broken:
        legal_basis: contract
        retention: {keep: 1 year, action: delete}
        lineage: {contact: [people.email]}
"""
SECRET = "jane.doe@example.com"


@pytest.fixture
def failing_run(tmp_path):
    (tmp_path / "dagster_project.yaml").write_text(MANIFEST)
    (tmp_path / "ol.yml").write_text("transport: {type: file, log_file_path: events/ol.ndjson, append: true}\n")
    project = load_project(tmp_path / "dagster_project.yaml")

    @dg.asset
    def people():
        return None

    @dg.asset(deps=[people])
    def broken():
        raise ValueError(f"cannot parse {SECRET}")  # an exception that quotes a value

    defs = governed_definitions(project, [people, broken])
    instance = dg.DagsterInstance.ephemeral()
    job = dg.define_asset_job("both", selection=["people", "broken"]).resolve(asset_graph=defs.resolve_asset_graph())
    result = job.execute_in_process(instance=instance, raise_on_error=False)
    assert not result.success
    return project, defs, instance, result


def test_a_run_emits_start_and_complete_or_fail_per_step_without_the_error_text(failing_run):
    project, _defs, instance, result = failing_run
    events = [json.loads(to_json(e)) for e in run_events(instance, result.run_id, project)]
    states = [(e["job"]["name"], e["eventType"]) for e in events]
    assert states == [("people", "START"), ("people", "COMPLETE"), ("broken", "START"), ("broken", "FAIL")]
    for event in events:
        assert_valid(event)
        assert event["run"]["facets"]["parent"]["run"]["runId"] == result.run_id
        assert event["job"]["namespace"] == "ol_runs"
    assert events[0]["run"]["runId"] == events[1]["run"]["runId"] != events[2]["run"]["runId"]
    assert events[1]["eventTime"] >= events[0]["eventTime"]
    failure = events[3]["run"]["facets"]["errorMessage"]["message"]
    assert failure.startswith("ValueError") and SECRET not in json.dumps(events)
    lineage = events[3]["outputs"][0]["facets"]["columnLineage"]["fields"]["contact"]["inputFields"]
    assert [(f["name"], f["field"]) for f in lineage] == [("main.people", "email")]


def test_the_sensor_emits_a_finished_run_through_the_configured_transport(failing_run):
    project, defs, instance, result = failing_run
    sensors = {s.name: s for s in defs.sensors}
    assert set(sensors) == {s.name for s in openlineage_sensors(project)} == {"openlineage_on_success",
                                                                               "openlineage_on_failure"}
    run = instance.get_run_by_id(result.run_id)
    failure_event = next(e for e in result.all_events if e.event_type_value == "PIPELINE_FAILURE")
    context = dg.build_run_status_sensor_context(sensor_name="openlineage_on_failure", dagster_event=failure_event,
                                                 dagster_instance=instance, dagster_run=run)
    sensors["openlineage_on_failure"](context)
    written = (project.root / "events" / "ol.ndjson").read_text().splitlines()
    assert [json.loads(line)["eventType"] for line in written] == ["START", "COMPLETE", "START", "FAIL"]
    assert SECRET not in "".join(written)


def test_without_the_manifest_section_nothing_is_emitted(tmp_path):
    (tmp_path / "dagster_project.yaml").write_text(MANIFEST.replace("openlineage: {namespace: ol_runs, config: ol.yml}\n", ""))
    project = load_project(tmp_path / "dagster_project.yaml")
    assert openlineage_sensors(project) == []


def test_the_clients_own_settings_win_and_bad_config_is_a_clear_error(tmp_path, monkeypatch):
    (tmp_path / "dagster_project.yaml").write_text(MANIFEST)
    project = load_project(tmp_path / "dagster_project.yaml")
    with pytest.raises(OpenLineageError, match="cannot read ol.yml"):
        client_for(project.openlineage, project.root)
    (tmp_path / "ol.yml").write_text("transport: {url: http://x}\n")
    with pytest.raises(OpenLineageError, match="names no transport"):
        client_for(project.openlineage, project.root)
    (tmp_path / "ol.yml").write_text("transport: [unclosed\n")
    with pytest.raises(OpenLineageError, match="not valid YAML"):
        client_for(project.openlineage, project.root)
    monkeypatch.chdir(tmp_path)  # the client would read an openlineage.yml in the working directory first
    monkeypatch.setenv("OPENLINEAGE_URL", "http://127.0.0.1:9")
    before = {k for k in os.environ if k.startswith("OPENLINEAGE")}
    try:
        assert client_for(project.openlineage, project.root).transport.kind == "http"
    finally:  # the client copies OPENLINEAGE_URL into OPENLINEAGE__TRANSPORT__… variables of the process
        for key in {k for k in os.environ if k.startswith("OPENLINEAGE")} - before:
            del os.environ[key]


def test_an_unreachable_backend_fails_clearly(tmp_path):
    manifest = copy_project(tmp_path)
    (tmp_path / "openlineage.yml").write_text("transport: {type: http, url: 'http://127.0.0.1:9', timeout: 2}\n")
    code, _out, err = run_dfg("openlineage", "export", "--emit", project=manifest)
    assert code == 2 and "OpenLineage transport http failed after 0 event(s)" in err


def test_demo_events_hold_no_personal_value(demo_project):
    manifest, summary = demo_project
    lines = (manifest.parent / "out" / "openlineage" / "events.ndjson").read_text().splitlines()
    assert summary["openlineage_events"] == len(lines) > 0
    events = [json.loads(line) for line in lines]
    assert {e["eventType"] for e in events} == {"START", "COMPLETE"}
    for event in events:
        assert_valid(event)
    project = load_project(manifest)
    with duckdb.connect(str(project.warehouse_path), read_only=True) as con:
        emails = [r[0] for r in con.execute("SELECT email FROM users").fetchall()]
    text = "\n".join(lines)
    assert emails and not any(email in text for email in emails)
    assert not re.search(r"[\w.+-]+@[\w-]+\.(com|org|net|de)\b", text)


def test_warehouse_datasets_are_named_as_the_spec_names_them(tmp_path):
    from dataflow_governance import Warehouse

    postgres = Warehouse(kind="postgres", dsn="postgresql://etl:s3cret@db.internal:6543/sales", schema="analytics")
    assert postgres.engine.dataset_namespace() == ("postgres://db.internal:6543", "sales.analytics.")
    keyword = Warehouse(kind="postgres", dsn="host=db.internal dbname=sales password=s3cret")
    assert keyword.engine.dataset_namespace() == ("postgres://db.internal:5432", "sales.public.")
    duck = Warehouse(kind="duckdb", path=str(tmp_path / "w.duckdb"))
    assert duck.engine.dataset_namespace() == (f"duckdb://{(tmp_path / 'w.duckdb').as_posix()}", "main.")
    spark = Warehouse(kind="spark", dsn="sc://spark.internal:15002/;token=s3cret")
    assert spark.engine.dataset_namespace() == ("spark://spark.internal:15002", "default.")
