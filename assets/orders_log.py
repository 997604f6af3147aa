"""Event sourcing: the order event log is the source of truth — append-only JSON lines in S3,
never rewritten — and `order_history` is a read model projected from it (CQRS).

The customer's fields in every event are sealed with that customer's own key. Erasing a customer
destroys the key: their events stay in the log, unreadable, and project as erased placeholders."""

import json

import dagster as dg
import pandas as pd

from dataflow_governance import decrypt_records, encrypt_records, get_object, head_object, list_keys, put_object
from dataflow_governance.dagster_ext import KeysResource, S3Resource, WarehouseResource, table_metadata

from . import data
from .commerce import orders

BUCKET, PREFIX = "deepwater-raw-eu", "order-events/"
SEALED = ["customer_id", "email", "amount"]  # as the manifest declares: encryption: subject_key


def order_events_of(rows: list[dict]) -> list[dict]:
    """OrderPlaced and PaymentCaptured for each order, in the order they happened."""
    events = []
    for row in sorted(rows, key=lambda r: (r["ordered_at"], r["order_id"])):
        at = row["ordered_at"].isoformat(timespec="seconds")
        common = {"order_id": row["order_id"], "at": at, "customer_id": row["user_id"], "amount": row["amount"]}
        events.append({"event": "OrderPlaced", **common, "email": row["email"], "currency": row["currency"]})
        events.append({"event": "PaymentCaptured", **common, "charge_id": row["charge_id"]})
    return events


@dg.asset(group_name="commerce", kinds={"s3"}, deps=[orders])
def order_events(warehouse: WarehouseResource, s3: S3Resource, keys: KeysResource) -> dg.MaterializeResult:
    """Appends this batch of order events to the log, once: an existing batch is never rewritten."""
    store, wh = s3.get(), warehouse.get()
    key = f"{PREFIX}batch-{data.AS_OF:%Y%m%d}.jsonl"
    if head_object(store, BUCKET, key) is not None:
        return dg.MaterializeResult(metadata={"appended": 0, "batch": key, "note": "batch already in the log"})
    rows = wh.fetch_df("SELECT o.order_id, o.user_id, o.amount, o.currency, o.charge_id, o.ordered_at, u.email "
                       "FROM orders o JOIN users u USING (user_id)").to_dict("records")
    events = encrypt_records(order_events_of(rows), "order_events", SEALED, "customer_id", keys.store(wh))
    put_object(store, BUCKET, key, "".join(json.dumps(e) + "\n" for e in events).encode())
    return dg.MaterializeResult(metadata={"appended": len(events), "batch": key})


@dg.asset(group_name="commerce", kinds={"duckdb"}, deps=[order_events])
def order_history(context: dg.AssetExecutionContext, warehouse: WarehouseResource, s3: S3Resource,
                  keys: KeysResource) -> dg.MaterializeResult:
    """One row per order, projected from every event in the log; a customer whose key was
    shredded projects as an erased placeholder (no id, no email, no amount)."""
    store, wh = s3.get(), warehouse.get()
    events = [json.loads(line) for key in sorted(list_keys(store, BUCKET, PREFIX))
              for line in get_object(store, BUCKET, key).decode().splitlines() if line.strip()]
    opened = decrypt_records(events, "order_events", SEALED, keys.store(wh), actor=f"dagster:{context.run_id}",
                             purpose="projecting the order history read model")
    orders_by_id: dict[int, dict] = {}
    for event in opened:
        order = orders_by_id.setdefault(event["order_id"], {
            "order_id": event["order_id"], "customer_id": event["customer_id"], "email": None,
            "amount": event["amount"], "status": "placed", "placed_at": pd.Timestamp(event["at"]),
            "erased": event["customer_id"] is None})
        if event["event"] == "OrderPlaced":
            order["email"] = event["email"]
        elif event["event"] == "PaymentCaptured":
            order["status"] = "paid"
    frame = pd.DataFrame(list(orders_by_id.values()), columns=["order_id", "customer_id", "email", "amount", "status",
                                                               "placed_at", "erased"])
    frame["customer_id"] = frame["customer_id"].astype("Int64")
    wh.replace_table("order_history", frame)
    erased = int(frame["erased"].sum())
    return dg.MaterializeResult(metadata={**table_metadata(context, wh, "order_history"), "erased_placeholders": erased})
