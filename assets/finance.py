"""Finance: a dbt project (assets/dbt) whose governance lives in its own schema.yml."""

from __future__ import annotations

from pathlib import Path

from dataflow_governance import open_warehouse
from dataflow_governance.dagster_ext import governed_dbt_assets
from resources import project

_project = project()
# No dbt adapter for Spark is installed with the project: on Spark the example runs without its dbt models.
finance_dbt = [governed_dbt_assets(_project, Path(__file__).parent / "dbt")] if open_warehouse(_project).dbt_adapter else []
