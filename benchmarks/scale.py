"""PII scan, retention sweep and one erasure over N rows, on one engine, beside hand-written baselines.

The same data on every engine, generated inside it: `people(user_id, email, note, country,
created_at)` — every 50th note carries an email, a quarter of the rows are past a 1-year retention.
Each step runs on two identical copies of the table, ours on one and the baseline on the other:

- scan:    `scan_table()` (one pushed-down prefilter pass + validation of the candidates)
           vs one hand-written `count_if(<col> RLIKE <prefilter>)` query over the same columns;
- sweep:   `run_sweep()` with `keep: 1 year, action: delete` (plan, ledger, execute, verify)
           vs the bare DELETE (DuckDB, PostgreSQL) or a hand-written CTAS-and-overwrite (Spark);
- erasure: the DELETE of one subject's rows as the erasure executes it through the engine
           vs the bare DELETE, or on Spark the hand-written CTAS + INSERT OVERWRITE + DROP.

    python benchmarks/scale.py --engine duckdb|postgres|spark --rows N
        [--dsn postgresql://…] [--remote sc://host:port]   (Spark: the project's local server if not given)
"""

from __future__ import annotations

import argparse
import tempfile
import time
import uuid
from datetime import datetime
from pathlib import Path

from sqlglot import exp

from dataflow_governance import Warehouse, build_governance, load_project
from dataflow_governance.dagster_ext.parts import reach_of, scope_of
from dataflow_governance.detection.detectors import DETECTORS
from dataflow_governance.retention.sweep import run_sweep
from dataflow_governance.detection.scan import scan_table
from dataflow_governance.storage.warehouse import table_expr

NOW = datetime(2026, 11, 27, 12, 0, 0)
GOVERNANCE = {
    "legal_basis": "contract",
    "columns": {"user_id": {"type": "bigint"}, "email": {"type": "varchar", "categories": ["user.contact.email"]},
                "note": {"type": "varchar"}, "country": {"type": "varchar"}, "created_at": {"type": "timestamp"}},
    "retention": {"keep": "1 year", "action": "delete", "timestamp_column": "created_at"},
}

# The generator, per engine: row i, created 0..499 days before NOW (a quarter past a year plus).
_ROWS = {
    "duckdb": "SELECT i AS user_id, 'user' || i || '@example.com' AS email, "
              "CASE WHEN i % 50 = 0 THEN 'reach me at user' || i || '@example.com' ELSE 'no contact' END AS note, "
              "['DE', 'FR', 'IT', 'ES'][1 + i % 4] AS country, "
              "TIMESTAMP '2026-11-27 12:00:00' - to_days(CAST(i % 500 AS INTEGER)) AS created_at FROM range({n}) t(i)",
    "postgres": "SELECT i AS user_id, 'user' || i || '@example.com' AS email, "
                "CASE WHEN i % 50 = 0 THEN 'reach me at user' || i || '@example.com' ELSE 'no contact' END AS note, "
                "(ARRAY['DE', 'FR', 'IT', 'ES'])[1 + i % 4] AS country, "
                "TIMESTAMP '2026-11-27 12:00:00' - make_interval(days => (i % 500)::int) AS created_at "
                "FROM generate_series(0, {n} - 1) AS t(i)",
    "spark": "SELECT id AS user_id, concat('user', id, '@example.com') AS email, "
             "CASE WHEN id % 50 = 0 THEN concat('reach me at user', id, '@example.com') ELSE 'no contact' END AS note, "
             "element_at(array('DE', 'FR', 'IT', 'ES'), CAST(1 + id % 4 AS INT)) AS country, "
             "TIMESTAMP '2026-11-27 12:00:00' - make_interval(0, 0, 0, CAST(id % 500 AS INT)) AS created_at "
             "FROM range({n})",
}


def create(warehouse: Warehouse, table: str, rows: int) -> None:
    name = warehouse.render(table_expr(table))
    warehouse.execute(f"DROP TABLE IF EXISTS {name}")
    using = " USING parquet" if warehouse.kind == "spark" else ""
    warehouse.execute(f"CREATE TABLE {name}{using} AS {_ROWS[warehouse.kind].format(n=rows)}")


def timed(step) -> tuple[float, object]:
    start = time.perf_counter()
    result = step()
    return time.perf_counter() - start, result


def floor_scan(warehouse: Warehouse, table: str) -> int:
    counts = [exp.func("count_if", exp.RegexpLike(this=exp.column(c), expression=exp.Literal.string(d.prefilter)))
              for c in ("email", "note", "country") for d in DETECTORS]
    return sum(int(v) for v in warehouse.fetch(exp.select(*counts).from_(table_expr(table)))[0])


