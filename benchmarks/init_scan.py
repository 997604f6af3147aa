"""`dfg init --scan` on the example's warehouse: its proposals against the example's own declarations
(precision and recall), and its time beside `dfg scan` of the same tables.

The proposer reads the warehouse only; the truth is the catalog's declared column categories (the
manifest's, the Python-declared and dbt's). A proposed category is right when the column declares it,
or a parent or child of it (`user.contact.address` for `user.contact.address.country`); a declared
one is found when a proposal for that column is right. Tables the example declares nothing personal
in count too: a proposal there is a false positive.

    python benchmarks/init_scan.py [--project PATH/dagster_project.yaml]   (default: a fresh copy, run through dfg demo)
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from dataflow_governance import load_project
from dataflow_governance.dagster_ext.parts import warehouse_of
from dataflow_governance.detection.classify import classify_table, data_tables
from dataflow_governance.detection.scan import DEFAULT_VALIDATION_BUDGET, scan_table

Pairs = dict[tuple[str, str], set[str]]


def example_truth(manifest: Path) -> tuple[Pairs, list[str]]:
    """(table, column) → declared categories, and every table the scan reads."""
    project = load_project(manifest)
    catalog = json.loads((project.state_dir / "catalog.json").read_text())
    truth: Pairs = {}
    for asset in catalog["assets"].values():
        governance = asset.get("governance") or {}
        storage = governance.get("storage") or {}
        if storage.get("kind", "warehouse") != "warehouse" or not storage.get("table"):
            continue
        for column, spec in (governance.get("columns") or {}).items():
            if spec.get("categories"):
                truth[(storage["table"], column)] = set(spec["categories"])
    return truth, data_tables(warehouse_of(project))


def propose_all(manifest: Path, tables: list[str]) -> Pairs:
    warehouse = warehouse_of(load_project(manifest))
    found: Pairs = {}
    for table in tables:
        for column, proposal in classify_table(warehouse, table).columns.items():
            if proposal.wanted():
                found[(table, column)] = {p.category for p in proposal.wanted()}
    return found


def _related(a: str, b: str) -> bool:
    return a == b or a.startswith(b + ".") or b.startswith(a + ".")


def compare(proposed: Pairs, truth: Pairs) -> dict:
    right = [(k, c) for k, cats in proposed.items() for c in cats if any(_related(c, t) for t in truth.get(k, ()))]
    wrong = [(k, c) for k, cats in proposed.items() for c in cats if not any(_related(c, t) for t in truth.get(k, ()))]
    found = [(k, t) for k, cats in truth.items() for t in cats if any(_related(t, c) for c in proposed.get(k, ()))]
    missed = [(k, t) for k, cats in truth.items() for t in cats if not any(_related(t, c) for c in proposed.get(k, ()))]
    return {"precision": len(right) / max(len(right) + len(wrong), 1), "recall": len(found) / max(len(found) + len(missed), 1),
            "proposed": len(right) + len(wrong), "declared": len(found) + len(missed),
            "false_positives": sorted(f"{t}.{c}: {cat}" for (t, c), cat in wrong),
            "missed": sorted(f"{t}.{c}: {cat}" for (t, c), cat in missed)}


def _demo_copy(folder: Path) -> Path:
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from example_copy import copy_example

    manifest = copy_example(folder)
    subprocess.run([sys.executable, "-m", "dataflow_governance.cli", "--project", str(manifest), "demo"],
                   check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=folder)
    return manifest


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--project", type=Path, help="an example project `dfg demo` has run on")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        manifest = args.project or _demo_copy(Path(tmp) / "example")
        truth, tables = example_truth(manifest)
        warehouse = warehouse_of(load_project(manifest))
        started = time.perf_counter()
        proposed = propose_all(manifest, tables)
        ours = time.perf_counter() - started
        started = time.perf_counter()
        for table in tables:
            scan_table(warehouse, table, budget=DEFAULT_VALIDATION_BUDGET)
        baseline = time.perf_counter() - started
        result = compare(proposed, truth)
        print(f"tables: {len(tables)}; declared categories: {result['declared']}; proposed: {result['proposed']}")
        print(f"precision {result['precision']:.3f}  recall {result['recall']:.3f}")
        print(f"false positives: {result['false_positives']}")
        print(f"missed: {result['missed']}")
        print(f"dfg init --scan (classify every table): {ours:.2f} s; dfg scan of the same tables: {baseline:.2f} s; "
              f"ratio {ours / baseline:.2f}x")


if __name__ == "__main__":
    main()
