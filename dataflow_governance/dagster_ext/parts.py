"""A project's parts, built from its manifest once, for the Dagster adapter and the commands: the
core takes each part it uses (a warehouse, a keyring, folders, anchors), never the `Project`.

Everything here imports the part's package when it is asked for, so a command that needs no
warehouse never imports one.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from dataflow_governance.catalog.artifact import Origin
    from dataflow_governance.crypto.data_keys import DataKeyStore
    from dataflow_governance.crypto.keyring import Keyring
    from dataflow_governance.ledger.anchors import Anchors
    from dataflow_governance.lineage.graph import ColumnGraph
    from dataflow_governance.ml.datasets import Subjects
    from dataflow_governance.ml.model_registry import Registry
    from dataflow_governance.model.manifest import Project
    from dataflow_governance.model.spec import AssetGovernance
    from dataflow_governance.model.systems import Landscape
    from dataflow_governance.reports.c4 import Platform
    from dataflow_governance.reports.openlineage import DatasetNames
    from dataflow_governance.storage.objectstore import ObjectStore
    from dataflow_governance.storage.warehouse import Warehouse
    from dataflow_governance.subjects.reach import Reach
    from dataflow_governance.subjects.scope import Scope


def warehouse_of(project: Project) -> Warehouse:
    """The project's warehouse, checked and bound to its engine.

    Args:
        project: the loaded manifest.

    Returns:
        The warehouse its `warehouse:` section names (connections open when used).
    """
    from dataflow_governance.storage.warehouse import warehouse_for

    return warehouse_for(project.warehouse, project.state_dir)


open_warehouse = warehouse_of  # the public name (`dataflow_governance.open_warehouse`)


def object_store(project: Project) -> ObjectStore:
    """The project's S3 object store (the local endpoint, started if needed, when none is configured)."""
    from dataflow_governance.storage.objectstore import open_object_store

    return open_object_store(project.object_store.endpoint_url, project.object_store.region, project.state_dir, True)


def keyring_of(project: Project, warehouse: Warehouse | None = None) -> Keyring:
    """The project's keyring: hashing keys checked against the ledger, data keys under its KEK."""
    from dataflow_governance.crypto.opening import keyring_for

    return keyring_for(project.state_dir, warehouse or warehouse_of(project), project.keys)


def open_keyring(project: Project, warehouse: Warehouse | None = None) -> Keyring:
    """`keyring_of` (its name before the core stopped taking a project)."""
    return keyring_of(project, warehouse)


def open_key_store(project: Project, warehouse: Warehouse | None = None) -> DataKeyStore:
    """The project's data key store (field-level encryption, crypto-shredding)."""
    return keyring_of(project, warehouse).data_keys()


def anchors_of(project: Project) -> Anchors:
    """Where the project anchors its ledger: the state folder, an Object Lock bucket, certificates."""
    from dataflow_governance.ledger.anchors import Anchors, anchor_bucket

    paths = project.paths
    bucket = anchor_bucket(lambda: object_store(project), project.ledger.anchors, project.buckets)
    return Anchors(paths.anchors, paths.output, bucket)


def reach_of(project: Project, warehouse: Warehouse | None = None, store: ObjectStore | None = None) -> Reach:
    """What a request or a sweep acts on: the warehouse, the object store (None: no S3), the keys,
    the folders, the anchors and the MLflow URI."""
    from dataflow_governance.subjects.reach import Reach

    warehouse = warehouse or warehouse_of(project)
    return Reach(project.name, warehouse, store, keyring_of(project, warehouse), project.paths, anchors_of(project),
                 project.mlflow_tracking_uri)


def scope_of(project: Project, governance: dict[str, AssetGovernance], graph: ColumnGraph | None) -> Scope:
    """What a request plans from: the governance and graph, and the project's identity columns and tenant entity."""
    from dataflow_governance.model.spec import parse_duration_days
    from dataflow_governance.subjects.scope import Scope

    backups = tuple((name, body["location"], parse_duration_days(body["retention"]) if body.get("retention") else 0)
                    for name, body in sorted(project.systems.items()) if (body or {}).get("kind") == "backup")
    return Scope(governance, graph, project.identities, project.tenancy.tenant_asset, backups)


def subjects_of(project: Project, warehouse: Warehouse) -> Subjects:
    """Who a training dataset's rows are about: the manifest's subjects, governance and keys."""
    from dataflow_governance.ml.datasets import Subjects

    return Subjects(project.subjects, project.governance, keyring_of(project, warehouse))


def registry_of(project: Project, tracking_uri: str | None = None, experiment: str | None = None) -> Registry:
    """Where the project's models are tracked and registered (the manifest's `mlflow:`)."""
    from dataflow_governance.ml.model_registry import Registry

    return Registry(tracking_uri or project.mlflow_tracking_uri, experiment or project.mlflow.experiment,
                    project.state_dir / "mlartifacts")


def origin_of(project: Project, landscape: Landscape | None = None) -> Origin:
    """What the project's catalog is built from besides its assets (and the map around them)."""
    from dataflow_governance.catalog.artifact import Origin

    return Origin(project.name, project.root, project.manifest_path, project.processors, project.tenancy, landscape)


def landscape_of(project: Project, governance: Mapping[str, AssetGovernance]) -> Landscape:
    """The systems and flows around the assets: those the project has by its other declarations (its
    stores, each holding its assets, and its processors), completed by `systems:` and `flows:`."""
    from dataflow_governance.errors import GovernanceError
    from dataflow_governance.model import systems as landscape
    from dataflow_governance.model.sagas import build_processes, build_sagas

    known = landscape.derived_systems(governance, project.processors, project.warehouse.region,
                                      {name: bucket.region for name, bucket in project.buckets.items()})
    systems, declared = landscape.build_landscape(project.systems, project.flows, project.zones, known)
    try:
        landscape.check_flow_data(declared, governance)  # (assets are known only once the Definitions are)
        sagas = build_sagas(project.sagas, systems, governance)
        landscape.check_saga_data(sagas, governance)
        processes = build_processes(project.processes, systems, people=project.people)
    except GovernanceError as exc:
        raise GovernanceError(f"{project.manifest_path.name if project.manifest_path else 'manifest'}: {exc}") from None
    return landscape.Landscape(systems, {**landscape.derived_flows(governance, systems), **declared},
                               {**landscape.DEFAULT_ZONES, **project.zones}, project.classification,
                               declared=bool(project.systems or project.flows), sagas=sagas, processes=processes)


def platform_of(project: Project) -> Platform:
    """The platform as the C4 views draw it."""
    from dataflow_governance.reports.c4 import Platform

    return Platform(project.name, project.warehouse.kind, project.warehouse.region, project.object_store.region,
                    {name: bucket.region for name, bucket in project.buckets.items()})


def dataset_names(project: Project) -> DatasetNames:
    """How OpenLineage names the project's datasets."""
    from dataflow_governance.reports.openlineage import DatasetNames, namespace_of

    return DatasetNames(namespace_of(project.openlineage, project.name),
                        lambda: warehouse_of(project).engine.dataset_namespace(), project.state_dir)


def openlineage_enabled(project: Project) -> bool:
    return project.openlineage is not None and project.openlineage.enabled
