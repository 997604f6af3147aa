"""Governance review of a change: `dfg diff` compares the data maps of two git revisions, and
`dfg review approve` signs one off in the ledger."""

import json
import re
import subprocess

import pytest

from conftest import copy_project, dfg_json, run_dfg
from dataflow_governance import build_governance
from dataflow_governance.catalog.artifact import Catalog
from dataflow_governance.lineage.graph import SqlDefinition, build_column_graph
from dataflow_governance.reports.review import diff_catalogs, fails
from dataflow_governance.model.spec import Processor
from dataflow_governance import open_warehouse

GIT = ["git", "-c", "user.name=Reviewer", "-c", "user.email=reviewer@example.com"]

US_PROCESSOR = """processors:
  product_insights:
    purpose: product analytics dashboards
    region: us-east-1
    dpa: true
    transfer_mechanism: scc
"""


def git(folder, *args):
    return subprocess.run([*GIT, "-C", str(folder), *args], check=True, capture_output=True, text=True).stdout.strip()


@pytest.fixture(scope="module")
def repo(tmp_path_factory):
    """The example in a git repository: commit `base`, then `seeded` — a new column copying
    users.email into the analytics asset daily_signups, and a new US processor for analytics_events."""
    folder = tmp_path_factory.mktemp("review")
    manifest = copy_project(folder)
    git(folder, "init", "-q", "-b", "main")
    git(folder, "config", "user.email", "reviewer@example.com")
    git(folder, "add", "-A")
    git(folder, "commit", "-qm", "base")
    sql = folder / "assets" / "sql" / "daily_signups.sql"
    sql.write_text(sql.read_text().replace("COUNT(*) AS signups", "COUNT(*) AS signups, MIN(email) AS first_email"))
    text = manifest.read_text()
    assert "processors:\n" in text and "timestamp_column: occurred_at}\n" in text
    text = text.replace("processors:\n", US_PROCESSOR, 1)
    text = text.replace("timestamp_column: occurred_at}\n",
                        "timestamp_column: occurred_at}\n        processors: [product_insights]\n", 1)
    manifest.write_text(text)
    git(folder, "commit", "-qam", "seeded")
    return manifest


def test_diff_reports_exactly_the_seeded_changes(repo):
    code, payload, _err = dfg_json("diff", "--base", "main~1", "--head", "main", project=repo)
    assert code == 1  # an error-level change fails the default gate
    found = {(c["severity"], c["kind"], c["subject"]) for c in payload["changes"]}
    assert found == {
        ("warning", "flow", "daily_signups"),  # the new column, traced through the SQL
        ("error", "finding:pii-free-downstream-of-personal", "daily_signups"),  # it was declared PII-free
        ("warning", "processor", "product_insights"),
        ("warning", "transfer", "analytics_events"),  # EU personal data to a US processor
    }
    by_kind = {c["kind"]: c["message"] for c in payload["changes"]}
    assert "daily_signups.first_email" in by_kind["flow"] and "users.email" in by_kind["flow"]
    assert "user.contact.email" in by_kind["flow"]
    assert "us-east-1" in by_kind["processor"] and "scc" in by_kind["processor"]
    assert "EU" in by_kind["transfer"] and "US" in by_kind["transfer"]
    assert payload["counts"] == {"error": 1, "warning": 3, "info": 0}
    assert payload["base"]["commit"] == git(repo.parent, "rev-parse", "main~1")
    assert payload["base"]["fingerprint"] != payload["head"]["fingerprint"]
    # A commit's catalog is built once, then read from the state folder.
    kept = sorted(p.name.split("-")[0] for p in (repo.parent / ".dfg" / "revisions").glob("*.json"))
    assert kept == sorted([payload["base"]["commit"], payload["head"]["commit"]])
    # The reverse change resolves what the change introduced: notes only, nothing to gate on.
    code, back, _err = dfg_json("diff", "--base", "main", "--head", "main~1", project=repo)
    assert code == 0 and back["counts"]["error"] == 0
    assert ("info", "resolved:pii-free-downstream-of-personal", "daily_signups") in {
        (c["severity"], c["kind"], c["subject"]) for c in back["changes"]}


