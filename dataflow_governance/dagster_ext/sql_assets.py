"""Assets defined by SQL: deps from the tables it reads, column lineage from the SQL itself."""

from pathlib import Path
from typing import Any

import dagster as dg

from dataflow_governance.dagster_ext.governance import GovernanceTranslator, governance_attributes, read_governance
from dataflow_governance.dagster_ext.materialize import table_metadata
from dataflow_governance.dagster_ext.resources import WarehouseResource
from dataflow_governance.lineage.dml import Move, as_move
from dataflow_governance.lineage.sql import StatementLineage, column_lineage, parse_statement, table_dependencies
from dataflow_governance.model.spec import AssetGovernance

SQL_KEY = "dataflow_governance/sql"
DIALECT_KEY = "dataflow_governance/sql_dialect"
SQL_PATH_KEY = "dataflow_governance/sql_path"  # the file the SQL was read from: an input of the catalog
LINEAGE_KEY = "lineage"  # the readable column lineage table (on the definition, and on each materialization)
INPUT_FILES_KEY = "dataflow_governance/input_files"  # files an asset's SQL and governance come from (dbt's)


def statement_move(sql: str, dialect: str) -> Move:
    return as_move(parse_statement(sql, dialect))


def shared_indirect(lineage: StatementLineage) -> set:
    """Indirect sources that shape every column of a statement (a join, a filter, a grouping)."""
    return set.intersection(*(set(c.indirect) for c in lineage.columns.values())) if lineage.columns else set()


def lineage_markdown(lineage: StatementLineage) -> str:
    """Column ← sources, readable in the UI (which shows `dagster/column_lineage` as raw JSON).
    Indirect sources that shape every column (a join, a filter, a grouping) are listed once, under
    the table, rather than on every row."""
    shared = shared_indirect(lineage)
    own = {column: [i for i in item.indirect if i not in shared] for column, item in lineage.columns.items()}
    with_own = any(own.values())
    rows = ["| column | from | also depends on |" if with_own else "| column | from |",
            "|---|---|---|" if with_own else "|---|---|"]
    for column, item in lineage.columns.items():
        unverified = set(item.unverified)  # sources a partial schema does not list
        direct = ", ".join(f"{d.table}.{d.column} ({d.transformation}{', masked' if d.masking else ''}"
                           f"{', unverified' if (d.table, d.column) in unverified else ''})" for d in item.direct)
        cells = [column, direct or "— (no column: a constant or a count)"]
        if with_own:
            cells.append(", ".join(f"{i.table}.{i.column} ({i.kind})" for i in own[column]) or "—")
        rows.append("| " + " | ".join(cells) + " |")
    if shared:
        by_kind: dict[str, list[str]] = {}
        for i in sorted(shared):
            by_kind.setdefault(i.kind.replace("_", " "), []).append(f"{i.table}.{i.column}")
        rows += ["", "Every column also depends on: " + "; ".join(
            f"{kind} on {', '.join(columns)}" for kind, columns in sorted(by_kind.items())) + "."]
    return "\n".join(rows)


def column_lineage_metadata(lineage: StatementLineage, asset_of_table: dict[str, dg.AssetKey]) -> dg.TableColumnLineage:
    return dg.TableColumnLineage(deps_by_column={
        column: [dg.TableColumnDep(asset_key=asset_of_table.get(d.table, dg.AssetKey(d.table)), column_name=d.column)
                 for d in item.direct]
        for column, item in lineage.columns.items()
    })


def sql_asset(
    name: str,
    sql: str | None = None,
    *,
    path: str | Path | None = None,
    dialect: str = "duckdb",
    table: str | None = None,
    governance: dict[str, Any] | AssetGovernance | None = None,
    tables_to_assets: dict[str, str] | None = None,
    translator: GovernanceTranslator | None = None,
    **asset_kwargs,
) -> dg.AssetsDefinition:
    """An asset written by SQL: a SELECT (re)creates `table` (default: its name); a MERGE, UPDATE or
    INSERT is incremental — it runs as written against the table it names, which is created
    first from the columns the governance declares (with their `type`) when it does not exist yet.

    Its upstream assets are the tables the SQL reads (a table is the asset of the same name
    unless `tables_to_assets` says otherwise); at materialization it records column lineage,
    the column schema, the row count and a readable lineage table.
    """
    if (sql is None) == (path is None):
        raise ValueError(f"sql_asset {name!r}: give exactly one of sql= or path=")
    text = sql if sql is not None else Path(path).read_text()
    mapping = dict(tables_to_assets or {})
    move = statement_move(text, dialect)
    incremental = move.kind in ("merge", "update", "insert")
    target = move.target if incremental else (table or name)
    reads = table_dependencies(text, dialect)
    asset_of_table = {t: dg.AssetKey.from_user_string(mapping.get(t, t)) for t in reads}
    metadata = {**asset_kwargs.pop("metadata", {}), SQL_KEY: text, DIALECT_KEY: dialect,
                **({SQL_PATH_KEY: str(Path(path).resolve())} if path is not None else {})}
    kinds = asset_kwargs.pop("kinds", None) or {"sql"}
    if governance is not None:
        from dataflow_governance.model.spec import build_governance

        gov = governance if isinstance(governance, AssetGovernance) else build_governance(name, dict(governance))
        attributes = governance_attributes(gov, translator=translator, declared=True, tags=asset_kwargs.pop("tags", None),
                                           kinds=kinds,
                                           metadata=metadata,
                                           owners=asset_kwargs.pop("owners", None),
                                           description=asset_kwargs.pop("description", None))
    else:
        attributes = {"kinds": kinds, "metadata": metadata}

    @dg.asset(name=name, deps=list(asset_of_table.values()), **attributes, **asset_kwargs)
    def _sql_asset(context: dg.AssetExecutionContext, warehouse: WarehouseResource) -> dg.MaterializeResult:
        wh = warehouse.get()
        if incremental:
            # The governance (from Python or the manifest) says which columns the table has.
            gov = read_governance(s for s in context.assets_def.specs if s.key == context.asset_key).get(name)
            types = {c: spec.type for c, spec in (gov.columns if gov else {}).items() if spec.type}
            if not types:
                raise dg.Failure(f"{name}: an incremental {move.kind.upper()} needs the target's columns with their "
                                 "`type` in its governance, to create the table on the first run")
            wh.create_table_if_missing(target, types)
            wh.run_statement(text, read_dialect=dialect)
        else:
            wh.create_table_as(target, text, read_dialect=dialect)
        schema = {t: wh.columns(t) for t in {*reads, *([target] if incremental else [])}}
        lineage = column_lineage(text, schema, dialect)
        meta = table_metadata(context, wh, target)
        meta["dagster/column_lineage"] = column_lineage_metadata(lineage, asset_of_table)
        meta[LINEAGE_KEY] = dg.MetadataValue.md(lineage_markdown(lineage))
        return dg.MaterializeResult(metadata=meta)

    return _sql_asset
