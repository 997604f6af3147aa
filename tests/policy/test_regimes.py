"""HIPAA and PCI DSS: each rule fires on a small broken definition and stays quiet on a sound one;
PCI scope is computed from lineage, the tokenization boundary included; the example passes."""

import json
import re

import pytest
from conftest import copy_project, dfg_json, run_dfg

from dataflow_governance import PolicyContext, Processor, build_governance, run_policy
from dataflow_governance.lineage.graph import SqlDefinition, build_column_graph
from dataflow_governance.policy.hipaa import (
    hipaa_assets,
    minimum_necessary,
    phi_use_needs_authorization,
    processor_without_baa,
)
from dataflow_governance.policy.pci import (
    cardholder_data_unencrypted,
    pan_past_tokenization,
    pci_scope,
    sensitive_authentication_stored,
)
from dataflow_governance.reports.pci_scope import scope_mermaid
from dataflow_governance.model.spec import GovernanceError

BASE = {"legal_basis": "contract", "purposes": ["essential.service"], "region": "eu-central-1",
        "retention": {"keep": "1y", "timestamp_column": "created_at"},
        "encryption": {"at_rest": "AES-256", "in_transit": "TLS"}}
AT = {"created_at": {"type": "timestamp"}}
CAPTURES = {**BASE, "regime": "pci", "columns": {
    "capture_id": {"type": "bigint"}, "user_id": {"type": "bigint", "identity": True, "categories": ["user.unique_id"]},
    "pan": {"type": "varchar", "categories": ["user.financial.credit_card"], "card_data": "pan"},
    "amount": {"type": "double"}, **AT}}
TOKENS = {**BASE, "regime": "pci", "tokenized": True, "columns": {
    "capture_id": {"type": "bigint"},
    "card_token": {"type": "varchar", "categories": ["user.financial.credit_card"], "card_data": "token"},
    "last4": {"type": "varchar", "categories": ["user.financial.credit_card"], "card_data": "truncated"}, **AT}}
NOTES = {**BASE, "regime": ["hipaa"], "art9_condition": "explicit_consent", "columns": {
    "ticket_id": {"type": "bigint"}, "user_id": {"type": "bigint", "identity": True, "categories": ["user.unique_id"]},
    "note": {"type": "varchar", "categories": ["user.health_and_medical"]},
    "diagnosis": {"type": "varchar", "categories": ["user.health_and_medical.genetic"]}, **AT}}


def context(assets: dict, sql: dict | None = None, upstream: dict | None = None,
            processors: dict | None = None) -> PolicyContext:
    governance = {name: build_governance(name, facts) for name, facts in assets.items() if facts is not None}
    upstream = {name: frozenset(upstream.get(name, ())) if upstream else frozenset()
                for name in {*assets, *(sql or {})}}
    definitions = [SqlDefinition(name, text) for name, text in (sql or {}).items()]
    graph = build_column_graph(governance, definitions, upstream)
    return PolicyContext(governance=governance, upstream=upstream, processors=processors or {}, graph=graph)


def fired(ctx: PolicyContext, rule) -> list[tuple[str, str]]:
    return [(f.asset, f.severity) for f in rule(ctx)]


# --- the model ---------------------------------------------------------------------------------

def test_tokenized_asset_cannot_declare_a_card_number():
    with pytest.raises(GovernanceError, match="declared tokenized .* pan"):
        build_governance("t", {**TOKENS, "columns": {"pan": {"categories": ["user.financial.credit_card"]}, **AT}})


def test_unknown_card_data_and_regime_are_clear_errors():
    with pytest.raises(GovernanceError, match="card_data"):
        build_governance("c", {**CAPTURES, "columns": {"pan": {"card_data": "full_number"}}})
    with pytest.raises(GovernanceError, match="regime"):
        build_governance("c", {**BASE, "regime": "sox"})


def test_a_card_category_without_card_data_counts_as_a_full_number():
    gov = build_governance("c", {**BASE, "columns": {"card": {"categories": ["user.financial.credit_card"]},
                                                      "brand": {"categories": ["user.financial.credit_card"],
                                                                "card_data": "brand"}, **AT}})
    assert gov.pan_columns == ("card",)


# --- PCI DSS -----------------------------------------------------------------------------------

def card_flow(token_sql: str, report_sql: str = "SELECT capture_id, card_token FROM card_tokens"):
    return context({"card_captures": CAPTURES, "card_tokens": TOKENS, "users": None},
                   {"card_tokens": token_sql, "report": report_sql},
                   {"card_tokens": ["card_captures"], "report": ["card_tokens"], "card_captures": ["users"]})


