"""Systems, flows and their controls: each trust-boundary rule fires on a broken map and is silent on
a guarded one; a map with mistakes is refused naming the key; levels follow the categories."""

import pytest

from dataflow_governance import PolicyContext, build_governance, run_policy
from dataflow_governance.errors import GovernanceError
from dataflow_governance.model.levels import category_level, data_level
from dataflow_governance.model.systems import Classification, Landscape, build_landscape, derived_flows, derived_systems
from dataflow_governance.policy.boundaries import BOUNDARY_RULES, boundary_catalog

ENC = {"encryption": {"at_rest": "AES-256", "in_transit": "TLS 1.2+"}}
USERS = {"legal_basis": "contract", "purposes": ["essential.service"], "region": "eu-central-1", **ENC,
         "retention": {"keep": "2y", "timestamp_column": "created_at"}, "storage": {"table": "users"},
         "columns": {"user_id": {"categories": ["user.unique_id"], "identity": True},
                     "email": {"categories": ["user.contact.email"]}, "created_at": {"type": "timestamp"}}}

GUARDED = {
    "browser": {"kind": "client", "zone": "public"},
    "gateway": {"kind": "gateway", "zone": "edge"},
    "orders": {"kind": "service", "zone": "application"},
    "psp_hooks": {"kind": "webhook_source", "zone": "third_party"},
    "psp": {"kind": "external_api", "zone": "third_party"},
    "logs": {"kind": "log", "zone": "data", "retention": "30 days", "access_logged": True, "encryption": {"at_rest": "AES-256"}},
    "backups": {"kind": "backup", "zone": "data", "location": "s3://backups/wh/", "retention": "35 days",
                "encryption": {"at_rest": "AES-256", "key": "separate", "field_level": "kms"}, "access_audit": True},
    "warehouse": {"encryption": {"at_rest": "AES-256", "field_level": "kms"}, "access_audit": True},
}
FLOWS = {
    "checkout": {"from": "browser", "to": "gateway", "data": ["user.contact.email"],
                 "controls": {"validation": True, "authentication": "jwt", "rate_limit": True}},
    "to_orders": {"from": "gateway", "to": "orders", "protocol": "mtls", "data": ["users.email"],
                  "controls": {"authentication": "mtls", "authorization": "user_context"}},
    "back": {"from": "orders", "to": "gateway", "protocol": "mtls", "controls": {"authentication": "mtls"}},  # a cycle
    "store": {"from": "orders", "to": "warehouse", "protocol": "sql+tls", "data": ["users.email"],
              "controls": {"parameterized": True, "least_privilege": True, "secrets": "vault"}},
    "charge": {"from": "orders", "to": "psp", "data": ["user.financial.credit_card"], "controls": {"minimization": True}},
    "hook": {"from": "psp_hooks", "to": "orders", "controls": {"signature": True, "replay_protection": True,
                                                              "idempotency": True, "validation": True}},
    "logging": {"from": "orders", "to": "logs", "data": ["user.contact.email"], "controls": {"scrubbing": True}},
    "backup": {"from": "warehouse", "to": "backups", "protocol": "s3", "data": ["users"]},
}
# What each rule needs broken, and the rule that must then fire (on `flow:` or `system:` <name>).
BREAKAGES = [
    ("checkout", {"validation": False}, "boundary-inbound-unguarded"),
    ("checkout", {"rate_limit": False}, "boundary-inbound-no-rate-limit"),
    ("hook", {"signature": False}, "webhook-unverified"),
    ("to_orders", {"authentication": "none"}, "hop-unauthenticated"),
    ("to_orders", {"authorization": "service_only"}, "user-context-missing"),
    ("store", {"parameterized": False}, "datastore-access-unsafe"),
    ("logging", {"scrubbing": False}, "log-unscrubbed"),
    ("charge", {"encryption_in_transit": False}, "third-party-unencrypted"),
    ("charge", {"minimization": False}, "third-party-not-minimized"),
    ("store", {"secrets": "code"}, "secret-in-code"),
]


