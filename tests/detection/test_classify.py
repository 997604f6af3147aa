"""Proposed categories from column names and content: right where the data says so, silent where a
name is a coincidence, measured against the example's own declarations."""

import json

import duckdb
import pytest

from conftest import PG_DSN
from dataflow_governance.detection.classify import classify_table, snake
from dataflow_governance.storage.warehouse import Warehouse

EMAILS = [f"person{i}@example.org" for i in range(60)]


@pytest.fixture
def shop(tmp_path):
    path = tmp_path / "shop.duckdb"
    con = duckdb.connect(str(path))
    con.execute("CREATE TABLE customers AS SELECT i AS customer_id, 'person' || i || '@example.org' AS email, "
                "['Anna', 'Jean', 'Maria'][1 + i % 3] AS first_name, ['DE', 'FR'][1 + i % 2] AS country, "
                "i % 2 = 0 AS email_opt_in, TIMESTAMP '2024-01-01' + i * INTERVAL 1 DAY AS created_at, "
                "TIMESTAMP '2025-01-01' AS updated_at FROM range(1, 61) t(i)")
    # Names that say "personal" but are not: a product's name, a country in an aggregate, a flag named email.
    con.execute("CREATE TABLE products AS SELECT i AS product_id, 'Lamp ' || i AS name, 9.5 AS price FROM range(40) t(i)")
    con.execute("CREATE TABLE sales_by_country AS SELECT ['DE', 'FR'][1 + i % 2] AS country, i * 10.0 AS amount, "
                "i % 2 = 0 AS email FROM range(30) t(i)")
    con.execute("CREATE TABLE support_notes AS SELECT i AS ticket_id, 1 + i % 60 AS customer_id, "
                "'Customer asked to change the delivery address; call +49 30 1234567' || i AS body, "
                "'open' AS status FROM range(50) t(i)")
    con.execute("CREATE TABLE contact_list AS SELECT i AS id, 'nobody' AS email FROM range(30) t(i)")
    con.close()
    return Warehouse(kind="duckdb", path=str(path))


def proposed(result) -> dict[str, dict[str, str]]:
    return {name: {p.category: p.level for p in column.wanted()} for name, column in result.columns.items() if column.wanted()}


def test_a_table_of_people_is_proposed_from_names_and_content(shop):
    result = classify_table(shop, "customers")
    found = proposed(result)
    assert found["email"] == {"user.contact.email": "proposed"}
    assert found["customer_id"] == {"user.unique_id": "proposed"} and result.columns["customer_id"].identity
    assert found["first_name"] == {"user.name": "proposed"}
    assert found["country"] == {"user.contact.address.country": "uncertain"}  # a name only, beside an id
    assert found["email_opt_in"] == {"user.privacy_preferences": "uncertain"}
    assert "created_at" not in found and "updated_at" not in found
    assert result.subject == {"data_subject": "customer", "column": "customer_id",
                              "evidence": "customer_id is unique in the 60 rows read"}
    assert result.timestamp_candidates == ["created_at", "updated_at"]  # when a row came to be, before when it moved
    email = result.columns["email"].proposals[0]
    assert email.confidence > 0.95 and any("60 of 60 sampled values (100%)" in e for e in email.evidence)


def test_names_that_are_coincidences_are_not_proposed(shop):
    assert proposed(classify_table(shop, "products")) == {}  # `name` of a product, not of a person
    assert proposed(classify_table(shop, "sales_by_country")) == {}  # no subject id: country and amount are not personal
    doubted = classify_table(shop, "contact_list").columns["email"].proposals[0]
    assert doubted.level == "weak" and "no value of 30 sampled looked like one" in doubted.evidence[-1]


def test_free_text_holds_the_subjects_content_and_what_the_detectors_find_in_it(shop):
    found = proposed(classify_table(shop, "support_notes"))
    assert found["body"] == {"user.contact.phone_number": "proposed", "user.content.private": "uncertain"}
    assert "status" not in found and "ticket_id" not in found


def test_evidence_holds_counts_and_masked_samples_never_a_value(shop):
    text = json.dumps([classify_table(shop, t).to_dict() for t in ("customers", "support_notes")])
    assert "@example.org" not in text.replace("***@e***.org", "")
    assert not any(email in text for email in EMAILS) and "1234567" not in text and "Maria" not in text


def test_a_large_table_is_sampled_and_says_how_much_it_read(tmp_path):
    path = tmp_path / "big.duckdb"
    with duckdb.connect(str(path)) as con:
        con.execute("CREATE TABLE users AS SELECT i AS user_id, 'u' || i || '@example.org' AS email FROM range(10000000) t(i)")
    result = classify_table(Warehouse(kind="duckdb", path=str(path)), "users", sample=5_000)
    assert (result.rows, result.rows_read) == (10_000_000, 5_000)
    assert proposed(result)["email"] == {"user.contact.email": "proposed"}


def test_the_profile_runs_on_postgres_too(pg_schema):
    import psycopg

    with psycopg.connect(PG_DSN, autocommit=True) as con:
        con.execute(f'CREATE SCHEMA "{pg_schema}"')
        con.execute(f'CREATE TABLE "{pg_schema}".patients AS SELECT i AS patient_id, \'p\' || i || \'@example.org\' AS email, '
                    f"'Reports chest pain since Monday, prescribed rest' AS notes FROM generate_series(1, 40) i")
    result = classify_table(Warehouse(kind="postgres", dsn=PG_DSN, schema=pg_schema), "patients")
    found = proposed(result)
    assert found["email"] == {"user.contact.email": "proposed"}
    assert found["notes"] == {"user.health_and_medical": "uncertain"}  # free text in a table of patients
    assert result.subject["data_subject"] == "patient"


@pytest.mark.parametrize("name, words", [("firstName", "first_name"), ("E-Mail", "e_mail"), ("USER_ID", "user_id")])
def test_column_names_are_read_in_snake_case(name, words):
    assert snake(name) == words


def test_the_example_warehouse_is_proposed_back_with_precision_and_recall(demo_project):
    """The example's declarations are the truth; the proposer never reads them (benchmarks/init_scan.py
    prints the same figures with timings)."""
    from benchmarks.init_scan import compare, example_truth, propose_all

    manifest, _summary = demo_project
    truth, tables = example_truth(manifest)
    result = compare(propose_all(manifest, tables), truth)
    assert result["precision"] >= 0.9 and result["recall"] >= 0.8, result