TOKENIZE = "SELECT capture_id, sha256(pan) AS card_token, right(pan, 4) AS last4 FROM card_captures"


def test_scope_places_the_cde_the_boundary_and_what_lies_past_it():
    ctx = card_flow(TOKENIZE)
    scope = pci_scope(ctx)
    entries = scope.entries
    assert (entries["card_captures"].scope, entries["card_captures"].pan_columns) == ("cde", ("pan",))
    assert entries["card_tokens"].scope == "cde" and entries["card_tokens"].boundary
    assert entries["card_tokens"].pan_columns == ()  # hashed, truncated: nothing it emits is a PAN
    assert "reads card_captures.pan" in entries["card_tokens"].reasons[0]
    assert entries["report"].scope == "out" and "tokenization boundary (card_tokens)" in entries["report"].reasons[0]
    assert entries["users"].scope == "connected" and "feeds card_captures" in entries["users"].reasons[0]
    assert list(pan_past_tokenization(ctx)) == []
    diagram = scope_mermaid(scope, ctx)
    assert 'subgraph pci_cde["cardholder data environment (in scope)"]' in diagram
    assert "card_tokens ==>|tokens only| report" in diagram


def test_pan_copied_through_the_boundary_is_an_error_and_pulls_the_reader_into_scope():
    ctx = card_flow("SELECT capture_id, pan AS card_token, right(pan, 4) AS last4 FROM card_captures")
    findings = list(pan_past_tokenization(ctx))
    assert {(f.asset, f.rule) for f in findings} == {("card_tokens", "pan-past-tokenization"),
                                                     ("report", "pan-past-tokenization")}
    assert pci_scope(ctx).entries["report"].scope == "cde"


def test_truncation_declared_but_a_plain_copy_is_still_a_card_number():
    ctx = card_flow("SELECT capture_id, sha256(pan) AS card_token, pan AS last4 FROM card_captures",
                    "SELECT capture_id FROM card_tokens")
    assert pci_scope(ctx).entries["card_tokens"].pan_columns == ("last4",)
    assert fired(ctx, pan_past_tokenization) == [("card_tokens", "error")]


def test_an_untraced_reader_of_card_numbers_is_in_the_cde():
    ctx = context({"card_captures": CAPTURES, "export": {**BASE}}, upstream={"export": ["card_captures"]})
    entry = pci_scope(ctx).entries["export"]
    assert entry.scope == "cde" and entry.pan_columns == ("*",)


def test_unencrypted_card_numbers_and_stored_cvv_are_errors():
    plain = {**CAPTURES, "encryption": {"at_rest": None}}
    assert fired(context({"card_captures": plain}), cardholder_data_unencrypted) == [("card_captures", "error")]
    sealed = {**plain, "columns": {**CAPTURES["columns"], "pan": {**CAPTURES["columns"]["pan"], "encryption": "column_key"}}}
    assert fired(context({"card_captures": sealed}), cardholder_data_unencrypted) == []
    cvv = {**CAPTURES, "columns": {**CAPTURES["columns"], "cvc": {"type": "varchar", "card_data": "cvv"}}}
    findings = list(sensitive_authentication_stored(context({"card_captures": cvv})))
    assert [(f.asset, f.rule, f.severity) for f in findings] == [("card_captures", "sensitive-authentication-stored", "error")]
    assert "PCI DSS 3.3.1" in findings[0].message


def test_processors_receiving_card_numbers_are_service_providers():
    ctx = context({"card_captures": {**CAPTURES, "processors": ["psp"]}},
                  processors={"psp": Processor(name="psp", region="eu-west-1", dpa=True)})
    assert pci_scope(ctx).service_providers == {"psp": ("card_captures",)}


# --- HIPAA -------------------------------------------------------------------------------------

def test_phi_sent_to_a_processor_without_a_baa_is_an_error():
    processors = {"care": Processor(name="care", region="eu-west-1", dpa=True, baa=False)}
    ctx = context({"notes": {**NOTES, "processors": ["care"]}}, processors=processors)
    findings = list(processor_without_baa(ctx))
    assert [(f.asset, f.rule) for f in findings] == [("notes", "processor-without-baa")]
    assert "164.504(e)" in findings[0].message and "diagnosis, note" in findings[0].message
    signed = {"care": Processor(name="care", region="eu-west-1", dpa=True, baa=True)}
    assert run_policy(context({"notes": {**NOTES, "processors": ["care"]}}, processors=signed)) == []


