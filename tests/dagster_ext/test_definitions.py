"""The example project's Definitions: governance visible as Dagster metadata, tags, owners, schema."""

import os
import subprocess
import sys

import dagster as dg
import pytest

from conftest import REPO
from dataflow_governance import GovernanceError, build_governance
from dataflow_governance.dagster_ext import SPEC_KEY, apply_manifest_governance, governed_asset, read_governance


@pytest.fixture(scope="module")
def specs():
    from assets.definitions import defs

    return {s.key.to_user_string(): s for s in defs.resolve_all_asset_specs()}


def test_example_has_the_seed_flows(specs):
    assert len(specs) >= 12
    for name in ("users", "analytics_events", "daily_signups", "orders", "tickets", "tickets_clean",
                 "ticket_features", "app_logs", "global_kpis_us", "email_campaign_sends", "support_attachments"):
        assert name in specs
    assert {d.asset_key.to_user_string() for d in specs["daily_signups"].deps} == {"users"}


def test_governance_is_visible_in_dagster(specs):
    users = specs["users"]
    assert users.owners == ["team:growth"]
    assert users.tags["pii"] == "true" and users.tags["region"] == "eu-central-1"
    assert users.tags["legal_basis"] == "contract" and "category/user.contact.email" in users.tags
    summary = users.metadata["governance"].value  # one readable table of the facts
    assert "| legal basis | contract (Art. 6(1)(b)) |" in summary and "| retention | 3 years, then delete" in summary
    columns = {c.name: c for c in users.metadata["dagster/column_schema"].columns}
    assert columns["email"].tags == {"category/user.contact.email": "", "sensitivity": "confidential", "level": "restricted"}
    assert columns["user_id"].tags["identity"] == "true"
    assert "pii" in users.kinds and "duckdb" in users.kinds
    assert specs["daily_signups"].tags["pii"] == "false" and specs["daily_signups"].tags["pii_free"] == "true"
    assert "| processors | payments_psp |" in specs["orders"].metadata["governance"].value


def test_python_and_manifest_declarations_become_the_same_objects(specs):
    governance = read_governance(specs.values())
    assert governance["app_logs"].pii_free and governance["app_logs"].owner == "team:platform"  # Python
    assert governance["users"].identity_columns == ("user_id",)  # manifest
    facts = governance["users"].model_dump(mode="json")
    facts.pop("asset")
    assert build_governance("users", facts) == governance["users"]


def test_governed_asset_validates_at_definition_time():
    with pytest.raises(GovernanceError, match="asset 'leaky'.*unknown data category 'user.emails'"):
        @governed_asset(governance={"columns": {"e": {"categories": ["user.emails"]}}})
        def leaky():
            return 1


def test_declared_twice_is_an_error():
    @governed_asset(governance={"pii_free": True})
    def logs():
        return 1

    with pytest.raises(GovernanceError, match="both in Python and in dagster_project.yaml"):
        apply_manifest_governance([logs], {"logs": build_governance("logs", {"pii_free": True})})
    with pytest.raises(GovernanceError, match="ghost that the project does not define"):
        apply_manifest_governance([logs], {"ghost": build_governance("ghost", {})})
    assert SPEC_KEY in logs.specs_by_key[dg.AssetKey("logs")].metadata


def test_dagster_definitions_validate_from_repo_root():
    dagster = os.path.join(os.path.dirname(sys.executable), "dagster")
    proc = subprocess.run([dagster, "definitions", "validate"], cwd=REPO, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]


def test_a_translator_decides_how_the_facts_appear_and_the_model_stays_readable():
    from dataflow_governance.dagster_ext import GovernanceTranslator

    class Compact(GovernanceTranslator):
        def get_tags(self, gov):
            return {"pii": "yes" if gov.is_personal else "no", "steward": "privacy-office"}

        def get_metadata(self, gov):
            return {"governance": f"{gov.legal_basis}; keep {gov.retention.keep if gov.retention else 'forever'}"}

    facts = {"legal_basis": "contract", "description": "Customers who signed up.",
             "retention": {"keep": "2 years"}, "columns": {"email": {"categories": ["user.contact.email"]}}}

    @governed_asset(governance=facts, translator=Compact())
    def customers():
        """Loaded nightly from the CRM."""
        return 1

    spec = customers.specs_by_key[dg.AssetKey("customers")]
    assert {k: v for k, v in spec.tags.items() if not k.startswith("dagster/kind/")} == {"pii": "yes", "steward": "privacy-office"}
    assert spec.metadata["governance"] == "contract; keep 2 years"
    assert not any(k.startswith("governance/") for k in spec.metadata)
    assert spec.description == "Customers who signed up.\n\nLoaded nightly from the CRM."  # both kept
    assert read_governance([spec])["customers"].legal_basis == "contract"  # the model travels regardless


