"""Model provenance through MLflow, in both directions, and retraining on the recorded data.

Training logs one MLflow run: params, metrics, the code version, each audited dataset as an
`mlflow.data` input (tagged with our full digest, snapshot URI and version — MLflow's own digest
field holds 36 characters and hashes at most 10,000 rows), a LoggedModel and, last of all, a
registered model version. Only then does the ledger get its `model.registered` entry, so a model
version exists with its full record or not at all.

Questions answered:
- model → datasets (digest, snapshot, sources), code version, params   (`model_provenance`)
- dataset → models trained on it                                       (`dataset_models`)
- subject → datasets holding them and models trained on those           (`subject_provenance`)
An erasure flags every model trained on a snapshot that held the subject ("needs retraining":
a tag on the model version and a ledger entry).
"""

from __future__ import annotations

import hashlib
import json
import subprocess
import warnings
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

from dataflow_governance.crypto.keyring import Keyring
from dataflow_governance.ledger.chain import Ledger
from dataflow_governance.ml.datasets import (
    DatasetError,
    DatasetRecord,
    dataset_records,
    digests_holding,
    read_snapshot,
    records_by_digest,
)
from dataflow_governance.ml.model_registry import (
    NEEDS_RETRAINING,
    ProvenanceError,
    Registry,
    experiment_id,
    mlflow_client,
    model_summary,
    models_trained_on,
    resolve_version,
)
from dataflow_governance.storage.objectstore import ObjectStore
from dataflow_governance.storage.warehouse import Warehouse, first_line_redacted, redact_dsn

FINGERPRINT = "dfg.model_fingerprint"
Trainer = Callable[[Any, dict], tuple[Any, dict[str, float]]]


def code_version(root: Path) -> str:
    """The git commit of the project (with `-dirty` for uncommitted changes), else 'unknown'."""
    try:
        commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True, timeout=10)
        if commit.returncode != 0:
            return "unknown"
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=root,
                               capture_output=True, text=True, timeout=10).stdout.strip()
        return commit.stdout.strip() + ("-dirty" if dirty else "")
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def trainer_path(trainer: Trainer) -> str:
    """How a trainer is recorded (`module:qualified.name`), for a resolver to find it again."""
    return f"{trainer.__module__}:{trainer.__qualname__}"


@dataclass
class TrainedModel:
    model: str
    version: str
    mlflow_run_id: str
    model_uri: str
    model_id: str
    metrics: dict[str, float]
    params: dict[str, Any]
    code_version: str
    datasets: list[str]

    def to_dict(self) -> dict:
        return asdict(self)


def model_fingerprint(model: Any, frame: Any, features: str | list[str]) -> str:
    """SHA-256 of the model's predictions (probabilities where it has them) over the whole dataset:
    the same data, params and seed give bit-identical predictions, so equal fingerprints mean the
    retrained model behaves exactly as the recorded one on every training row."""
    inputs = frame[features]
    if hasattr(model, "predict_proba"):
        out = np.ascontiguousarray(model.predict_proba(inputs), dtype="<f8").tobytes()
    else:
        out = "\n".join(map(str, model.predict(inputs))).encode()
    return "sha256:" + hashlib.sha256(out).hexdigest()


def _training_frame(datasets: list[tuple[DatasetRecord, pa.Table]]):
    return datasets[0][1].to_pandas() if len(datasets) == 1 else [t.to_pandas() for _, t in datasets]


def _log_run(mlflow, datasets: list[tuple[DatasetRecord, pa.Table]], trainer: Trainer, params: dict, target: str | None,
             features: str | list[str], tags: dict[str, str]):
    """Inside an active run: params, tags, dataset inputs, training, metrics, the LoggedModel."""
    import mlflow.data
    import mlflow.sklearn
    import skops
    import skops.io

    try:
        import sklearn
    except ImportError:
        raise ProvenanceError("the model is logged as a scikit-learn model, and scikit-learn is not installed: "
                              "pip install 'dataflow-governance[example]'") from None

    mlflow.log_params(params)
    mlflow.set_tags(tags)
    for record, table in datasets:
        frame = table.to_pandas()
        with warnings.catch_warnings():  # its schema hint about integer columns concerns model signatures
            warnings.simplefilter("ignore", UserWarning)
            dataset = mlflow.data.from_pandas(frame, source=record.snapshot_uri, name=record.asset,
                                              targets=target if target in frame.columns else None,
                                              digest=record.digest.removeprefix("sha256:")[:32])
            mlflow.log_input(dataset, context="training", tags={
                "dfg.digest": record.digest, "dfg.snapshot_uri": record.snapshot_uri,
                "dfg.snapshot_version": record.version_id or "", "dfg.rows": str(record.rows), "dfg.asset": record.asset})
    frame = _training_frame(datasets)
    model, metrics = trainer(frame, params)
    mlflow.log_metrics(metrics)
    mlflow.set_tag(FINGERPRINT, model_fingerprint(model, frame, features))
    # skops refuses types it does not know; these are the types of the model we just trained.
    trusted = skops.io.get_untrusted_types(data=skops.io.dumps(model))
    info = mlflow.sklearn.log_model(model, name="model", params=params, skops_trusted_types=trusted,
                                    pip_requirements=[f"scikit-learn=={sklearn.__version__}", f"skops=={skops.__version__}"])
    return info, metrics


