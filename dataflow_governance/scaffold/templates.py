"""The files `dfg init` writes: the governance manifest, the governed Definitions, the resources."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from dataflow_governance.scaffold.detect import CodeLocation

DEFINITIONS_MODULE = "governed_definitions"
RESOURCES_MODULE = "governed_resources"


@dataclass(frozen=True)
class WarehouseChoice:
    """Where the project's tables are, as the manifest will say it."""

    kind: str = "duckdb"
    path: str | None = "warehouse.duckdb"  # a file engine's file, relative to the state folder
    schema: str | None = None  # (a server's DSN stays in DFG_WAREHOUSE_DSN, never in the file)


@dataclass
class Scaffold:
    """What `dfg init` proposes: file → text."""

    location: CodeLocation
    name: str
    region: str
    warehouse: WarehouseChoice = field(default_factory=WarehouseChoice)
    buckets: dict[str, str] = field(default_factory=dict)  # bucket → region
    governance_yaml: str = ""  # the `subjects:` and `groups:` sections (a draft, from a scan)
    draft: bool = False
    governed: bool = False  # the project has a manifest: its Definitions are governed already

    def files(self) -> dict[Path, str]:
        manifest = self.location.root / "dagster_project.yaml"
        if self.governed:  # only the manifest's proposal, beside the one there
            return {manifest: self.manifest(self.location.definitions)}
        definitions_module, definitions_file = self.location.module_path(DEFINITIONS_MODULE)
        resources_module, resources_file = self.location.module_path(RESOURCES_MODULE)
        return {
            manifest: self.manifest(f"{definitions_module}:defs"),
            resources_file: resources_text(resources_file, manifest),
            definitions_file: definitions_text(self.location, resources_module),
        }

    def manifest(self, definitions: str) -> str:
        lines = [f"# Governance manifest of {self.name}, written by `dfg init` (the README: dagster_project.yaml, field by field)."]
        if self.draft:
            lines += ["# DRAFT: proposed by `dfg init --scan` from the data, for review. Entries marked REVIEW are uncertain;",
                      "# commented-out ones were too weak to propose. Decide each legal basis and retention, then remove",
                      "# `draft: true` (`dfg check` says what is still missing).",
                      "draft: true"]
        lines += [f"project: {_scalar(self.name)}",
                  f"definitions: {definitions}   # the governed Definitions (dfg init wrote the module)",
                  "state_dir: .dfg                # the embedded services' state (owner-only)",
                  "output_dir: out                # reports", "", "warehouse:", f"  kind: {self.warehouse.kind}"]
        if self.warehouse.path:
            lines.append(f"  path: {_scalar(self.warehouse.path)}   # relative to state_dir")
        else:
            lines.append("  # dsn: set DFG_WAREHOUSE_DSN (a DSN holds a password: keep it out of this file)")
        if self.warehouse.schema:
            lines.append(f"  schema: {_scalar(self.warehouse.schema)}")
        lines += [f"  region: {self.region}", "", "object_store:",
                  "  endpoint_url: null           # null: the project's local S3 endpoint; or DFG_S3_ENDPOINT_URL",
                  f"  region: {self.region}"]
        if self.buckets:
            lines += ["", "buckets:"] + [f"  {_scalar(b)}: {{region: {r}}}" for b, r in sorted(self.buckets.items())]
        lines += ["", "mlflow:", "  tracking_uri: null           # null: a sqlite store in state_dir; or MLFLOW_TRACKING_URI",
                  f"  experiment: {_scalar(self.name)}", "",
                  "defaults:                      # under every asset's own facts",
                  f"  region: {self.region}",
                  "  encryption: {at_rest: AES-256, in_transit: TLS 1.2+}   # REVIEW: what your storage really does", ""]
        body = self.governance_yaml or ("groups: {}                     # each asset's facts: groups.<group>.assets.<asset>\n")
        return "\n".join(lines) + "\n" + body


def _scalar(value: str) -> str:
    """A YAML scalar that stays a string whatever it holds."""
    return value if value.replace("_", "").replace("-", "").replace(".", "").isalnum() else json.dumps(value)


def resources_text(path: Path, manifest: Path) -> str:
    depth = len(path.parent.relative_to(manifest.parent).parts)  # the manifest is at the project's root
    location = f'Path(__file__).resolve().parents[{depth}] / "dagster_project.yaml"'
    return f'''"""The governance manifest and the Dagster resources built from it (written by `dfg init`).

The resources' keys are `warehouse` (the tables: `warehouse.get().replace_table(name, frame)`,
`.fetch_df(sql)`), `s3` (`put_object(s3.get(), bucket, key, body)`), `keys`, `mlflow` and `project`.
DFG_PROJECT, when set, names another manifest (the CLI sets it for `--project`).
"""

from __future__ import annotations

import os
from pathlib import Path

from dataflow_governance import Project, load_project
from dataflow_governance.dagster_ext import project_resources

MANIFEST = {location}


def project() -> Project:
    return load_project(os.environ.get("DFG_PROJECT") or MANIFEST)


def resources() -> dict:
    """The resources governed assets ask for, from the manifest; add the project's own here."""
    return project_resources(project())
'''


def definitions_text(location: CodeLocation, resources_module: str) -> str:
    module, attribute = location.definitions.split(":", 1)
    governed = f"{location.package}.{DEFINITIONS_MODULE}" if location.package else DEFINITIONS_MODULE
    return f'''"""The project's Definitions under governance (written by `dfg init`): the assets, checks, jobs,
schedules, sensors and resources of `{module}`, with the manifest's facts attached and validated,
the policy checks, the ledger and the retention and erasure jobs added.

Point Dagster here (pyproject.toml: [tool.dagster] module_name = "{governed}").
"""

import {module} as project_module
from dataflow_governance.dagster_ext import governed_definitions
from {resources_module} import project, resources


def governed():
    # (Read inside a function: Dagster takes one Definitions object per module.)
    own = project_module.{attribute}
    return governed_definitions(
        project(),
        own.assets or [],
        asset_checks=own.asset_checks or [],
        jobs=own.jobs or [],
        schedules=own.schedules or [],
        sensors=own.sensors or [],
        resources={{**resources(), **(own.resources or {{}})}},
    )


defs = governed()
'''
