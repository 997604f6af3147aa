"""dagster_project.yaml: the example loads; every mistake is one clear error naming where."""

import pytest

from conftest import REPO
from dataflow_governance import ManifestError, load_project


def write(tmp_path, text):
    path = tmp_path / "dagster_project.yaml"
    path.write_text(text)
    return path


def test_example_manifest_loads():
    project = load_project(REPO / "dagster_project.yaml")
    assert project.buckets["deepwater-bi-us"].region == "us-east-1"
    assert project.processors["mailer"].dpa
    assert project.governance["support_attachments"].region == "eu-central-1"  # from its bucket
    assert project.governance["users"].owner == "team:growth"  # group default
    assert project.governance["global_kpis_us"].owner == "team:bi"  # asset overrides group default
    assert project.mlflow_tracking_uri.startswith("sqlite:///")


def test_missing_and_malformed(tmp_path):
    with pytest.raises(ManifestError, match="no such manifest"):
        load_project(tmp_path / "nope.yaml")
    with pytest.raises(ManifestError, match="not valid YAML"):
        load_project(write(tmp_path, "groups: [unclosed"))
    with pytest.raises(ManifestError, match="unknown top-level field.*grups"):
        load_project(write(tmp_path, "grups: {}"))


def test_asset_errors_name_group_asset_and_field(tmp_path):
    text = """
groups:
  growth:
    assets:
      users:
        legal_basis: contract
        columns: {email: {categories: [user.contact.mail]}}
"""
    with pytest.raises(ManifestError) as err:
        load_project(write(tmp_path, text))
    assert "group 'growth'" in str(err.value) and "asset 'users'" in str(err.value)
    assert "columns.email.categories" in str(err.value) and "user.contact.email" in str(err.value)


def test_unknown_processor(tmp_path):
    text = "groups: {g: {assets: {a: {processors: [mailchimp]}}}}\n"
    with pytest.raises(ManifestError, match="unknown processor 'mailchimp'"):
        load_project(write(tmp_path, text))


def test_postgres_needs_dsn_and_env_overrides(tmp_path, monkeypatch):
    from dataflow_governance import WarehouseError, open_warehouse

    # The model declares the warehouse; storage opens it and says what the engine lacks.
    with pytest.raises(WarehouseError, match="dsn"):
        open_warehouse(load_project(write(tmp_path, "warehouse: {kind: postgres}\n")))
    monkeypatch.setenv("DFG_WAREHOUSE_DSN", "postgresql://u:secret@db/x")
    monkeypatch.setenv("DFG_S3_ENDPOINT_URL", "http://127.0.0.1:9000")
    project = load_project(write(tmp_path, "{}\n"))
    assert project.warehouse.kind == "postgres" and project.object_store.endpoint_url == "http://127.0.0.1:9000"