def test_diff_markdown_and_gates(repo):
    code, out, _err = run_dfg("diff", "--base", "main~1", "--head", "main", "--fail-on", "never", project=repo)
    assert code == 0
    assert out.startswith("## Governance review: main~1")
    assert re.search(r"^\| warning \| flow \| `daily_signups` \| personal data now flows into daily_signups.first_email",
                     out, re.M)
    assert "4 change(s) to the data map" in out
    # The working tree is the head by default, and the same revision is no change at all.
    code, out, _err = run_dfg("diff", "--base", "main", "--fail-on", "warning", project=repo)
    assert code == 0 and "No change to personal data" in out


def test_diff_fails_clearly_on_bad_revisions(repo, tmp_path):
    code, _out, err = run_dfg("diff", "--base", "no-such-branch", project=repo)
    assert code == 2 and "unknown git revision 'no-such-branch'" in err
    code, _out, err = run_dfg("diff", "--base=--output=/tmp/owned", project=repo)  # never an option to git
    assert code == 2 and "is not a git revision" in err
    outside = copy_project(tmp_path / "not-a-repo")
    code, _out, err = run_dfg("diff", "--base", "main", project=outside)
    assert code == 2 and "not in a git repository" in err


def test_a_revision_whose_catalog_cannot_be_built_is_an_error_not_an_empty_map(repo, tmp_path):
    folder = tmp_path / "broken"
    subprocess.run(["git", "clone", "-q", str(repo.parent), str(folder)], check=True)
    manifest = folder / "dagster_project.yaml"
    manifest.write_text(manifest.read_text().replace("user.contact.email", "user.contact.emial", 1))
    git(folder, "commit", "-qam", "typo")
    manifest.write_text(git(folder, "show", "HEAD~1:dagster_project.yaml") + "\n")  # the working tree is fine
    code, _out, err = run_dfg("diff", "--base", "HEAD~1", "--head", "HEAD", project=manifest)
    assert code == 2 and "the catalog of HEAD" in err and "cannot be built" in err and "emial" in err


@pytest.fixture
def reviewed(repo, tmp_path):
    """A clone of the repository whose manifest declares the dpo role's public key (the reviewer
    keeps the private key), and a key nobody declared."""
    folder = tmp_path / "reviewed"
    subprocess.run(["git", "clone", "-q", str(repo.parent), str(folder)], check=True)
    git(folder, "config", "user.email", "reviewer@example.com")
    manifest = folder / "dagster_project.yaml"
    keys = {}
    for who in ("dpo", "mallory"):
        code, made, err = dfg_json("review", "keygen", "--as", "dpo", "--key", str(tmp_path / f"{who}.pem"),
                                   project=manifest)
        assert code == 0, err
        keys[who] = (tmp_path / f"{who}.pem", made["public_key"])
    manifest.write_text(manifest.read_text() + f"\nreview:\n  roles:\n    dpo: {{public_keys: [\"{keys['dpo'][1]}\"]}}\n")
    return manifest, keys


