"""PII scan of a 1,000,000-row DuckDB table: the project beside the bare engine and GX on pandas.

Data (Faker, seeded): email, phone, SSN, card, IP, IBAN, a free-text note and two clean columns;
values are drawn from seeded Faker pools (50,000 per column) to keep generation quick.

In the same run:
  - ours:  `scan_table()` — one pushed-down prefilter pass, then exact validation of candidates;
  - floor: one bare DuckDB pass of `count_if(regexp_matches(col, pattern))` with the same prefilter
           patterns for every column × detector (no validation at all);
  - GX:    GX 1.x `ExpectColumnValuesToNotMatchRegex` with the same patterns on the same data in
           pandas (counts only).

    python benchmarks/pii_scan.py [--rows N] [--skip-gx]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

from dataflow_governance import Warehouse
from dataflow_governance.detection.detectors import DETECTORS
from dataflow_governance.detection.scan import scan_table


def make_frame(rows: int, pool: int = 50_000) -> pd.DataFrame:
    from faker import Faker

    fake = Faker(["de_DE", "en_US", "en_GB", "fr_FR"])
    Faker.seed(20261127)
    rng = np.random.default_rng(20261127)
    pools = {
        "email": [fake.email() for _ in range(pool)],
        "phone": [fake.phone_number() for _ in range(pool)],
        "ssn": [fake["en_US"].ssn() for _ in range(pool)],
        "card": [fake.credit_card_number() for _ in range(pool)],
        "ip": [fake.ipv4() if i % 4 else fake.ipv6() for i in range(pool)],
        "iban": [fake.iban() for _ in range(pool)],
        "note": [fake.sentence() + (f" reach me at {fake.email()}" if i % 10 == 0 else "") for i in range(pool)],
        "product": [fake.catch_phrase() for _ in range(pool)],
        "city": [fake.city() for _ in range(pool)],
    }
    return pd.DataFrame({name: np.array(values, dtype=object)[rng.integers(0, pool, rows)] for name, values in pools.items()})


def floor_pass(warehouse: Warehouse, columns: list[str]) -> float:
    counts = ", ".join(f"count_if(regexp_matches(\"{c}\", '{d.prefilter.replace(chr(39), chr(39) * 2)}'))"
                       for c in columns for d in DETECTORS)
    start = time.perf_counter()
    warehouse.fetch(f"SELECT count(*), {counts} FROM people")
    return time.perf_counter() - start


def gx_pass(frame: pd.DataFrame) -> float:
    import great_expectations as gx
    from great_expectations.data_context.types.base import ProgressBarsConfig

    context = gx.get_context(mode="ephemeral")
    context.variables.progress_bars = ProgressBarsConfig(globally=False)
    batch = (context.data_sources.add_pandas("bench").add_dataframe_asset("people")
             .add_batch_definition_whole_dataframe("all").get_batch(batch_parameters={"dataframe": frame}))
    suite = gx.ExpectationSuite(name="regex", expectations=[
        gx.expectations.ExpectColumnValuesToNotMatchRegex(column=c, regex=d.prefilter)
        for c in frame.columns for d in DETECTORS])
    start = time.perf_counter()
    batch.validate(suite, result_format={"result_format": "BASIC", "partial_unexpected_count": 0})
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--skip-gx", action="store_true")
    args = parser.parse_args()
    frame = make_frame(args.rows)
    with tempfile.TemporaryDirectory() as tmp:
        warehouse = Warehouse(kind="duckdb", path=str(Path(tmp) / "bench.duckdb"))
        warehouse.replace_table("people", frame)
        floor_pass(warehouse, list(frame.columns))  # warm the file cache
        floor_s = floor_pass(warehouse, list(frame.columns))
        start = time.perf_counter()
        report = scan_table(warehouse, "people")
        ours_s = time.perf_counter() - start
    gx_s = None if args.skip_gx else gx_pass(frame)
    n_patterns = len(DETECTORS)
    print(f"{args.rows:,} rows x {len(frame.columns)} columns x {n_patterns} detectors (DuckDB)")
    print(f"  floor: bare DuckDB count_if(regexp_matches) pass:  {floor_s:7.2f} s")
    print(f"  ours:  scan_table (prefilter + validators):        {ours_s:7.2f} s   ratio to floor {ours_s / floor_s:.2f}x (goal <= 1.5x)")
    if gx_s is not None:
        print(f"  GX 1.x regex expectations on pandas:               {gx_s:7.2f} s   ours is {gx_s / ours_s:.1f}x faster (goal >= 3x)")
    estimated = {c: r.estimated for c, r in report.columns.items() if r.estimated}
    print("  findings (rows):", {c: f for c, f in report.findings_by_column().items()})
    if estimated:
        print("  estimated from validated candidates (per column/detector):", estimated)


if __name__ == "__main__":
    main()
