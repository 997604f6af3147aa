"""`dfg saga trace` over a large state asset and event log, beside the hand-written queries.

    python benchmarks/saga_trace.py [--sagas 1000000] [--events 10000000] [--repeat 5]

Generates, inside DuckDB, a state table of N sagas (id, type, status, current step, JSON data with
an order_id, created at) and an event table of M events, then answers "why did order X fail" both
ways in the same run:
  - ours:     `trace_saga()` by key (order_id in the JSON data) — its state query and its events
              query, pushed down to the warehouse, then the explanation;
  - baseline: the two queries a person would write by hand (`data->>'$.order_id' = ?`, then the
              events of that saga ordered by time), fetched and nothing else.
Goal: ours within 1.5x of the baseline.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

from dataflow_governance import Warehouse
from dataflow_governance.model.sagas import build_sagas
from dataflow_governance.sagas.trace import EventSource, trace_saga

SAGA = build_sagas({"order_fulfilment": {"state": "order_sagas", "events": "order_saga_events", "key": "order_id", "steps": [
    {"name": "reserve_stock", "participant": "inventory", "command": "Reserve", "compensation": "release",
     "idempotency_key": "order_id"},
    {"name": "charge_payment", "participant": "psp", "command": "Charge", "compensation": "refund",
     "idempotency_key": "order_id"},
    {"name": "book_shipment", "participant": "carrier", "command": "Book", "idempotency_key": "order_id"}],
    "compensations": {"release": {"participant": "inventory", "command": "Release"},
                      "refund": {"participant": "psp", "command": "Refund"}}}},
    {"inventory": 1, "psp": 1, "carrier": 1})["order_fulfilment"]


def generate(wh: Warehouse, sagas: int, events: int) -> None:
    wh.execute(f"""CREATE TABLE order_sagas AS SELECT 'S-' || i AS saga_id, 'order_fulfilment' AS saga_type,
        CASE WHEN i % 10 = 0 THEN 'compensated' ELSE 'completed' END AS status, 'book_shipment' AS current_step,
        '{{"order_id": ' || i || ', "ship_to": "street"}}' AS data, TIMESTAMP '2026-01-01' + INTERVAL (i) SECOND AS created_at,
        CASE WHEN i % 10 = 0 THEN 'carrier_rejected_address' END AS failure_reason
        FROM range({sagas}) t(i)""")
    per = max(1, events // sagas)
    wh.execute(f"""CREATE TABLE order_saga_events AS SELECT 'S-' || (j // {per}) AS saga_id,
        CASE WHEN (j // {per}) % 10 = 0 AND j % {per} = 2 THEN 'step_failed'
             WHEN (j // {per}) % 10 = 0 AND j % {per} > 2 THEN 'compensation_completed' ELSE 'step_completed' END AS event,
        CASE j % {per} WHEN 0 THEN 'reserve_stock' WHEN 1 THEN 'charge_payment' WHEN 2 THEN 'book_shipment'
             WHEN 3 THEN 'refund' ELSE 'release' END AS step,
        TIMESTAMP '2026-01-01' + INTERVAL (j) SECOND AS at, NULL::VARCHAR AS reason
        FROM range({sagas * per}) t(j)""")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sagas", type=int, default=1_000_000)
    parser.add_argument("--events", type=int, default=10_000_000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        wh = Warehouse(kind="duckdb", path=str(Path(folder) / "w.duckdb"))
        started = time.perf_counter()
        generate(wh, args.sagas, args.events)
        print(f"{args.sagas:,} sagas, {wh.row_count('order_saga_events'):,} events generated in "
              f"{time.perf_counter() - started:.1f} s")
        order = str((args.sagas // 2) // 10 * 10)  # a compensated one
        ours_times, base_times = [], []
        with wh.session():
            for _ in range(args.repeat):
                t0 = time.perf_counter()
                trace = trace_saga(SAGA, wh, "order_sagas", EventSource(table="order_saga_events"), key=("order_id", order))
                ours_times.append(time.perf_counter() - t0)
                t0 = time.perf_counter()
                [(saga_id,)] = wh.fetch("SELECT saga_id FROM order_sagas WHERE data->>'$.order_id' = ?", [order])
                wh.fetch('SELECT event, step, "at", reason FROM order_saga_events WHERE saga_id = ? ORDER BY "at"', [saga_id])
                base_times.append(time.perf_counter() - t0)
        assert trace["status"] == "compensated" and trace["failed"]["step"] == "book_shipment"
        ours, base = statistics.median(ours_times), statistics.median(base_times)
        print(f"  ours (trace_saga by key, pushed down):   {ours * 1000:8.1f} ms")
        print(f"  baseline (the two queries by hand):      {base * 1000:8.1f} ms   ours / baseline = {ours / base:.2f}x "
              "(goal <= 1.5x)")


if __name__ == "__main__":
    main()