def test_approval_is_a_signed_ledger_entry_with_the_catalog_fingerprint(reviewed):
    repo, keys = reviewed
    dpo_key, mallory_key = str(keys["dpo"][0]), str(keys["mallory"][0])
    code, status, _err = dfg_json("review", "status", "--ref", "main", project=repo)
    assert code == 1 and status["approvals"] == [] and status["missing"] == ["dpo"]
    code, _out, err = run_dfg("review", "approve", "--ref", "main", "--key", dpo_key, project=repo)
    assert code == 2 and "--as ROLE" in err
    code, _out, err = run_dfg("review", "approve", "--ref", "main", "--as", "dpo", project=repo)
    assert code == 2 and "--key FILE" in err
    code, _out, err = run_dfg("review", "approve", "--ref", "main", "--as", "dpo", "--key", mallory_key, project=repo)
    assert code == 2 and "not one of the keys declared for role 'dpo'" in err
    code, _out, err = run_dfg("review", "approve", "--ref", "main", "--as", "security", "--key", dpo_key, project=repo)
    assert code == 2 and "not declared under review.roles" in err
    for hostile in ("\x1b[31mdpo", "dpo\u202e", "a\u0085b"):
        code, _out, err = run_dfg("review", "approve", "--ref", "main", "--as", "dpo", "--key", dpo_key, "--by",
                                  hostile, project=repo)
        assert code == 2 and "--by" in err and hostile not in err, hostile
    code, _out, err = run_dfg("review", "approve", "--ref", "main", "--as", "dp\u202eo", "--key", dpo_key, project=repo)
    assert code == 2 and "--as" in err

    code, approved, _err = dfg_json("review", "approve", "--ref", "main", "--as", "dpo", "--key", dpo_key, project=repo)
    assert code == 0 and approved["approver"] == "reviewer@example.com"  # git's identity by default
    assert approved["signature"] and approved["public_key"] == keys["dpo"][1]
    code, status, _err = dfg_json("review", "status", "--ref", "main", project=repo)
    assert code == 0 and [(a["role"], a["commit"], a["valid"]) for a in status["approvals"]] == [
        ("dpo", git(repo.parent, "rev-parse", "main"), True)]
    assert status["fingerprint"] == approved["fingerprint"]
    # The base's data map is another catalog: not approved by that.
    code, _status, _err = dfg_json("review", "status", "--ref", "main~1", project=repo)
    assert code == 1
    code, diff, _err = dfg_json("diff", "--base", "main~1", "--head", "main", "--approvals", project=repo)
    assert [a["role"] for a in diff["approvals"]] == ["dpo"]
    code, entries, _err = dfg_json("audit", "export", "--target", f"catalog:{approved['fingerprint']}", project=repo)
    assert code == 0
    [entry] = entries["entries"]
    assert entry["actor"] == "review:dpo" and entry["action"] == "review.approved"
    details = entry["details"] if isinstance(entry["details"], dict) else json.loads(entry["details"])
    assert details["fingerprint"] == approved["fingerprint"] and details["role"] == "dpo"
    code, verified, _err = dfg_json("audit", "verify", project=repo)
    assert code == 0 and verified["ok"] and verified["approvals"] == {"checked": 1, "invalid": []}

    # Whoever can write the ledger can no longer approve as the DPO: unsigned, or signed by another key.
    from dataflow_governance import Ledger, load_project
    from dataflow_governance.crypto import approvals as signing

    ledger = Ledger(open_warehouse(load_project(repo)))
    forged = {**details, "signature": signing.sign(signing.load_private(keys["mallory"][0]), signing.message(
        details["fingerprint"], "dpo", details["commit"]))}
    ledger.append("review:dpo", "review.approved", entry["target"], {k: v for k, v in details.items() if k != "signature"})
    ledger.append("review:dpo", "review.approved", entry["target"], {**forged, "public_key": keys["mallory"][1]})
    ledger.append("review:dpo", "review.approved", entry["target"], forged)
    code, status, _err = dfg_json("review", "status", "--ref", "main", project=repo)
    assert [a.get("problem") for a in status["approvals"]] == [
        None, "unsigned", "signed with a key not declared for role 'dpo'", "the signature does not verify"]
    code, verified, _err = dfg_json("audit", "verify", project=repo)
    assert code == 1 and not verified["ok"] and verified["chain_ok"] and len(verified["approvals"]["invalid"]) == 3


