"""What checking the ground costs, measured in one run on the example.

1. An erasure with the KEK retirement (a new KEK, every live data key re-wrapped, the old KEK
   destroyed) beside the same erasure without it — the erasure as it was before retirement, on an
   identical copy of the example after `dfg demo` (subjects interleaved, medians compared).
2. The retirement alone on a key store of N live data keys (default 100,000): the window a
   batched retirement would have to beat.
3. `dfg check --live` (every declared table, column, bucket and Delta folder confirmed) beside
   `dfg check`, each a fresh process.

    python benchmarks/trust_ground.py [--repeat R] [--keys N]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from example_copy import copy_example

CLI = [sys.executable, "-m", "dataflow_governance.cli"]


def run(manifest: Path, *args: str) -> float:
    start = time.perf_counter()
    done = subprocess.run([*CLI, "--project", str(manifest), *args], capture_output=True, text=True, cwd=manifest.parent)
    if done.returncode not in (0, 1):
        raise SystemExit(f"dfg {' '.join(args)} failed: {done.stderr.strip()[-400:]}")
    return time.perf_counter() - start


def erase_in_process(manifest: Path, subject: str, retire: bool) -> float:
    """One erasure, timed in a child process; `retire=False` is the erasure without the KEK retirement."""
    code = f"""
import sys, time
from dataflow_governance import load_project
from dataflow_governance.cli.common import policy
from dataflow_governance.dagster_ext.parts import object_store, reach_of, scope_of
from dataflow_governance.crypto.data_keys import DataKeyStore
from dataflow_governance.subjects import erase
if not {retire}:
    DataKeyStore.retire_kek = lambda self: {{"kek": self.kek.current_id(), "rewrapped": 0, "retired": []}}
project = load_project({str(manifest)!r})
ctx = policy(project, checked=True)
reach = reach_of(project, store=object_store(project))
start = time.perf_counter()
result = erase(reach, scope_of(project, dict(ctx.governance), ctx.graph), {subject!r}, immediately=True)
print(time.perf_counter() - start)
print(result.status)
"""
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=manifest.parent,
                          env={**os.environ, "DFG_PROJECT": str(manifest)})
    if done.returncode != 0:
        raise SystemExit(done.stderr[-2000:])
    elapsed, status = done.stdout.strip().splitlines()[-2:]
    if retire and status != "verified":
        raise SystemExit(f"the erasure ended {status}")
    return float(elapsed)


def retirement_at_scale(keys: int) -> tuple[float, float]:
    """(seconds to make `keys` data keys, seconds to retire the KEK over them) on a fresh DuckDB store."""
    from dataflow_governance import Warehouse
    from dataflow_governance.crypto import DataKeyStore, LocalKek, keyring_for

    with tempfile.TemporaryDirectory() as tmp:
        warehouse = Warehouse("duckdb", path=str(Path(tmp) / "keys.duckdb"))
        keyring = keyring_for(Path(tmp), warehouse)
        store = DataKeyStore(warehouse, LocalKek(Path(tmp), keyring.book), keyring)
        start = time.perf_counter()
        owners = [f"owner-{i}" for i in range(keys)]
        for i in range(0, keys, 5000):
            store.keys_for(owners[i:i + 5000], create=True)
        made = time.perf_counter() - start
        start = time.perf_counter()
        summary = store.retire_kek()
        retired = time.perf_counter() - start
        assert summary["rewrapped"] == keys and summary["retired"] == ["local:1"], summary
    return made, retired


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--keys", type=int, default=100_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        base = copy_example(Path(tmp) / "base")
        subprocess.run([*CLI, "--project", str(base), "demo"], check=True, capture_output=True, cwd=base.parent)
        subprocess.run([*CLI, "--project", str(base), "local", "stop"], capture_output=True, cwd=base.parent)
        copies = {}
        for name in ("with", "without"):
            shutil.copytree(base.parent, Path(tmp) / name, ignore=shutil.ignore_patterns("endpoint.json", "*.lock"))
            copies[name] = Path(tmp) / name / "dagster_project.yaml"
        subjects = [str(s) for s in range(20, 20 + args.repeat)]
        samples: dict[str, list[float]] = {"with": [], "without": []}
        try:
            for manifest in copies.values():
                run(manifest, "check")  # warm: the catalog, the endpoint
            for subject in subjects:
                samples["with"].append(erase_in_process(copies["with"], subject, retire=True))
                samples["without"].append(erase_in_process(copies["without"], subject, retire=False))
            live, static = [], []
            for _ in range(args.repeat * 2):
                static.append(run(copies["with"], "check"))
                live.append(run(copies["with"], "check", "--live"))
        finally:
            for manifest in copies.values():
                subprocess.run([*CLI, "--project", str(manifest), "local", "stop"], capture_output=True)
    with_kek, without = statistics.median(samples["with"]), statistics.median(samples["without"])
    print(f"erasure on the example, with the KEK retirement:    {with_kek:.2f} s (median of {args.repeat})")
    print(f"erasure on the example, without (as before):         {without:.2f} s  ratio {with_kek / without:.2f}x")
    made, retired = retirement_at_scale(args.keys)
    print(f"KEK retirement over {args.keys:,} live data keys:     {retired:.2f} s (making them took {made:.2f} s)")
    check, check_live = statistics.median(static), statistics.median(live)
    print(f"dfg check:        {check:.3f} s (median of {len(static)})")
    print(f"dfg check --live: {check_live:.3f} s  ratio {check_live / check:.2f}x")


if __name__ == "__main__":
    main()
