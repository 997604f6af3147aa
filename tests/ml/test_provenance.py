"""Audited training datasets and MLflow provenance, end to end on the example project.

Real parts throughout: the local S3 endpoint over HTTP, DuckDB (and PostgreSQL where named), an
MLflow sqlite tracking store, Dagster runs through `dfg demo`.
"""

from __future__ import annotations

import hashlib
import io
import json
import socket
from dataclasses import replace

import dagster as dg
import mlflow
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from dataflow_governance.ml.datasets import (
    MEMBERS_TABLE,
    DatasetError,
    DatasetSpec,
    _subject_permissions,
    dataset_records,
    materialize_dataset,
    members_of,
    parquet_bytes,
    read_snapshot,
    verify_snapshot,
)
from dataflow_governance.ml.digest import table_digest
from dataflow_governance.dagster_ext.parts import open_keyring, subjects_of
from dataflow_governance.crypto.hashing import keyed_hash
from dataflow_governance.ledger.chain import Ledger
from dataflow_governance.model.manifest import load_project
from dataflow_governance.storage.objectstore import (
    ObjectStore,
    ObjectStoreError,
    ensure_buckets,
    get_object,
    open_object_store,
    split_s3_uri,
)
from dataflow_governance.storage.warehouse import Warehouse

from conftest import PG_DSN, copy_project, dfg_json, run_dfg
from dataflow_governance import open_warehouse

DATASET, MODEL = "ticket_training_set", "ticket_classifier"
DATASET_SQL = "SELECT ticket_id, user_pseudo_id, text, label FROM ticket_features"


def demo(tmp_path, env: dict | None = None):
    manifest = copy_project(tmp_path / "deep_water")
    code, out, err = run_dfg("demo", "--json", project=manifest, env=env)
    return manifest, code, out, err


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """The example after a `dfg demo` of this module's own: its tests write snapshots and read
    object versions, which a copy's local endpoint (replayed on start) gives new ids."""
    manifest, code, out, err = demo(tmp_path_factory.mktemp("prov"))
    assert code == 0, err[-3000:]
    yield manifest, load_project(manifest), json.loads(out)
    run_dfg("local", "stop", project=manifest)


def dead_tracking_uri() -> str:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{probe.getsockname()[1]}"  # nothing listens once closed


def latest_metadata(project, asset: str) -> dict:
    with dg.DagsterInstance.local_temp(tempdir=str(project.state_dir / "dagster_home")) as instance:
        event = instance.get_latest_materialization_event(dg.AssetKey(asset))
    return {k: getattr(v, "value", v) for k, v in event.asset_materialization.metadata.items()}


def store_of(project):
    return open_object_store(project.object_store.endpoint_url, project.object_store.region, project.state_dir, True)


def snapshot_bytes(project, uri: str, version: str | None = None) -> bytes:
    return get_object(store_of(project), *split_s3_uri(uri), version)


def dataset_spec(project) -> DatasetSpec:
    return DatasetSpec.from_governance(project.governance[DATASET], DATASET_SQL, ["ticket_id"])


def consenting_ticket_writers(project) -> list[int]:
    wh = open_warehouse(project)
    rows = wh.fetch("SELECT DISTINCT t.user_id FROM tickets t JOIN users u USING (user_id) "
                    "WHERE u.analytics_consent ORDER BY 1")
    return [int(r[0]) for r in rows]


def pseudonyms_in(table, project, user_ids) -> set[int]:
    key = open_keyring(project).key("pseudonym")
    present = set(table.column("user_pseudo_id").to_pylist())
    return {u for u in user_ids if keyed_hash(key, u) in present}


# --- the demo trains and registers; every record of the dataset agrees ----------------------------

