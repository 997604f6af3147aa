"""Tenant isolation rules over column lineage: each fires on a broken definition and stays quiet
on the correct one."""

from dataflow_governance import PolicyContext, build_governance, run_policy
from dataflow_governance.lineage.graph import SqlDefinition, build_column_graph

ENC = {"encryption": {"at_rest": "AES-256", "in_transit": "TLS"}}
DOCUMENTS = {
    "legal_basis": "contract", "retention": {"keep": "2y"}, "tenant_key": "workspace_id", **ENC,
    "columns": {"doc_id": {"type": "int"}, "workspace_id": {"type": "int"}, "author_id": {"type": "int", "identity": True,
                "categories": ["user.unique_id"]}, "author_email": {"type": "varchar", "categories": ["user.contact.email"]}},
}
MEMBERS = {
    "legal_basis": "contract", "retention": {"keep": "2y"}, "tenant_key": "workspace_id", **ENC,
    "columns": {"workspace_id": {"type": "int"}, "user_id": {"type": "int", "identity": True,
                "categories": ["user.unique_id"]}, "role": {"type": "varchar"}},
}
SCOPED_OUT = {"legal_basis": "contract", "retention": {"keep": "2y"}, "tenant_key": "workspace_id", **ENC}


def context(sql: str, out_facts: dict | None) -> PolicyContext:
    facts = {"documents": DOCUMENTS, "members": MEMBERS, **({"out": out_facts} if out_facts is not None else {})}
    governance = {name: build_governance(name, f) for name, f in facts.items()}
    upstream = {"documents": frozenset(), "members": frozenset(), "out": frozenset({"documents", "members"})}
    graph = build_column_graph(governance, [SqlDefinition("out", sql)], upstream)
    assert not graph.errors, graph.errors
    return PolicyContext(governance=governance, upstream=upstream, processors={}, graph=graph)


def fired(ctx: PolicyContext) -> list[tuple[str, str]]:
    return sorted({(f.asset, f.rule) for f in run_policy(ctx) if f.rule.startswith(("tenant", "cross-tenant"))})


def test_a_join_without_the_tenant_equality_is_a_cross_tenant_leak_named_with_its_line():
    leaky = ("SELECT d.doc_id, d.workspace_id, m.role\nFROM documents AS d\n"
             "JOIN members AS m ON m.user_id = d.author_id")
    findings = [f for f in run_policy(context(leaky, SCOPED_OUT)) if f.rule == "cross-tenant-join"]
    assert [(f.asset, f.rule) for f in findings] == [("out", "cross-tenant-join")]
    assert "documents and members (SQL line 3)" in findings[0].message
    assert "d.workspace_id = m.workspace_id" in findings[0].fix
    safe = leaky + " AND m.workspace_id = d.workspace_id"
    assert fired(context(safe, SCOPED_OUT)) == []
    using = "SELECT doc_id, workspace_id, role FROM documents JOIN members USING (workspace_id)"
    assert ("out", "cross-tenant-join") not in fired(context(using, SCOPED_OUT))


def test_a_join_through_a_cte_or_subquery_must_equate_the_tenant_carried_through_it():
    def joins(sql: str) -> list[str]:
        return [f.message for f in run_policy(context(sql, SCOPED_OUT)) if f.rule == "cross-tenant-join"]

    dropped = ("WITH m AS (SELECT user_id, role FROM members)\n"
               "SELECT d.doc_id, d.workspace_id, m.role FROM documents d JOIN m ON m.user_id = d.author_id")
    assert len(joins(dropped)) == 1 and "documents and m (from members)" in joins(dropped)[0]
    renamed = ("WITH m AS (SELECT workspace_id AS ws, user_id, role FROM members)\n"
               "SELECT d.doc_id, d.workspace_id, m.role FROM documents d JOIN m ON m.user_id = d.author_id")
    assert len(joins(renamed)) == 1 and "m.ws" in joins(renamed)[0]
    assert joins(renamed + " AND m.ws = d.workspace_id") == []
    subquery = ("SELECT d.doc_id, d.workspace_id, m.role FROM documents d "
                "JOIN (SELECT * FROM members WHERE role = 'admin') m ON m.user_id = d.author_id")
    assert len(joins(subquery)) == 1
    assert joins(subquery + " AND d.workspace_id = m.workspace_id") == []
    nested = ("SELECT d.doc_id, d.workspace_id FROM documents d WHERE d.author_id IN "
              "(SELECT m.user_id FROM members m JOIN documents x ON x.author_id = m.user_id)")
    assert len(joins(nested)) == 1 and "members and documents" in joins(nested)[0]


