"""Dagster resources: thin configurable wrappers around the core's warehouse, S3 and MLflow."""

from __future__ import annotations

from pathlib import Path

import dagster as dg
from pydantic import Field

from dataflow_governance.crypto.hashing import keyed_hash
from dataflow_governance.model.manifest import BucketConfig, KeysConfig, Project, load_project
from dataflow_governance.storage.objectstore import ObjectStore, ensure_buckets, open_object_store
from dataflow_governance.storage.warehouse import Warehouse


class WarehouseResource(dg.ConfigurableResource):
    """DuckDB file by default; PostgreSQL when `kind` is postgres and `dsn` is set; Spark (`dsn` = sc://…)."""

    kind: str = "duckdb"
    path: str | None = None
    dsn: str | None = None
    schema_name: str | None = Field(default=None, description="schema to create and use")
    region: str = "eu-central-1"
    store_path: str | None = Field(default=None, description="spark: the DuckDB file of the ledger and own tables")

    def get(self) -> Warehouse:
        return Warehouse(kind=self.kind, path=self.path, dsn=self.dsn, schema=self.schema_name, store_path=self.store_path)


class S3Resource(dg.ConfigurableResource):
    """boto3 S3; with no endpoint_url and use_local, the project's local endpoint over HTTP."""

    endpoint_url: str | None = None
    region: str = "eu-central-1"
    state_dir: str = ".dfg"
    use_local: bool = True
    buckets: dict[str, str] = Field(default_factory=dict, description="bucket → region, created if missing")
    versioned_buckets: list[str] = Field(default_factory=list)
    locked_buckets: list[str] = Field(default_factory=list, description="buckets created with S3 Object Lock")

    def get(self) -> ObjectStore:
        store = open_object_store(self.endpoint_url, self.region, Path(self.state_dir), self.use_local)
        if self.buckets:
            ensure_buckets(store, {
                name: BucketConfig(region=region, versioned=name in self.versioned_buckets,
                                   object_lock=name in self.locked_buckets)
                for name, region in self.buckets.items()
            })
        return store


class MlflowResource(dg.ConfigurableResource):
    """MLflow tracking and registry: a local sqlite store by default, a tracking server by URI.

    (dagster-mlflow offers only a legacy, run-starting resource; this one just says where.)"""

    tracking_uri: str
    experiment: str = "default"


class ProjectResource(dg.ConfigurableResource):
    """The governance manifest, for assets that need project-wide facts (subjects, consents, keys)."""

    manifest: str

    def get(self) -> Project:
        return load_project(self.manifest)


class KeysResource(dg.ConfigurableResource):
    """Keys: for keyed hashing (from DFG_<NAME>_KEY, else made once in the state dir and checked on
    every use against the fingerprint in the ledger), and the per-subject data keys of field-level
    encryption (wrapped by the manifest's `keys:` KEK)."""

    warehouse: WarehouseResource  # where the ledger (the keys' fingerprints) and the key store are
    state_dir: str = ".dfg"
    provider: str = "local"
    kms_key_id: str | None = None
    kms_endpoint_url: str | None = None
    kms_region: str = "eu-central-1"

    def keyring(self, warehouse: Warehouse | None = None):
        """The project's keyring (`crypto.Keyring`), its data keys in `warehouse` (this resource's by default)."""
        from dataflow_governance.crypto.opening import keyring_for

        config = KeysConfig.model_validate({"provider": self.provider, "kms_key_id": self.kms_key_id,
                                            "kms_endpoint_url": self.kms_endpoint_url, "kms_region": self.kms_region})
        return keyring_for(Path(self.state_dir), warehouse or self.warehouse.get(), config)

    def store(self, warehouse: Warehouse):
        """The data key store (`crypto.DataKeyStore`) in this warehouse."""
        return self.keyring(warehouse).data_keys()

    def key(self, name: str) -> bytes:
        return self.keyring().key(name)

    def pseudonymize(self, value: object) -> str:
        """The project's keyed pseudonym of a value: what erasure and suppression match on."""
        return keyed_hash(self.key("pseudonym"), value)


def project_resources(project: Project) -> dict[str, dg.ConfigurableResource]:
    """The resources a governed project runs with, from its manifest (and environment overrides)."""
    warehouse = WarehouseResource(
        kind=project.warehouse.kind,
        path=str(project.warehouse_path),
        dsn=project.warehouse.dsn,
        schema_name=project.warehouse.schema_name,
        region=project.warehouse.region,
        store_path=str(project.store_path),
    )
    return {
        "warehouse": warehouse,
        "s3": S3Resource(
            endpoint_url=project.object_store.endpoint_url,
            region=project.object_store.region,
            state_dir=str(project.state_dir),
            buckets={name: bucket.region for name, bucket in project.buckets.items()},
            versioned_buckets=[name for name, bucket in project.buckets.items() if bucket.versioned],
            locked_buckets=[name for name, bucket in project.buckets.items() if bucket.object_lock],
        ),
        "keys": KeysResource(warehouse=warehouse, state_dir=str(project.state_dir), provider=project.keys.provider,
                             kms_key_id=project.keys.kms_key_id, kms_endpoint_url=project.keys.kms_endpoint_url,
                             kms_region=project.keys.kms_region),
        "mlflow": MlflowResource(tracking_uri=project.mlflow_tracking_uri, experiment=project.mlflow.experiment),
        **({"project": ProjectResource(manifest=str(project.manifest_path))} if project.manifest_path else {}),
    }
