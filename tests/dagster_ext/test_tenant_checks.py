"""Runtime tenant checks on DuckDB and PostgreSQL: null and unknown tenants, pinned tenants' rows
outside their jurisdiction, tenants an asset does not declare — counted in the warehouse."""

import pytest

from conftest import PG_DSN
from dataflow_governance.model.manifest import TenancyConfig
from dataflow_governance.tenancy.census import TenantCensus, tenant_census
from dataflow_governance.storage.warehouse import Warehouse


@pytest.fixture(params=["duckdb", "postgres"])
def warehouse(request, tmp_path):
    if request.param == "duckdb":
        wh = Warehouse(kind="duckdb", path=str(tmp_path / "w.duckdb"))
    else:
        wh = Warehouse(kind="postgres", dsn=PG_DSN, schema=request.getfixturevalue("pg_schema"))
    wh.execute("CREATE TABLE workspaces (workspace_id INTEGER, region TEXT)")
    wh.execute("INSERT INTO workspaces VALUES (1, 'eu-central-1'), (2, 'us-east-1'), (3, 'eu-west-1')")
    wh.execute("CREATE TABLE documents (doc_id INTEGER, workspace_id INTEGER, body TEXT)")
    wh.execute("INSERT INTO documents VALUES (10, 1, 'a'), (11, 1, 'b'), (12, 2, 'c'), (13, 3, 'd')")
    return wh


ENTITY = ("workspaces", "workspace_id")


def test_rows_without_a_tenant_or_with_an_unknown_one_are_counted(warehouse):
    clean = tenant_census(warehouse, "documents", "workspace_id", entity=ENTITY)
    assert clean == TenantCensus(4, 0, 0, 0, 0) and clean.passed
    warehouse.execute("INSERT INTO documents VALUES (14, NULL, 'orphan'), (15, 99, 'stray'), (16, 99, 'stray')")
    broken = tenant_census(warehouse, "documents", "workspace_id", entity=ENTITY)
    assert broken == TenantCensus(7, 1, 2, 0, 0) and not broken.passed
    assert tenant_census(warehouse, "documents", "workspace_id").unknown == 0  # no entity to ask


def test_pinned_tenants_rows_outside_their_jurisdiction_and_undeclared_tenants(warehouse):
    tenancy = TenancyConfig(tenant="workspaces.workspace_id", region_column="region",
                            tenants={"2": {"region": "eu-central-1"}})  # the manifest pins 2 to the EU too
    in_us = tenant_census(warehouse, "documents", "workspace_id", tenancy=tenancy, entity=ENTITY, region="us-east-1")
    assert in_us.pinned_elsewhere == 4  # 1 and 3 by the entity's regions (3 rows), 2 by the manifest (1 row)
    in_eu = tenant_census(warehouse, "documents", "workspace_id", tenancy=tenancy, entity=ENTITY, region="eu-west-1")
    assert in_eu.pinned_elsewhere == 1  # the entity places 2 in the US: either source pinning it elsewhere counts
    only_manifest = tenant_census(warehouse, "documents", "workspace_id", tenancy=tenancy, region="us-east-1")
    assert only_manifest == TenantCensus(4, 0, 0, 1, 0)
    declared = tenant_census(warehouse, "documents", "workspace_id", declared=["2"])
    assert declared.undeclared == 3
    hostile = tenant_census(warehouse, "documents", "workspace_id",
                            tenancy=TenancyConfig(tenants={"1 OR 1=1": {"region": "eu-central-1"}}), region="us-east-1")
    assert hostile.pinned_elsewhere == 0  # bound and cast, never pasted


def test_the_tenant_asset_checks_run_in_dagster_and_fail_on_a_broken_copy(tmp_path):
    """A governed tenant-scoped table in a US region, an EU-pinned tenant's row copied into it, and
    a row with no tenant: the check fails, with counts only."""
    import dagster as dg

    from dataflow_governance import build_governance
    from dataflow_governance.dagster_ext import WarehouseResource, S3Resource, governed_spec
    from dataflow_governance.dagster_ext.checks import governance_checks

    path = str(tmp_path / "w.duckdb")
    wh = Warehouse(kind="duckdb", path=path)
    wh.execute("CREATE TABLE workspaces (workspace_id INTEGER, region TEXT)")
    wh.execute("INSERT INTO workspaces VALUES (1, 'eu-central-1'), (2, 'us-east-1')")
    wh.execute("CREATE TABLE us_documents (doc_id INTEGER, workspace_id INTEGER)")
    wh.execute("INSERT INTO us_documents VALUES (1, 2), (2, 2)")
    facts = {"tenant_key": "workspace_id", "region": "us-east-1", "storage": {"kind": "warehouse", "table": "us_documents"},
             "columns": {"doc_id": {}, "workspace_id": {}}}
    governance = {"us_documents": build_governance("us_documents", facts),
                  "workspaces": build_governance("workspaces", {"columns": {"workspace_id": {}, "region": {}}})}
    tenancy = TenancyConfig(tenant="workspaces.workspace_id", region_column="region")
    defs = dg.Definitions(assets=[governed_spec(k, g) for k, g in governance.items()],
                          asset_checks=governance_checks(governance, tenancy),
                          resources={"warehouse": WarehouseResource(path=path),
                                     "s3": S3Resource(state_dir=str(tmp_path), use_local=False)})

    def evaluate() -> dict:
        job = dg.define_asset_job("tenancy", selection=dg.AssetSelection.checks_for_assets("us_documents")) \
            .resolve(asset_graph=defs.resolve_asset_graph())
        result = job.execute_in_process(raise_on_error=False, resources=defs.resources)
        return {e.event_specific_data.check_name: e.event_specific_data for e in result.all_events
                if e.event_type_value == "ASSET_CHECK_EVALUATION"}

    assert evaluate()["tenant_rows"].passed
    wh.execute("INSERT INTO us_documents VALUES (3, 1), (4, NULL)")  # an EU tenant's row, and a row of nobody
    broken = evaluate()["tenant_rows"]
    assert not broken.passed
    assert {k: broken.metadata[k].value for k in ("rows", "rows_without_tenant", "rows_of_tenants_pinned_elsewhere",
                                                  "rows_of_unknown_tenants")} == {
        "rows": 4, "rows_without_tenant": 1, "rows_of_tenants_pinned_elsewhere": 1, "rows_of_unknown_tenants": 0}