def test_levels_and_the_warehouse_kind_show_on_the_asset():
    """The classification level as an asset tag and a column tag (configurable), and the warehouse's
    engine as the kind of an asset stored as a table."""
    from dataflow_governance.dagster_ext import GovernanceTranslator, governed_spec

    facts = {"legal_basis": "contract", "region": "eu-central-1", "storage": {"table": "customers"},
             "columns": {"email": {"categories": ["user.contact.email"]}, "country": {"categories": ["user.contact.address.country"]},
                         "n": {"type": "int"}}}
    spec = governed_spec("customers", facts, translator=GovernanceTranslator(warehouse_kind="postgres"))
    levels = {c.name: c.tags["level"] for c in spec.metadata["dagster/column_schema"].columns}
    assert spec.tags["classification"] == "restricted" and "postgres" in spec.kinds and "pii" in spec.kinds
    assert levels == {"email": "restricted", "country": "confidential", "n": "internal"}
    relaxed = GovernanceTranslator(levels={"user.contact.email": "confidential", "user": "confidential"})
    assert governed_spec("customers", facts, translator=relaxed).tags["classification"] == "confidential"
    logs = governed_spec("logs", {"pii_free": True, "storage": {"kind": "s3", "bucket": "b", "prefix": "p/"}})
    assert logs.tags["classification"] == "internal" and "s3" in logs.kinds and "postgres" not in logs.kinds


def test_every_traced_asset_carries_dagsters_column_lineage_and_a_link_to_the_browser(specs):
    """Read through Dagster's own API: what Dagster+ draws and other tools read."""
    from dataflow_governance.catalog import artifact
    from dataflow_governance import load_project

    project = load_project(REPO / "dagster_project.yaml")
    built = artifact.read(project.paths.catalog)
    traced = built.graph.lineage
    assert {"daily_signups", "customer_dim", "ticket_features"} <= set(traced)  # SQL and declared Python lineage
    for key in traced:
        lineage = specs[key].metadata["dagster/column_lineage"]
        assert isinstance(lineage, dg.TableColumnLineage), key
        assert set(lineage.deps_by_column) == set(traced[key].columns), key
    customer = specs["customer_dim"].metadata["dagster/column_lineage"].deps_by_column
    assert dg.TableColumnDep(asset_key=dg.AssetKey("users"), column_name="email") in customer["email"]
    features = specs["ticket_features"].metadata["dagster/column_lineage"].deps_by_column
    assert {d.asset_key for deps in features.values() for d in deps} <= {dg.AssetKey(k) for k in specs}
    link = specs["users"].metadata["column lineage ↗"]
    assert isinstance(link, dg.UrlMetadataValue) and link.url == "http://127.0.0.1:3001/asset/users"
    ungoverned = [key for key in specs if key not in built.governance and key not in traced]
    assert ungoverned and not any("column lineage ↗" in specs[key].metadata for key in ungoverned)  # (the ledger's own)


def test_the_browser_link_follows_the_configured_base_url(tmp_path):
    from conftest import copy_project

    manifest = copy_project(tmp_path / "p")
    probe = ("from assets.definitions import defs; import dagster as dg; "
             "spec = {s.key.to_user_string(): s for s in defs.resolve_all_asset_specs()}['daily_signups']; "
             "print(spec.metadata['column lineage ↗'].url)")
    env = {**os.environ, "DFG_PROJECT": str(manifest), "DFG_BROWSER_URL": "https://lineage.example.org/deep-water/"}
    run = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, cwd=manifest.parent, env=env,
                         timeout=300)
    assert run.returncode == 0, run.stderr[-2000:]
    assert run.stdout.strip().splitlines()[-1] == "https://lineage.example.org/deep-water/asset/daily_signups"
    env["DFG_BROWSER_URL"] = "javascript:alert(1)"
    bad = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, cwd=manifest.parent, env=env,
                         timeout=300)
    assert bad.returncode != 0 and "browser" in bad.stderr
