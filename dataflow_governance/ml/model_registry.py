"""The MLflow adapter: the client, experiments, model versions and their flags, and the ledger's
records of registered models.

Every MLflow call of the project goes through here, so a tracking server that cannot be reached
is one clear `ProvenanceError`, and erasure can flag a model without knowing MLflow's API.
"""

from __future__ import annotations

import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from dataflow_governance.errors import ProvenanceError
from dataflow_governance.ledger.chain import Ledger
from dataflow_governance.storage.warehouse import first_line_redacted, redact_dsn

NEEDS_RETRAINING = "dfg.needs_retraining"


# --- MLflow ---------------------------------------------------------------------------------------

def _describe(uri: str) -> str:
    return redact_dsn(uri)


def mlflow_client(uri: str):
    """An MlflowClient for tracking and registry at `uri`, after checking a server answers at all."""
    import mlflow

    if uri.startswith(("http://", "https://")):
        probe = uri.rstrip("/") + "/api/2.0/mlflow/experiments/search?max_results=1"
        try:
            urllib.request.urlopen(probe, timeout=5).close()
        except urllib.error.HTTPError:
            pass  # it answered (perhaps 401/403): reachable; MLflow reports the rest
        except (urllib.error.URLError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            raise ProvenanceError(f"MLflow tracking server at {_describe(uri)} is unreachable: {reason}") from None
    try:
        client = mlflow.MlflowClient(tracking_uri=uri, registry_uri=uri)
        client.search_experiments(max_results=1)
    except Exception as exc:
        raise ProvenanceError(f"MLflow tracking store at {_describe(uri)} cannot be used: {type(exc).__name__}: "
                              f"{first_line_redacted(exc)}") from None
    return client


@dataclass(frozen=True)
class Registry:
    """Where models are tracked and registered.

    Args:
        uri: the MLflow tracking (and registry) URI.
        experiment: the experiment runs are logged under.
        artifacts: where a local tracking store keeps artifacts (MLflow's default would be
            ./mlruns wherever the command happens to run).
    """

    uri: str
    experiment: str
    artifacts: Path


def experiment_id(client, registry: Registry) -> str:
    """The experiment's id, creating it if needed."""
    found = client.get_experiment_by_name(registry.experiment)
    if found is not None:
        return found.experiment_id
    local = not registry.uri.startswith(("http://", "https://", "databricks"))
    return client.create_experiment(registry.experiment, artifact_location=registry.artifacts.as_uri() if local else None)


# --- records of models in the ledger --------------------------------------------------------------

def registered_models(ledger: Ledger) -> list[dict]:
    """Every `model.registered` entry, with `needs_retraining` from later `model.flagged` entries."""
    models, flags = [], {}
    for entry in ledger.entries(action_prefix="model."):
        details = entry.details_dict()
        if entry.action == "model.registered":
            models.append({**details, "registered_at": entry.ts, "seq": entry.seq})
        elif entry.action == "model.flagged":
            flags[entry.target] = {"reason": details.get("reason"), "seq": entry.seq, "ts": entry.ts}
    for model in models:
        flag = flags.get(f"model:{model['model']}/{model['version']}")
        model["needs_retraining"] = flag is not None
        if flag:
            model["flagged"] = flag
    return models


def models_trained_on(ledger: Ledger, digests: set[str]) -> list[dict]:
    """The registered models (as the ledger records them) trained on any of these dataset digests."""
    return [model for model in registered_models(ledger) if digests & set(model["datasets"])]


def model_summary(model: dict) -> dict:
    keys = ("model", "version", "mlflow_run_id", "model_uri", "code_version", "datasets", "needs_retraining",
            "registered_at")
    return {k: model.get(k) for k in keys}


def resolve_version(client, name: str, version: str | None):
    from mlflow.exceptions import MlflowException

    try:
        versions = client.search_model_versions(f"name = '{name.replace(chr(39), '')}'")
    except MlflowException as exc:
        raise ProvenanceError(f"cannot look up model {name!r}: {str(exc).splitlines()[0]}") from None
    if not versions:
        known = sorted(m.name for m in client.search_registered_models())
        raise ProvenanceError(f"unknown model {name!r}; registered models: {', '.join(known) or 'none'}")
    by_number = {str(v.version): v for v in versions}
    if version is None:
        return by_number[max(by_number, key=int)]
    if str(version) not in by_number:
        raise ProvenanceError(f"model {name!r} has no version {version}; versions: {', '.join(sorted(by_number, key=int))}")
    return by_number[str(version)]


def split_model_uri(uri: str) -> tuple[str, str]:
    name, _, version = uri.removeprefix("models:/").rpartition("/")
    return name, version


def flag_model(tracking_uri: str, ledger: Ledger, uri: str, reason: str, actor: str) -> int:
    """Tag the model version `needs retraining` in MLflow and ledger it; 1 if newly flagged, else 0."""
    name, version = split_model_uri(uri)
    client = mlflow_client(tracking_uri)
    current = client.get_model_version(name, version)
    if current.tags.get(NEEDS_RETRAINING) == "true":
        return 0
    client.set_model_version_tag(name, version, NEEDS_RETRAINING, "true")
    client.set_model_version_tag(name, version, "dfg.retraining_reason", reason)
    ledger.append(actor, "model.flagged", f"model:{name}/{version}", {"reason": reason, "model_uri": uri})
    return 1


def model_is_flagged(tracking_uri: str, uri: str) -> bool:
    name, version = split_model_uri(uri)
    return mlflow_client(tracking_uri).get_model_version(name, version).tags.get(NEEDS_RETRAINING) == "true"
