"""Run one of the project's SQL files in the warehouse as a table."""

from pathlib import Path

import dagster as dg

from dataflow_governance.dagster_ext import WarehouseResource, table_metadata

SQL_DIR = Path(__file__).parent / "sql"


def run_sql_stage(context: dg.AssetExecutionContext, warehouse: WarehouseResource, table: str) -> dg.MaterializeResult:
    wh = warehouse.get()
    wh.create_table_as(table, (SQL_DIR / f"{table}.sql").read_text(), read_dialect="duckdb")
    return dg.MaterializeResult(metadata=table_metadata(context, wh, table))
