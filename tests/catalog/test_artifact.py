"""The governance catalog: written when the Definitions load, read by the CLI, rebuilt when stale."""

import json
import os
import subprocess
import sys

import pytest

from conftest import copy_project, run_dfg
from dataflow_governance.catalog import artifact as catalog
from dataflow_governance import load_project
from dataflow_governance.policy.rules import run_policy


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    manifest = copy_project(tmp_path_factory.mktemp("catalog") / "project")
    code, out, err = run_dfg("catalog", "build", "--json", project=manifest)
    assert code == 0, err[-2000:]
    return manifest, json.loads(out)


def test_the_catalog_round_trips_every_fact_lineage_and_classification(built):
    manifest, summary = built
    project = load_project(manifest)
    path = project.paths.catalog
    assert summary["path"] == str(path) and summary["assets"] >= len(project.governance) > 20  # (some declared in Python)
    first = catalog.read(path)
    again = catalog.Catalog.from_dict(json.loads(json.dumps(first.to_dict())))
    assert again.to_dict() == first.to_dict()
    assert set(first.governance) >= {"users", "daily_signups", "customer_dim"}
    assert first.governance["users"] == project.governance["users"]  # facts survive validation both ways
    assert "customer_dim" in first.graph.lineage and first.graph.class_of("customer_dim", "email").personal
    assert first.graph.class_of("revenue_by_country", "revenue").anonymous
    assert first.graph.class_of("ticket_features", "user_pseudo_id").pseudonymized
    assert [f.to_dict() for f in run_policy(again.context)] == [f.to_dict() for f in run_policy(first.context)]
    data = json.loads(path.read_text())
    assert data["dfg_catalog_version"] == 2 and data["fingerprint"] == first.fingerprint
    assert {"dagster_project.yaml", "assets/definitions.py", "assets/sql/daily_signups.sql"} <= set(data["inputs"])


def test_commands_read_a_fresh_catalog_without_loading_dagster_or_the_asset_modules(built):
    manifest, _ = built
    probe = ("import sys; from dataflow_governance.cli import main; code = main(['--project', sys.argv[1], 'check']); "
             "print('LOADED', sorted(m for m in sys.modules if m.split('.')[0] in ('dagster', 'assets', 'pandas')))")
    run = subprocess.run([sys.executable, "-c", probe, str(manifest)], capture_output=True, text=True,
                         cwd=manifest.parent, timeout=120)
    assert run.returncode == 0, run.stderr[-2000:]
    assert "LOADED []" in run.stdout and "rebuilding" not in run.stderr


def test_an_edited_sql_file_makes_the_catalog_stale_and_the_next_command_sees_the_edit(tmp_path):
    manifest = copy_project(tmp_path / "project")
    assert run_dfg("catalog", "build", project=manifest)[0] == 0
    code, out, _ = run_dfg("check", project=manifest)
    assert code == 0 and "0 error(s)" in out
    sql = manifest.parent / "assets" / "sql" / "daily_signups.sql"
    sql.write_text("SELECT CAST(created_at AS DATE) AS signup_date, email AS country, 1 AS signups FROM users\n")
    code, out, err = run_dfg("catalog", "status", project=manifest)
    assert code == 1 and "STALE" in out and "assets/sql/daily_signups.sql" in out
    code, out, err = run_dfg("check", project=manifest)
    assert "stale (assets/sql/daily_signups.sql changed): rebuilding" in err
    assert code == 1 and "daily_signups" in out and "email" in out  # PII now flows into a pii_free asset
    assert run_dfg("catalog", "status", project=manifest)[0] == 0  # rebuilt, fresh again


def test_a_damaged_or_missing_catalog_is_rebuilt_and_status_says_what_to_do(tmp_path):
    manifest = copy_project(tmp_path / "project")
    code, _, err = run_dfg("catalog", "status", project=manifest)
    assert code == 2 and "no governance catalog" in err and "dfg catalog build" in err
    code, out, err = run_dfg("check", project=manifest)
    assert code == 0 and err == ""  # a first run builds it quietly
    path = load_project(manifest).paths.catalog
    path.write_text(path.read_text()[:500])  # torn
    code, _, err = run_dfg("catalog", "status", project=manifest)
    assert code == 2 and "cannot be read" in err
    code, out, err = run_dfg("lineage", "--asset", "daily_signups", project=manifest)
    assert code == 0 and "unreadable" in err and "signups" in out
    # A hand edit that drops an asset's identity column would hide it from erasure plans: refused.
    text = path.read_text()
    path.write_text(text.replace('"identity": true', '"identity": false', 1))
    code, _, err = run_dfg("catalog", "status", project=manifest)
    assert code == 2 and "does not match its checksum" in err
    code, _, err = run_dfg("check", project=manifest)
    assert code == 0 and "does not match its checksum" in err and "rebuilding" in err
    assert catalog.read(path).governance["users"].columns["user_id"].identity  # rebuilt from the manifest


def test_a_state_dir_that_cannot_be_written_is_a_warning_not_a_failed_definitions_load(tmp_path):
    manifest = copy_project(tmp_path / "project")
    (manifest.parent / "blocker").write_text("a file where the state dir would be")
    manifest.write_text(manifest.read_text().replace("state_dir: .dfg", "state_dir: blocker/state"))
    load = ("import sys; sys.path.insert(0, '.'); from assets.definitions import defs; "
            "print(len(list(defs.resolve_all_asset_specs())))")
    run = subprocess.run([sys.executable, "-W", "always", "-c", load], cwd=manifest.parent, capture_output=True,
                         text=True, timeout=120, env={**os.environ, "DFG_PROJECT": str(manifest)})
    assert run.returncode == 0, run.stderr[-2000:]
    assert int(run.stdout.split()[-1]) > 16 and "governance catalog not written" in run.stderr