def train_and_register(registry: Registry, *, project: str, code: str, model_name: str, trainer: Trainer,
                       params: dict, datasets: list[tuple[DatasetRecord, pa.Table]], ledger: Ledger,
                       features: str | list[str], target: str | None = None, actor: str = "dfg:train") -> TrainedModel:
    """Train on verified snapshots, log everything to MLflow, register a version, then ledger it.

    Args:
        registry: the MLflow tracking store and experiment.
        project: the project's name (a tag of the run).
        code: the code version trained with (`code_version` of the project's root).
        trainer: `trainer(frame, params) -> (model, metrics)`, recorded by module and name.
        datasets: the verified snapshots, with their ledger records.
        features: the columns the model predicts from (its predictions over them fingerprint it).

    Returns:
        The registered version, its run, metrics and datasets (also ledgered as `model.registered`).
    """
    import mlflow

    uri = registry.uri
    client = mlflow_client(uri)
    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)
    version_code = code
    tags = {"dfg.project": project, "dfg.code_version": version_code, "dfg.trainer": trainer_path(trainer),
            "dfg.params": json.dumps(params, sort_keys=True), "dfg.model": model_name,
            "dfg.features": json.dumps(features), "dfg.target": target or ""}
    try:
        with mlflow.start_run(experiment_id=experiment_id(client, registry)) as run:
            # An exception ends the run FAILED, before anything is registered.
            info, metrics = _log_run(mlflow, datasets, trainer, params, target, features, tags)
            digests = [record.digest for record, _ in datasets]
            version = mlflow.register_model(info.model_uri, model_name, tags={
                "dfg.datasets": ",".join(digests), "dfg.mlflow_run_id": run.info.run_id,
                "dfg.code_version": version_code})
    except ProvenanceError:
        raise
    except Exception as exc:
        raise ProvenanceError(f"training {model_name!r} failed (MLflow at {redact_dsn(uri)}), nothing was registered: "
                              f"{type(exc).__name__}: {first_line_redacted(exc)}") from None
    trained = TrainedModel(model=model_name, version=str(version.version), mlflow_run_id=run.info.run_id,
                           model_uri=f"models:/{model_name}/{version.version}", model_id=info.model_id,
                           metrics={k: float(v) for k, v in metrics.items()}, params=params,
                           code_version=version_code, datasets=digests)
    try:
        ledger.append(actor, "model.registered", f"model:{model_name}/{version.version}", trained.to_dict())
    except Exception:
        # Without its ledger entry the version would be unaccounted for: take it back.
        client.delete_model_version(model_name, str(version.version))
        raise
    return trained


# --- the three questions ----------------------------------------------------------------------------

def model_provenance(tracking_uri: str, warehouse: Warehouse, name: str, version: str | None = None) -> dict:
    """Which data trained this model version: the contract's JSON (model, version, datasets, …)."""
    client = mlflow_client(tracking_uri)
    model_version = resolve_version(client, name, version)
    run = client.get_run(model_version.run_id)
    records = records_by_digest(Ledger(warehouse))
    datasets = []
    for dataset_input in run.inputs.dataset_inputs:
        tags = {t.key: t.value for t in dataset_input.tags}
        digest = tags.get("dfg.digest")
        record = records.get(digest)
        entry = record.summary() if record else {
            "asset": dataset_input.dataset.name, "digest": digest, "rows": int(tags.get("dfg.rows", 0) or 0),
            "snapshot_uri": tags.get("dfg.snapshot_uri"), "version_id": tags.get("dfg.snapshot_version") or None,
            "sources": []}
        entry["recorded_in_ledger"] = record is not None
        entry["mlflow_digest"] = dataset_input.dataset.digest
        datasets.append(entry)
    params = json.loads(run.data.tags["dfg.params"]) if "dfg.params" in run.data.tags else dict(run.data.params)
    return {
        "model": name,
        "version": str(model_version.version),
        "mlflow_run_id": model_version.run_id,
        "model_uri": f"models:/{name}/{model_version.version}",
        "datasets": datasets,
        "code_version": run.data.tags.get("dfg.code_version", run.data.tags.get("mlflow.source.git.commit", "unknown")),
        "params": params,
        "metrics": dict(run.data.metrics),
        "trainer": run.data.tags.get("dfg.trainer"),
        "model_fingerprint": run.data.tags.get(FINGERPRINT),
        "features": json.loads(run.data.tags.get("dfg.features", "null")),
        "needs_retraining": model_version.tags.get(NEEDS_RETRAINING) == "true",
    }


