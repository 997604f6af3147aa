"""CLI start-up: CPU of cold `dfg` commands beside `python -c "import sqlglot"`, and the ratios.

A command that answers from SQL alone must not pay for pandas, fideslang, Dagster or MLflow, and a
command about the project answers from the governance catalog without loading Dagster or the
asset modules. Measured: `dfg lineage --sql …` (goal ≤ 1.5×) and `dfg check` on a copy of the example
project with a fresh catalog (goal ≤ 3×). CPU time (user + system) of the child process, median of
N runs of each, side by side in one run.

    python benchmarks/cli_start.py [--runs N]
"""

from __future__ import annotations

import argparse
import resource
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from example_copy import copy_example


def cpu_seconds(command: list[str], cwd: Path | None = None) -> float:
    """User + system CPU of one child process run to completion."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL, cwd=cwd)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def example_copy(dest: Path) -> Path:
    return copy_example(dest)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args()
    dfg = [sys.executable, "-m", "dataflow_governance.cli"]
    with tempfile.TemporaryDirectory() as tmp:
        manifest = example_copy(Path(tmp))
        subprocess.run([*dfg, "--project", str(manifest), "catalog", "build"], check=True, stdout=subprocess.DEVNULL)
        commands = {
            "python -c 'import sqlglot'": ([sys.executable, "-c", "import sqlglot"], None),
            "dfg lineage --sql 'select a from t'": ([*dfg, "lineage", "--sql", "select a from t"], None),
            "dfg check (example, fresh catalog)": ([*dfg, "--project", str(manifest), "check"], Path(tmp)),
        }
        medians = {name: statistics.median(cpu_seconds(command, cwd) for _ in range(args.runs))
                   for name, (command, cwd) in commands.items()}
    floor, lineage, check = medians.values()
    print(f"cold start, CPU seconds (median of {args.runs}):")
    for name, value in medians.items():
        print(f"  {name:40} {value:6.3f} s")
    print(f"  dfg lineage --sql: ratio {lineage / floor:.2f}x (goal <= 1.5x)")
    print(f"  dfg check:         ratio {check / floor:.2f}x (goal <= 3x)")


if __name__ == "__main__":
    main()
