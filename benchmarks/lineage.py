"""Column lineage over the TPC-H and TPC-DS corpora: the project beside the common way and the floor.

In the same run, over every query of both corpora:
  - ours:     `column_lineage()` — parse, qualify and scope once, trace every output column;
  - baseline: `sqlglot.lineage.lineage()` called once per output column (the common way), which
              parses and qualifies the statement again for each column;
  - floor:    parse + qualify alone, once per statement (what any sqlglot-based lineage must pay).
Ours and the floor normalize each corpus's schema once (a project's warehouse schema is shared by
all its statements); the baseline is shown both as commonly called (a dict per call) and with the
schema normalized once.

    python benchmarks/lineage.py [--corpus DIR] [--repeat R]
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

import sqlglot
from sqlglot.lineage import lineage as sqlglot_lineage
from sqlglot.optimizer.qualify import qualify
from sqlglot.schema import MappingSchema

from dataflow_governance.lineage.sql import LineageAnalyzer
from dataflow_governance.lineage.scripts import script_lineage

DEFAULT_CORPUS = Path(__file__).resolve().parent / "corpus" / "tpc"


def load(corpus: Path) -> list[tuple[str, str, dict]]:
    queries = []
    for bench in ("tpch", "tpcds"):
        schema = json.loads((corpus / bench / "schema.json").read_text())
        for path in sorted((corpus / bench).glob("*.sql")):
            queries.append((f"{bench}/{path.stem}", path.read_text(), schema))
    return queries


def schemas(queries) -> dict[int, MappingSchema]:
    """Each corpus's schema normalized once, as a project does for its warehouse."""
    distinct = {id(schema): schema for _n, _s, schema in queries}
    return {key: MappingSchema(schema, dialect="duckdb") for key, schema in distinct.items()}


def ours(queries) -> int:
    analyzers = {key: LineageAnalyzer(mapping, "duckdb") for key, mapping in schemas(queries).items()}
    return sum(len(analyzers[id(schema)].column_lineage(sql).columns) for _name, sql, schema in queries)


def floor(queries) -> None:
    mappings = schemas(queries)
    for _name, sql, schema in queries:
        qualify(sqlglot.parse_one(sql, read="duckdb"), schema=mappings[id(schema)], dialect="duckdb")


def tpcds_script(queries) -> tuple[str, dict]:
    """The TPC-DS queries as one script of CTAS statements, each the next query's result table."""
    tpcds = [(name, sql) for name, sql, _schema in queries if name.startswith("tpcds/")]
    schema = next(schema for name, _sql, schema in queries if name.startswith("tpcds/"))
    body = "\n".join(f"CREATE TABLE {name.split('/')[1]} AS {sql.strip().rstrip(';')};" for name, sql in tpcds)
    return body, schema


def script_floor(script: str, schema: dict) -> None:
    mapping = MappingSchema(schema, dialect="duckdb")
    for statement in sqlglot.parse(script, read="duckdb"):
        qualify(statement.expression, schema=mapping, dialect="duckdb")


def baseline(queries, columns_of, prebuilt: bool) -> int:
    mappings = schemas(queries) if prebuilt else {}
    calls = 0
    for name, sql, schema in queries:
        for column in columns_of[name]:
            sqlglot_lineage(column, sql, schema=mappings.get(id(schema), schema), dialect="duckdb")
            calls += 1
    return calls


def output_names(sql: str, schema: dict) -> list[str]:
    """Output column names as written (a repeated name is asked for again, as a user would)."""
    query = qualify(sqlglot.parse_one(sql, read="duckdb"), schema=MappingSchema(schema, dialect="duckdb"), dialect="duckdb")
    while isinstance(query, sqlglot.exp.SetOperation):
        query = query.left
    return [projection.alias_or_name for projection in query.selects]


def timed(fn, repeat: int) -> float:
    samples = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - start)
    return statistics.median(samples)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--corpus", type=Path, default=DEFAULT_CORPUS)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    queries = load(args.corpus)
    columns_of = {name: output_names(sql, schema) for name, sql, schema in queries}
    n_columns = sum(map(len, columns_of.values()))
    ours_s = timed(lambda: ours(queries), args.repeat)
    floor_s = timed(lambda: floor(queries), args.repeat)
    base_s = timed(lambda: baseline(queries, columns_of, prebuilt=False), 1)
    base_prebuilt_s = timed(lambda: baseline(queries, columns_of, prebuilt=True), 1)
    print(f"{len(queries)} statements, {n_columns} output columns (TPC-H + TPC-DS)")
    print(f"  ours (one pass per statement):           {ours_s:8.2f} s")
    print(f"  baseline (sqlglot.lineage per column):   {base_s:8.2f} s   ours is {base_s / ours_s:.1f}x faster (goal >= 10x)")
    print(f"    same, schema normalized once:          {base_prebuilt_s:8.2f} s   ours is {base_prebuilt_s / ours_s:.1f}x faster")
    print(f"  floor (parse + qualify once):            {floor_s:8.2f} s   ours / floor = {ours_s / floor_s:.2f}x (goal <= 1.5x)")
    script, schema = tpcds_script(queries)
    script_s = timed(lambda: script_lineage(script, schema, "duckdb"), args.repeat)
    script_floor_s = timed(lambda: script_floor(script, schema), args.repeat)
    print("scripts mode: TPC-DS as one script of 99 CTAS statements, traced in order with end-to-end lineage")
    print(f"  ours (script_lineage):                   {script_s:8.2f} s")
    print(f"  floor (parse + qualify each statement):  {script_floor_s:8.2f} s   ours / floor = {script_s / script_floor_s:.2f}x")


if __name__ == "__main__":
    main()
