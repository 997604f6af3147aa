"""Tenant checks over a 10M-row DuckDB table, beside one hand-written pass, in the same run.

- ours: `tenant_census()` — rows without a tenant, of tenants the tenant entity does not list
  and of tenants pinned to another jurisdiction (read from the entity's region column), in one
  pushed-down pass: what the `tenant_rows` asset check runs;
- floor: `SELECT count(*) FROM t WHERE tenant_id IS NULL OR tenant_id NOT IN (SELECT … FROM tenants)`,
  written by hand — the null/unknown question alone.

    python benchmarks/tenancy.py [--rows N] [--tenants N] [--repeat R]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

from dataflow_governance import Warehouse
from dataflow_governance.model.manifest import TenancyConfig
from dataflow_governance.tenancy.census import tenant_census


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=10_000_000)
    parser.add_argument("--tenants", type=int, default=1_000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        warehouse = Warehouse(kind="duckdb", path=str(Path(tmp) / "bench.duckdb"))
        warehouse.execute(f"CREATE TABLE tenants AS SELECT i AS tenant_id, CASE WHEN i % 3 = 0 THEN 'eu-central-1' "
                          f"ELSE 'us-east-1' END AS region FROM range({args.tenants}) t(i)")
        # 1 row in 100,000 has no tenant, 1 in 50,000 an unknown one; every tenant has rows.
        warehouse.execute(f"CREATE TABLE documents AS SELECT i AS doc_id, CASE WHEN i % 100000 = 7 THEN NULL "
                          f"WHEN i % 50000 = 11 THEN {args.tenants} + 1 ELSE i % {args.tenants} END AS tenant_id "
                          f"FROM range({args.rows}) t(i)")
        tenancy = TenancyConfig(tenant="tenants.tenant_id", region_column="region")
        floor_sql = ("SELECT count(*) FROM documents WHERE tenant_id IS NULL "
                     "OR tenant_id NOT IN (SELECT tenant_id FROM tenants)")
        ours_s, floor_s = [], []
        with warehouse.session():
            for _ in range(args.repeat):
                start = time.perf_counter()
                census = tenant_census(warehouse, "documents", "tenant_id", tenancy=tenancy,
                                       entity=("tenants", "tenant_id"), region="us-east-1")
                ours_s.append(time.perf_counter() - start)
                start = time.perf_counter()
                (floor,) = warehouse.fetch(floor_sql)[0]
                floor_s.append(time.perf_counter() - start)
        assert census.missing + census.unknown == floor  # the same rows found
    ours, base = statistics.median(ours_s), statistics.median(floor_s)
    print(f"{args.rows:,} rows, {args.tenants:,} tenants (a third pinned to the EU); median of {args.repeat}")
    print(f"  hand-written null/unknown pass:          {base:.3f} s  ({floor} rows)  <- baseline")
    print(f"  tenant_census (null, unknown, pinned):   {ours:.3f} s  ({census.missing} without, {census.unknown} "
          f"unknown, {census.pinned_elsewhere} of tenants pinned elsewhere)")
    print(f"  ratio {ours / base:.2f}x (goal <= 1.5x)")


if __name__ == "__main__":
    main()
