"""Row-level tenant isolation on the real PostgreSQL server, proven as the roles it creates (named
per test run), and a broken copy caught."""

import uuid

import psycopg
import pytest

from conftest import PG_DSN, dfg_json, run_dfg
from dataflow_governance import build_governance
from dataflow_governance.model.manifest import TenancyConfig
from dataflow_governance.tenancy.isolation import IsolationError, apply, plan, verify
from dataflow_governance.storage.warehouse import Warehouse

FACTS = {
    "documents": {"tenant_key": "workspace_id", "legal_basis": "contract", "retention": {"keep": "1y"},
                  "columns": {"doc_id": {}, "workspace_id": {}, "author_email": {"categories": ["user.contact.email"]}}},
    "doc_counts": {"pii_free": True, "anonymization": "counts per workspace", "columns": {"workspace_id": {}, "docs": {}}},
}


@pytest.fixture
def isolated(pg_schema):
    suffix = uuid.uuid4().hex[:8]
    tenancy = TenancyConfig(role=f"dfg_tenant_{suffix}", reporting_role=f"dfg_reporting_{suffix}")
    warehouse = Warehouse(kind="postgres", dsn=PG_DSN, schema=pg_schema)
    warehouse.execute("CREATE TABLE documents (doc_id INTEGER, workspace_id INTEGER, author_email TEXT)")
    warehouse.execute("INSERT INTO documents VALUES (1, 1, 'a@example.com'), (2, 1, 'b@example.com'), "
                      "(3, 2, 'c@example.com')")
    warehouse.execute("CREATE TABLE doc_counts AS SELECT workspace_id, count(*) AS docs FROM documents GROUP BY 1")
    governance = {name: build_governance(name, facts) for name, facts in FACTS.items()}
    yield governance, warehouse, tenancy
    with psycopg.connect(PG_DSN, autocommit=True) as con:
        con.execute(f'DROP SCHEMA IF EXISTS "{pg_schema}" CASCADE')
        roles = [r for (r,) in con.execute("SELECT rolname FROM pg_roles WHERE rolname LIKE %s OR rolname = %s",
                                           (f"{tenancy.role}%", tenancy.reporting_role))]
        for role in roles:
            con.execute(f'DROP OWNED BY "{role}"')
            con.execute(f'DROP ROLE IF EXISTS "{role}"')


def test_row_level_security_is_applied_and_proven_as_the_tenant_and_reporting_roles(isolated):
    governance, warehouse, tenancy = isolated
    isolation = plan(governance, warehouse, tenancy)
    assert isolation.scoped == {"documents": "workspace_id"} and isolation.readable == ["doc_counts"]
    assert any("FORCE ROW LEVEL SECURITY" in s for s in isolation.statements)
    apply(isolation, warehouse)
    result = verify(isolation, warehouse, tenancy, "1", "2")
    assert result["ok"] and result["leaks"] == [] and result["tenant_chooses_tenant"]
    assert result["tables"] == {"documents": {"rows_visible": 2, "rows_of_other_tenants": 0,
                                              "insert_for_other_tenant_refused": True, "reads_proven": True,
                                              "canary": "written"}}
    assert result["reporting"] == {"documents": "refused", "doc_counts": "readable"}
    assert verify(isolation, warehouse, tenancy, "2", "1")["tables"]["documents"]["rows_visible"] == 1
    assert warehouse.fetch("SELECT count(*) FROM documents") == [(3,)]  # the pipeline still sees every tenant
    apply(isolation, warehouse)  # applying again changes nothing and does not fail
    warehouse.execute("DELETE FROM documents WHERE workspace_id = 2")
    alone = verify(isolation, warehouse, tenancy, "1", "2")["tables"]["documents"]
    # Only one tenant's rows are stored: a canary of the other, written and rolled back, proves the reads.
    assert alone["rows_of_other_tenants"] == 0 and alone["reads_proven"] and alone["canary"] == "written"
    assert warehouse.fetch("SELECT count(*) FROM documents WHERE workspace_id = 2") == [(0,)]  # the canary is gone


def test_a_broken_database_is_caught(isolated):
    governance, warehouse, tenancy = isolated
    isolation = plan(governance, warehouse, tenancy)
    apply(isolation, warehouse)
    warehouse.execute("ALTER TABLE documents DISABLE ROW LEVEL SECURITY")  # someone switched it off
    warehouse.execute(f'GRANT SELECT ON documents TO "{tenancy.reporting_role}"')  # and let reporting read PII
    result = verify(isolation, warehouse, tenancy, "1", "2")
    assert not result["ok"]
    assert result["tables"]["documents"]["rows_of_other_tenants"] == 2  # the stored row and the canary
    assert not result["tables"]["documents"]["insert_for_other_tenant_refused"]
    assert result["reporting"]["documents"] == "readable"


def test_duckdb_has_no_row_level_security_and_says_so(tmp_path):
    warehouse = Warehouse(kind="duckdb", path=str(tmp_path / "w.duckdb"))
    warehouse.execute("CREATE TABLE documents (doc_id INTEGER, workspace_id INTEGER, author_email TEXT)")
    governance = {"documents": build_governance("documents", FACTS["documents"])}
    with pytest.raises(Exception, match="no row-level security; use the schema or database strategy"):
        plan(governance, warehouse, TenancyConfig())
    with pytest.raises(IsolationError, match="no materialized tenant-scoped table"):
        plan({}, warehouse, TenancyConfig())