def test_demo_registers_the_model_with_the_dataset_as_recorded_everywhere(trained):
    manifest, project, summary = trained
    meta = latest_metadata(project, DATASET)
    digest, uri = meta["dataset/digest"], meta["dataset/snapshot_uri"]
    # The snapshot's bytes: their SHA-256 as recorded, their rows digest to the recorded digest.
    body = snapshot_bytes(project, uri, meta["dataset/snapshot_version"])
    assert hashlib.sha256(body).hexdigest() == meta["dataset/snapshot_sha256"]
    assert table_digest(pq.read_table(io.BytesIO(body))) == digest
    assert uri.endswith(digest.removeprefix("sha256:") + ".parquet")  # content-addressed
    # MLflow: the registered version's run has the dataset as an input, tagged with the same digest.
    client = mlflow.MlflowClient(tracking_uri=project.mlflow_tracking_uri, registry_uri=project.mlflow_tracking_uri)
    version = client.get_model_version(MODEL, "1")
    run = client.get_run(version.run_id)
    (dataset_input,) = run.inputs.dataset_inputs
    tags = {t.key: t.value for t in dataset_input.tags}
    assert tags["dfg.digest"] == digest and tags["dfg.snapshot_uri"] == uri
    assert tags["mlflow.data.context"] == "training"
    assert dataset_input.dataset.digest == digest.removeprefix("sha256:")[:32]
    assert json.loads(dataset_input.dataset.profile)["num_rows"] == meta["dagster/row_count"]
    assert run.data.params["n_estimators"] == "50" and "accuracy" in run.data.metrics
    assert run.data.tags["dfg.code_version"]
    assert client.get_logged_model(run.outputs.model_outputs[0].model_id).source_run_id == run.info.run_id
    # Dagster's model materialization links the run, the model URI and the version.
    model_meta = latest_metadata(project, MODEL)
    assert (model_meta["mlflow/run_id"], model_meta["mlflow/model_uri"], model_meta["mlflow/model_version"]) == \
        (run.info.run_id, f"models:/{MODEL}/1", "1")
    assert model_meta["dataset/digest"] == digest
    # The snapshot check ran after the dataset and found it intact.
    check = dg.AssetCheckKey(dg.AssetKey(DATASET), "snapshots_intact")
    with dg.DagsterInstance.local_temp(tempdir=str(project.state_dir / "dagster_home")) as instance:
        execution = instance.event_log_storage.get_latest_asset_check_execution_by_key([check])[check]
    evaluation = execution.event.dagster_event.event_specific_data
    assert evaluation.passed and evaluation.metadata["snapshots"].value == 1
    # The ledger holds both facts; artifacts stay in the project's state dir.
    ledger = Ledger(open_warehouse(project))
    assert ledger.entries(action="dataset.materialized")[-1].details_dict()["digest"] == digest
    assert ledger.entries(action="model.registered")[-1].details_dict()["mlflow_run_id"] == run.info.run_id
    assert client.get_experiment(run.info.experiment_id).artifact_location.startswith(project.state_dir.as_uri())
    assert not (manifest.parent / "mlruns").exists()


def test_provenance_contracts_answer_in_both_directions(trained):
    manifest, project, _ = trained
    code, by_model, _ = dfg_json("provenance", "--model", MODEL, project=manifest)
    assert code == 0
    assert {"model", "version", "mlflow_run_id", "datasets", "code_version", "params"} <= set(by_model)
    (dataset,) = by_model["datasets"]
    assert dataset["asset"] == DATASET and dataset["digest"].startswith("sha256:")
    assert dataset["rows"] == latest_metadata(project, DATASET)["dagster/row_count"]
    assert {"ticket_features.text", "ticket_features.label"} <= set(dataset["sources"])
    assert "tickets_clean.text" in dataset["upstream"]  # past the dataset's own SQL, through the graph
    assert by_model["params"]["seed"] == 7  # typed, as the trainer got them

    code, by_dataset, _ = dfg_json("provenance", "--dataset", DATASET, project=manifest)
    assert code == 0 and [m["model"] for m in by_dataset["models"]] == [MODEL]

    inside = consenting_ticket_writers(project)[0]
    code, by_subject, _ = dfg_json("provenance", "--subject-id", str(inside), project=manifest)
    assert code == 0
    assert [d["digest"] for d in by_subject["datasets"]] == [dataset["digest"]]
    assert [(m["model"], m["version"]) for m in by_subject["models"]] == [(MODEL, "1")]
    assert by_subject["subject"] == open_keyring(project).subject_hash(inside)  # never the id itself
    code, access, _ = dfg_json("access", "--subject-id", str(inside), project=manifest)  # Art. 15 names them too
    assert code == 0 and access["training"] == {"datasets": by_subject["datasets"], "models": by_subject["models"]}
    outside = open_warehouse(project).fetch("SELECT max(user_id) + 1000 FROM users")[0][0]
    code, nobody, _ = dfg_json("provenance", "--subject-id", str(outside), project=manifest)
    assert code == 0 and nobody["datasets"] == [] and nobody["models"] == []


