"""A command imports what it uses and nothing else: start-up is paid on every call, by people and
by schedulers. Checked on `sys.modules` in a fresh interpreter after each command family's entry,
and after whole runs of the two commands people run most."""

import json
import subprocess
import sys

import pytest

from conftest import REPO, copy_project

# Libraries that cost 50 ms to seconds to import; a command that needs one imports it when it runs.
HEAVY = ["dagster", "pandas", "mlflow", "pyspark", "dbt", "great_expectations", "boto3", "duckdb", "psycopg",
         "fideslang", "sklearn", "deltalake", "pyarrow", "openlineage", "sqlglot.optimizer.qualify"]


def imported_after(code: str, cwd=None, watched=tuple(HEAVY)) -> list[str]:
    """The `watched` modules in `sys.modules` once `code` has run in a fresh interpreter."""
    probe = f"{code}\nimport sys, json\nprint('\\n' + json.dumps(sorted(m for m in {list(watched)!r} if m in sys.modules)))"
    run = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120, cwd=cwd or REPO)
    assert run.returncode == 0, run.stderr[-2000:]
    return json.loads(run.stdout.strip().splitlines()[-1])


def families() -> list[str]:
    from dataflow_governance.cli import _parser

    parser = _parser()
    [subparsers] = [a for a in parser._actions if a.choices and isinstance(a.choices, dict)]
    return sorted({sub.get_default("handler").partition(":")[0] for sub in subparsers.choices.values()})


def test_the_commands_families_are_all_found():
    assert {"governance", "lineage", "subjects", "demo", "local"} <= set(families())


@pytest.mark.parametrize("family", families())
def test_a_command_familys_entry_imports_nothing_heavy(family):
    """Parsing and dispatch import a family's module; what its commands need comes when one runs."""
    assert imported_after(f"import dataflow_governance.cli, dataflow_governance.cli.{family}") == []


def test_lineage_of_sql_imports_the_tracer_and_no_project_machinery():
    code = "from dataflow_governance.cli import main\nmain(['lineage', '--sql', 'select a from t', '--json'])"
    assert imported_after(code, watched=(*HEAVY, "pydantic", "yaml")) == ["sqlglot.optimizer.qualify"]


def test_check_answers_from_the_catalog_without_dagster_pandas_or_a_warehouse_driver(tmp_path):
    manifest = copy_project(tmp_path / "p")
    first = f"from dataflow_governance.cli import main\nmain(['--project', {str(manifest)!r}, 'check'])"
    imported_after(first, cwd=tmp_path)  # builds the catalog (this one loads the Definitions)
    assert imported_after(first, cwd=tmp_path) == []
