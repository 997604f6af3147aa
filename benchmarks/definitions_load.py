"""Load time of 1,000 governed assets beside 1,000 plain Dagster assets, measured in one run.

Then a generated dbt project of 500 models (chains of ten, every model and column governed in its
schema.yml): `governed_dbt_assets` (governance validated, compiled SQL normalized for lineage)
beside plain `@dbt_assets` with dagster-dbt's own translator, on the same compiled manifest.

Both sides define 1,000 `@asset` functions in a chain-ish graph and build validated Definitions
(`Definitions.validate_loadable`). The governed side declares each asset's governance in Python
(`governed_asset`, validated against the fideslang taxonomy) and adds the per-asset policy checks;
a third figure shows declarations alone, and a fourth the whole `governed_definitions()` (policy,
PII, residency and ledger checks, sweep and erasure jobs).

    python benchmarks/definitions_load.py [--assets N] [--repeat R] [--dbt-models N] [--profile]

`--profile` splits the time of one `governed_definitions()` load by whose code ran (self time under
cProfile): the project's, Dagster's, and the rest (the standard library, mostly called by Dagster).
"""

from __future__ import annotations

import argparse
import gc
import statistics
import tempfile
import time

import dagster as dg

from dataflow_governance.dagster_ext import governed_asset, policy_checks, policy_context
from dataflow_governance.model.manifest import Project, WarehouseConfig, ObjectStoreConfig, MlflowConfig
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


# --- a dbt project of N models: governed (schema.yml governance, compiled-SQL lineage) vs plain dagster-dbt

def dbt_project(folder: Path, n: int) -> Path:
    """N models in chains of ten over one source; every model governed in schema.yml, per column."""
    import yaml

    (folder / "models").mkdir(parents=True)
    (folder / "dbt_project.yml").write_text(yaml.safe_dump({"name": "bench", "profile": "bench", "version": "1.0.0",
                                                           "model-paths": ["models"]}))
    column_facts = {"user_id": {"identity": True, "categories": ["user.unique_id"]},
                    "email": {"categories": ["user.contact.email"]}, "amount": {}, "created_at": {}}
    models = []
    for i in range(n):
        upstream = f"{{{{ ref('model_{i - 1}') }}}}" if i % 10 else "{{ source('raw', 'people') }}"
        (folder / "models" / f"model_{i}.sql").write_text(
            f"select user_id, lower(email) as email, amount * {i % 7 + 1} as amount, created_at\nfrom {upstream}\n"
            f"where amount > {i % 5}\n")
        models.append({"name": f"model_{i}", "description": f"Model {i}.",
                       "config": {"meta": {"governance": {k: v for k, v in FACTS.items() if k != "columns"}}},
                       "columns": [{"name": c, "config": {"meta": {"governance": f}}} for c, f in column_facts.items()]})
    (folder / "models" / "schema.yml").write_text(yaml.safe_dump({
        "version": 2, "models": models,
        "sources": [{"name": "raw", "schema": "main", "tables": [{"name": "people"}]}]}))
    return folder


def dbt_sides(n: int, repeat: int) -> tuple[float, float, float]:
    """(plain dagster-dbt, governed assets, governed assets + policy checks): medians, interleaved."""
    import json

    from dagster_dbt import DagsterDbtTranslator, dbt_assets

    from dataflow_governance.dagster_ext import WarehouseResource
    from dataflow_governance.dagster_ext.dbt import GovernedDbtProject, governed_dbt_assets

    folder = dbt_project(_STATE / f"dbt_{n}", n)
    project = _project()
    manifest_path = GovernedDbtProject(project, folder).compiled_manifest()  # compiled once, as a deployment does

    def plain_dbt():
        manifest = json.loads(manifest_path.read_text())

        @dbt_assets(manifest=manifest, dagster_dbt_translator=DagsterDbtTranslator())
        def _models(context):
            return None

        defs = dg.Definitions(assets=[_models])
        defs.validate_loadable(defs)

    def governed_dbt(with_checks: bool):
        assets = governed_dbt_assets(project, folder)
        checks = [policy_checks(policy_context(list(assets.specs), project))] if with_checks else []
        defs = dg.Definitions(assets=[assets], asset_checks=checks, resources={"warehouse": WarehouseResource()})
        defs.validate_loadable(defs)

    samples: dict[str, list[float]] = {"plain": [], "governed": [], "checks": []}
    sides = (("plain", plain_dbt), ("governed", lambda: governed_dbt(False)), ("checks", lambda: governed_dbt(True)))
    for _ in range(repeat + 1):
        for name, build in sides:
            gc.collect()
            start = time.perf_counter()
            build()
            samples[name].append(time.perf_counter() - start)
    return tuple(statistics.median(samples[name][1:]) for name, _ in sides)  # the first round warms caches


def profile_split(n: int) -> None:
    """Self time of one governed load by package, beside the plain load's total."""
    import cProfile
    import pstats

    def totals(build) -> dict[str, float]:
        profiler = cProfile.Profile()
        profiler.enable()
        build(n)
        profiler.disable()
        split: dict[str, float] = {}
        for (filename, _line, _name), row in pstats.Stats(profiler).stats.items():  # type: ignore[attr-defined]
            owner = ("dataflow_governance" if "/dataflow_governance/" in filename else
                     "dagster" if "/dagster" in filename else "other")
            split[owner] = split.get(owner, 0.0) + row[2]
        return split

    plain(50), full(50)
    governed, baseline = totals(full), totals(plain)
    print(f"profiled, {n} assets: plain Dagster {sum(baseline.values()):.2f} s; governed_definitions() "
          f"{sum(governed.values()):.2f} s = dataflow_governance {governed.get('dataflow_governance', 0):.2f} s + "
          f"Dagster {governed.get('dagster', 0):.2f} s + other {governed.get('other', 0):.2f} s")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--assets", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--dbt-models", type=int, default=500, help="models of the dbt project (0: skip it)")
    parser.add_argument("--profile", action="store_true", help="split one governed load's time by package")
    args = parser.parse_args()
    if args.profile:
        profile_split(args.assets)
        return
    if args.dbt_models:
        plain_dbt, governed_dbt, checked_dbt = dbt_sides(args.dbt_models, max(3, args.repeat // 2))
        print(f"{args.dbt_models}-model dbt project, plain dagster-dbt:       {plain_dbt:.3f} s")
        print(f"{args.dbt_models}-model dbt project, governed:                {governed_dbt:.3f} s  "
              f"ratio {governed_dbt / plain_dbt:.2f}x  (goal <= 1.3x)")
        print(f"{args.dbt_models}-model dbt project, governed + policy checks: {checked_dbt:.3f} s  "
              f"ratio {checked_dbt / plain_dbt:.2f}x")
    plain(50), governed(50), governed(50, with_checks=False), full(50)  # warm imports and caches on both sides
    baseline, ours, declarations, whole = timed_sides(args.assets, args.repeat)
    print(f"{args.assets} plain Dagster assets:                  {baseline:.3f} s (median of {args.repeat})")
    print(f"{args.assets} governed assets + policy checks:       {ours:.3f} s  ratio {ours / baseline:.2f}x")
    print(f"{args.assets} governed assets, declarations only:    {declarations:.3f} s  ratio {declarations / baseline:.2f}x")
    print(f"{args.assets} assets through governed_definitions():  {whole:.3f} s  ratio {whole / baseline:.2f}x")
    print(f"ratio governed / plain: {ours / baseline:.2f}x  (goal <= 1.3x)")


if __name__ == "__main__":
    main()
