"""The warehouse on DuckDB, the real PostgreSQL server and a real Spark Connect server: same interface, same results."""

import pandas as pd
import pytest

from conftest import ENGINES, PG_DSN, copy_project, dfg_json, make_warehouse
from dataflow_governance import Warehouse, WarehouseError
from dataflow_governance.storage.warehouse import redact_dsn, table_expr


@pytest.fixture(params=ENGINES)
def warehouse(request, tmp_path):
    return make_warehouse(request.param, request, tmp_path)


FRAME = pd.DataFrame({
    "user_id": [1, 2, 3],
    "email": ["a@example.com", "b@example.com", None],
    "active": [True, False, True],
    "created_at": pd.to_datetime(["2026-01-01", "2026-02-01", "2026-03-01"]),
})


def test_replace_table_and_read_back(warehouse):
    assert warehouse.replace_table("people", FRAME) == 3
    assert warehouse.table_exists("people")
    assert list(warehouse.columns("people")) == ["user_id", "email", "active", "created_at"]
    assert warehouse.row_count("people") == 3
    warehouse.replace_table("people", FRAME.head(2))  # replace, not append
    assert warehouse.row_count("people") == 2
    assert warehouse.fetch("SELECT count(*) FROM people WHERE email IS NULL")[0][0] == 0


def test_create_table_as_transpiles_from_duckdb(warehouse):
    warehouse.replace_table("people", FRAME)
    rows = warehouse.create_table_as(
        "monthly", "SELECT DATE_TRUNC('month', created_at) AS month, COUNT(*) AS n FROM people GROUP BY 1"
    )
    assert rows == 3


def test_quoted_identifiers_from_config(warehouse):
    odd = pd.DataFrame({"select": [1], "e-mail address": ["x@example.com"]})
    # (A Hive metastore, Spark's catalog, names tables with letters, digits and _ only: a keyword, then.)
    table = "select" if warehouse.kind == "spark" else "Odd Table"
    warehouse.replace_table(table, odd)
    assert list(warehouse.columns(table)) == ["select", "e-mail address"]
    assert warehouse.fetch(f'SELECT count(*) FROM {warehouse.render(table_expr(table))}')[0][0] == 1


def test_missing_table_and_bad_sql_are_clear(warehouse):
    with pytest.raises(WarehouseError, match="table 'nope' does not exist"):
        warehouse.columns("nope")
    with pytest.raises(WarehouseError, match="SQL for 'broken' does not parse"):
        warehouse.create_table_as("broken", "SELECT FROM WHERE (")


def test_postgres_connection_error_hides_password():
    wh = Warehouse(kind="postgres", dsn="postgresql://postgres:hunter2@127.0.0.1:1/test")
    with pytest.raises(WarehouseError) as err:
        wh.fetch("SELECT 1")
    assert "hunter2" not in str(err.value) and "127.0.0.1:1" in str(err.value)
    assert redact_dsn("host=db user=u password=hunter2 dbname=x") == "host=db user=u dbname=x"


def test_example_project_materializes_on_postgres(tmp_path, pg_schema):
    """The whole deep water project on the real server, in a schema of its own."""
    manifest = copy_project(tmp_path / "pg_project")
    env = {"DFG_WAREHOUSE_DSN": PG_DSN, "DFG_WAREHOUSE_SCHEMA": pg_schema}
    try:
        code, summary, err = dfg_json("demo", project=manifest, env=env)
        assert code == 0, err[-3000:]
        assert summary["materialized"] == summary["assets"] and summary["checks_failed"] == 0
        assert summary["warehouse"] == PG_DSN
        wh = Warehouse(kind="postgres", dsn=PG_DSN, schema=pg_schema)
        assert wh.row_count("users") == 500
        assert wh.row_count("daily_signups") > 0 and wh.row_count("ticket_features") == wh.row_count("tickets")
        # The dbt models, built by dbt-postgres into the same schema.
        assert wh.row_count("order_facts") == wh.fetch("SELECT count(*) FROM orders o JOIN users u USING (user_id)")[0][0]
        assert wh.row_count("monthly_revenue") > 0
    finally:
        dfg_json("local", "stop", project=manifest)


def test_engine_errors_never_repeat_a_value(warehouse):
    warehouse.replace_table("people", FRAME)
    with pytest.raises(WarehouseError) as err:
        warehouse.fetch("SELECT CAST(email AS INTEGER) FROM people")
    assert "a@example.com" not in str(err.value) and "example" not in str(err.value)
