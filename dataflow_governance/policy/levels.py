"""Classification levels of columns, assets, systems and flows, from what the lineage says they hold."""

from __future__ import annotations

from collections.abc import Iterable

from dataflow_governance.model import taxonomy
from dataflow_governance.model.levels import DEFAULT_LEVELS, data_level, highest
from dataflow_governance.model.systems import Flow, System
from dataflow_governance.policy.context import PolicyContext

SEALED = ("subject_key", "column_key")


def _mapping(ctx: PolicyContext) -> dict[str, str]:
    return ctx.landscape.classification.mapping() if ctx.landscape else dict(DEFAULT_LEVELS)


def column_level(ctx: PolicyContext, asset: str, column: str) -> str:
    """A column's level: its categories (declared or propagated) and its declared sensitivity."""
    gov = ctx.governance.get(asset)
    spec = gov.columns.get(column) if gov else None
    cls = ctx.column_graph.class_of(asset, column)
    categories = set(cls.categories) if cls else set(spec.categories if spec else ())
    anonymous = bool(cls and cls.anonymous) or bool(spec and spec.anonymized)
    declared = spec.sensitivity if spec and spec.sensitivity != "internal" else None
    return data_level(categories, declared, _mapping(ctx), anonymous)


def asset_level(ctx: PolicyContext, asset: str) -> str:
    """The highest level of an asset's columns (its asset-level categories when it has none)."""
    gov = ctx.governance.get(asset)
    if gov is None:
        return "internal"
    columns = set(gov.columns) | set(ctx.column_graph.columns_of(asset)) - {"*"}
    if columns:
        return highest(column_level(ctx, asset, c) for c in columns)
    if gov.pii_free:
        return "internal"
    return data_level(gov.all_categories, None, _mapping(ctx))


def unsealed_level(ctx: PolicyContext, asset: str) -> str:
    """The highest level of what an asset holds in the clear: a sealed column (crypto-shredding, a
    column key) is held under field-level encryption already."""
    gov = ctx.governance.get(asset)
    if gov is None or not gov.columns:
        return asset_level(ctx, asset)
    clear = [c for c in set(gov.columns) | set(ctx.column_graph.columns_of(asset)) - {"*"}
             if not (c in gov.columns and gov.columns[c].encryption in SEALED)]
    return highest(column_level(ctx, asset, c) for c in clear)


def data_categories(ctx: PolicyContext, items: Iterable[str]) -> set[str]:
    """The categories named by a flow's data: an asset's personal ones, an `asset.column`'s, a category."""
    found: set[str] = set()
    for item in items:
        asset, _, column = item.partition(".")
        if item in ctx.governance:
            gov = ctx.governance[item]
            found |= set(gov.all_categories) | {c for cls in ctx.column_graph.columns_of(item).values() for c in cls.categories}
        elif asset in ctx.governance and column:
            cls = ctx.column_graph.class_of(asset, column)
            spec = ctx.governance[asset].columns.get(column)
            found |= set(cls.categories) if cls else set(spec.categories) if spec else set()
        else:
            found.add(item)
    return {c for c in found if taxonomy.is_personal_category(c)} or found


def flow_level(ctx: PolicyContext, flow: Flow) -> str:
    """What a flow carries; scrubbed on its way (a log's lines), it carries no personal value."""
    if not flow.data or flow.controls.scrubbing:
        return "internal"
    return data_level(data_categories(ctx, flow.data), None, _mapping(ctx))


def system_level(ctx: PolicyContext, system: System, inbound: Iterable[Flow] = ()) -> str:
    """The highest level a system holds (the assets in it) or receives (`inbound`, the flows into it)."""
    return highest([*(asset_level(ctx, a) for a in system.holds if a in ctx.governance),
                    *(flow_level(ctx, f) for f in inbound)])
