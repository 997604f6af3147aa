"""The example's B2B side: tenants pinned to the EU and the US, a correct cross-tenant aggregate —
and deliberately broken copies that each tenancy rule catches."""

import subprocess
import sys

from conftest import copy_project, dfg_json
from dataflow_governance import open_warehouse


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

selection = dg.AssetSelection.checks_for_assets('workspace_documents', 'workspace_tickets', 'workspace_documents_us')
job = dg.define_asset_job('tenancy', selection=selection).resolve(asset_graph=defs.resolve_asset_graph())
result = job.execute_in_process(raise_on_error=False, resources=project_resources(project()))
for event in result.all_events:
    if event.event_type_value == 'ASSET_CHECK_EVALUATION':
        data = event.event_specific_data
        counts = ' '.join(f'{k}={v.value}' for k, v in sorted(data.metadata.items()) if isinstance(v.value, int))
        print('CHECK', data.check_name, data.passed, counts)
"""


def test_tenants_out_of_place_fail_the_runtime_checks(demo_copy):
    """A null-tenant row and a US tenant's row in the EU table; a schema of the US tenant and another
    tenant's row in a tenant's schema; an EU tenant's record under the US tenant's prefix."""
    import os

    import boto3

    from dataflow_governance import load_project
    from dataflow_governance.local import s3 as local_s3

    project = load_project(demo_copy)
    warehouse = open_warehouse(project)

    def run() -> dict[str, str]:
        done = subprocess.run([sys.executable, "-c", CHECK_RUN], cwd=demo_copy.parent, capture_output=True, text=True,
                              timeout=300, env={**os.environ, "DFG_PROJECT": str(demo_copy)})
        checks = {line.split()[1]: line for line in done.stdout.splitlines() if line.startswith("CHECK ")}
        assert {"tenant_rows", "tenant_schemas", "tenant_objects"} <= set(checks), done.stderr[-2000:]
        return checks

    clean = run()
    assert all(" True " in clean[c] for c in ("tenant_rows", "tenant_schemas", "tenant_objects")), clean
    assert "tenant_schemas=1" in clean["tenant_schemas"] and "objects=1" in clean["tenant_objects"]
    warehouse.execute("INSERT INTO workspace_documents VALUES (9001, NULL, 'orphan', 10), (9002, 2, 'copied', 10)")
    warehouse.execute("INSERT INTO ws_1.tickets VALUES (9003, 2, 'open', 1)")
    warehouse.create_schema("ws_2")
    warehouse.execute("CREATE TABLE ws_2.tickets AS SELECT * FROM ws_1.tickets WHERE false")
    endpoint = local_s3.ensure_running(project.state_dir)
    boto3.client("s3", endpoint_url=endpoint.url, region_name="us-east-1", aws_access_key_id="x",
                 aws_secret_access_key="x").put_object(Bucket="deepwater-bi-us", Key="workspaces/2/copied.jsonl",
                                                       Body=b'{"workspace_id": 1, "title": "plan"}\n')
    broken = run()
    assert " False " in broken["tenant_rows"] and "rows_without_tenant=1" in broken["tenant_rows"]
    assert "rows_of_tenants_pinned_elsewhere=1" in broken["tenant_rows"]
    assert " False " in broken["tenant_schemas"] and "schemas_of_tenants_pinned_elsewhere=1" in broken["tenant_schemas"]
    assert "rows_of_another_tenant=1" in broken["tenant_schemas"] and "schemas_of_undeclared_tenants=1" in broken["tenant_schemas"]
    assert " False " in broken["tenant_objects"] and "under_another_tenants_prefix=1" in broken["tenant_objects"]
    assert "of_tenants_pinned_elsewhere=1" in broken["tenant_objects"] and "of_undeclared_tenants=1" in broken["tenant_objects"]
