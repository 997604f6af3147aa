"""The deep water project's configuration: its manifest, and the resources built from it.

The manifest path is `DFG_PROJECT` when set (the CLI sets it for `--project`), else the
`dagster_project.yaml` beside this folder. Connection settings follow the environment
(DFG_WAREHOUSE_DSN, DFG_S3_ENDPOINT_URL, MLFLOW_TRACKING_URI); see README.
"""

from __future__ import annotations

import os
from pathlib import Path

import dagster as dg

from dataflow_governance import Project, load_project
from dataflow_governance.dagster_ext import project_resources

ROOT = Path(__file__).resolve().parent.parent


def project() -> Project:
    return load_project(os.environ.get("DFG_PROJECT") or ROOT / "dagster_project.yaml")


def dagster_resources() -> dict[str, dg.ConfigurableResource]:
    """The Dagster resources the assets ask for (`warehouse`, `s3`, `mlflow`, `keys`, `project`),
    built from the manifest; add the project's own here."""
    return project_resources(project())