def context(systems=GUARDED, flows=FLOWS, classification=None) -> PolicyContext:
    governance = {"users": build_governance("users", USERS)}
    known = derived_systems(governance, {}, "eu-central-1", {})
    found, declared = build_landscape(systems, flows, known=known)
    landscape = Landscape(found, {**derived_flows(governance, found), **declared},
                          classification=Classification.model_validate(classification or {}), declared=True)
    return PolicyContext(governance=governance, upstream={"users": frozenset()}, processors={}, landscape=landscape)


def fired(ctx: PolicyContext) -> set[tuple[str, str]]:
    return {(f.asset, f.rule) for f in run_policy(ctx, BOUNDARY_RULES)}


def test_a_guarded_map_passes_every_boundary_rule():
    assert fired(context()) == set()


@pytest.mark.parametrize("flow, broken, rule", BREAKAGES, ids=[b[2] for b in BREAKAGES])
def test_each_rule_fires_on_its_breakage(flow, broken, rule):
    flows = {**FLOWS, flow: {**FLOWS[flow], "controls": {**FLOWS[flow].get("controls", {}), **broken}}}
    # (Restricted data logged unscrubbed also leaves the log holding what it has no protection for.)
    also = {("system:logs", "encryption-zone")} if rule == "log-unscrubbed" else set()
    assert fired(context(flows=flows)) == {(f"flow:{flow}", rule), *also}


@pytest.mark.parametrize("system, change, rule", [
    ("backups", {"encryption": {"at_rest": "AES-256", "key": "primary"}}, "backup-unprotected"),
    ("logs", {"retention": None}, "log-ungoverned"),
    ("warehouse", {"encryption": {"at_rest": "AES-256"}}, "encryption-zone"),  # restricted email, no field-level keys
])
def test_places_need_what_their_data_needs(system, change, rule):
    systems = {**GUARDED, system: {**GUARDED[system], **change}}
    assert (f"system:{system}", rule) in fired(context(systems=systems))


def test_sealed_columns_count_as_field_level_and_zones_are_configurable():
    sealed = {**USERS, "columns": {**USERS["columns"], "email": {"categories": ["user.contact.email"], "encryption": "subject_key"}}}
    systems = {**GUARDED, "warehouse": {"encryption": {"at_rest": "AES-256"}, "access_logged": True}}
    ctx = context(systems=systems)
    governance = {"users": build_governance("users", sealed)}
    sealed_ctx = PolicyContext(governance=governance, upstream=ctx.upstream, processors={}, landscape=ctx.landscape)
    # The email sealed: what the warehouse holds in the clear is an id (confidential), which at rest + logged covers.
    assert ("system:warehouse", "encryption-zone") not in fired(sealed_ctx)
    relaxed = context(systems=systems, classification={"zones": {"restricted": ["at_rest"]}})
    assert ("system:warehouse", "encryption-zone") not in fired(relaxed)


def test_a_project_that_declares_no_map_gets_no_boundary_findings():
    ctx = context()
    undeclared = PolicyContext(governance=ctx.governance, upstream=ctx.upstream, processors={},
                               landscape=Landscape(ctx.landscape.systems, ctx.landscape.flows, declared=False))
    assert fired(undeclared) == set()


@pytest.mark.parametrize("systems, flows, message", [
    ({}, {"x": {"from": "browser", "to": "nowhere"}}, "flows.x.from: unknown system 'browser'"),
    ({"a": {"kind": "service", "zone": "application"}}, {"x": {"from": "a", "to": "a"}}, "flows.x: a flow from 'a' to itself"),
    ({"a": {"kind": "service", "zone": "application"}, "b": {"kind": "service", "zone": "application"}},
     {"x": {"from": "a", "to": "b", "controls": {"mfa": True}}}, "flows.x.controls.mfa: unknown field"),
    ({"a": {"kind": "service", "zone": "moon"}}, {}, "systems.a.zone: unknown zone 'moon'"),
    ({"b": {"kind": "backup", "zone": "data"}}, {}, "systems.b: a backup must say where it is written"),
    ({"a": {"kind": "mainframe", "zone": "data"}}, {}, "systems.a.kind"),
])
def test_a_map_with_a_mistake_is_refused_naming_the_key(systems, flows, message):
    with pytest.raises(GovernanceError) as caught:
        build_landscape(systems, flows)
    assert message in str(caught.value)


