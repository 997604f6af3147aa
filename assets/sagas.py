"""The order-fulfilment saga (declared under `sagas:` in the manifest): reserve stock, charge the card
through the payment processor, book the shipment with the customer's name and address. When a step
fails, the steps before it are undone in reverse order.

`order_sagas` holds each saga's state (one completed, one that failed at the carrier and was
compensated); `order_saga_events` is the event log the saga writes, JSON lines in S3. Together they
answer `dfg saga trace --key order_id=<id>`: why did the order fail, and where did its data go?"""

import json
from datetime import timedelta

import dagster as dg
import pandas as pd

from dataflow_governance import head_object, put_object
from dataflow_governance.dagster_ext import S3Resource, WarehouseResource, table_metadata

from . import data
from .commerce import orders
from .registration import users

BUCKET, PREFIX = "deepwater-raw-eu", "order-saga-events/"
STEPS = ["reserve_stock", "charge_payment", "book_shipment"]
COMPENSATIONS = {"reserve_stock": "release_stock", "charge_payment": "refund_payment"}


def saga_runs(rows: list[dict]) -> tuple[list[dict], list[dict]]:
    """The two sagas of the first two orders: the first completes, the second fails at the carrier
    (it refuses the address) and is compensated: refund, then release the stock."""
    states, events = [], []
    for n, row in enumerate(rows[:2]):
        saga_id, start = f"S-{row['order_id']}", row["ordered_at"]
        failing = n == 1
        at = [start + timedelta(seconds=10 * i) for i in range(8)]
        done = STEPS[:2] if failing else STEPS
        events += [{"saga_id": saga_id, "event": "step_completed", "step": step, "at": at[i].isoformat()}
                   for i, step in enumerate(done)]
        if failing:
            events.append({"saga_id": saga_id, "event": "step_failed", "step": "book_shipment", "at": at[2].isoformat(),
                           "reason": "carrier_rejected_address"})
            events += [{"saga_id": saga_id, "event": "compensation_completed", "step": COMPENSATIONS[step],
                        "at": at[3 + i].isoformat()} for i, step in enumerate(reversed(done))]
        address = {"name": row["full_name"], "street": f"{row['postal_code']} Example Street 1", "postal_code": row["postal_code"]}
        states.append({"saga_id": saga_id, "saga_type": "order_fulfilment",
                       "status": "compensated" if failing else "completed",
                       "current_step": "book_shipment", "customer_id": row["user_id"],
                       "data": json.dumps({"order_id": row["order_id"], "customer_id": row["user_id"], "ship_to": address}),
                       "created_at": start, "failure_reason": "carrier_rejected_address" if failing else None})
    return states, events


@dg.asset(group_name="commerce", kinds={"duckdb"}, deps=[orders, users])
def order_sagas(context: dg.AssetExecutionContext, warehouse: WarehouseResource) -> dg.MaterializeResult:
    """The state of each order-fulfilment saga: id, type, status, current step, data, created at."""
    wh = warehouse.get()
    rows = wh.fetch_df("SELECT o.order_id, o.user_id, o.ordered_at, u.full_name, u.postal_code "
                       "FROM orders o JOIN users u USING (user_id) ORDER BY o.order_id").to_dict("records")
    states, _events = saga_runs(rows)
    frame = pd.DataFrame(states, columns=["saga_id", "saga_type", "status", "current_step", "customer_id", "data",
                                          "created_at", "failure_reason"])
    wh.replace_table("order_sagas", frame)
    return dg.MaterializeResult(metadata={**table_metadata(context, wh, "order_sagas"),
                                          "completed": int((frame["status"] == "completed").sum()),
                                          "compensated": int((frame["status"] == "compensated").sum())})


@dg.asset(group_name="commerce", kinds={"s3"}, deps=[order_sagas])
def order_saga_events(warehouse: WarehouseResource, s3: S3Resource) -> dg.MaterializeResult:
    """The saga's event log: what each step and compensation did, and when (no personal data)."""
    store, wh = s3.get(), warehouse.get()
    key = f"{PREFIX}batch-{data.AS_OF:%Y%m%d}.jsonl"
    if head_object(store, BUCKET, key) is not None:
        return dg.MaterializeResult(metadata={"appended": 0, "batch": key, "note": "batch already in the log"})
    rows = wh.fetch_df("SELECT o.order_id, o.user_id, o.ordered_at, u.full_name, u.postal_code "
                       "FROM orders o JOIN users u USING (user_id) ORDER BY o.order_id").to_dict("records")
    _states, events = saga_runs(rows)
    put_object(store, BUCKET, key, "".join(json.dumps(e) + "\n" for e in events).encode())
    return dg.MaterializeResult(metadata={"appended": len(events), "batch": key})
