"""`dfg provenance`: which data trained a model, which models saw a dataset or a subject; reproduction."""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dataflow_governance.cli import render
from dataflow_governance.cli.common import CliError, emit, policy
from dataflow_governance.dagster_ext.parts import object_store, warehouse_of

if TYPE_CHECKING:
    from dataflow_governance.ml.provenance import Trainer


def register(subparsers, common) -> None:
    """The `provenance` family's commands and options."""
    p = subparsers.add_parser("provenance", parents=[common], help="which data trained a model; which models saw a dataset or subject")
    asked = p.add_mutually_exclusive_group(required=True)
    asked.add_argument("--model", metavar="NAME[:VERSION]", help="a registered model (latest version if none given)")
    asked.add_argument("--dataset", metavar="ASSET", help="an audited training dataset")
    asked.add_argument("--subject-id", help="a subject: the datasets and models that included them")
    p.add_argument("--reproduce", action="store_true", help="with --model: verify the snapshot's digest and retrain")
    p.add_argument("--verify", action="store_true", help="check the snapshots are intact (bytes, digest, version)")
    p.set_defaults(handler="provenance:cmd_provenance")


def cmd_provenance(args, project) -> int:
    from dataflow_governance.ml import provenance

    warehouse = warehouse_of(project)
    if args.reproduce and not args.model:
        raise CliError("--reproduce needs --model NAME:VERSION")
    if args.model and args.reproduce:
        return _reproduce(args, project, warehouse, *_model_ref(args.model))
    if args.model:
        name, version = _model_ref(args.model)
        result = provenance.model_provenance(project.mlflow_tracking_uri, warehouse, name, version)
        graph = policy(project).graph
        for dataset in result["datasets"]:  # past the dataset's own SQL, back to where each column starts
            dataset["upstream"] = sorted({f"{a}.{c}" for source in dataset["sources"]
                                          for a, c in graph.upstream(*source.split(".", 1))} - set(dataset["sources"]))
        head = [f"model {name}:{result['version']}  run {result['mlflow_run_id']}  code {result['code_version']}"
                + ("  NEEDS RETRAINING" if result["needs_retraining"] else ""),
                "  params: " + ", ".join(f"{k}={v}" for k, v in sorted(result["params"].items()))]
    elif args.dataset:
        result = provenance.dataset_models(warehouse, args.dataset)
        head = [f"dataset {args.dataset}: {len(result['datasets'])} materialization(s), {len(result['models'])} model(s)"]
    else:
        from dataflow_governance.dagster_ext.parts import keyring_of

        result = provenance.subject_provenance(warehouse, keyring_of(project, warehouse), args.subject_id)
        head = [f"subject {result['subject']}: in {len(result['datasets'])} dataset snapshot(s), "
                f"{len(result['models'])} model(s) trained on them"]
    problems = _verify_snapshots(project, warehouse, result["datasets"]) if args.verify else None
    emit(args, result, render.provenance(head, result, problems))
    return 1 if problems else 0


def _model_ref(text: str) -> tuple[str, str | None]:
    name, _, version = text.partition(":")
    if not name or (version and not version.isdigit()):
        raise CliError(f"--model takes NAME or NAME:VERSION (a version number), got {text!r}")
    return name, version or None


def _verify_snapshots(project, warehouse, datasets: list[dict]) -> list[str]:
    """Check each listed snapshot against its ledger record (an erased one is gone by design)."""
    from dataflow_governance.ledger.chain import Ledger
    from dataflow_governance.ml.datasets import records_by_digest, verify_snapshot

    records, store, problems = records_by_digest(Ledger(warehouse)), object_store(project), []
    for dataset in datasets:
        record = records.get(dataset.get("digest"))
        found = ["no record in the ledger"] if record is None else [] if record.deleted else verify_snapshot(store, record)
        dataset["problems"] = found
        problems += found
    return problems


def project_trainer(root: Path) -> Callable[[str], Trainer]:
    """Finds a recorded trainer (`module:qualified.name`) in the project's own code, under `root`."""
    from dataflow_governance.ml.model_registry import ProvenanceError

    def resolve(path: str) -> Trainer:
        if str(root) not in sys.path:
            sys.path.insert(0, str(root))
        module, _, name = path.partition(":")
        try:
            target: Any = importlib.import_module(module)
            for part in name.split("."):
                target = getattr(target, part)
        except (ImportError, AttributeError) as exc:
            raise ProvenanceError(f"cannot import the recorded trainer {path!r}: {exc}") from None
        return target

    return resolve


def _reproduce(args, project, warehouse, name: str, version: str | None) -> int:
    from dataflow_governance.dagster_ext.parts import registry_of
    from dataflow_governance.ml.provenance import code_version, reproduce

    result = reproduce(registry_of(project), warehouse, object_store(project), name, version,
                       resolve_trainer=project_trainer(project.root), code=code_version(project.root))
    emit(args, result, render.reproduction(name, result))
    return 0 if result["identical"] and result["metrics_match"] else 1
