"""Commerce: orders with tokenized payments, and revenue aggregates."""

import dagster as dg
import pandas as pd

from dataflow_governance.dagster_ext import WarehouseResource, sql_asset, table_metadata

from . import data
from .registration import users
from .sql_stage import SQL_DIR


@dg.asset(group_name="commerce", kinds={"duckdb"}, deps=[users])
def orders(context: dg.AssetExecutionContext, warehouse: WarehouseResource) -> dg.MaterializeResult:
    """Orders; the card is a PSP charge id plus last4 and brand, never a card number."""
    wh = warehouse.get()
    user_ids = [int(u) for (u,) in wh.fetch("SELECT user_id FROM users ORDER BY user_id")]
    wh.replace_table("orders", pd.DataFrame(data.orders(user_ids)))
    return dg.MaterializeResult(metadata=table_metadata(context, wh, "orders"))


revenue_by_country = sql_asset("revenue_by_country", path=SQL_DIR / "revenue_by_country.sql", group_name="commerce",
                               kinds={"duckdb", "sql"})

# Incremental: a MERGE keeps the customer dimension current; its lineage, propagation and erasure
# planning go through the MERGE like through any SELECT.
customer_dim = sql_asset("customer_dim", path=SQL_DIR / "customer_dim.sql", group_name="commerce",
                         kinds={"duckdb", "sql"})
