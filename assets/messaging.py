"""Messaging: marketing emails handed to the mail processor for customers who opted in."""

import dagster as dg
import pandas as pd

import pyarrow as pa

from dataflow_governance import put_object, write_delta
from dataflow_governance.dagster_ext import ProjectResource, S3Resource, WarehouseResource, table_metadata

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


@dg.asset(group_name="messaging", kinds={"deltalake"}, deps=[users])
def marketing_audience(warehouse: WarehouseResource, project: ProjectResource) -> dg.MaterializeResult:
    """The opted-in audience as a Delta table (the format a Spark side reads), rewritten each run."""
    rows = warehouse.get().fetch_df("SELECT user_id, email, country, created_at FROM users WHERE marketing_consent "
                                   "ORDER BY user_id")
    governed = project.get()
    path = governed.state_dir / governed.governance["marketing_audience"].storage.path
    write_delta(path, pa.Table.from_pandas(rows, preserve_index=False), personal=["user_id", "email", "country"],
                mode="overwrite")
    return dg.MaterializeResult(metadata={"rows": len(rows), "format": "delta"})


CRM_BUCKET = "deepwater-raw-eu"


@dg.asset(group_name="messaging", kinds={"s3"}, deps=[users])
def crm_contacts_export(warehouse: WarehouseResource, s3: S3Resource) -> dg.MaterializeResult:
    """The opted-in contacts as a CSV file for the CRM team, one file per week, in the raw bucket."""
    rows = warehouse.get().fetch_df("SELECT user_id, email, country FROM users WHERE marketing_consent ORDER BY user_id")
    key = "exports/crm/contacts-2025-w40.csv"
    put_object(s3.get(), CRM_BUCKET, key, rows.to_csv(index=False).encode())
    return dg.MaterializeResult(metadata={"rows": len(rows), "location": f"s3://{CRM_BUCKET}/{key}"})
