"""The example's B2B side: tenants pinned to the EU and the US, a correct cross-tenant aggregate —
and deliberately broken copies that each tenancy rule catches."""

import subprocess
import sys

from conftest import copy_project, dfg_json


def findings_of(manifest) -> list[tuple[str, str]]:
    code, out, err = dfg_json("check", project=manifest)
    assert code in (0, 1), err
    return [(f["asset"], f["rule"]) for f in out["findings"]]


def test_the_example_keeps_its_tenants_apart_and_passes_every_tenancy_rule(demo_project):
    manifest, summary = demo_project
    assert not [f for f in findings_of(manifest) if "tenant" in f[1]]
    code, catalog_status, _ = dfg_json("catalog", "status", project=manifest)
    assert code == 0


def test_a_join_without_the_tenant_equality_in_the_example_is_caught(tmp_path):
    manifest = copy_project(tmp_path / "p")
    module = manifest.parent / "assets" / "workspaces.py"
    module.write_text(module.read_text().replace(
        'sql="SELECT count(*) AS documents, count(DISTINCT workspace_id) AS workspaces, sum(words) AS words\\n"\n'
        '        "FROM workspace_documents\\n",',
        'sql="SELECT w.name AS workspaces, count(*) AS documents, sum(d.words) AS words\\n"\n'
        '        "FROM workspace_documents AS d JOIN workspaces AS w ON w.region = \'eu-central-1\'\\n"\n'
        '        "GROUP BY w.name\\n",'))
    assert "JOIN workspaces" in module.read_text()
    assert ("workspace_activity", "cross-tenant-join") in findings_of(manifest)


def test_an_eu_tenants_rows_declared_in_the_us_bucket_are_caught(tmp_path):
    manifest = copy_project(tmp_path / "p")
    text = manifest.read_text()
    manifest.write_text(text.replace('        tenants: ["2"]\n', '        tenants: ["1", "2"]\n'))
    assert ("workspace_documents_us", "tenant-region-crossing") in findings_of(manifest)


CHECK_RUN = """
import sys
sys.path.insert(0, '.')
import dagster as dg
from assets.definitions import defs
from dataflow_governance.dagster_ext import project_resources
from resources import project

job = dg.define_asset_job('tenancy', selection=dg.AssetSelection.checks_for_assets('workspace_documents')) \\
    .resolve(asset_graph=defs.resolve_asset_graph())
result = job.execute_in_process(raise_on_error=False, resources=project_resources(project()))
for event in result.all_events:
    if event.event_type_value == 'ASSET_CHECK_EVALUATION' and event.event_specific_data.check_name == 'tenant_rows':
        data = event.event_specific_data
        print('TENANT_ROWS', data.passed, data.metadata['rows_without_tenant'].value,
              data.metadata['rows_of_tenants_pinned_elsewhere'].value)
"""


def test_a_null_tenant_row_and_a_us_tenants_row_in_the_eu_table_fail_the_runtime_check(demo_copy):
    import os

    from dataflow_governance import load_project

    warehouse = load_project(demo_copy).open_warehouse()
    run = lambda: subprocess.run([sys.executable, "-c", CHECK_RUN], cwd=demo_copy.parent, capture_output=True,  # noqa: E731
                                 text=True, timeout=300, env={**os.environ, "DFG_PROJECT": str(demo_copy)})
    clean = run()
    assert "TENANT_ROWS True 0 0" in clean.stdout, clean.stderr[-2000:]
    warehouse.execute("INSERT INTO workspace_documents VALUES (9001, NULL, 'orphan', 10), (9002, 2, 'copied', 10)")
    broken = run()
    assert "TENANT_ROWS False 1 1" in broken.stdout, broken.stderr[-2000:]