def test_hipaa_follows_phi_through_lineage():
    processors = {"lab": Processor(name="lab", region="eu-west-1", dpa=True)}
    downstream = {**BASE, "processors": ["lab"], "art9_condition": "explicit_consent"}
    ctx = context({"notes": NOTES, "care_export": downstream},
                  {"care_export": "SELECT user_id, note FROM notes", "ids_only": "SELECT ticket_id FROM notes"},
                  {"care_export": ["notes"], "ids_only": ["notes"]}, processors)
    assert hipaa_assets(ctx) == {"notes": ["notes"], "care_export": ["notes"]}  # ids_only holds no PHI
    assert fired(ctx, processor_without_baa) == [("care_export", "error")]


def test_hipaa_rules_need_the_regime():
    processors = {"care": Processor(name="care", region="eu-west-1", dpa=True)}
    gdpr_only = {k: v for k, v in NOTES.items() if k != "regime"}
    assert list(processor_without_baa(context({"notes": {**gdpr_only, "processors": ["care"]}},
                                              processors=processors))) == []


def test_phi_for_marketing_needs_authorization():
    marketing = {**NOTES, "purposes": ["marketing.communications.email"]}
    assert fired(context({"notes": marketing}), phi_use_needs_authorization) == [("notes", "error")]
    assert fired(context({"notes": {**marketing, "legal_basis": "consent"}}), phi_use_needs_authorization) == []


def test_minimum_necessary_flags_phi_no_reader_uses():
    ctx = context({"notes": NOTES}, {"care_queue": "SELECT ticket_id, note FROM notes WHERE user_id > 0"},
                  {"care_queue": ["notes"]})
    findings = list(minimum_necessary(ctx))
    assert [(f.asset, f.severity) for f in findings] == [("notes", "warning")]
    assert "diagnosis" in findings[0].message and "note," not in findings[0].message
    # A reader whose use cannot be seen (Python, no lineage) proves nothing: no finding.
    unseen = context({"notes": NOTES, "py": {**BASE, "art9_condition": "explicit_consent"}},
                     upstream={"py": ["notes"]})
    assert list(minimum_necessary(unseen)) == []


# --- the example -------------------------------------------------------------------------------

def test_example_passes_and_its_pci_scope_is_the_two_card_assets(tmp_path):
    manifest = copy_project(tmp_path / "project")
    code, checked, err = dfg_json("check", project=manifest)
    assert code == 0, (checked, err)
    code, out, err = run_dfg("scope", "--pci", "--json", "--out", str(tmp_path / "out"), project=manifest)
    assert code == 0, err
    scope = json.loads(out)
    cde = {e["asset"] for e in scope["assets"] if e["scope"] == "cde"}
    assert cde == {"card_captures", "card_tokens"} and scope["boundary"] == ["card_tokens"]
    assert scope["service_providers"] == {"payments_psp": ["card_captures"]}
    assert {e["asset"]: e["scope"] for e in scope["assets"]}["orders"] == "out"
    assert "```mermaid" in (tmp_path / "out" / "pci_scope.md").read_text()
    assert not re.search(r"\d{13,19}", out)  # names and reasons only: never a card number


def test_example_rules_fire_on_a_broken_copy(tmp_path):
    manifest = copy_project(tmp_path / "project")
    text = manifest.read_text()
    text = text.replace("baa: true                  # HIPAA", "baa: false                 # HIPAA")
    text = text.replace("          card_token: {from: [card_captures.pan], masking: true}",
                        "          card_token: {from: [card_captures.pan], transformation: identity}")
    text = text.replace("card_data: token, pseudonymized: true}", "card_data: token}")  # a plain copy, said to be a token
    # Card captures kept unencrypted and with the card's security code; health notes used for marketing.
    text = text.replace("        regime: pci\n        processors: [payments_psp]\n",
                        "        regime: pci\n        processors: [payments_psp]\n        encryption: {at_rest: null}\n")
    text = text.replace("          expiry: {type: varchar, categories: [user.financial.credit_card], card_data: expiry",
                        "          cvc: {type: varchar, card_data: cvv}\n"
                        "          expiry: {type: varchar, categories: [user.financial.credit_card], card_data: expiry")
    text = text.replace("        art9_condition: explicit_consent\n        regime: hipaa\n",
                        "        art9_condition: explicit_consent\n        regime: hipaa\n"
                        "        purposes: [essential.service.operations.support, marketing.communications.email]\n")
    text = text.replace("      ticket_health_notes:\n        description: Health details from delivery tickets, sent to the care "
                        "partner (PHI under HIPAA).\n        storage: {kind: warehouse, table: ticket_health_notes}\n"
                        "        purposes: [essential.service.operations.support]\n",
                        "      ticket_health_notes:\n        description: Health details from delivery tickets, sent to the care "
                        "partner (PHI under HIPAA).\n        storage: {kind: warehouse, table: ticket_health_notes}\n")
    manifest.write_text(text)
    code, out, _err = dfg_json("check", project=manifest)
    assert code == 1
    found = {(f["asset"], f["rule"]) for f in out["findings"]}
    assert {("ticket_health_notes", "processor-without-baa"), ("card_tokens", "pan-past-tokenization"),
            ("card_captures", "cardholder-data-unencrypted"), ("card_captures", "sensitive-authentication-stored"),
            ("ticket_health_notes", "phi-use-needs-authorization")} <= found


