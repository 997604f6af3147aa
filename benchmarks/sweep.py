"""Retention sweep: 10M rows in DuckDB over 3 years, and 10,000 S3 objects — beside the floors.

Warehouse, in the same run, each on a fresh copy of the same table:
  - ours:    `run_sweep()` — delete rows older than 2 years, anonymize email by keyed hash (HMAC)
             after 1 year, ledger entries included;
  - floor:   the same two statements written by hand (one DELETE, one UPDATE with the same HMAC);
  - pandas:  read the table, modify it in pandas, write it back (what many teams do).
S3, through the local endpoint: deleting N objects with batched `delete_objects` (1,000 keys a
call) beside one `delete_object` call per object.

    python benchmarks/sweep.py [--rows N] [--objects N]
"""

from __future__ import annotations

import argparse
import hashlib
import hmac
import tempfile
import time
from datetime import datetime, timedelta
from pathlib import Path

from dataflow_governance import Warehouse, build_governance, load_project
from dataflow_governance.local import s3 as local_s3
from dataflow_governance.storage.anonymize import key_parameters
from dataflow_governance.storage.objectstore import delete_versions
from dataflow_governance.dagster_ext.parts import open_keyring, reach_of, scope_of
from dataflow_governance.model.manifest import BucketConfig
from dataflow_governance.storage.objectstore import ObjectStore, ensure_buckets
from dataflow_governance.retention.sweep import run_sweep

NOW = datetime(2026, 11, 27)
GOV = build_governance("events", {
    "legal_basis": "contract",
    "columns": {"id": {"type": "bigint"}, "email": {"type": "varchar", "categories": ["user.contact.email"]},
                "ts": {"type": "timestamp"}},
    "retention": {"keep": "2 years", "action": "delete", "timestamp_column": "ts",
                  "anonymize_after": "1 year", "anonymize": {"email": "hash"}},
})


def fresh(warehouse: Warehouse) -> None:
    warehouse.execute("CREATE OR REPLACE TABLE events AS SELECT * FROM base")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=10_000_000)
    parser.add_argument("--objects", type=int, default=10_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        (Path(tmp) / "dagster_project.yaml").write_text("project: bench\n")
        project = load_project(Path(tmp) / "dagster_project.yaml")
        warehouse = Warehouse(kind="duckdb", path=str(Path(tmp) / "bench.duckdb"))
        warehouse.execute(
            f"CREATE TABLE base AS SELECT i AS id, 'person' || i || '@example.com' AS email, "
            f"TIMESTAMP '{NOW:%Y-%m-%d}' - to_seconds(CAST((i * 7919) % (3 * 365 * 86400) AS BIGINT)) AS ts "
            f"FROM range({args.rows}) t(i)")
        key = open_keyring(project).key("pseudonym")

        fresh(warehouse)
        start = time.perf_counter()
        result = run_sweep(reach_of(project, warehouse), scope_of(project, {"events": GOV}, None), now=NOW)
        ours = time.perf_counter() - start
        expected = warehouse.fetch("SELECT count(*) FROM events")[0][0]

        fresh(warehouse)
        cut2, cut1 = (NOW - timedelta(days=730)).isoformat(" "), (NOW - timedelta(days=365)).isoformat(" ")
        start = time.perf_counter()
        with warehouse.connect() as con:
            con.execute(f"UPDATE events SET email = left(sha256(?::BLOB || unhex(sha256(?::BLOB || encode(email)))), 32) "
                        f"WHERE ts < TIMESTAMP '{cut1}' AND ts >= TIMESTAMP '{cut2}'", key_parameters(warehouse, key))
            con.execute(f"DELETE FROM events WHERE ts < TIMESTAMP '{cut2}'")
        floor = time.perf_counter() - start
        assert warehouse.fetch("SELECT count(*) FROM events")[0][0] == expected
        # The sweep also rewrites the database file so deleted values leave the disk (no remnants):
        # the same work by hand is one COPY FROM DATABASE into a fresh file.
        start = time.perf_counter()
        with warehouse.connect() as con:
            con.execute("CHECKPOINT")
            con.execute(f"ATTACH '{tmp}/copy.duckdb' AS copy")
            con.execute("COPY FROM DATABASE bench TO copy")
            con.execute("DETACH copy")
        floor_reclaimed = floor + time.perf_counter() - start

        fresh(warehouse)
        start = time.perf_counter()
        frame = warehouse.fetch_df("SELECT * FROM events")
        frame = frame[frame["ts"] >= datetime.fromisoformat(cut2)].copy()
        mask = frame["ts"] < datetime.fromisoformat(cut1)
        frame.loc[mask, "email"] = [hmac.new(key, e.encode(), hashlib.sha256).hexdigest()[:32] for e in frame.loc[mask, "email"]]
        warehouse.replace_table("events", frame)
        pandas_s = time.perf_counter() - start

        print(f"{args.rows:,} rows over 3 years (DuckDB): delete > 2 years, keyed-hash email > 1 year")
        print(f"  affected: deleted {result['assets']['events']['affected']:,}, anonymized {result['assets']['events'].get('anonymized', 0):,}")
        print(f"  floor: hand-written DELETE + UPDATE:      {floor:7.2f} s")
        print(f"  floor + hand-written file rewrite:        {floor_reclaimed:7.2f} s")
        print(f"  ours:  run_sweep (ledger, reclamation):   {ours:7.2f} s   ratio {ours / floor_reclaimed:.2f}x to the same work "
              f"(goal <= 1.2x); {ours / floor:.2f}x to the statements alone")
        print(f"  pandas read-modify-write:                 {pandas_s:7.2f} s   ratio {pandas_s / floor:.2f}x")

        endpoint = local_s3.ensure_running(project.state_dir)
        try:
            store = ObjectStore(endpoint.url, "eu-central-1", local=True, state_dir=project.state_dir)
            ensure_buckets(store, {"bench": BucketConfig(region="eu-central-1")})
            client = store.client()
            timings = {}
            for how in ("batched", "one call per object"):
                keys = [f"logs/{how[:3]}/{i:06d}.log" for i in range(args.objects)]
                for key_name in keys:
                    client.put_object(Bucket="bench", Key=key_name, Body=b"x")
                start = time.perf_counter()
                if how == "batched":
                    delete_versions(store, "bench", [{"Key": k, "VersionId": "null"} for k in keys])
                else:
                    for key_name in keys:
                        client.delete_object(Bucket="bench", Key=key_name)
                timings[how] = time.perf_counter() - start
            print(f"{args.objects:,} S3 objects through the local endpoint:")
            print(f"  batched delete_objects (1,000 a call):    {timings['batched']:7.2f} s")
            print(f"  one delete_object per object:             {timings['one call per object']:7.2f} s"
                  f"   batched is {timings['one call per object'] / timings['batched']:.1f}x faster")
        finally:
            local_s3.stop(project.state_dir)


if __name__ == "__main__":
    main()