def test_membership_index_holds_keyed_hashes_of_exactly_the_dataset_subjects(trained):
    _, project, _ = trained
    wh = open_warehouse(project)
    record = dataset_records(Ledger(wh), DATASET)[-1]
    members = members_of(wh, record.digest)
    table = pq.read_table(io.BytesIO(snapshot_bytes(project, record.snapshot_uri)))
    key = open_keyring(project).key("pseudonym")
    by_pseudonym = {keyed_hash(key, u): u for (u,) in wh.fetch("SELECT user_id FROM users")}
    expected = {open_keyring(project).subject_hash(by_pseudonym[p]) for p in set(table.column("user_pseudo_id").to_pylist())}
    assert set(members) == expected and record.members == len(expected)
    raw_ids = {str(u) for u in by_pseudonym.values()}
    assert not raw_ids & set(members)


def test_reproduction_verifies_the_digest_and_retrains_the_identical_model(trained):
    manifest, project, _ = trained
    code, result, err = dfg_json("provenance", "--model", f"{MODEL}:1", "--reproduce", project=manifest)
    assert code == 0, err
    assert result["datasets"][0]["digest_verified"] and result["metrics_match"] and result["identical"]
    assert result["model_fingerprint"] == result["recorded_model_fingerprint"]
    assert Ledger(open_warehouse(project)).entries(action="model.reproduced")


def test_rematerializing_the_same_inputs_gives_the_same_digest_and_reuses_the_snapshot(trained):
    _, project, _ = trained
    wh = open_warehouse(project)
    before = dataset_records(Ledger(wh), DATASET)[-1]
    again = materialize_dataset(dataset_spec(project), wh, store_of(project), subjects_of(project, wh))
    assert again.digest == before.digest and again.snapshot_uri == before.snapshot_uri
    assert again.reused and again.version_id == before.version_id


def test_a_tampered_snapshot_is_detected(trained):
    manifest, project, _ = trained
    record = dataset_records(Ledger(open_warehouse(project)), DATASET)[-1]
    table = pq.read_table(io.BytesIO(snapshot_bytes(project, record.snapshot_uri)))
    labels = table.column("label").to_pylist()
    labels[0] = "billing" if labels[0] != "billing" else "account"  # one label flipped
    forged = table.set_column(table.schema.get_field_index("label"), "label", pa.array(labels))
    bucket, key = record.bucket_key
    client = store_of(project).client()
    put = client.put_object(Bucket=bucket, Key=key, Body=parquet_bytes(forged))
    try:
        code, result, _ = dfg_json("provenance", "--model", MODEL, "--verify", project=manifest)
        assert code == 1
        assert "overwritten with different bytes" in result["datasets"][0]["problems"][0]
        # Where the recorded version cannot be had, the current object is checked — and refused.
        with pytest.raises(DatasetError, match="was altered"):
            read_snapshot(store_of(project), replace(record, version_id="no-such-version"))
        # Bytes that still hash as recorded but hold other rows are caught by the content digest.
        with pytest.raises(DatasetError, match="content digest"):
            read_snapshot(store_of(project), replace(record, version_id=put["VersionId"],
                                                     snapshot_sha256=hashlib.sha256(parquet_bytes(forged)).hexdigest()))
    finally:
        client.delete_object(Bucket=bucket, Key=key, VersionId=put["VersionId"])  # the recorded version is current again
    assert verify_snapshot(store_of(project), record) == []
    code, out, _ = run_dfg("provenance", "--model", MODEL, "--verify", project=manifest)
    assert code == 0 and "snapshot(s) intact" in out.splitlines()[-1]


