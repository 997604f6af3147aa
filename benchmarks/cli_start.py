"""CLI start-up: CPU of a cold `dfg lineage --sql …` beside `python -c "import sqlglot"`, and the ratio.

A command that answers from SQL alone must not pay for pandas, fideslang, Dagster or MLflow:
each command imports what it needs when it runs. CPU time (user + system) of the child process,
median of N runs of each, side by side in one run.

    python benchmarks/cli_start.py [--runs N]
"""

from __future__ import annotations

import argparse
import resource
import statistics
import subprocess
import sys


def cpu_seconds(command: list[str]) -> float:
    """User + system CPU of one child process run to completion."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args()
    commands = {
        "python -c 'import sqlglot'": [sys.executable, "-c", "import sqlglot"],
        "dfg lineage --sql 'select a from t'": [sys.executable, "-m", "dataflow_governance.cli", "lineage",
                                                "--sql", "select a from t"],
    }
    medians = {name: statistics.median(cpu_seconds(command) for _ in range(args.runs)) for name, command in commands.items()}
    floor, ours = medians.values()
    print(f"cold start, CPU seconds (median of {args.runs}):")
    for name, value in medians.items():
        print(f"  {name:40} {value:6.3f} s")
    print(f"  ratio {ours / floor:.2f}x (goal <= 2x)")


if __name__ == "__main__":
    main()