def test_tenant_objects_must_carry_the_tenant_in_records_or_keys():
    s3 = {"storage": {"kind": "s3", "bucket": "b", "prefix": "docs/"}, "tenant_strategy": "row", **ENC}
    governance = {"docs": build_governance("docs", s3)}
    ctx = PolicyContext(governance=governance, upstream={}, processors={})
    assert [(f.asset, f.rule) for f in run_policy(ctx) if "tenant" in f.rule] == [("docs", "tenant-objects-untagged")]
    for fix in ({"tenant_prefix": "docs/{tenant_id}/"}, {"tenant_key": "workspace_id"}):
        ctx = PolicyContext(governance={"docs": build_governance("docs", {**s3, **fix})}, upstream={}, processors={})
        assert [f for f in run_policy(ctx) if "tenant" in f.rule] == []


def test_tenant_placement_is_validated_where_it_is_declared():
    import pytest

    from dataflow_governance import GovernanceError

    for facts, message in (
            ({"tenant_strategy": "schema", "storage": {"table": "tickets"}}, "schema names the tenant"),
            ({"tenant_strategy": "schema", "storage": {"table": "ws.t_{tenant_id}"}}, "schema names the tenant"),
            ({"tenant_strategy": "database", "storage": {"table": "ws_{tenant_id}.tickets"}}, "database names"),
            ({"storage": {"table": "ws_{tenant_id}.tickets"}}, "only tenant_strategy"),
            ({"tenant_prefix": "docs/{tenant_id}/"}, "needs storage.kind s3"),
            ({"storage": {"kind": "s3", "bucket": "b"}, "tenant_prefix": "docs/{tenant_id}"}, "delimiter")):
        with pytest.raises(GovernanceError, match=message):
            build_governance("a", facts)
    assert build_governance("a", {"tenant_strategy": "database",
                                  "storage": {"table": "ws_{tenant_id}.main.tickets"}}).per_tenant_table


def test_a_scoped_asset_needs_its_tenant_column_and_it_must_come_from_a_tenant_column():
    assert fired(context("SELECT doc_id FROM documents", {**SCOPED_OUT, "tenant_key": None,
                                                          "tenant_strategy": "row"})) == [("out", "tenant-column-missing")]
    assert fired(context("SELECT doc_id FROM documents", {**SCOPED_OUT, "tenant_key": None, "tenant_strategy": "schema",
                                                          "storage": {"table": "ws_{tenant_id}.out"}})) == []
    unscoped = {k: v for k, v in SCOPED_OUT.items() if k != "tenant_key"}
    assert fired(context("SELECT doc_id, workspace_id FROM documents", unscoped)) == [("out", "tenant-scope-dropped")]
    forged = "SELECT doc_id, author_id AS workspace_id FROM documents"
    findings = [f for f in run_policy(context(forged, SCOPED_OUT)) if f.rule == "tenant-column-not-derived"]
    assert len(findings) == 1 and "comes from documents.author_id" in findings[0].message
    assert fired(context("SELECT doc_id, workspace_id FROM documents", SCOPED_OUT)) == []