def test_levels_follow_the_categories_and_the_mapping():
    assert category_level("user.contact.email") == "restricted"
    assert category_level("user.contact.address.country") == "confidential"
    assert category_level("user.health_and_medical.condition") == "restricted"
    assert category_level("system.operations") == "internal"
    assert data_level(["user.contact.address.country"], "restricted") == "restricted"  # declared higher wins
    assert data_level(["user.contact.email"], "public") == "restricted"  # never lower than the data
    assert category_level("user.contact.email", {"user.contact.email": "confidential"}) == "confidential"


def test_the_catalog_lists_every_crossing_with_its_threats_and_missing_controls():
    flows = {**FLOWS, "hook": {**FLOWS["hook"], "controls": {"validation": True}}}
    crossings = {c["flow"]: c for c in boundary_catalog(context(flows=flows))}
    assert crossings["hook"]["kind"] == "webhook" and "spoofing" in crossings["hook"]["threats"]
    assert crossings["hook"]["missing"] == ["signature", "replay_protection", "idempotency"]
    assert crossings["checkout"]["zones"] == ["public", "edge"] and crossings["checkout"]["level"] == "restricted"
    assert crossings["checkout"]["missing"] == []
    assert "pipeline->warehouse" in crossings and not crossings["pipeline->warehouse"]["declared"]


def test_a_declared_log_is_scanned_and_personal_data_in_it_fails_with_masked_evidence(tmp_path):
    import json

    import dagster as dg

    from dataflow_governance import Warehouse
    from dataflow_governance.dagster_ext import S3Resource, WarehouseResource, governed_spec
    from dataflow_governance.dagster_ext.checks import NO_PII_IN_LOG, governance_checks

    path = str(tmp_path / "w.duckdb")
    wh = Warehouse(kind="duckdb", path=path)
    wh.execute("CREATE TABLE service_log (logged_at TIMESTAMP, line TEXT)")
    wh.execute("INSERT INTO service_log VALUES (now(), 'GET /orders 200'), (now(), 'login failed for maria.g@example.org')")
    log = build_governance("service_log", {"legal_basis": "legitimate_interests", "region": "eu-central-1",
                                           "storage": {"table": "service_log"}, "data_categories": ["system.operations"]})
    governance = {"service_log": log}
    checks = governance_checks(governance, logs=["service_log", "not_an_asset"])
    defs = dg.Definitions(assets=[governed_spec("service_log", log)], asset_checks=checks,
                          resources={"warehouse": WarehouseResource(path=path), "s3": S3Resource(state_dir=str(tmp_path), use_local=False)})
    job = dg.define_asset_job("logs", selection=dg.AssetSelection.checks_for_assets("service_log")).resolve(
        asset_graph=defs.resolve_asset_graph())
    result = job.execute_in_process(raise_on_error=False, resources=defs.resources)
    [evaluation] = [e.event_specific_data for e in result.all_events if e.event_type_value == "ASSET_CHECK_EVALUATION"
                    and e.event_specific_data.check_name == NO_PII_IN_LOG]
    assert not evaluation.passed and evaluation.metadata["findings"].value == "line: email 1 rows"
    shown = json.dumps({k: str(v.value) for k, v in evaluation.metadata.items()})
    assert "maria.g@example.org" not in shown and "m***@e***.org" in shown
    assert not any(NO_PII_IN_LOG in str(c.check_keys) for c in governance_checks(governance))  # no log declared