# --- PCI DSS at run time -----------------------------------------------------------------------

def test_track_data_is_detected_and_masked():
    from dataflow_governance.detection.detectors import BY_NAME

    track = BY_NAME["track_data"]
    stripe2, stripe1 = ";4111111111111111=25121010000000000000?", "%B4111111111111111^DOE/JOHN^2512101000000000?"
    for value in (stripe2, stripe1):
        [found] = [m.group(0) for m in track.find.finditer(f"swiped: {value} ok")]
        assert track.validate(found) and re.search(track.prefilter, value)
        assert track.mask(found) == "****1111"
    assert not track.validate(";4111111111111112=25121010000?")  # not a card number (Luhn)
    assert not track.validate(";4111111111111111=25131010000?")  # month 13


def test_card_data_check_fails_on_card_numbers_past_the_boundary_and_on_track_data(tmp_path):
    import dagster as dg

    from dataflow_governance import Warehouse
    from dataflow_governance.dagster_ext import S3Resource, WarehouseResource, governed_spec
    from dataflow_governance.dagster_ext.checks import governance_checks

    path = str(tmp_path / "w.duckdb")
    wh = Warehouse(kind="duckdb", path=path)
    wh.execute("CREATE TABLE card_captures (capture_id INTEGER, user_id INTEGER, pan TEXT, amount DOUBLE)")
    wh.execute("INSERT INTO card_captures VALUES (1, 7, '4111111111111111', 9.5), (2, 8, '5555555555554444', 3.0)")
    wh.execute("CREATE TABLE card_tokens (capture_id INTEGER, card_token TEXT, last4 TEXT)")
    wh.execute("INSERT INTO card_tokens VALUES (1, 'tok_0a1b2c3d4e5f', '1111'), (2, 'tok_9f8e7d6c5b4a', '4444')")
    governance = {"card_captures": build_governance("card_captures", CAPTURES),
                  "card_tokens": build_governance("card_tokens", TOKENS)}
    defs = dg.Definitions(assets=[governed_spec(k, g) for k, g in governance.items()],
                          asset_checks=governance_checks(governance),
                          resources={"warehouse": WarehouseResource(path=path),
                                     "s3": S3Resource(state_dir=str(tmp_path), use_local=False)})

    def evaluate() -> dict:
        job = dg.define_asset_job("pci", selection=dg.AssetSelection.checks_for_assets("card_captures", "card_tokens")) \
            .resolve(asset_graph=defs.resolve_asset_graph())
        result = job.execute_in_process(raise_on_error=False, resources=defs.resources)
        return {(e.event_specific_data.asset_key.to_user_string(), e.event_specific_data.check_name): e.event_specific_data
                for e in result.all_events if e.event_type_value == "ASSET_CHECK_EVALUATION"}

    clean = evaluate()
    assert clean[("card_captures", "card_data_where_declared")].passed  # card numbers where declared: pan
    assert clean[("card_tokens", "card_data_where_declared")].passed
    wh.execute("INSERT INTO card_tokens VALUES (3, '4111111111111111', '1111')")  # a PAN written as the token
    wh.execute("INSERT INTO card_captures VALUES (3, 9, ';4111111111111111=25121010000000000000?', 1.0)")
    broken = evaluate()
    tokens, captures = broken[("card_tokens", "card_data_where_declared")], broken[("card_captures", "card_data_where_declared")]
    assert not tokens.passed and tokens.metadata["misplaced"].value == "card_token: credit_card 1 rows"
    assert not captures.passed and "track_data 1 rows" in captures.metadata["misplaced"].value
    shown = json.dumps({k: str(v.value) for k, v in {**tokens.metadata, **captures.metadata}.items()})
    assert "4111111111111111" not in shown and "****1111" in shown  # masked evidence only