def test_an_aggregate_across_tenants_must_be_anonymous_or_keep_the_tenant():
    report = {"legal_basis": "legitimate_interests", "retention": {"keep": "1y"}, **ENC}
    per_author = "SELECT author_id, count(*) AS docs FROM documents GROUP BY author_id"
    assert fired(context(per_author, report)) == [("out", "cross-tenant-aggregate")]
    per_tenant = "SELECT workspace_id, author_id, count(*) AS docs FROM documents GROUP BY workspace_id, author_id"
    assert fired(context(per_tenant, {**report, "tenant_key": "workspace_id"})) == []
    one_tenant = "SELECT author_id, count(*) AS docs FROM documents WHERE workspace_id = 7 GROUP BY author_id"
    assert fired(context(one_tenant, report)) == []
    anonymous = {"pii_free": True, "anonymization": "counts per day", "retention": {"keep": "1y"}}
    totals = "SELECT count(*) AS docs, count(DISTINCT workspace_id) AS workspaces FROM documents"
    assert fired(context(totals, anonymous)) == []  # a correct cross-tenant aggregate


def test_an_unknown_tenant_strategy_is_refused():
    import pytest

    from dataflow_governance import GovernanceError

    with pytest.raises(GovernanceError, match="tenant_strategy"):
        build_governance("docs", {"tenant_strategy": "cluster"})


def test_tenancy_is_visible_in_dagster():
    from dataflow_governance.dagster_ext import governed_spec

    spec = governed_spec("documents", DOCUMENTS)
    assert spec.tags["tenant_scoped"] == "true" and spec.tags["tenant_strategy"] == "row"
    columns = {c.name: c for c in spec.metadata["dagster/column_schema"].columns}
    assert columns["workspace_id"].tags.get("tenant") == "true" and "tenant" not in columns["doc_id"].tags
    assert "| tenancy | row strategy, tenant column workspace_id |" in spec.metadata["governance"].value


def test_pinned_tenants_and_the_tenant_entity_are_checked_statically():
    from dataflow_governance.model.manifest import TenancyConfig

    us_copy = {**SCOPED_OUT, "region": "us-east-1"}
    base = context("SELECT doc_id, workspace_id FROM documents", us_copy)
    pinned = TenancyConfig(tenant="documents.workspace_id", tenants={"acme": {"region": "eu-central-1"},
                                                                     "globex": {"region": "us-west-2"}})
    ctx = PolicyContext(base.governance, base.upstream, base.processors, base.graph, tenancy=pinned)
    findings = [f for f in run_policy(ctx) if f.rule == "tenant-region-crossing"]
    assert [(f.asset, f.rule) for f in findings] == [("out", "tenant-region-crossing")]
    assert "acme (pinned to eu-central-1)" in findings[0].message and "globex" not in findings[0].message
    declared = {**us_copy, "tenants": ["globex"]}  # only the US tenant's rows: checked at run time
    base = context("SELECT doc_id, workspace_id FROM documents", declared)
    ctx = PolicyContext(base.governance, base.upstream, base.processors, base.graph, tenancy=pinned)
    assert [f for f in run_policy(ctx) if f.rule.startswith("tenant")] == []
    wrong = TenancyConfig(tenant="workspaces.workspace_id")
    ctx = PolicyContext(base.governance, base.upstream, base.processors, base.graph, tenancy=wrong)
    assert ("workspaces", "tenant-entity-unknown") in {(f.asset, f.rule) for f in run_policy(ctx)}


def test_tenant_isolation_is_a_security_measure_in_the_art30_record():
    from dataflow_governance.reports.ropa import ropa_activities

    governance = {"documents": build_governance("documents", DOCUMENTS),
                  "members": build_governance("members", {**MEMBERS, "tenants": ["7", "9"]})}
    ctx = PolicyContext(governance=governance, upstream={}, processors={})
    measures = {a["asset"]: a["security_measures"] for a in ropa_activities(ctx)}
    assert "tenant isolation: row strategy on workspace_id" in measures["documents"]
    assert "tenant isolation: row strategy on workspace_id, tenants 7, 9 only" in measures["members"]