def test_the_default_head_is_the_working_tree_and_a_dbt_sources_change_is_seen(reviewed):
    repo, _keys = reviewed
    code, clean, _err = dfg_json("diff", "--base", "main", project=repo)
    assert code == 0 and clean["head"]["ref"] == "working tree" and clean["changes"] == []
    sources = repo.parent / "assets" / "dbt" / "models" / "sources.yml"
    sources.write_text(sources.read_text().replace("asset_key: [orders]", "asset_key: [card_captures]"))
    code, changed, _err = dfg_json("diff", "--base", "main", project=repo)
    assert changed["head"]["fingerprint"] != changed["base"]["fingerprint"] and changed["changes"], changed
    assert any(c["subject"] == "order_facts" for c in changed["changes"])
    code, status, _err = dfg_json("catalog", "status", project=repo)
    assert status["fresh"]
    assert any(name.endswith("assets/dbt/") for name in
                                   __import__("json").loads((repo.parent / ".dfg" / "catalog.json").read_text())["inputs"])
    code, same, _err = dfg_json("diff", "--base", "main", "--head", "main", project=repo)
    assert code == 0 and same["changes"] == []


# --- the comparison itself, on catalogs built in memory ---------------------------------------

USERS = {"legal_basis": "contract", "retention": {"keep": "2 years", "action": "delete", "timestamp_column": "t"},
         "columns": {"user_id": {"type": "int", "identity": True, "categories": ["user.unique_id"]},
                     "email": {"type": "varchar", "categories": ["user.contact.email"]},
                     "t": {"type": "timestamp"}}}


def catalog(users: dict, report_sql: str = "SELECT user_id FROM users", processors=(), extra=None) -> Catalog:
    governance = {"users": build_governance("users", users),
                  "report": build_governance("report", {"legal_basis": "contract", "region": "eu-central-1"})}
    governance.update(extra or {})
    upstream = {"users": frozenset(), "report": frozenset({"users"})}
    graph = build_column_graph(governance, [SqlDefinition("report", report_sql)], upstream)
    registry = {p.name: p for p in processors}
    return Catalog("p", governance, upstream, registry, graph, {}, "sha256:x")


def kinds(changes):
    return {(c.severity, c.kind, c.subject) for c in changes}


def test_no_change_is_no_change():
    assert diff_catalogs(catalog(USERS), catalog(USERS)) == []


def test_a_new_column_flow_is_reported_once_with_its_origin():
    changes = diff_catalogs(catalog(USERS), catalog(USERS, "SELECT user_id, email FROM users"))
    assert kinds(changes) == {("warning", "flow", "report")}
    assert "report.email from users.email (user.contact.email)" in changes[0].message


def test_declared_facts_changes_and_their_severities():
    looser = {**USERS, "legal_basis": "legitimate_interests", "purposes": ["marketing.advertising"],
              "retention": {"keep": "5 years", "action": "delete", "timestamp_column": "t"}}
    changes = diff_catalogs(catalog(USERS), catalog(looser))
    assert {c.kind for c in changes} >= {"legal_basis", "purpose", "retention"}
    assert all(c.severity == "warning" for c in changes if c.kind in ("legal_basis", "purpose", "retention"))
    shorter = {**USERS, "retention": {"keep": "1 year", "action": "delete", "timestamp_column": "t"}}
    assert kinds(diff_catalogs(catalog(USERS), catalog(shorter))) == {("info", "retention", "users")}
    assert fails(changes, "warning") and not fails(changes, "error") and not fails(changes, "never")


def test_a_processor_in_the_same_jurisdiction_is_an_attachment_not_a_transfer():
    mailer = Processor(name="mailer", region="eu-west-1", dpa=True)
    attached = {**USERS, "processors": ["mailer"]}
    changes = diff_catalogs(catalog(USERS, processors=[mailer]), catalog(attached, processors=[mailer]))
    assert kinds(changes) == {("warning", "processor", "users")}
    assert "users now sends data to processor mailer" in changes[0].message



