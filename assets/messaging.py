"""Messaging: marketing emails handed to the mail processor for customers who opted in."""

import dagster as dg
import pandas as pd

from dataflow_governance.dagster_ext import WarehouseResource, table_metadata

from . import data
from .registration import users

CAMPAIGNS = ["spring_sale", "summer_news", "black_friday"]


@dg.asset(group_name="messaging", kinds={"duckdb"}, deps=[users])
def email_campaign_sends(context: dg.AssetExecutionContext, warehouse: WarehouseResource) -> dg.MaterializeResult:
    wh = warehouse.get()
    opted_in = wh.fetch("SELECT user_id, email FROM users WHERE marketing_consent ORDER BY user_id")
    r = data.rng("campaigns")
    rows = [{"user_id": int(u), "email": e, "campaign": c,
             "sent_at": data.AS_OF - pd.Timedelta(days=r.randint(0, 700))}
            for u, e in opted_in for c in CAMPAIGNS if r.random() < 0.6]
    wh.replace_table("email_campaign_sends", pd.DataFrame(rows, columns=["user_id", "email", "campaign", "sent_at"]))
    return dg.MaterializeResult(metadata=table_metadata(context, wh, "email_campaign_sends"))