def test_unknown_model_or_version_is_a_clear_error(trained):
    manifest, _, _ = trained
    code, _, err = run_dfg("provenance", "--model", "no_such_model", project=manifest)
    assert code == 2 and "unknown model 'no_such_model'" in err and MODEL in err
    code, _, err = run_dfg("provenance", "--model", f"{MODEL}:99", project=manifest)
    assert code == 2 and "no version 99" in err
    code, _, err = run_dfg("provenance", "--model", f"{MODEL}:latest", project=manifest)
    assert code == 2 and "NAME:VERSION" in err
    code, _, err = run_dfg("provenance", "--dataset", "no_such_dataset", project=manifest)
    assert code == 2 and "no materialization" in err


def test_no_personal_value_reaches_metadata_ledger_or_mlflow(trained):
    _, project, _ = trained
    wh = open_warehouse(project)
    # Contact details, pseudonyms and the customers' own words (ids are short numbers that any
    # count could equal, so they are checked as the subject hashes the index holds instead).
    values = {str(v) for row in wh.fetch("SELECT email, password_hash FROM users") for v in row}
    values |= {str(v) for row in wh.fetch("SELECT DISTINCT user_pseudo_id, text FROM ticket_features") for v in row}
    client = mlflow.MlflowClient(tracking_uri=project.mlflow_tracking_uri)
    run = client.get_run(client.get_model_version(MODEL, "1").run_id)
    texts = [repr(latest_metadata(project, DATASET)), repr(latest_metadata(project, MODEL)),
             *(e.details for e in Ledger(wh).entries(action_prefix="dataset.")),
             *(e.details for e in Ledger(wh).entries(action_prefix="model.")),
             json.dumps(run.data.tags), json.dumps(run.data.params),
             *(json.dumps([t.value for t in i.tags]) + (i.dataset.profile or "") + (i.dataset.schema or "")
               for i in run.inputs.dataset_inputs)]
    blob = "\n".join(texts)
    assert not [v for v in values if v in blob]


# --- what may be used: consent and erasure ---------------------------------------------------------

