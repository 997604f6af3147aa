"""The governance model: valid declarations load, bad ones fail naming asset, field and choices."""

import pytest

from dataflow_governance import GovernanceError, build_governance
from dataflow_governance.model.spec import parse_duration_days

PERSONAL = {
    "legal_basis": "contract",
    "purposes": ["essential.service"],
    "columns": {"email": {"categories": ["user.contact.email"]}, "user_id": {"identity": True, "categories": ["user.unique_id"]}},
    "retention": {"keep": "2 years"},
}


def test_valid_declaration_round_trips():
    gov = build_governance("users", PERSONAL)
    assert gov.is_personal
    assert gov.identity_columns == ("user_id",)
    assert gov.legal_basis_article == "Art. 6(1)(b)"
    assert gov.retention.keep_days == 730
    again = build_governance("users", {k: v for k, v in gov.model_dump(mode="json").items() if k != "asset"})
    assert again == gov


@pytest.mark.parametrize("text,days", [("30d", 30), ("30 days", 30), ("18 months", 540), ("7 years", 2555),
                                       ("P2Y", 730), ("P1Y6M", 545), ("2w", 14)])
def test_durations(text, days):
    assert parse_duration_days(text) == days


def test_unknown_category_names_asset_field_and_suggests():
    with pytest.raises(GovernanceError) as err:
        build_governance("users", {**PERSONAL, "columns": {"email": {"categories": ["user.contact.emial"]}}})
    message = str(err.value)
    assert "asset 'users'" in message and "columns.email.categories" in message
    assert "user.contact.emial" in message and "user.contact.email" in message  # the suggestion


def test_unknown_purpose_and_subject():
    with pytest.raises(GovernanceError, match="purposes.*unknown data use 'analytics.dashboards'"):
        build_governance("a", {**PERSONAL, "purposes": ["analytics.dashboards"]})
    with pytest.raises(GovernanceError, match="data_subjects.*unknown data subject 'client'"):
        build_governance("a", {**PERSONAL, "data_subjects": ["client"]})


def test_forever_ish_retention():
    with pytest.raises(GovernanceError) as err:
        build_governance("users", {**PERSONAL, "retention": {"keep": "forever-ish"}})
    assert "retention.keep" in str(err.value) and "forever-ish" in str(err.value) and "7 years" in str(err.value)


def test_personal_data_without_legal_basis_lists_bases():
    facts = {k: v for k, v in PERSONAL.items() if k != "legal_basis"}
    with pytest.raises(GovernanceError) as err:
        build_governance("users", facts)
    assert "asset 'users'" in str(err.value) and "legitimate_interests" in str(err.value)


def test_legal_basis_by_article_and_unknown():
    assert build_governance("a", {**PERSONAL, "legal_basis": "Art. 6(1)(f)"}).legal_basis == "legitimate_interests"
    with pytest.raises(GovernanceError, match="unknown legal basis 'because'.*consent"):
        build_governance("a", {**PERSONAL, "legal_basis": "because"})


def test_special_category_needs_art9_condition():
    facts = {**PERSONAL, "columns": {"diagnosis": {"categories": ["user.health_and_medical"]}}}
    with pytest.raises(GovernanceError, match="art9_condition"):
        build_governance("patients", facts)
    assert build_governance("patients", {**facts, "art9_condition": "health_or_social_care"}).art9_condition


def test_unknown_field_and_bad_enum():
    with pytest.raises(GovernanceError, match="unknown field 'retension'"):
        build_governance("a", {**PERSONAL, "retension": {"keep": "1y"}})
    with pytest.raises(GovernanceError, match="retention.action.*'shred'"):
        build_governance("a", {**PERSONAL, "retention": {"keep": "1y", "action": "shred"}})
    with pytest.raises(GovernanceError, match="sensitivity.*'secret'"):
        build_governance("a", {**PERSONAL, "columns": {"x": {"sensitivity": "secret"}}})


def test_pii_free_cannot_declare_personal_columns():
    with pytest.raises(GovernanceError, match="pii_free.*email"):
        build_governance("logs", {**PERSONAL, "pii_free": True})


def test_retention_must_name_declared_columns():
    with pytest.raises(GovernanceError, match="names column.*created_at"):
        build_governance("users", {**PERSONAL, "retention": {"keep": "1y", "timestamp_column": "created_at"}})
    with pytest.raises(GovernanceError, match="anonymize"):
        build_governance("users", {**PERSONAL, "retention": {"keep": "1y", "action": "anonymize"}})


def test_owner_format():
    with pytest.raises(GovernanceError, match="owner"):
        build_governance("a", {"owner": "growth team"})
    assert build_governance("a", {"owner": "team:growth"}).owner == "team:growth"


def test_the_shipped_taxonomy_keys_are_the_installed_fideslangs():
    """Commands read fideslang's keys from a snapshot instead of importing its models: the
    snapshot must be the installed version's taxonomy, key for key."""
    from importlib import metadata

    from dataflow_governance.model import taxonomy

    version, keys = taxonomy.snapshot_keys()
    assert version == metadata.version("fideslang") == taxonomy.installed_fideslang(), \
        "refresh it: python -m dataflow_governance.model.taxonomy"
    assert keys == taxonomy.live_keys()
    assert "user.contact.email" in taxonomy.data_categories() and "marketing" in taxonomy.data_uses()


def test_another_fideslang_than_the_snapshots_is_read_itself(monkeypatch):
    from dataflow_governance.model import taxonomy

    taxonomy._keys.cache_clear()
    monkeypatch.setattr(taxonomy, "snapshot_keys", lambda: ("0.0.0", {k: frozenset() for k in taxonomy.KINDS}))
    try:
        assert "user.contact.email" in taxonomy.data_categories()  # from fideslang, not the stale snapshot
    finally:
        taxonomy._keys.cache_clear()
