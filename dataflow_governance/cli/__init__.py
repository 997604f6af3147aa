"""`dataflow-governance` / `dfg`: every governance answer from the command line, text or --json.

Exit codes: 0 all good; 1 something was found or failed (an error-level finding, a failed
check); 2 the input could not be used (bad manifest, unknown taxonomy key, unreachable service).

The parser and exit codes are here; each command family is a module of its own (`init`, `demo`
(materialize), `governance`, `lineage`, `scanning`, `subjects`, `provenance`, `audit`, `tenancy`, `keys`,
`review`, `openlineage`, `saga`, `serve`, `local`) that computes its answer and hands it to `render` for people or prints it as JSON.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import sys
from collections.abc import Callable
from pathlib import Path

from dataflow_governance.cli.common import CliError
from dataflow_governance.errors import DfgError

__all__ = ["FAMILIES", "CliError", "main"]


# Each family declares its commands in its own module (`register`) and runs them there; the order
# here is the order of `dfg --help`.
FAMILIES = ("init", "demo", "governance", "lineage", "scanning", "subjects", "incident", "provenance", "audit", "tenancy",
            "keys", "review", "openlineage", "saga", "serve", "local")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="dfg", description=__doc__.split("\n")[0])
    parser.add_argument("--project", default=os.environ.get("DFG_PROJECT"),
                        help="governance manifest (default ./dagster_project.yaml)")
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--json", action="store_true", help="machine-readable output")
    subparsers = parser.add_subparsers(dest="command", required=True)
    for family in FAMILIES:
        importlib.import_module(f"{__name__}.{family}").register(subparsers, common)
    return parser


def main(argv: list[str] | None = None) -> int:
    # Everything this process and its children write (warehouse, object store, keys, run storage,
    # certificates) may hold personal data or keys: owner-only, whatever the shell's umask.
    os.umask(0o077)
    args = _parser().parse_args(argv)
    # MLflow's progress lines ("Created version …") would mix into the command's own output.
    os.environ.setdefault("MLFLOW_LOGGING_LEVEL", "WARNING")
    try:
        needs = getattr(args, "needs_project", True)
        standalone = needs == "never" or (needs is False and any(
            getattr(args, name, None) is not None for name in ("sql", "file", "catalog")))
        project = None
        if not standalone:
            from dataflow_governance.model.manifest import DEFAULT_MANIFEST, load_project

            args.project = args.project or DEFAULT_MANIFEST
            # The project's own modules (and Dagster run processes) find the manifest through this.
            os.environ["DFG_PROJECT"] = str(Path(args.project).resolve())
            project = load_project(args.project)
            from dataflow_governance.storage.warehouse import check_warehouse

            check_warehouse(project.warehouse)  # (the model declares it; an unusable one stops every command)
        module, _, name = args.handler.partition(":")
        # Each command family is imported when it runs: `dfg lineage --sql` never loads pandas or Dagster.
        handler: Callable = getattr(importlib.import_module(f"{__name__}.{module}"), name)
        return handler(args, project)
    except DfgError as exc:
        if getattr(args, "json", False):
            print(json.dumps({"error": str(exc)}))
        print(f"error: {exc}", file=sys.stderr)
        return 2
