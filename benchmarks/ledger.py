"""Ledger: append 1M entries in batches, then verify them; beside raw SHA-256 over the same bytes.

Prints, measured in the same run:
  - append rate (batched, DuckDB);
  - `Ledger.verify()` (the default: one set-based query in the warehouse) and
    `Ledger.verify(independent=True)` (read every entry, rebuild its canonical bytes, hash it);
  - the baseline: `hashlib.sha256(...).hexdigest()` over the same canonical bytes, precomputed,
    in a plain Python loop — the floor for any verification that hashes every entry;
  - the ratios.

    python benchmarks/ledger.py [--entries N] [--batch B] [--postgres DSN]
"""

from __future__ import annotations

import argparse
import hashlib
import tempfile
import time
from pathlib import Path

from dataflow_governance import Warehouse
from dataflow_governance.ledger.chain import Ledger, NewEntry


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--entries", type=int, default=1_000_000)
    parser.add_argument("--batch", type=int, default=50_000)
    parser.add_argument("--postgres", help="also run on this PostgreSQL DSN (a fresh schema is used)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        run("duckdb", Warehouse(kind="duckdb", path=str(Path(tmp) / "ledger.duckdb")), args)
    if args.postgres:
        schema = f"dfg_bench_{int(time.time())}"
        try:
            run("postgres", Warehouse(kind="postgres", dsn=args.postgres, schema=schema), args)
        finally:
            import psycopg

            with psycopg.connect(args.postgres, autocommit=True) as con:
                con.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


def run(name: str, warehouse: Warehouse, args) -> None:
    ledger = Ledger(warehouse)
    start = time.perf_counter()
    for offset in range(0, args.entries, args.batch):
        ledger.append_many([
            NewEntry("job:retention_sweep", "sweep.result", f"table:events_{i % 97}",
                     {"deleted": i % 1000, "anonymized": i % 7, "rule": "keep 2 years"})
            for i in range(offset, min(offset + args.batch, args.entries))
        ])
    append_s = time.perf_counter() - start

    start = time.perf_counter()
    result = ledger.verify()
    verify_s = time.perf_counter() - start
    assert result.ok and result.entries == args.entries

    start = time.perf_counter()
    independent = ledger.verify(independent=True)
    independent_s = time.perf_counter() - start
    assert independent.ok

    blobs = [e.canonical().encode() for e in ledger.entries()]
    average = sum(map(len, blobs)) / len(blobs)
    sha256 = hashlib.sha256
    start = time.perf_counter()
    for blob in blobs:
        sha256(blob).hexdigest()
    raw_s = time.perf_counter() - start

    n = args.entries
    print(f"[{name}] {n:,} entries, canonical bytes {average:.0f} B on average")
    print(f"  append (batches of {args.batch:,}):          {n / append_s:>12,.0f} entries/s  ({append_s:.2f} s)")
    print(f"  raw hashlib.sha256 over the same bytes: {n / raw_s:>12,.0f} digests/s  ({raw_s:.2f} s)  <- baseline")
    print(f"  verify (in the warehouse, default):     {n / verify_s:>12,.0f} entries/s  ({verify_s:.2f} s)"
          f"  ratio {verify_s / raw_s:.2f}x")
    print(f"  verify --independent (Python):          {n / independent_s:>12,.0f} entries/s  ({independent_s:.2f} s)"
          f"  ratio {independent_s / raw_s:.2f}x")
    print("  goal: verification within 2x of raw hashing")


if __name__ == "__main__":
    main()
