"""The trust-boundary rules at scale, and their cost on the example.

1. A generated project of 1,000 assets, 300 systems and 5,000 flows (and one of a tenth of that):
   building its landscape and running every static rule, timed; linear growth is a 10x ratio.
2. The example's `dfg check` (a fresh process, catalog fresh) with its `systems:`/`flows:` beside the
   same project with those sections removed: the ratio (the goal: within 1.2x).

    python benchmarks/boundaries_check.py [--repeat R]
"""

from __future__ import annotations

import argparse
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

from dataflow_governance import PolicyContext, build_governance, run_policy
from dataflow_governance.model.systems import Landscape, build_landscape, derived_flows, derived_systems

KINDS = ["service", "gateway", "datastore", "cache", "log", "queue", "external_api", "webhook_source", "client"]
ZONES = {"service": "application", "gateway": "edge", "datastore": "data", "cache": "data", "log": "data", "queue": "data",
         "external_api": "third_party", "webhook_source": "third_party", "client": "public"}


def generated(assets: int, systems: int, flows: int, seed: int = 7) -> tuple[dict, dict, dict]:
    rng = random.Random(seed)
    governance = {f"a{i}": build_governance(f"a{i}", {
        "legal_basis": "contract", "region": "eu-central-1", "encryption": {"at_rest": "AES-256"},
        "retention": {"keep": "1y", "timestamp_column": "t"}, "storage": {"table": f"a{i}"},
        "columns": {"id": {"categories": ["user.unique_id"], "identity": True}, "email": {"categories": ["user.contact.email"]},
                    "t": {"type": "timestamp"}}}) for i in range(assets)}
    declared = {}
    for i in range(systems):
        kind = KINDS[i % len(KINDS)]
        body: dict = {"kind": kind, "zone": ZONES[kind]}
        if kind in ("datastore", "cache", "log"):
            body["holds"] = [f"a{rng.randrange(assets)}" for _ in range(3)]
            body["encryption"] = {"at_rest": "AES-256"}
        declared[f"s{i}"] = body
    names = list(declared)
    flow_map = {}
    for i in range(flows):
        source, target = rng.sample(names, 2)
        flow_map[f"f{i}"] = {"from": source, "to": target, "data": [f"a{rng.randrange(assets)}.email"],
                             "controls": {"authentication": "mtls", "validation": bool(i % 2)}}
    return governance, declared, flow_map


def policy_seconds(assets: int, systems: int, flows: int) -> float:
    governance, declared, flow_map = generated(assets, systems, flows)
    started = time.perf_counter()
    known = derived_systems(governance, {}, "eu-central-1", {})
    found, declared_flows = build_landscape(declared, flow_map, known=known)
    landscape = Landscape(found, {**derived_flows(governance, found), **declared_flows}, declared=True)
    ctx = PolicyContext(governance=governance, upstream={a: frozenset() for a in governance}, processors={},
                        landscape=landscape)
    run_policy(ctx)
    return time.perf_counter() - started


def check_seconds(manifest: Path, repeat: int) -> float:
    command = [sys.executable, "-m", "dataflow_governance.cli", "--project", str(manifest), "check"]
    subprocess.run(command, capture_output=True, check=False)  # builds the catalog once
    best = float("inf")
    for _ in range(repeat):
        started = time.perf_counter()
        subprocess.run(command, capture_output=True, check=False)
        best = min(best, time.perf_counter() - started)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    small = policy_seconds(100, 30, 500)
    large = policy_seconds(1000, 300, 5000)
    print(f"rules on 100 assets / 30 systems / 500 flows: {small:.3f} s; on 1,000 / 300 / 5,000: {large:.3f} s; "
          f"growth {large / small:.1f}x for 10x the size (linear: 10x)")
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from example_copy import copy_example

    with tempfile.TemporaryDirectory() as tmp:
        with_map = copy_example(Path(tmp) / "with")
        without = copy_example(Path(tmp) / "without")
        data = yaml.safe_load(without.read_text())
        for section in ("systems", "flows", "classification"):
            data.pop(section, None)
        without.write_text(yaml.safe_dump(data, sort_keys=False))
        ours, baseline = check_seconds(with_map, args.repeat), check_seconds(without, args.repeat)
    print(f"example dfg check with its map: {ours:.3f} s; without systems/flows: {baseline:.3f} s; ratio {ours / baseline:.2f}x")


if __name__ == "__main__":
    main()
