"""Registration: sign-up events land in S3, become the `users` table."""

import json

import dagster as dg
import pandas as pd

from dataflow_governance.dagster_ext import S3Resource, WarehouseResource, table_metadata
from dataflow_governance import get_object, list_keys, put_object

from . import data

RAW_BUCKET = "deepwater-raw-eu"


@dg.asset(group_name="registration", kinds={"s3"})
def signup_events(s3: S3Resource) -> dg.MaterializeResult:
    """The web app's registration events, one JSON-lines object per sign-up month."""
    store = s3.get()
    by_month: dict[str, list[dict]] = {}
    for row in data.registrations():
        by_month.setdefault(row["created_at"][:7], []).append(row)
    for month, rows in sorted(by_month.items()):
        body = "".join(json.dumps(r, sort_keys=True) + "\n" for r in rows).encode()
        put_object(store, RAW_BUCKET, f"signups/{month}.jsonl", body)
    return dg.MaterializeResult(metadata={"objects": len(by_month), "events": sum(map(len, by_month.values())),
                                          "location": f"s3://{RAW_BUCKET}/signups/"})


@dg.asset(group_name="registration", kinds={"duckdb"}, deps=[signup_events])
def users(context: dg.AssetExecutionContext, warehouse: WarehouseResource, s3: S3Resource) -> dg.MaterializeResult:
    """Registered customers; passwords only as salted hashes."""
    store = s3.get()
    rows = [json.loads(line) for key in list_keys(store, RAW_BUCKET, "signups/")
            for line in get_object(store, RAW_BUCKET, key).decode().splitlines() if line]
    frame = pd.DataFrame(rows).sort_values("user_id")
    frame["password_hash"] = [data.password_hash(p, u) for p, u in zip(frame["password"], frame["user_id"])]
    frame["created_at"] = pd.to_datetime(frame["created_at"])
    frame["birth_date"] = pd.to_datetime(frame["birth_date"]).dt.date
    frame = frame[["user_id", "full_name", "email", "birth_date", "postal_code", "password_hash", "country",
                   "analytics_consent", "marketing_consent", "created_at"]]
    wh = warehouse.get()
    wh.replace_table("users", frame.reset_index(drop=True))
    return dg.MaterializeResult(metadata=table_metadata(context, wh, "users"))
