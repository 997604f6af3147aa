"""Load time of 1,000 governed assets beside 1,000 plain Dagster assets, measured in one run.

Both sides define 1,000 `@asset` functions in a chain-ish graph and build validated Definitions
(`Definitions.validate_loadable`). The governed side declares each asset's governance in Python
(`governed_asset`, validated against the fideslang taxonomy) and adds the per-asset policy checks;
a third figure shows declarations alone, and a fourth the whole `governed_definitions()` (policy,
PII, residency and ledger checks, sweep and erasure jobs).

    python benchmarks/definitions_load.py [--assets N] [--repeat R]
"""

from __future__ import annotations

import argparse
import gc
import statistics
import tempfile
import time

import dagster as dg

from dataflow_governance.dagster_ext import governed_asset, policy_checks, policy_context
from dataflow_governance.manifest import Project, WarehouseConfig, ObjectStoreConfig, MlflowConfig
from pathlib import Path

FACTS = {
    "owner": "team:data",
    "purposes": ["analytics.reporting"],
    "legal_basis": "legitimate_interests",
    "data_subjects": ["customer"],
    "region": "eu-central-1",
    "encryption": {"at_rest": "AES-256", "in_transit": "TLS"},
    "retention": {"keep": "2 years", "action": "delete", "timestamp_column": "created_at"},
    "columns": {
        "user_id": {"type": "bigint", "identity": True, "categories": ["user.unique_id"]},
        "email": {"type": "varchar", "categories": ["user.contact.email"], "sensitivity": "confidential"},
        "created_at": {"type": "timestamp"},
    },
}


def _deps(i: int) -> list[str]:
    return [f"asset_{i - 1}"] if i % 10 else []


def plain(n: int) -> dg.Definitions:
    assets = []
    for i in range(n):
        @dg.asset(name=f"asset_{i}", deps=_deps(i), group_name="g", kinds={"duckdb"})
        def _fn():
            return None
        assets.append(_fn)
    defs = dg.Definitions(assets=assets)
    defs.validate_loadable(defs)
    return defs


def governed_assets(n: int) -> list[dg.AssetsDefinition]:
    assets = []
    for i in range(n):
        @governed_asset(name=f"asset_{i}", deps=_deps(i), group_name="g", kinds={"duckdb"}, governance=FACTS)
        def _fn():
            return None
        assets.append(_fn)
    return assets


def governed(n: int, with_checks: bool = True) -> dg.Definitions:
    assets = governed_assets(n)
    project = _project()
    specs = [spec for a in assets for spec in a.specs]
    checks = [policy_checks(policy_context(specs, project))] if with_checks else []
    defs = dg.Definitions(assets=assets, asset_checks=checks)
    defs.validate_loadable(defs)
    return defs


def full(n: int) -> dg.Definitions:
    from dataflow_governance.dagster_ext import governed_definitions

    defs = governed_definitions(_project(), governed_assets(n))
    defs.validate_loadable(defs)
    return defs


_STATE = Path(tempfile.mkdtemp(prefix="dfg-bench-"))  # where `governed_definitions` writes its catalog


def _project() -> Project:
    return Project(name="bench", root=_STATE, definitions="", state_dir=_STATE, output_dir=_STATE / "out",
                   warehouse=WarehouseConfig(), object_store=ObjectStoreConfig(), buckets={}, mlflow=MlflowConfig(),
                   subjects={}, processors={})


def timed_sides(n: int, repeat: int) -> tuple[float, ...]:
    """Medians of interleaved runs (plain, governed, plain, …), each after a full GC, so drift and
    garbage from one side do not land on the other."""
    samples: dict[str, list[float]] = {"plain": [], "governed": [], "declarations": [], "full": []}
    sides = (("plain", plain), ("governed", governed), ("declarations", lambda k: governed(k, with_checks=False)),
             ("full", full))
    for _ in range(repeat):
        for name, build in sides:
            gc.collect()
            start = time.perf_counter()
            build(n)
            samples[name].append(time.perf_counter() - start)
    return tuple(statistics.median(samples[name]) for name, _ in sides)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--assets", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args()
    plain(50), governed(50), governed(50, with_checks=False), full(50)  # warm imports and caches on both sides
    baseline, ours, declarations, whole = timed_sides(args.assets, args.repeat)
    print(f"{args.assets} plain Dagster assets:                  {baseline:.3f} s (median of {args.repeat})")
    print(f"{args.assets} governed assets + policy checks:       {ours:.3f} s  ratio {ours / baseline:.2f}x")
    print(f"{args.assets} governed assets, declarations only:    {declarations:.3f} s  ratio {declarations / baseline:.2f}x")
    print(f"{args.assets} assets through governed_definitions():  {whole:.3f} s  ratio {whole / baseline:.2f}x")
    print(f"ratio governed / plain: {ours / baseline:.2f}x  (goal <= 1.3x)")


if __name__ == "__main__":
    main()
