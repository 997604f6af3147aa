"""Analytics: pseudonymized events, sign-up aggregates, and the KPI export to the US BI bucket."""

import io

import dagster as dg
import pandas as pd

from dataflow_governance.dagster_ext import KeysResource, S3Resource, WarehouseResource, sql_asset, table_metadata
from dataflow_governance import put_object

from . import data
from .commerce import revenue_by_country
from .registration import users
from .sql_stage import SQL_DIR

BI_BUCKET = "deepwater-bi-us"


@dg.asset(group_name="analytics", kinds={"duckdb"}, deps=[users])
def analytics_events(context: dg.AssetExecutionContext, warehouse: WarehouseResource, keys: KeysResource) -> dg.MaterializeResult:
    """Events of customers who consented to analytics; the user id only as a keyed pseudonym."""
    wh = warehouse.get()
    consenting = wh.fetch_df("SELECT user_id, country FROM users WHERE analytics_consent ORDER BY user_id")
    country = dict(zip(consenting["user_id"], consenting["country"]))
    frame = pd.DataFrame(data.events(list(country)))
    frame["user_pseudo_id"] = [keys.pseudonymize(u) for u in frame["user_id"]]
    frame["country"] = frame["user_id"].map(country)
    wh.replace_table("analytics_events", frame[["user_pseudo_id", "event_type", "occurred_at", "country"]])
    return dg.MaterializeResult(metadata=table_metadata(context, wh, "analytics_events"))


daily_signups = sql_asset("daily_signups", path=SQL_DIR / "daily_signups.sql", group_name="analytics",
                          kinds={"duckdb", "sql"})


@dg.asset(group_name="analytics", kinds={"s3"}, deps=[daily_signups, revenue_by_country])
def global_kpis_us(warehouse: WarehouseResource, s3: S3Resource) -> dg.MaterializeResult:
    """Aggregates only, written as CSV to the US BI bucket."""
    wh, store = warehouse.get(), s3.get()
    written = {}
    for table in ("daily_signups", "revenue_by_country"):
        buffer = io.StringIO()
        wh.read_table(table).to_csv(buffer, index=False)
        key = f"kpis/{table}.csv"
        put_object(store, BI_BUCKET, key, buffer.getvalue().encode())
        written[key] = len(buffer.getvalue())
    return dg.MaterializeResult(metadata={"objects": len(written), "bytes": sum(written.values()),
                                          "location": f"s3://{BI_BUCKET}/kpis/"})