def test_a_change_that_pulls_an_asset_into_pci_scope_is_reported():
    card = {**USERS, "regime": "pci", "encryption": {"at_rest": "AES-256"},
            "columns": {**USERS["columns"], "pan": {"type": "varchar", "categories": ["user.financial.credit_card"],
                                                    "card_data": "pan"}}}
    before = catalog(card)
    after = catalog(card, "SELECT user_id, pan FROM users")  # the report now copies card numbers
    found = kinds(diff_catalogs(before, after))
    assert ("warning", "pci_scope", "report") in found
    [scope] = [c for c in diff_catalogs(before, after) if c.kind == "pci_scope"]
    assert "report moves into PCI DSS scope: connected → cde (stores PAN (pan))" in scope.message


def test_a_processor_losing_its_baa_and_a_regime_dropped_are_reported():
    care = Processor(name="care", region="eu-west-1", dpa=True, baa=True)
    lapsed = Processor(name="care", region="eu-west-1", dpa=True, baa=False)
    hipaa = {**USERS, "regime": "hipaa"}
    changes = diff_catalogs(catalog(hipaa, processors=[care]), catalog(USERS, processors=[lapsed]))
    assert {("warning", "processor", "care"), ("warning", "regime", "users")} <= kinds(changes)
    assert any("processor care's baa True → False" in c.message for c in changes)


def test_the_checklist_of_a_change_classifies_its_data_and_flows_and_raises_red_flags(tmp_path):
    """A change that adds a column copying an email, a cache fed personal data nothing erases, a
    partner nobody owns, a log fed unscrubbed emails and a hard-coded credential: each on the list."""
    folder = tmp_path / "change"
    manifest = copy_project(folder)
    git(folder, "init", "-q", "-b", "main")
    git(folder, "add", "-A")
    git(folder, "commit", "-qm", "base")
    sql = folder / "assets" / "sql" / "daily_signups.sql"
    sql.write_text(sql.read_text().replace("COUNT(*) AS signups", "COUNT(*) AS signups, MIN(email) AS first_email"))
    text = manifest.read_text().replace("flows:\n", """flows:
  warm_cache: {from: order_service, to: session_cache, data: [users.email], controls: {least_privilege: true}}
  debug_log: {from: order_service, to: app_log_store, data: [users.email]}
  partner_feed: {from: order_service, to: partner_api, data: [orders.amount], controls: {minimization: true}}
""", 1).replace("systems:\n", """systems:
  session_cache: {kind: cache, zone: data, encryption: {at_rest: AES-256}}
  partner_api: {kind: external_api, zone: third_party}
""", 1)
    manifest.write_text(text)
    (folder / "assets" / "partner.py").write_text('PARTNER_TOKEN = "sk_live_51Hx9vQ2eZvKYlo2C8aZq3fWbLxR7nT"\napi_key = "hunter2hunter2hunter2"\n')
    git(folder, "add", "-A")
    git(folder, "commit", "-qm", "change")
    code, out, err = run_dfg("review", "checklist", "--base", "HEAD~1", "--ref", "HEAD", "--json", project=manifest, timeout=600)
    assert code == 1, err[-3000:]  # red flags
    report = json.loads(out)
    elements = {(e["asset"], e["column"]): e for e in report["data_elements"]}
    assert elements[("daily_signups", "first_email")]["level"] == "restricted"
    assert {f["flow"] for f in report["flows"]} == {"warm_cache", "debug_log", "partner_feed"}
    flags = {(f["flag"], f["where"]) for f in report["red_flags"]}
    assert ("sensitive data in logs", "flow:debug_log") in flags
    assert ("personal data no erasure reaches", "system:session_cache") in flags
    assert ("a third party whose data ownership is undeclared", "system:partner_api") in flags
    assert ("credentials in the changed code", "assets/partner.py:2") in flags
    assert "hunter2" not in out and "sk_live" not in out  # where and what kind, never the secret
    assert report["roles"] == ["security", "legal", "engineering_lead"] and not report["approved"]  # the defaults
    code, markdown, _ = run_dfg("review", "checklist", "--base", "HEAD~1", "--ref", "HEAD", project=manifest, timeout=600)
    assert "### Red flags" in markdown and "- [ ] security" in markdown