def test_withdrawn_consent_and_erasure_keep_subjects_out_and_flag_the_earlier_model(demo_copy):
    manifest = demo_copy
    project = load_project(manifest)
    withdrawn, erased, pending, *others = consenting_ticket_writers(project)
    first = dataset_records(Ledger(open_warehouse(project)), DATASET)[-1]
    snapshot = pq.read_table(io.BytesIO(snapshot_bytes(project, first.snapshot_uri)))
    assert pseudonyms_in(snapshot, project, [withdrawn, erased, pending]) == {withdrawn, erased, pending}

    open_warehouse(project).execute(f"UPDATE users SET analytics_consent = false WHERE user_id = {withdrawn}")
    code, plan, _ = dfg_json("erase", "--subject-id", str(erased), "--dry-run", project=manifest)
    assert {"system": "model", "target": f"models:/{MODEL}/1", "action": "flag"}.items() <= \
        next(t for t in plan["targets"] if t["system"] == "model").items()
    # MLflow down mid-erasure: a clear error, the data targets done so far stay done, a rerun finishes.
    code, _, err = run_dfg("erase", "--subject-id", str(erased), "--now", project=manifest,
                           env={"MLFLOW_TRACKING_URI": dead_tracking_uri()})
    assert code == 2 and "unreachable" in err and "Traceback" not in err
    code, result, err = dfg_json("erase", "--subject-id", str(erased), "--now", project=manifest)
    assert code == 0 and result["status"] == "verified", err
    assert any(t["target"] == first.snapshot_uri and t["action"] == "delete" and t["verified"] for t in result["targets"])
    code, _, err = dfg_json("erase", "--subject-id", str(pending), project=manifest)  # 30 days of grace: pending
    assert code == 0, err
    certificate = json.loads((project.output_dir / "erasures" / f"{result['subject']}.json").read_text())
    assert any(t["system"] == "model" and t["verified"] for t in certificate["targets"])

    # The model trained before the erasure is flagged in MLflow and in the ledger.
    client = mlflow.MlflowClient(tracking_uri=project.mlflow_tracking_uri, registry_uri=project.mlflow_tracking_uri)
    assert client.get_model_version(MODEL, "1").tags["dfg.needs_retraining"] == "true"
    assert Ledger(open_warehouse(project)).entries(action="model.flagged", target=f"model:{MODEL}/1")
    code, by_subject, _ = dfg_json("provenance", "--subject-id", str(erased), project=manifest)
    assert by_subject["models"][0]["needs_retraining"] and by_subject["datasets"][0]["deleted"]
    # Its snapshot is gone (every version), and reproduction says why it cannot.
    bucket, key = split_s3_uri(first.snapshot_uri)
    assert not store_of(project).client().list_object_versions(Bucket=bucket, Prefix=key).get("Versions")
    code, _, err = run_dfg("provenance", "--model", f"{MODEL}:1", "--reproduce", project=manifest)
    assert code == 2 and "deleted by an erasure" in err

    # Materialized again, the dataset holds none of the three; everyone else is still there.
    wh = open_warehouse(project)
    again = materialize_dataset(dataset_spec(project), wh, store_of(project), subjects_of(project, wh))
    table = pq.read_table(io.BytesIO(snapshot_bytes(project, again.snapshot_uri)))
    assert pseudonyms_in(table, project, [withdrawn, erased, pending]) == set()
    assert pseudonyms_in(table, project, others) == set(others)
    assert again.excluded["no_consent"] >= 1 and again.excluded["erasure"] >= 1  # the pending one's tickets
    assert again.digest != first.digest


# --- bad input ------------------------------------------------------------------------------------

def test_unreachable_tracking_server_fails_the_model_cleanly_and_keeps_the_dataset(tmp_path):
    dead = dead_tracking_uri()
    manifest, code, out, err = demo(tmp_path, env={"MLFLOW_TRACKING_URI": dead})
    assert code == 1
    summary = json.loads(out)
    assert summary["materialized"] == summary["assets"] - 1  # everything but the model
    project = load_project(manifest)
    with dg.DagsterInstance.local_temp(tempdir=str(project.state_dir / "dagster_home")) as instance:
        failures = [r for r in instance.get_records_for_run(summary["run_id"]).records
                    if r.event_log_entry.dagster_event and r.event_log_entry.dagster_event.event_type_value == "STEP_FAILURE"]
    messages = []
    for failure in failures:
        error = failure.event_log_entry.dagster_event.event_specific_data.error
        while error is not None:  # Dagster wraps the asset's exception: read down to it
            messages.append(error.message)
            error = error.cause
    messages = " ".join(messages)
    assert f"MLflow tracking server at {dead} is unreachable" in messages
    ledger = Ledger(open_warehouse(project))
    assert ledger.entries(action="dataset.materialized") and not ledger.entries(action="model.registered")
    code, _, err = run_dfg("provenance", "--model", MODEL, project=manifest, env={"MLFLOW_TRACKING_URI": dead})
    assert code == 2 and "unreachable" in err


def test_consent_basis_without_a_covering_consent_is_refused(tmp_path):
    manifest = copy_project(tmp_path / "p")
    text = manifest.read_text().replace("analytics_consent: [analytics, essential.service.operations.improve]",
                                        "analytics_consent: [analytics]")
    manifest.write_text(text)
    project = load_project(manifest)
    spec = DatasetSpec.from_governance(project.governance[DATASET], DATASET_SQL, ["ticket_id"])
    warehouse = open_warehouse(project)
    with pytest.raises(DatasetError, match="no consent of subjects.customer.consents covers purpose"):
        _subject_permissions(spec, warehouse, subjects_of(project, warehouse))
    manifest.write_text(text.replace("analytics_consent: [analytics]", "analytics_consent: [analytics.nonsense]"))
    code, _, err = run_dfg("check", project=manifest)
    assert code == 2 and "unknown data use 'analytics.nonsense'" in err


