"""The example's service side: its boundary catalog lists every crossing with what it lacks, the real
example passes every boundary rule, and a deliberately broken copy fires each of them."""

import json

import pytest
import yaml

from conftest import copy_project, run_dfg
from dataflow_governance.policy.boundaries import BOUNDARY_RULES


def test_the_boundary_catalog_of_the_example(demo_project, tmp_path):
    manifest, summary = demo_project
    assert any(r.endswith("boundaries.md") for r in summary["reports"])  # `dfg demo` writes it
    code, out, err = run_dfg("boundaries", "--json", "--out", str(tmp_path), project=manifest)
    assert code == 0, err
    report = json.loads(out)
    crossings = {c["flow"]: c for c in report["crossings"]}
    assert report["declared"] and report["findings"] == []
    assert crossings["psp_events"]["kind"] == "webhook" and crossings["psp_events"]["missing"] == []
    assert crossings["sign_up"]["zones"] == ["public", "edge"] and crossings["sign_up"]["level"] == "restricted"
    # Derived flows: what the rest of the manifest does not say is listed as missing.
    assert crossings["ticket_health_notes->care_partner"]["missing"] == ["minimization"]
    assert crossings["pipeline->warehouse"]["missing"] == ["parameterized", "least_privilege"]
    systems = {s["system"]: s for s in report["systems"]}
    assert systems["warehouse"]["derived"] and systems["warehouse"]["level"] == "restricted"
    assert systems["payments_psp"]["zone"] == "third_party"
    assert (tmp_path / "boundaries.html").is_file() and "psp_events" in (tmp_path / "boundaries.md").read_text()


def _break(manifest) -> None:
    """Every boundary rule's breakage in one copy of the example."""
    data = yaml.safe_load(manifest.read_text())
    flows, systems = data["flows"], data["systems"]
    flows["sign_up"]["controls"] = {"authentication": "api_key"}  # no validation, no rate limit
    flows["psp_events"]["controls"] = {"validation": True}  # unsigned webhook
    flows["place_order"]["controls"] = {"validation": True}  # no authentication, no user context
    flows["record_order"]["controls"] = {"secrets": "code"}  # splices values, credentials in code
    flows["charge_card"]["protocol"] = "http"
    flows["charge_card"]["controls"] = {}  # plain text, not minimized
    flows["service_logs"] = {"from": "order_service", "to": "app_log_store", "data": ["users.email"]}  # unscrubbed
    systems["warehouse_backups"]["encryption"] = {"at_rest": "AES-256", "key": "primary"}
    systems["app_log_store"].pop("retention")
    del data["classification"]  # the defaults: restricted data needs field-level encryption
    manifest.write_text(yaml.safe_dump(data, sort_keys=False))


def test_a_broken_copy_fires_every_boundary_rule(tmp_path):
    manifest = copy_project(tmp_path / "broken")
    _break(manifest)
    code, out, err = run_dfg("check", "--json", project=manifest, timeout=600)
    assert code == 1, err[-3000:]
    fired = {f["rule"] for f in json.loads(out)["findings"]}
    rules = {"boundary-inbound-unguarded", "boundary-inbound-no-rate-limit", "webhook-unverified", "hop-unauthenticated",
             "user-context-missing", "datastore-access-unsafe", "log-unscrubbed", "log-ungoverned", "backup-unprotected",
             "third-party-unencrypted", "third-party-not-minimized", "secret-in-code", "encryption-zone"}
    assert len(rules) == len(BOUNDARY_RULES) + 4  # (four rules say two things each)
    assert rules <= fired, rules - fired


@pytest.mark.parametrize("change, message", [
    (lambda d: d["flows"]["sign_up"].update({"to": "api_gatway"}), "flows.sign_up.to: unknown system 'api_gatway'"),
    (lambda d: d["flows"]["sign_up"].update({"to": "browser"}), "flows.sign_up: a flow from 'browser' to itself"),
    (lambda d: d["flows"]["sign_up"]["controls"].update({"captcha": True}), "flows.sign_up.controls.captcha: unknown field"),
    (lambda d: d["systems"]["browser"].update({"zone": "internet"}), "systems.browser.zone: unknown zone 'internet'"),
    (lambda d: d["systems"]["warehouse_backups"].pop("location"), "systems.warehouse_backups: a backup must say where"),
    (lambda d: d["flows"]["sign_up"].update({"data": ["user.contact.emial"]}),
     "flows.sign_up.data: 'user.contact.emial' is no asset, asset.column or fideslang category (did you mean user.contact.email"),
])
def test_a_mistake_in_the_map_is_one_clear_error(tmp_path, change, message):
    manifest = copy_project(tmp_path / "p")
    data = yaml.safe_load(manifest.read_text())
    change(data)
    manifest.write_text(yaml.safe_dump(data, sort_keys=False))
    code, _out, err = run_dfg("check", project=manifest)
    assert code == 2 and f"dagster_project.yaml: {message}" in err and "Traceback" not in err
