"""The tenant-leak check over an event log in S3, beside a hand-written DuckDB query.

    python benchmarks/tenant_events.py [--events 10000000] [--tenants 10] [--objects 100]

Writes N events as JSON lines under per-tenant prefixes (`index/<tenant>/part-…jsonl`, as a
per-tenant consumer writes them) through the project's local S3 endpoint, a few of them without a
tenant and a few under another tenant's prefix. Then, in the same run:
  - ours:     the `tenant_objects` check's census (`object_census`): every object listed and read
              through boto3, every record's tenant compared with its prefix's;
  - baseline: one hand-written DuckDB query over the same JSON lines on local disk
              (`read_json_auto(…, filename = true)`, counting events without a tenant and events
              whose tenant is not their folder's). DuckDB reads S3 only through its httpfs extension,
              which it downloads at run time, hence local files: the baseline pays no HTTP.
Both must find the same counts.
"""

from __future__ import annotations

import argparse
import json
import random
import tempfile
import time
from pathlib import Path

import duckdb

from dataflow_governance.local import s3 as local_s3
from dataflow_governance.model.manifest import BucketConfig
from dataflow_governance.storage.objectstore import ObjectStore, ensure_buckets, put_object
from dataflow_governance.tenancy.census import object_census


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--events", type=int, default=10_000_000)
    parser.add_argument("--tenants", type=int, default=10)
    parser.add_argument("--objects", type=int, default=100)
    args = parser.parse_args()
    rng = random.Random(7)
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        endpoint = local_s3.ensure_running(root / "state")
        try:
            store = ObjectStore(endpoint.url, "eu-central-1", local=True, state_dir=root / "state")
            ensure_buckets(store, {"bench": BucketConfig(region="eu-central-1")})
            missing = misplaced = 0
            per_object = args.events // args.objects
            started = time.perf_counter()
            for n in range(args.objects):
                tenant = n % args.tenants
                lines = []
                for i in range(per_object):
                    event = {"event": "DocumentSaved", "doc_id": n * per_object + i, "title": "roadmap", "words": i}
                    roll = rng.random()
                    if roll < 0.001:
                        missing += 1  # no tenant
                    elif roll < 0.002:
                        misplaced += 1
                        event["workspace_id"] = (tenant + 1) % args.tenants  # under another tenant's prefix
                    else:
                        event["workspace_id"] = tenant
                    lines.append(json.dumps(event))
                body = ("\n".join(lines) + "\n").encode()
                key = f"index/{tenant}/part-{n:05d}.jsonl"
                put_object(store, "bench", key, body)
                local = root / "files" / key
                local.parent.mkdir(parents=True, exist_ok=True)
                local.write_bytes(body)
            print(f"{per_object * args.objects:,} events in {args.objects} objects, {args.tenants} tenants "
                  f"({missing} without a tenant, {misplaced} under another's prefix) written in "
                  f"{time.perf_counter() - started:.1f} s")
            t0 = time.perf_counter()
            census = object_census(store, "bench", "index/", tenant_prefix="index/{tenant_id}/", field="workspace_id",
                                   listed=set(), pinned=set(), declared=set())
            ours = time.perf_counter() - t0
            t0 = time.perf_counter()
            [(base_missing, base_misplaced)] = duckdb.sql(f"""
                SELECT count(*) FILTER (WHERE workspace_id IS NULL),
                       count(*) FILTER (WHERE workspace_id IS NOT NULL
                                        AND CAST(workspace_id AS VARCHAR) <> regexp_extract(filename, 'index/([^/]+)/', 1))
                FROM read_json_auto('{root / 'files'}/index/*/*.jsonl', filename = true, format = 'newline_delimited')
            """).fetchall()
            base = time.perf_counter() - t0
            assert (census.missing, census.misplaced) == (missing, misplaced) == (base_missing, base_misplaced), (
                census, base_missing, base_misplaced)
            print(f"  ours (tenant_objects census, through S3):   {ours:7.2f} s   ({census.records / ours / 1e6:.2f}M events/s)")
            print(f"  baseline (one DuckDB query, local files):   {base:7.2f} s   ours / baseline = {ours / base:.1f}x")
        finally:
            local_s3.stop(root / "state")


if __name__ == "__main__":
    main()
