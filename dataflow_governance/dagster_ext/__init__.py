"""Dagster adapters: governance on assets, policy checks, resources. Translation only.

Names are imported on first use: `dataflow_governance.dagster_ext.parts` (the project's parts, which
the commands share) does not import Dagster, and `governed_dbt_assets` (on dagster-dbt) is an extra.
"""

from dataflow_governance.lazy import lazy_exports

_PUBLIC = {
    **dict.fromkeys(["all_specs", "governed_definitions", "policy_checks", "policy_context", "write_catalog"],
                    "definitions"),
    **dict.fromkeys(["SPEC_KEY", "GovernanceTranslator", "apply_manifest_governance", "column_schema",
                     "governance_metadata", "governance_tags", "governed_asset", "governed_spec", "read_governance",
                     "upstream_graph"], "governance"),
    "asset_governance": "materialize", "table_metadata": "materialize",
    "column_lineage_metadata": "sql_assets", "lineage_markdown": "sql_assets", "sql_asset": "sql_assets",
    **dict.fromkeys(["KeysResource", "MlflowResource", "ProjectResource", "S3Resource", "WarehouseResource",
                     "project_resources"], "resources"),
    "dataset_metadata": "training", "model_asset": "training", "training_dataset": "training",
    "governed_dbt_assets": "dbt", "governed_dbt_sources": "dbt",
}
__all__ = sorted(_PUBLIC)
__getattr__, __dir__ = lazy_exports(__name__, _PUBLIC, globals())
