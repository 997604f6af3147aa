"""`dfg disclosures` and `dfg incident` beside `dfg check`, on the example, measured in one run.

The example project (copied into a temporary folder) runs through `dfg demo` once; then each
command runs as a user runs it — a fresh process reading the governance catalog — interleaved
(check, disclosures, incident, check, …), and the medians are compared. `disclosures` finds the
subject's rows and reads the ledger; `incident` traces lineage, scans the asset for the category
(here: email in the application logs, in S3) and plans. Goal: each at most 2x `dfg check`.

    python benchmarks/regimes_answers.py [--repeat R]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from example_copy import copy_example


def dfg(root: Path, *args: str) -> float:
    start = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "dataflow_governance.cli", "--project", str(root / "dagster_project.yaml"),
                           *args], capture_output=True, text=True, cwd=root)
    elapsed = time.perf_counter() - start
    if done.returncode not in (0, 1):
        raise SystemExit(f"dfg {' '.join(args)} failed: {done.stderr.strip()[-400:]}")
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "deep_water"
        env_project = str(copy_example(root))
        os.environ["DFG_PROJECT"] = env_project
        try:
            subprocess.run([sys.executable, "-m", "dataflow_governance.cli", "--project", env_project, "demo"],
                           check=True, capture_output=True, cwd=root)
            commands = {"check": ("check",),
                        "disclosures": ("disclosures", "--subject-id", "1"),
                        "incident": ("incident", "--found", "user.contact.email", "--in", "app_logs")}
            for command in commands.values():
                dfg(root, *command)  # warm: the catalog read, the local S3 endpoint up
            samples: dict[str, list[float]] = {name: [] for name in commands}
            for _ in range(args.repeat):
                for name, command in commands.items():
                    samples[name].append(dfg(root, *command))
        finally:
            subprocess.run([sys.executable, "-m", "dataflow_governance.cli", "--project", env_project, "local", "stop"],
                           capture_output=True, cwd=root)
    check = statistics.median(samples["check"])
    print(f"dfg check:        {check:.3f} s (median of {args.repeat})")
    for name in ("disclosures", "incident"):
        took = statistics.median(samples[name])
        print(f"dfg {name + ':':13} {took:.3f} s  ratio {took / check:.2f}x  (goal <= 2x)")


if __name__ == "__main__":
    main()
