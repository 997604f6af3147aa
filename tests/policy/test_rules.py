"""Each static rule fires on a small broken definition, and stays quiet on the example project."""

import pytest

from dataflow_governance import PolicyContext, Processor, build_governance, run_policy
from dataflow_governance.policy.gdpr import (
    encryption_missing,
    legal_basis_missing,
    pii_free_reads_personal,
    processor_without_dpa,
    purpose_limitation,
    region_crossing,
    retention_missing,
    transfer_without_safeguard,
)

ENC = {"encryption": {"at_rest": "AES-256", "in_transit": "TLS"}}
USERS = {
    "legal_basis": "contract", "purposes": ["essential.service"], "region": "eu-central-1",
    "columns": {"email": {"categories": ["user.contact.email"]}, "created_at": {"type": "timestamp"}},
    "retention": {"keep": "2y", "timestamp_column": "created_at"}, **ENC,
}


def ctx(assets: dict, upstream: dict, processors: dict | None = None) -> PolicyContext:
    governance = {name: build_governance(name, facts) for name, facts in assets.items() if facts is not None}
    graph = {name: frozenset(upstream.get(name, ())) for name in assets}
    return PolicyContext(governance=governance, upstream=graph, processors=processors or {})


def rules_fired(context: PolicyContext) -> set[tuple[str, str]]:
    return {(f.asset, f.rule) for f in run_policy(context)}


def test_clean_graph_has_no_findings():
    assert run_policy(ctx({"users": USERS}, {})) == []


def test_legal_basis_missing_for_ungoverned_downstream():
    context = ctx({"users": USERS, "export": None, "export2": {"region": "eu-central-1"}},
                  {"export": ["users"], "export2": ["export"]})
    findings = list(legal_basis_missing(context))
    assert {(f.asset, f.rule) for f in findings} == {("export", "legal-basis-missing"), ("export2", "legal-basis-missing")}
    assert "user.contact.email" in findings[0].message and "users" in findings[0].message


def test_retention_missing():
    facts = {k: v for k, v in USERS.items() if k != "retention"}
    findings = list(retention_missing(ctx({"users": facts}, {})))
    assert [(f.asset, f.severity) for f in findings] == [("users", "error")]


def test_processor_without_dpa_and_transfer_safeguard():
    processors = {"mailer": Processor(name="mailer", region="us-east-1", dpa=False)}
    context = ctx({"users": {**USERS, "processors": ["mailer"]}}, {}, processors)
    assert [f.rule for f in processor_without_dpa(context)] == ["processor-without-dpa"]
    assert [f.rule for f in transfer_without_safeguard(context)] == ["transfer-without-safeguard"]
    safe = {"mailer": Processor(name="mailer", region="us-east-1", dpa=True, transfer_mechanism="scc")}
    assert run_policy(ctx({"users": {**USERS, "processors": ["mailer"]}}, {}, safe)) == []


def test_pii_free_downstream_of_personal():
    logs = {"pii_free": True, "region": "eu-central-1"}
    context = ctx({"users": USERS, "logs": logs}, {"logs": ["users"]})
    findings = list(pii_free_reads_personal(context))
    assert [(f.asset, f.rule) for f in findings] == [("logs", "pii-free-downstream-of-personal")]
    declared = ctx({"users": USERS, "logs": {**logs, "anonymization": "counts per day"}}, {"logs": ["users"]})
    assert list(pii_free_reads_personal(declared)) == []


def test_pii_free_through_an_ungoverned_hop():
    context = ctx({"users": USERS, "staging": None, "logs": {"pii_free": True}}, {"staging": ["users"], "logs": ["staging"]})
    assert ("logs", "pii-free-downstream-of-personal") in rules_fired(context)


def test_region_crossing_only_for_personal_targets():
    us_copy = {**USERS, "region": "us-east-1"}
    context = ctx({"users": USERS, "users_us": us_copy}, {"users_us": ["users"]})
    findings = list(region_crossing(context))
    assert [(f.asset, f.rule) for f in findings] == [("users_us", "region-crossing")]
    assert "EU to US" in findings[0].message
    aggregate = {"pii_free": True, "region": "us-east-1", "anonymization": "counts"}
    assert list(region_crossing(ctx({"users": USERS, "kpis": aggregate}, {"kpis": ["users"]}))) == []


def test_purpose_limitation_on_consent_based_sources():
    consented = {**USERS, "legal_basis": "consent", "purposes": ["analytics.reporting"]}
    ads = {**USERS, "purposes": ["marketing.advertising.profiling"]}
    context = ctx({"events": consented, "ads": ads}, {"ads": ["events"]})
    findings = list(purpose_limitation(context))
    assert [(f.asset, f.rule) for f in findings] == [("ads", "purpose-limitation")]
    within = {**USERS, "purposes": ["analytics.reporting.campaign_insights"]}
    assert list(purpose_limitation(ctx({"events": consented, "report": within}, {"report": ["events"]}))) == []


def test_encryption_missing_is_a_warning():
    facts = {k: v for k, v in USERS.items() if k != "encryption"}
    findings = list(encryption_missing(ctx({"users": facts}, {})))
    assert [(f.rule, f.severity) for f in findings] == [("encryption-missing", "warning")]


@pytest.mark.parametrize("rule", [legal_basis_missing, retention_missing, processor_without_dpa,
                                  transfer_without_safeguard, pii_free_reads_personal, region_crossing,
                                  purpose_limitation, encryption_missing])
def test_example_project_is_quiet(rule, example_context):
    assert list(rule(example_context)) == []


@pytest.fixture(scope="module")
def example_context():
    from dataflow_governance.dagster_ext import policy_context
    from assets.definitions import defs
    from resources import project

    return policy_context(list(defs.resolve_all_asset_specs()), project())


@pytest.mark.parametrize("select, proposes, never", [
    # An aggregate that returns the values themselves: count them; never "aggregate" (it is one).
    ("max(email) AS last_email, count(*) AS n", "replace it with count(DISTINCT email)", "drop or aggregate"),
    # Already a hash: still pseudonymous; never "use a keyed hash".
    ("sha256(email) AS email_hash, count(*) AS n", "is already a hash of email", "replace it with a keyed hash"),
    # A copy: drop, count, or a keyed hash (then governed as personal).
    ("email, count(*) AS n", "copies email: drop it", "is already"),
])
def test_the_fix_for_a_pii_free_asset_fits_what_its_sql_does(select, proposes, never):
    from dataflow_governance.lineage.graph import SqlDefinition, build_column_graph

    governance = {"users": build_governance("users", USERS),
                  "stats": build_governance("stats", {"pii_free": True, "region": "eu-central-1"})}
    upstream = {"users": frozenset(), "stats": frozenset({"users"})}
    graph = build_column_graph(governance, [SqlDefinition("stats", f"SELECT {select} FROM users GROUP BY ALL")], upstream)
    context = PolicyContext(governance=governance, upstream=upstream, processors={}, graph=graph)
    [finding] = pii_free_reads_personal(context)
    assert proposes in finding.fix and never not in finding.fix, finding.fix