def dataset_models(warehouse: Warehouse, asset: str) -> dict:
    """The materializations of a dataset and every registered model trained on one of them."""
    ledger = Ledger(warehouse)
    records = dataset_records(ledger, asset)
    if not records:
        raise ProvenanceError(f"no materialization of dataset {asset!r} is recorded in the ledger")
    models = [model_summary(m) for m in models_trained_on(ledger, {r.digest for r in records})]
    return {"asset": asset, "datasets": [r.summary() for r in records], "models": models}


def subject_provenance(warehouse: Warehouse, keyring: Keyring, subject_id: str) -> dict:
    """Datasets whose membership index holds the subject, and the models trained on them."""
    ledger = Ledger(warehouse)
    subject = keyring.subject_hash(subject_id)
    digests = set(digests_holding(warehouse, subject))
    latest = {d: r for d, r in records_by_digest(ledger).items() if d in digests}  # one entry per snapshot
    models = [model_summary(m) for m in models_trained_on(ledger, digests)]
    return {"subject": subject, "datasets": [r.summary() for r in latest.values()], "models": models}


# --- reproduction -------------------------------------------------------------------------------------

def reproduce(registry: Registry, warehouse: Warehouse, store: ObjectStore, name: str, version: str | None = None, *,
              resolve_trainer: Callable[[str], Trainer], code: str, actor: str = "dfg:provenance") -> dict:
    """Re-read the recorded snapshot(s), verify every digest, retrain with the recorded params and trainer.

    Args:
        registry: the MLflow tracking store and experiment.
        resolve_trainer: gives the trainer a run recorded (`module:qualified.name`), or raises
            `ProvenanceError`; the project's own code, so its caller knows where to find it.
        code: the code version retrained with.

    Returns:
        The reproduction: its run, metrics beside the recorded ones, and `identical` — whether the
        fitted model is the recorded one, prediction for prediction.
    """
    import mlflow

    uri = registry.uri
    recorded = model_provenance(uri, warehouse, name, version)
    ledger = Ledger(warehouse)
    records = records_by_digest(ledger)
    verified = []
    for dataset in recorded["datasets"]:
        record = records.get(dataset.get("digest"))
        if record is None:
            raise ProvenanceError(f"cannot reproduce {name}:{recorded['version']}: dataset {dataset['asset']} "
                                  f"({dataset.get('digest')}) has no record in the ledger")
        try:
            verified.append((record, read_snapshot(store, record)))
        except DatasetError as exc:  # gone (erased) or altered: say so, and what to do instead
            raise ProvenanceError(f"cannot reproduce {name}:{recorded['version']}: {exc}; materialize "
                                  f"{record.asset} again and train a new version") from None
    if not recorded.get("trainer") or not recorded.get("features"):
        raise ProvenanceError(f"cannot reproduce {name}:{recorded['version']}: its run records no trainer or features")
    trainer = resolve_trainer(recorded["trainer"])
    client = mlflow_client(uri)
    mlflow.set_tracking_uri(uri)
    tags = {"dfg.reproduction_of": recorded["mlflow_run_id"], "dfg.code_version": code,
            "dfg.trainer": recorded["trainer"], "dfg.params": json.dumps(recorded["params"], sort_keys=True)}
    with mlflow.start_run(experiment_id=experiment_id(client, registry)) as run:
        _, metrics = _log_run(mlflow, verified, trainer, recorded["params"], None, recorded["features"], tags)
    fingerprint = client.get_run(run.info.run_id).data.tags.get(FINGERPRINT)
    metrics = {k: float(v) for k, v in metrics.items()}
    result = {"model": name, "version": recorded["version"], "reproduced_run_id": run.info.run_id,
              "datasets": [{"asset": r.asset, "digest": r.digest, "digest_verified": True, "rows": r.rows}
                           for r, _ in verified],
              "params": recorded["params"], "metrics": metrics, "recorded_metrics": recorded["metrics"],
              "metrics_match": metrics == {k: float(v) for k, v in recorded["metrics"].items()},
              "model_fingerprint": fingerprint, "recorded_model_fingerprint": recorded["model_fingerprint"],
              "identical": fingerprint is not None and fingerprint == recorded["model_fingerprint"]}
    ledger.append(actor, "model.reproduced", f"model:{name}/{recorded['version']}",
                  {k: v for k, v in result.items() if k != "params"})
    return result


__all__ = ["NEEDS_RETRAINING", "ProvenanceError", "Registry", "TrainedModel", "code_version", "dataset_models",
           "model_provenance", "reproduce", "subject_provenance", "train_and_register", "trainer_path"]
