"""A table scan with the free-text detectors (names, addresses, dates of birth) beside today's scan
(the pattern detectors only) on the same 1,000,000-row DuckDB table of support tickets and log lines.

The text comes from the labelled corpus (`freetext_corpus.py`, seeded): 20,000 distinct lines, each
row one of them with its row number, so every value is distinct. Both scans push their prefilter
down and validate at most the default budget of candidate rows per column in Python; the new
detectors' prefilter (capitalized pairs, house numbers beside street words, birth keywords) is
added to the same single pass, and the model runs on the budget's candidates only.

    python benchmarks/freetext_scan.py [--rows 1000000]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from freetext_corpus import corpus  # noqa: E402

from dataflow_governance import Warehouse  # noqa: E402
from dataflow_governance.detection import nlp  # noqa: E402
from dataflow_governance.detection.detectors import DETECTORS  # noqa: E402
from dataflow_governance.detection.scan import scan_table  # noqa: E402

FREE_TEXT = ("person_name", "postal_address", "date_of_birth")


def timed(warehouse: Warehouse, detectors) -> tuple[float, dict]:
    started = time.perf_counter()
    report = scan_table(warehouse, "tickets", detectors=detectors)
    return time.perf_counter() - started, report.findings_by_column()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=1_000_000)
    args = parser.parse_args()
    import pandas as pd

    lines = [line.text for line in corpus(20_000, seed=7)]
    nlp.pipeline()  # (the model's load is paid once per process, not per scan)
    with tempfile.TemporaryDirectory() as tmp:
        warehouse = Warehouse(kind="duckdb", path=str(Path(tmp) / "bench.duckdb"))
        warehouse.replace_table("lines", pd.DataFrame({"i": range(len(lines)), "text": lines}))
        warehouse.execute(f"CREATE TABLE tickets AS SELECT r AS ticket_id, l.text || ' #' || r AS body "
                          f"FROM range({args.rows}) t(r) JOIN lines l ON l.i = r % {len(lines)}")
        patterns = tuple(d for d in DETECTORS if d.name not in FREE_TEXT)
        timed(warehouse, patterns)  # warm the file cache
        today_s, today = timed(warehouse, patterns)
        new_s, found = timed(warehouse, DETECTORS)
    print(f"{args.rows:,} rows of free text (DuckDB), model {nlp.pipeline().meta['name']}")
    print(f"  today's scan (pattern detectors):            {today_s:7.2f} s  {args.rows / today_s:10,.0f} rows/s")
    print(f"  with names, addresses, dates of birth:       {new_s:7.2f} s  {args.rows / new_s:10,.0f} rows/s"
          f"   ratio {new_s / today_s:.2f}x (goal <= 3x)")
    print("  findings (rows, estimated from the validated budget):", found)


if __name__ == "__main__":
    main()
