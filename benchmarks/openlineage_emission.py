"""OpenLineage emission beside the materialization it describes, measured in one run.

The example project (copied into a temporary folder) is materialized once in-process — every
asset and its checks, as `dfg demo` runs them; then the OpenLineage events of that run (START and
COMPLETE per step, with schema, column lineage and governance facets) are built from the run's
event log and written through the client's file transport, several times. The figure is the
emission's share of the materialization time (goal: at most 5%).

    python benchmarks/openlineage_emission.py [--repeat R]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

from example_copy import copy_example


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "deep_water"
        copy_example(root)
        os.chdir(root)
        sys.path.insert(0, str(root))
        os.environ["DFG_PROJECT"] = str(root / "dagster_project.yaml")
        import dagster as dg

        from dataflow_governance import load_project
        from dataflow_governance.local import s3 as local_s3
        from dataflow_governance.cli.common import load_definitions
        from dataflow_governance.dagster_ext import project_resources
        from dataflow_governance.dagster_ext.openlineage import emit_run, run_events

        project = load_project(root / "dagster_project.yaml")
        defs = load_definitions(project)
        project_resources(project)["s3"].get()  # the local endpoint up before the clock starts
        try:
            with dg.DagsterInstance.ephemeral() as instance:
                selection = dg.AssetSelection.all() - dg.AssetSelection.assets("retention_sweep")
                job = dg.define_asset_job("bench", selection=selection).resolve(asset_graph=defs.resolve_asset_graph())
                start = time.perf_counter()
                result = job.execute_in_process(instance=instance, raise_on_error=False,
                                                run_config={"loggers": {"console": {"config": {"log_level": "ERROR"}}}})
                materialization = time.perf_counter() - start
                assert result.success
                emitted, timings = 0, []
                for _ in range(args.repeat):
                    start = time.perf_counter()
                    emitted = emit_run(instance, result.run_id, project)
                    timings.append(time.perf_counter() - start)
                built = []
                for _ in range(args.repeat):
                    start = time.perf_counter()
                    run_events(instance, result.run_id, project)
                    built.append(time.perf_counter() - start)
        finally:
            local_s3.stop(project.state_dir)
        emission = statistics.median(timings)
        print(f"example project: {len(result.get_asset_materialization_events())} assets materialized in one run")
        print(f"  materialization (every asset and check):   {materialization:7.2f} s")
        print(f"  OpenLineage: {emitted} events built + written: {emission:7.3f} s  (median of {args.repeat}; "
              f"building alone {statistics.median(built):.3f} s)")
        print(f"  ratio: emission is {emission / materialization:.1%} of the materialization (goal <= 5%)")


if __name__ == "__main__":
    main()