def test_the_cli_applies_and_verifies_and_ledgers_counts_only(isolated, tmp_path):
    _governance, warehouse, tenancy = isolated
    manifest = tmp_path / "dagster_project.yaml"
    manifest.write_text(
        "project: tenancy_cli\ndefinitions: defs_module:defs\n"
        f"warehouse: {{kind: postgres, dsn: '{PG_DSN}', schema: {warehouse.schema}}}\n"
        f"tenancy: {{role: {tenancy.role}, reporting_role: {tenancy.reporting_role}}}\n")
    (tmp_path / "defs_module.py").write_text(
        "import dagster as dg\nfrom dataflow_governance.dagster_ext import governed_spec\n"
        f"FACTS = {FACTS!r}\n"
        "defs = dg.Definitions(assets=[governed_spec(k, v) for k, v in FACTS.items()])\n")
    code, dry, err = dfg_json("tenancy", "apply", "--dry-run", project=manifest)
    assert code == 0 and not dry["applied"] and dry["tables"] == ["documents"], err
    code, _, err = run_dfg("tenancy", "verify", "--tenant", "1", "--other", "2", project=manifest)
    assert code == 2 and "run `dfg tenancy apply` first" in err  # nothing applied yet
    code, _, err = run_dfg("tenancy", "apply", project=manifest)
    assert code == 0, err
    code, out, err = run_dfg("tenancy", "verify", "--tenant", "1", "--other", "2", project=manifest)
    assert code == 0 and "tenant isolation verified" in out, err
    code, exported, _ = dfg_json("audit", "export", "--actor", "dfg:tenancy", project=manifest)
    assert [e["action"] for e in exported["entries"]][-1] == "tenancy.isolation_verified"
    assert "example.com" not in str(exported)


def test_a_policy_widened_to_everything_is_caught_by_the_canary_and_foreign_policies_go(isolated):
    governance, warehouse, tenancy = isolated
    warehouse.execute("DELETE FROM documents WHERE workspace_id = 2")  # one tenant's rows only, as in the attack
    isolation = plan(governance, warehouse, tenancy)
    apply(isolation, warehouse)
    warehouse.execute("ALTER POLICY dfg_tenant_isolation ON documents USING (true)")
    result = verify(isolation, warehouse, tenancy, "1", "2")
    assert not result["ok"] and result["tables"]["documents"]["rows_of_other_tenants"] == 1  # the canary shows

    apply(plan(governance, warehouse, tenancy), warehouse)  # the project's own policy, written again
    warehouse.execute("CREATE POLICY everyone_reads ON documents FOR SELECT USING (true)")
    result = verify(isolation, warehouse, tenancy, "1", "2")
    assert not result["ok"] and any("permissive policy everyone_reads" in leak["problem"] for leak in result["leaks"])
    again = plan(governance, warehouse, tenancy)
    assert again.removed == [f'everyone_reads on "{warehouse.schema}"."documents"'] or \
        [r.split(" on ")[0] for r in again.removed] == ["everyone_reads"]
    apply(again, warehouse)
    assert verify(again, warehouse, tenancy, "1", "2")["ok"]


def test_a_view_owned_by_a_superuser_and_granted_to_the_tenant_is_a_leak(isolated):
    governance, warehouse, tenancy = isolated
    isolation = plan(governance, warehouse, tenancy)
    apply(isolation, warehouse)
    warehouse.execute("CREATE VIEW all_documents AS SELECT * FROM documents")
    warehouse.execute(f'GRANT SELECT ON all_documents TO "{tenancy.role}"')
    result = verify(isolation, warehouse, tenancy, "1", "2")
    assert not result["ok"] and any("all_documents" in leak["via"] and "runs as its owner" in leak["problem"]
                                    for leak in result["leaks"])
    warehouse.execute("ALTER VIEW all_documents SET (security_invoker = true)")
    assert verify(isolation, warehouse, tenancy, "1", "2")["ok"]


def test_with_a_role_per_tenant_no_session_can_choose_another_tenant(isolated):
    governance, warehouse, tenancy = isolated
    by_role = tenancy.model_copy(update={"isolation": "role", "tenants": {"1": {"region": "eu-central-1"},
                                                                           "2": {"region": "us-east-1"}}})
    isolation = plan(governance, warehouse, by_role)
    assert isolation.tenant_roles == {"1": f"{tenancy.role}_1", "2": f"{tenancy.role}_2"}
    apply(isolation, warehouse)
    result = verify(isolation, warehouse, by_role, "1", "2")  # (the setting says tenant 2: it must not matter)
    assert result["ok"] and not result["tenant_chooses_tenant"], result
    assert result["tables"]["documents"]["rows_visible"] == 2
    with psycopg.connect(PG_DSN) as con:
        con.execute(f'SET search_path TO "{warehouse.schema}"')
        con.execute(f'SET ROLE "{tenancy.role}_2"')
        con.execute("SELECT set_config('app.tenant_id', '1', false)")  # a tenant trying to choose tenant 1
        assert con.execute("SELECT count(*), count(*) FILTER (WHERE workspace_id = 1) FROM documents").fetchone() == (1, 0)
