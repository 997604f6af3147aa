"""What a governed asset reports when it materializes: counts and the real column schema."""

from __future__ import annotations

from typing import Any

import dagster as dg

from dataflow_governance.dagster_ext.governance import SPEC_KEY, column_schema, read_governance
from dataflow_governance.model.spec import AssetGovernance
from dataflow_governance.storage.warehouse import Warehouse


def asset_governance(context: dg.AssetExecutionContext) -> AssetGovernance | None:
    spec = context.assets_def.specs_by_key[context.asset_key]
    return read_governance([spec]).get(context.asset_key.to_user_string()) if SPEC_KEY in spec.metadata else None


def table_metadata(context: dg.AssetExecutionContext, warehouse: Warehouse, table: str) -> dict[str, Any]:
    """Row count and the table's actual column schema, tagged with its declared governance."""
    types = warehouse.columns(table)
    gov = asset_governance(context)
    undeclared = sorted(set(types) - set(gov.columns)) if gov and gov.columns else []
    if undeclared:
        context.log.warning(f"{table}: column(s) not declared in governance: {', '.join(undeclared)}")
    meta: dict[str, Any] = {
        "dagster/row_count": warehouse.row_count(table),
        "dagster/table_name": table,
        "warehouse": warehouse.describe(),
    }
    schema = column_schema(gov, types) if gov else dg.TableSchema(
        columns=[dg.TableColumn(name, kind.lower()) for name, kind in types.items()]
    )
    if schema is not None:
        meta["dagster/column_schema"] = _with_definition_tags(schema, context)
    return meta


def _with_definition_tags(schema: dg.TableSchema, context: dg.AssetExecutionContext) -> dg.TableSchema:
    """Keep the tags lineage propagated at definition time (categories, pii) on the real schema."""
    spec = context.assets_def.specs_by_key[context.asset_key]
    defined = spec.metadata.get("dagster/column_schema")
    defined_tags = {c.name: c.tags for c in defined.columns} if isinstance(defined, dg.TableSchema) else {}
    return dg.TableSchema(columns=[
        dg.TableColumn(c.name, c.type, description=c.description, tags={**defined_tags.get(c.name, {}), **c.tags})
        for c in schema.columns
    ])
