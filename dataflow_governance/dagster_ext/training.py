"""Audited training datasets and MLflow-tracked models as Dagster assets (adapters only)."""


from pathlib import Path
from typing import Any

import dagster as dg

from dataflow_governance.dagster_ext.materialize import asset_governance
from dataflow_governance.dagster_ext.parts import registry_of, subjects_of
from dataflow_governance.dagster_ext.resources import MlflowResource, ProjectResource, S3Resource, WarehouseResource
from dataflow_governance.dagster_ext.sql_assets import DIALECT_KEY, SQL_KEY
from dataflow_governance.ledger.chain import Ledger
from dataflow_governance.lineage.sql import table_dependencies
from dataflow_governance.ml.datasets import (
    DatasetRecord,
    DatasetSpec,
    latest_record,
    materialize_dataset,
    read_snapshot,
)
from dataflow_governance.ml.provenance import Trainer, code_version, train_and_register
from dataflow_governance.storage.warehouse import redact_dsn


def dataset_metadata(record: DatasetRecord) -> dict[str, Any]:
    """What the Dagster UI shows of one materialization: the digest, the snapshot, counts, lineage."""
    return {
        "dataset/digest": record.digest,
        "dataset/snapshot_uri": dg.MetadataValue.path(record.snapshot_uri),
        "dataset/snapshot_version": record.version_id or "",
        "dataset/snapshot_sha256": record.snapshot_sha256,
        "dataset/members": record.members,
        "dataset/membership_digest": record.membership_digest,
        "dataset/excluded": dg.MetadataValue.json(record.excluded),
        "dataset/purposes": ", ".join(record.purposes),
        "dataset/legal_basis": record.legal_basis,
        "dataset/reused_snapshot": record.reused,
        "dataset/sources": dg.MetadataValue.json(record.sources),
        "ledger/seq": record.seq or 0,
        "dagster/row_count": record.rows,
        "dagster/column_schema": dg.TableSchema(columns=[dg.TableColumn(n, t) for n, t in record.columns]),
        "dagster/column_lineage": dg.TableColumnLineage(deps_by_column={
            column: [dg.TableColumnDep(asset_key=dg.AssetKey(source.split(".", 1)[0]), column_name=source.split(".", 1)[1])
                     for source in sources]
            for column, sources in record.lineage.items()
        }),
    }


def training_dataset(name: str, sql: str | None = None, *, path: str | Path | None = None, order_by: list[str],
                     subject: str = "customer", dialect: str = "duckdb", **asset_kwargs) -> dg.AssetsDefinition:
    """An audited training dataset: the rows of a SELECT that may be used for the asset's purposes,
    frozen as a content-addressed Parquet snapshot in S3 (see `dataflow_governance.datasets`).

    Its governance (purposes, legal_basis, the identity column, storage with `snapshots: true`)
    comes from the manifest or `governed_asset`, like any asset's; its SQL gives its upstream
    assets and column lineage.
    """
    if (sql is None) == (path is None):
        raise ValueError(f"training_dataset {name!r}: give exactly one of sql= or path=")
    text = sql if sql is not None else Path(path).read_text()
    metadata = {**asset_kwargs.pop("metadata", {}), SQL_KEY: text, DIALECT_KEY: dialect}
    deps = [dg.AssetKey(t) for t in table_dependencies(text, dialect)] + list(asset_kwargs.pop("deps", []))
    kinds = asset_kwargs.pop("kinds", {"s3", "parquet"})

    @dg.asset(name=name, deps=deps, metadata=metadata, kinds=kinds, **asset_kwargs)
    def _dataset(context: dg.AssetExecutionContext, project: ProjectResource, warehouse: WarehouseResource,
                 s3: S3Resource) -> dg.MaterializeResult:
        gov = asset_governance(context)
        if gov is None:
            raise dg.Failure(f"training dataset {name!r} has no governance: declare its purposes, legal basis, "
                             "identity column and snapshot storage")
        spec = DatasetSpec.from_governance(gov, text, order_by, subject=subject, dialect=dialect)
        wh = warehouse.get()
        record = materialize_dataset(spec, wh, s3.get(), subjects_of(project.get(), wh), actor=f"dagster:{name}")
        context.log.info(f"{name}: {record.rows} rows of {record.members} subjects, {record.digest}; "
                         f"left out: {record.excluded}")
        return dg.MaterializeResult(metadata=dataset_metadata(record))

    return _dataset


def model_asset(name: str, *, dataset: str | dg.AssetsDefinition, trainer: Trainer, params: dict[str, Any],
                features: str | list[str], target: str | None = None, registered_model: str | None = None,
                **asset_kwargs) -> dg.AssetsDefinition:
    """A model trained on the latest verified snapshot of `dataset`, logged and registered in MLflow.

    `trainer(frame, params) -> (sklearn model, metrics)` must be importable by module and name,
    so that `dfg provenance --reproduce` can run it again on the recorded snapshot; `features` are
    the columns the model predicts from (its predictions over them fingerprint the fitted model).
    """
    dataset_key = dataset.key if isinstance(dataset, dg.AssetsDefinition) else dg.AssetKey(dataset)
    model_name = registered_model or name

    kinds = asset_kwargs.pop("kinds", {"mlflow", "scikitlearn"})

    @dg.asset(name=name, deps=[dataset_key], kinds=kinds, **asset_kwargs)
    def _model(context: dg.AssetExecutionContext, project: ProjectResource, warehouse: WarehouseResource,
               s3: S3Resource, mlflow: MlflowResource) -> dg.MaterializeResult:
        wh = warehouse.get()
        ledger = Ledger(wh)
        record = latest_record(ledger, dataset_key.to_user_string())
        table = read_snapshot(s3.get(), record)  # refuses a snapshot that is gone or altered
        governed = project.get()
        trained = train_and_register(registry_of(governed, mlflow.tracking_uri, mlflow.experiment),
                                     project=governed.name, code=code_version(governed.root), model_name=model_name,
                                     trainer=trainer, params=params, datasets=[(record, table)], ledger=ledger,
                                     features=features, target=target, actor=f"dagster:{name}")
        context.log.info(f"{model_name} version {trained.version} registered (run {trained.mlflow_run_id})")
        return dg.MaterializeResult(metadata={
            "mlflow/run_id": trained.mlflow_run_id,
            "mlflow/model_uri": trained.model_uri,
            "mlflow/logged_model_id": trained.model_id,
            "mlflow/registered_model": model_name,
            "mlflow/model_version": trained.version,
            "mlflow/tracking_uri": redact_dsn(mlflow.tracking_uri),
            "dataset/digest": record.digest,
            "dataset/snapshot_uri": dg.MetadataValue.path(record.snapshot_uri),
            "code_version": trained.code_version,
            "params": dg.MetadataValue.json(params),
            **{f"metric/{k}": float(v) for k, v in trained.metrics.items()},
        })

    return _model
