"""Classification propagated over the column graph, and the column-precise PII-free rule."""

import json

import dagster as dg

from conftest import copy_project, dfg_json
from dataflow_governance import PolicyContext, build_governance, run_policy
from dataflow_governance.lineage.graph import SqlDefinition, build_column_graph

PEOPLE = build_governance("people", {
    "legal_basis": "contract",
    "columns": {
        "person_id": {"type": "int", "identity": True, "categories": ["user.unique_id"]},
        "email": {"type": "varchar", "categories": ["user.contact.email"]},
        "ssn": {"type": "varchar", "categories": ["user.government_id.national_identification_number"]},
        "country": {"type": "varchar", "categories": ["user.contact.address.country"]},
        "signed_up": {"type": "date"},
    },
})


def classes(sql: str):
    graph = build_column_graph({"people": PEOPLE}, [SqlDefinition("out", sql)], {"out": ["people"]})
    assert not graph.errors, graph.errors
    return graph, graph.columns_of("out")


def test_identity_and_transformations_keep_categories_and_subject_link():
    _, cols = classes("SELECT person_id, split_part(email, '@', 2) AS domain, signed_up FROM people")
    assert cols["domain"].categories == {"user.contact.email"} and cols["domain"].personal
    assert cols["person_id"].subject_linked and not cols["signed_up"].personal


def test_hash_pseudonymizes_but_stays_personal():
    _, cols = classes("SELECT sha256(email) AS email_hash FROM people")
    assert cols["email_hash"].pseudonymized and cols["email_hash"].personal


def test_counting_without_subject_grouping_is_anonymous_but_max_is_not():
    _, cols = classes("SELECT country, COUNT(email) AS n, MAX(ssn) AS top_ssn FROM people GROUP BY country")
    assert cols["n"].anonymous and not cols["n"].personal
    assert cols["country"].anonymous  # a group key of an aggregate without subject columns
    assert cols["top_ssn"].personal and "user.government_id.national_identification_number" in cols["top_ssn"].categories


def test_grouping_by_the_subject_is_not_anonymization():
    _, cols = classes("SELECT person_id, COUNT(email) AS n FROM people GROUP BY person_id")
    assert cols["person_id"].personal and cols["person_id"].subject_linked


def test_grouping_by_a_column_that_singles_a_person_out_is_not_anonymization():
    _, cols = classes("SELECT email, count(*) AS n, max(signed_up) AS last_seen FROM people GROUP BY email")
    assert cols["email"].personal and "user.contact.email" in cols["email"].categories  # one row per person
    assert not cols["email"].anonymous and not cols["last_seen"].anonymous
    _, cols = classes("SELECT country, count(*) AS n FROM people GROUP BY country")
    assert cols["country"].anonymous and not cols["country"].personal  # a value many people share


def test_column_precise_pii_free_finding_names_the_path():
    governance = {"people": PEOPLE, "leaky": build_governance("leaky", {"pii_free": True, "anonymization": "claimed"})}
    sql = [SqlDefinition("leaky", "SELECT signed_up, split_part(email, '@', 2) AS email_domain FROM people")]
    graph = build_column_graph(governance, sql, {"leaky": ["people"]})
    ctx = PolicyContext(governance=governance, upstream={"people": frozenset(), "leaky": frozenset({"people"})},
                        processors={}, graph=graph)
    findings = [f for f in run_policy(ctx) if f.rule == "pii-free-downstream-of-personal"]
    assert [f.message for f in findings] == [
        "leaky.email_domain is derived from people.email (user.contact.email) (not anonymized) but leaky is declared PII-free"]


def test_impact_walks_both_directions():
    graph, _ = classes("SELECT lower(email) AS e FROM people")
    assert graph.downstream("people", "email") == [("out", "e")]
    assert graph.upstream("out", "e") == [("people", "email")]


LEAKY_ASSET = '''

from dataflow_governance.dagster_ext import sql_asset as _sql_asset

email_domains = _sql_asset(
    "email_domains",
    sql="SELECT CAST(created_at AS DATE) AS day, split_part(email, '@', 2) AS email_domain FROM users",
    group_name="analytics",
    governance={"owner": "team:analytics", "region": "eu-central-1", "pii_free": True,
                "anonymization": "only the domain is kept"},
)
defs = governed_definitions(project(), [*ALL_ASSETS, email_domains])
'''


def test_dfg_check_catches_a_leaky_sql_asset(tmp_path):
    manifest = copy_project(tmp_path / "leaky")
    definitions = manifest.parent / "assets" / "definitions.py"
    definitions.write_text(definitions.read_text() + LEAKY_ASSET)
    code, payload, err = dfg_json("check", project=manifest)
    assert code == 1, err
    leaks = [f for f in payload["findings"] if f["asset"] == "email_domains"]
    assert [f["rule"] for f in leaks] == ["pii-free-downstream-of-personal"]
    assert "email_domains.email_domain is derived from users.email (user.contact.email)" in leaks[0]["message"]


def test_sql_assets_carry_column_lineage_in_dagster(demo_project):
    _manifest, summary = demo_project
    with dg.DagsterInstance.local_temp(tempdir=summary["dagster_home"]) as instance:
        event = instance.get_latest_materialization_event(dg.AssetKey("revenue_by_country"))
    metadata = event.asset_materialization.metadata
    deps = metadata["dagster/column_lineage"].value.deps_by_column
    assert [(d.asset_key.to_user_string(), d.column_name) for d in deps["revenue"]] == [("orders", "amount")]
    assert "orders.amount (aggregation)" in metadata["lineage"].value
    schema = {c.name: c.tags for c in metadata["dagster/column_schema"].value.columns}
    assert schema["country"].get("anonymous") == "true"
    assert metadata["dagster/row_count"].value > 0


def test_propagated_categories_are_column_tags():
    from assets.definitions import defs

    spec = {s.key.to_user_string(): s for s in defs.resolve_all_asset_specs()}["ticket_features"]
    tags = {c.name: c.tags for c in spec.metadata["dagster/column_schema"].columns}
    assert "category/user.content.private" in tags["n_words"] and tags["n_words"]["pii"] == "true"
    assert tags["user_pseudo_id"]["pseudonymized"] == "true"
    assert json.dumps(tags)  # plain strings only
