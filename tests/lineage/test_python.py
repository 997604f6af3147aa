"""Python assets' lineage: a declared column mapping propagates like traced SQL; without one, the
asset as a whole is conservatively derived from everything it reads."""

import pytest

from conftest import copy_project, run_dfg
from dataflow_governance import PolicyContext, build_governance, run_policy
from dataflow_governance.lineage.graph import TABLE_LEVEL, SqlDefinition, build_column_graph
from dataflow_governance.model.spec import GovernanceError

PEOPLE = build_governance("people", {
    "legal_basis": "contract",
    "columns": {
        "person_id": {"type": "int", "identity": True, "categories": ["user.unique_id"]},
        "email": {"type": "varchar", "categories": ["user.contact.email"]},
        "country": {"type": "varchar", "categories": ["user.contact.address.country"]},
    },
})


def graph_of(python_facts: dict, upstream=None, sql=()):
    governance = {"people": PEOPLE, "py": build_governance("py", python_facts)}
    return build_column_graph(governance, list(sql), upstream or {"py": ["people"]})


def test_declared_lineage_carries_categories_masking_and_subject_link():
    graph = graph_of({"legal_basis": "contract", "lineage": {
        "contact": ["people.email"],
        "pseudo": {"from": ["people.person_id"], "masking": True},
        "n": {"from": ["people.email"], "transformation": "aggregation"}}})
    cols = graph.columns_of("py")
    assert cols["contact"].categories == {"user.contact.email"} and cols["contact"].personal
    assert cols["pseudo"].pseudonymized and cols["pseudo"].subject_linked and cols["pseudo"].personal
    assert cols["n"].anonymous and not cols["n"].personal  # an aggregate, as with SQL
    assert graph.upstream("py", "contact") == [("people", "email")]
    assert ("py", "contact") in graph.downstream("people", "email")
    assert graph.lineage["py"].kind == "python"


def test_a_sql_asset_reading_a_declared_python_column_inherits_its_categories():
    sql = SqlDefinition("report", "SELECT contact FROM py")
    graph = graph_of({"legal_basis": "contract", "lineage": {"contact": ["people.email"]}},
                     {"py": ["people"], "report": ["py"]}, [sql])
    assert graph.classes[("report", "contact")].categories == {"user.contact.email"}
    assert graph.downstream("people", "email") == [("py", "contact"), ("report", "contact")]


def test_without_lineage_the_whole_asset_receives_every_upstream_category():
    graph = graph_of({"legal_basis": "contract"}, {"py": ["people"], "next": ["py"]})
    whole = graph.classes[("py", TABLE_LEVEL)]
    assert whole.categories == {"user.unique_id", "user.contact.email", "user.contact.address.country"}
    assert whole.personal and whole.subject_linked
    assert ("py", TABLE_LEVEL) in graph.downstream("people", "email")
    assert ("next", TABLE_LEVEL) in graph.downstream("people", "email")  # and on through ungoverned assets
    # A column of an untraced asset is classed as the asset as a whole: what reads it stays personal.
    assert graph.class_of("py", "anything") is whole


def test_declared_anonymization_stops_the_conservative_flow():
    graph = graph_of({"pii_free": True, "anonymization": "k-anonymous counts per country"})
    assert not graph.classes[("py", TABLE_LEVEL)].personal


def test_pii_free_python_asset_copying_a_column_is_found_column_by_column():
    governance = {"people": PEOPLE, "py": build_governance("py", {
        "pii_free": True, "anonymization": "says so", "lineage": {"contact": ["people.email"]}})}
    upstream = {"py": frozenset({"people"}), "people": frozenset()}
    graph = build_column_graph(governance, [], upstream)
    findings = run_policy(PolicyContext(governance, upstream, {}, graph))
    leak = [f for f in findings if f.rule == "pii-free-downstream-of-personal"]
    assert len(leak) == 1 and "py.contact is derived from people.email" in leak[0].message


@pytest.mark.parametrize("lineage, message", [
    ({"contact": ["orders.email"]}, "orders.email is not read by py"),
    ({"contact": ["people.mail"]}, "people has no column 'mail'"),
    ({"contact": ["email"]}, "'email' is not an upstream column"),
    ({"contact": []}, "lineage.contact"),
    ({"contact": {"from": ["people.email"], "transformation": "copy"}}, "transformation"),
])
def test_bad_lineage_declarations_are_named(lineage, message):
    with pytest.raises(GovernanceError, match="asset 'py'") as caught:
        graph_of({"legal_basis": "contract", "lineage": lineage})
    assert message in str(caught.value)


def test_a_sql_asset_cannot_declare_lineage():
    governance = {"people": PEOPLE, "out": build_governance("out", {"legal_basis": "contract",
                                                                    "lineage": {"email": ["people.email"]}})}
    with pytest.raises(GovernanceError, match="traced from its SQL"):
        build_column_graph(governance, [SqlDefinition("out", "SELECT email FROM people")], {"out": ["people"]})


def test_example_downstream_of_an_email_names_the_python_assets_that_read_it(tmp_path):
    manifest = copy_project(tmp_path / "project")
    code, out, err = run_dfg("lineage", "--downstream", "users.email", project=manifest)
    assert code == 0, err
    assert "tickets.* (the whole asset" in out and "customer_dim.email" in out and "(nothing)" not in out
    code, out, err = run_dfg("lineage", "--upstream", "analytics_events.user_pseudo_id", project=manifest)
    assert code == 0 and "users.user_id" in out, err