def bare_delete(warehouse: Warehouse, table: str, where: str) -> None:
    name = warehouse.render(table_expr(table))
    if warehouse.kind != "spark":
        warehouse.execute(f"DELETE FROM {name} WHERE {where}")
        return
    stage = warehouse.render(table_expr(table + "_stage"))  # the hand-written rewrite Spark needs
    warehouse.execute(f"CREATE TABLE {stage} USING parquet AS SELECT * FROM {name} WHERE NOT ({where})")
    warehouse.execute(f"INSERT OVERWRITE TABLE {name} SELECT * FROM {stage}")
    warehouse.execute(f"DROP TABLE {stage}")


def ours_delete(warehouse: Warehouse, table: str, subject: int) -> int:
    statement = exp.delete(table_expr(table), where=exp.column("user_id").eq(exp.Placeholder()))
    with warehouse.connect() as con:
        return warehouse.engine.affected_rows(con.execute(warehouse.render_bound(statement), [subject]))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--engine", choices=["duckdb", "postgres", "spark"], default="duckdb")
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--dsn", default="postgresql://postgres@127.0.0.1:5432/test")
    parser.add_argument("--remote", default=None, help="Spark Connect URL (default: the project's local server)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        (tmp / "dagster_project.yaml").write_text("project: scale\n")
        project = load_project(tmp / "dagster_project.yaml")
        schema = f"dfg_scale_{uuid.uuid4().hex[:8]}"
        warehouse = {
            "duckdb": lambda: Warehouse(kind="duckdb", path=str(tmp / "w.duckdb")),
            "postgres": lambda: Warehouse(kind="postgres", dsn=args.dsn, schema=schema),
            "spark": lambda: Warehouse(kind="spark", dsn=args.remote, path=str(tmp / "spark"), schema=schema,
                                       store_path=str(tmp / "store.duckdb")),
        }[args.engine]()
        try:
            run(warehouse, project, args.rows)
        finally:
            if args.engine != "duckdb":
                drop = "DROP DATABASE IF EXISTS" if args.engine == "spark" else "DROP SCHEMA IF EXISTS"
                warehouse.execute(f"{drop} {warehouse.render(exp.to_identifier(schema, quoted=True))} CASCADE")
            if args.engine == "spark" and not args.remote:
                from dataflow_governance.local import spark as local_spark

                local_spark.stop(tmp / "spark")


def run(warehouse: Warehouse, project, rows: int) -> None:
    gen_s, _ = timed(lambda: (create(warehouse, "people", rows), create(warehouse, "people_bl", rows)))
    subject = rows // 2 + 7
    floor_s, _ = timed(lambda: floor_scan(warehouse, "people_bl"))
    scan_s, report = timed(lambda: scan_table(warehouse, "people"))
    base_sweep_s, _ = timed(lambda: bare_delete(warehouse, "people_bl", "created_at < TIMESTAMP '2025-11-27 12:00:00'"))
    scope = scope_of(project, {"people": build_governance("people", GOVERNANCE)}, None)
    sweep_s, sweep = timed(lambda: run_sweep(reach_of(project, warehouse), scope, now=NOW))
    base_erase_s, _ = timed(lambda: bare_delete(warehouse, "people_bl", f"user_id = {subject}"))
    erase_s, erased = timed(lambda: ours_delete(warehouse, "people", subject))
    left = warehouse.row_count("people")
    assert left == warehouse.row_count("people_bl"), "ours and the baseline must leave the same rows"
    print(f"{warehouse.kind}: {rows:,} rows (generated twice in {gen_s:.1f} s); {left:,} left after the sweep and erasure")
    print(f"  scan     ours {scan_s:8.2f} s   baseline count_if(rlike) {floor_s:8.2f} s   ratio {scan_s / floor_s:5.2f}x"
          f"   ({report.total_findings} findings)")
    print(f"  sweep    ours {sweep_s:8.2f} s   baseline {'rewrite' if warehouse.kind == 'spark' else 'DELETE '}"
          f"         {base_sweep_s:8.2f} s   ratio {sweep_s / base_sweep_s:5.2f}x")
    print(f"  erasure  ours {erase_s:8.2f} s   baseline {'rewrite' if warehouse.kind == 'spark' else 'DELETE '}"
          f"         {base_erase_s:8.2f} s   ratio {erase_s / base_erase_s:5.2f}x   ({erased} row)")
    _ = sweep


if __name__ == "__main__":
    main()
