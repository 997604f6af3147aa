"""Dagster adapters: governance on assets, policy checks, resources. Translation only.

`governed_dbt_assets` (dbt projects, on dagster-dbt) is imported on first use: dbt is an extra.
"""

from dataflow_governance.dagster_ext.definitions import (
    all_specs,
    governed_definitions,
    policy_checks,
    policy_context,
    write_catalog,
)
from dataflow_governance.dagster_ext.governance import (
    SPEC_KEY,
    GovernanceTranslator,
    apply_manifest_governance,
    column_schema,
    governance_metadata,
    governance_tags,
    governed_asset,
    governed_spec,
    read_governance,
    upstream_graph,
)
from dataflow_governance.dagster_ext.materialize import asset_governance, table_metadata
from dataflow_governance.dagster_ext.sql_asset import column_lineage_metadata, lineage_markdown, sql_asset
from dataflow_governance.dagster_ext.resources import (
    KeysResource,
    MlflowResource,
    ProjectResource,
    S3Resource,
    WarehouseResource,
    project_resources,
)
from dataflow_governance.dagster_ext.training import dataset_metadata, model_asset, training_dataset
from dataflow_governance.lazy import lazy_exports

__all__ = [
    "SPEC_KEY", "GovernanceTranslator", "KeysResource", "MlflowResource", "ProjectResource", "S3Resource", "WarehouseResource", "all_specs",
    "apply_manifest_governance", "asset_governance", "column_schema", "governance_metadata", "governance_tags",
    "governed_asset", "governed_definitions", "governed_spec", "policy_checks", "policy_context",
    "column_lineage_metadata", "lineage_markdown", "project_resources", "read_governance", "sql_asset",
    "table_metadata", "upstream_graph", "write_catalog", "dataset_metadata", "model_asset", "training_dataset",
    "governed_dbt_assets", "governed_dbt_sources",
]

__getattr__, __dir__ = lazy_exports(__name__, {"governed_dbt_assets": "dbt", "governed_dbt_sources": "dbt"}, globals())
