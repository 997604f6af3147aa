"""Commerce: orders with tokenized payments, card captures and their tokenization, and revenue aggregates."""

import dagster as dg
import pandas as pd

from dataflow_governance.dagster_ext import KeysResource, WarehouseResource, sql_asset, table_metadata

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


# The cardholder data environment: card numbers exist only in card_captures, and card_tokens is
# the tokenization boundary (`dfg scope --pci` computes the rest from lineage).
@dg.asset(group_name="commerce", kinds={"duckdb"}, deps=[users])
def card_captures(context: dg.AssetExecutionContext, warehouse: WarehouseResource) -> dg.MaterializeResult:
    """Card details captured at checkout, until the payment processor has authorized them."""
    wh = warehouse.get()
    user_ids = [int(u) for (u,) in wh.fetch("SELECT user_id FROM users ORDER BY user_id")]
    wh.replace_table("card_captures", pd.DataFrame(data.card_captures(user_ids)))
    return dg.MaterializeResult(metadata=table_metadata(context, wh, "card_captures"))


@dg.asset(group_name="commerce", kinds={"duckdb"}, deps=[card_captures])
def card_tokens(context: dg.AssetExecutionContext, warehouse: WarehouseResource, keys: KeysResource) -> dg.MaterializeResult:
    """Each captured card as a keyed token and its last four digits: what the rest of the platform may see."""
    wh = warehouse.get()
    captures = wh.fetch_df("SELECT capture_id, user_id, pan, amount, captured_at FROM card_captures ORDER BY capture_id")
    frame = pd.DataFrame({
        "capture_id": captures["capture_id"], "user_id": captures["user_id"],
        "card_token": ["tok_" + keys.pseudonymize(pan)[:24] for pan in captures["pan"]],
        "card_last4": [str(pan)[-4:] for pan in captures["pan"]],
        "amount": captures["amount"], "captured_at": captures["captured_at"],
    })
    wh.replace_table("card_tokens", frame)
    return dg.MaterializeResult(metadata=table_metadata(context, wh, "card_tokens"))