# --- the core on PostgreSQL, and across engines --------------------------------------------------------

def seed_tiny(project, wh) -> None:
    """Four customers (consent yes, no, yes, unknown) and five tickets, in `wh`."""
    key = open_keyring(project).key("pseudonym")
    wh.replace_table("users", pd.DataFrame({
        "user_id": [1, 2, 3, 4], "analytics_consent": pd.array([True, False, True, None], dtype="boolean"),
        "email": ["a@x.example", "b@x.example", "c@x.example", "d@x.example"]}))
    wh.replace_table("ticket_features", pd.DataFrame({
        "ticket_id": [14, 11, 12, 13, 15], "user_pseudo_id": [keyed_hash(key, u) for u in (1, 1, 2, 3, 4)],
        "text": ["late parcel", "refund", "login", "wrong item", "help"],
        "label": ["delivery", "billing", "account", "delivery", "account"]}))


def test_same_rows_give_the_same_digest_on_duckdb_and_postgres(tmp_path, pg_schema):
    project = load_project(copy_project(tmp_path / "p"))
    store = store_of(project)
    ensure_buckets(store, project.buckets)
    records = {}
    for name, wh in {"duckdb": open_warehouse(project),
                     "postgres": Warehouse(kind="postgres", dsn=PG_DSN, schema=pg_schema)}.items():
        seed_tiny(project, wh)
        Ledger(wh).append("test", "erasure.requested", f"subject:{open_keyring(project).subject_hash(3)}", {"due": "2026-01-01"})
        records[name] = materialize_dataset(dataset_spec(project), wh, store, subjects_of(project, wh))
        assert wh.table_exists(MEMBERS_TABLE)
    duck, pg = records["duckdb"], records["postgres"]
    assert duck.digest == pg.digest and duck.rows == pg.rows == 2  # subject 1's two tickets
    assert duck.excluded == pg.excluded == {"no_consent": 2, "erasure": 1, "unknown_subject": 0}
    assert pg.members == 1 and pg.sources == ["ticket_features.label", "ticket_features.text",
                                              "ticket_features.ticket_id", "ticket_features.user_pseudo_id"]
    table = pq.read_table(io.BytesIO(get_object(store, *split_s3_uri(pg.snapshot_uri))))
    assert table.column("ticket_id").to_pylist() == [11, 14]  # in key order


def test_bad_sql_missing_tables_and_s3_failures_are_clear_and_record_nothing(tmp_path):
    project = load_project(copy_project(tmp_path / "p"))
    wh = open_warehouse(project)
    gov = project.governance[DATASET]
    missing = DatasetSpec.from_governance(gov, "SELECT ticket_id, user_pseudo_id FROM no_such_table", ["ticket_id"])
    with pytest.raises(DatasetError, match="no_such_table"):
        materialize_dataset(missing, wh, store_of(project), subjects_of(project, wh))
    malformed = DatasetSpec.from_governance(gov, "SELECT ticket_id, FROM WHERE", ["ticket_id"])
    with pytest.raises(DatasetError, match="cannot trace its SELECT"):
        materialize_dataset(malformed, wh, store_of(project), subjects_of(project, wh))
    seed_tiny(project, wh)
    dead = ObjectStore(endpoint_url=dead_tracking_uri(), region="eu-central-1", local=True)
    with pytest.raises(ObjectStoreError, match="unreachable"):
        materialize_dataset(dataset_spec(project), wh, dead, subjects_of(project, wh))
    assert not Ledger(wh).entries(action_prefix="dataset.") and not wh.table_exists(MEMBERS_TABLE)
    with pytest.raises(DatasetError, match="storage"):
        DatasetSpec.from_governance(project.governance["tickets"], DATASET_SQL, ["ticket_id"])
