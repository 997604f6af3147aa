"""Column lineage: every construct, exact direct and indirect sets, in several dialects."""

import json

import pytest

from conftest import REPO, run_dfg
from dataflow_governance.lineage.sql import LineageError, column_lineage, table_dependencies

SCHEMA = {
    "users": {"user_id": "int", "email": "varchar", "country": "varchar", "created_at": "timestamp"},
    "orders": {"order_id": "int", "user_id": "int", "amount": "double", "status": "varchar", "ordered_at": "timestamp"},
    "events": {"user_id": "int", "kind": "varchar", "ts": "timestamp"},
}
PORTABLE = ["duckdb", "postgres", "snowflake", "bigquery"]


def lineage(sql, dialect="duckdb", schema=SCHEMA):
    return column_lineage(sql, schema, dialect)


def direct(result, column):
    return {(d.table, d.column, d.transformation, d.masking) for d in result.columns[column].direct}


def indirect(result, column):
    return {(i.table, i.column, i.kind) for i in result.columns[column].indirect}


@pytest.mark.parametrize("dialect", PORTABLE)
def test_identity_transformation_aggregation_and_group_by(dialect):
    r = lineage("SELECT u.country, UPPER(u.email) AS e, COUNT(o.order_id) AS n, SUM(o.amount) AS total "
                "FROM users u JOIN orders o ON o.user_id = u.user_id WHERE o.status = 'paid' "
                "GROUP BY u.country, UPPER(u.email) ORDER BY total DESC", dialect)
    assert direct(r, "country") == {("users", "country", "identity", False)}
    assert direct(r, "e") == {("users", "email", "transformation", False)}
    assert direct(r, "n") == {("orders", "order_id", "aggregation", False)}
    assert direct(r, "total") == {("orders", "amount", "aggregation", False)}
    shared = {("users", "user_id", "join"), ("orders", "user_id", "join"), ("orders", "status", "filter"),
              ("users", "country", "group_by"), ("users", "email", "group_by"), ("orders", "amount", "sort")}
    assert indirect(r, "total") == shared and indirect(r, "country") == shared
    assert r.tables == ("orders", "users")


@pytest.mark.parametrize("dialect", PORTABLE)
def test_masking_by_hash(dialect):
    fn = {"duckdb": "SHA256(email)", "postgres": "MD5(email)", "snowflake": "SHA2(email, 256)", "bigquery": "SHA256(email)"}[dialect]
    r = lineage(f"SELECT {fn} AS h, user_id FROM users", dialect)
    assert direct(r, "h") == {("users", "email", "transformation", True)}
    assert direct(r, "user_id") == {("users", "user_id", "identity", False)}


@pytest.mark.parametrize("dialect", PORTABLE)
def test_cte_chain_and_derived_table(dialect):
    r = lineage("""
        WITH paid AS (SELECT user_id, amount FROM orders WHERE status = 'paid'),
             per_user AS (SELECT user_id, SUM(amount) AS spend FROM paid GROUP BY user_id)
        SELECT d.email, p.spend
        FROM (SELECT user_id, LOWER(email) AS email FROM users) AS d
        JOIN per_user AS p ON p.user_id = d.user_id""", dialect)
    assert direct(r, "email") == {("users", "email", "transformation", False)}
    assert direct(r, "spend") == {("orders", "amount", "aggregation", False)}
    assert indirect(r, "spend") == {("users", "user_id", "join"), ("orders", "user_id", "join"),
                                    ("orders", "status", "filter"), ("orders", "user_id", "group_by")}


@pytest.mark.parametrize("dialect", PORTABLE)
def test_union_and_union_all(dialect):
    for op in ("UNION", "UNION ALL"):
        op = op.replace("UNION", "UNION DISTINCT") if dialect == "bigquery" and op == "UNION" else op
        r = lineage(f"SELECT email AS v FROM users WHERE country = 'DE' {op} SELECT status FROM orders", dialect)
        assert direct(r, "v") == {("users", "email", "identity", False), ("orders", "status", "identity", False)}
        assert indirect(r, "v") == {("users", "country", "filter")}


@pytest.mark.parametrize("dialect", PORTABLE)
def test_scalar_correlated_and_exists_subqueries(dialect):
    r = lineage("SELECT u.email, (SELECT MAX(o.amount) FROM orders o WHERE o.user_id = u.user_id) AS top "
                "FROM users u WHERE EXISTS (SELECT 1 FROM events e WHERE e.user_id = u.user_id AND e.kind = 'login') "
                "AND u.user_id IN (SELECT user_id FROM orders WHERE status = 'paid')", dialect)
    assert direct(r, "top") == {("orders", "amount", "aggregation", False)}
    assert ("orders", "user_id", "filter") in indirect(r, "top") and ("users", "user_id", "filter") in indirect(r, "top")
    assert direct(r, "email") == {("users", "email", "identity", False)}
    assert indirect(r, "email") == {("events", "user_id", "filter"), ("users", "user_id", "filter"),
                                    ("events", "kind", "filter"), ("orders", "user_id", "filter"),
                                    ("orders", "status", "filter")}


@pytest.mark.parametrize("dialect", PORTABLE)
def test_window_and_case(dialect):
    r = lineage("SELECT ROW_NUMBER() OVER (PARTITION BY country ORDER BY created_at) AS rn, "
                "SUM(user_id) OVER (PARTITION BY country) AS s, "
                "CASE WHEN country = 'DE' THEN email ELSE 'n/a' END AS contact FROM users", dialect)
    assert direct(r, "rn") == set()
    assert indirect(r, "rn") == {("users", "country", "window"), ("users", "created_at", "window")}
    assert direct(r, "s") == {("users", "user_id", "aggregation", False)}
    assert indirect(r, "s") == {("users", "country", "window")}
    assert direct(r, "contact") == {("users", "email", "transformation", False)}
    assert indirect(r, "contact") == {("users", "country", "conditional")}


@pytest.mark.parametrize("dialect", ["duckdb", "snowflake", "bigquery"])
def test_qualify(dialect):
    r = lineage("SELECT user_id, email FROM users QUALIFY ROW_NUMBER() OVER (PARTITION BY country ORDER BY created_at DESC) = 1", dialect)
    assert direct(r, "email") == {("users", "email", "identity", False)}
    assert indirect(r, "email") == {("users", "country", "filter"), ("users", "created_at", "filter")}


@pytest.mark.parametrize("dialect", ["duckdb", "postgres"])
def test_filter_clause(dialect):
    r = lineage("SELECT COUNT(*) FILTER (WHERE status = 'paid') AS paid, SUM(amount) FILTER (WHERE status = 'refund') AS refunds FROM orders", dialect)
    assert direct(r, "paid") == set() and indirect(r, "paid") == {("orders", "status", "filter")}
    assert direct(r, "refunds") == {("orders", "amount", "aggregation", False)}


@pytest.mark.parametrize("dialect", PORTABLE)
def test_star_qualified_star_and_using(dialect):
    r = lineage("SELECT * FROM users JOIN orders USING (user_id)", dialect)
    assert set(r.columns) == {"user_id", "email", "country", "created_at", "order_id", "amount", "status", "ordered_at"}
    assert direct(r, "user_id") == {("users", "user_id", "identity", False), ("orders", "user_id", "identity", False)}
    assert indirect(r, "email") == {("users", "user_id", "join"), ("orders", "user_id", "join")}
    r = lineage("SELECT o.*, u.email FROM orders o JOIN users u ON u.user_id = o.user_id", dialect)
    assert list(r.columns) == ["order_id", "user_id", "amount", "status", "ordered_at", "email"]


def test_star_exclude_duckdb_and_except_bigquery():
    r = lineage("SELECT * EXCLUDE (email, created_at) FROM users", "duckdb")
    assert list(r.columns) == ["user_id", "country"]
    r = lineage("SELECT * EXCEPT (email) FROM users", "bigquery")
    assert list(r.columns) == ["user_id", "country", "created_at"]


@pytest.mark.parametrize("dialect", PORTABLE)
def test_ctas_and_insert_map_to_target_columns(dialect):
    r = lineage("CREATE TABLE user_emails AS SELECT user_id AS id, email FROM users", dialect)
    assert r.target == "user_emails" and direct(r, "id") == {("users", "user_id", "identity", False)}
    r = lineage("INSERT INTO events (user_id, kind) SELECT user_id, status FROM orders", dialect)
    assert r.target == "events" and set(r.columns) == {"user_id", "kind"}
    assert direct(r, "kind") == {("orders", "status", "identity", False)}
    r = lineage("INSERT INTO events SELECT user_id, status, ordered_at FROM orders", dialect)  # columns from the schema
    assert direct(r, "ts") == {("orders", "ordered_at", "identity", False)}


def test_revealing_aggregates_are_flagged():
    r = lineage("SELECT MAX(email) AS m, COUNT(email) AS c FROM users")
    assert r.columns["m"].direct[0].reveals_values and not r.columns["c"].direct[0].reveals_values


def test_errors_name_the_problem():
    with pytest.raises(LineageError, match=r"line 1, column \d+"):
        lineage("SELECT email FROM users WHERE (")
    with pytest.raises(LineageError, match="unknown table 'ghosts'"):
        lineage("SELECT a FROM ghosts")
    with pytest.raises(LineageError, match="Column 'nope' could not be resolved"):
        column_lineage("SELECT nope FROM users", SCHEMA, strict_columns=True)
    with pytest.raises(LineageError, match="expected one SQL statement, got 2"):
        lineage("SELECT 1; SELECT 2")
    with pytest.raises(LineageError, match="no query to trace: a DELETE statement moves no data"):
        lineage("DELETE FROM users")


def test_table_dependencies_without_schema():
    assert table_dependencies("WITH x AS (SELECT * FROM users) SELECT * FROM x JOIN orders USING (user_id)") == ["orders", "users"]


@pytest.mark.parametrize("bench", ["tpch", "tpcds"])
def test_tpc_corpora_yield_lineage_for_every_output_column(bench):
    import sqlglot

    corpus = REPO / "benchmarks" / "corpus" / "tpc" / bench
    schema = json.loads((corpus / "schema.json").read_text())
    queries = sorted(corpus.glob("*.sql"))
    assert len(queries) in (22, 99)
    with_sources = total = 0
    for path in queries:
        sql = path.read_text()
        result = column_lineage(sql, schema, "duckdb")
        outputs = sqlglot.parse_one(sql, read="duckdb")
        while not isinstance(outputs, sqlglot.exp.Select):
            outputs = outputs.this if not isinstance(outputs, sqlglot.exp.SetOperation) else outputs.left
        if not any(isinstance(p, sqlglot.exp.Star) or p.find(sqlglot.exp.Star) for p in outputs.selects):
            assert len(result.columns) == len(outputs.selects), path.name
        total += len(result.columns)
        with_sources += sum(1 for c in result.columns.values() if c.direct or c.indirect)
        assert result.tables and set(result.tables) <= set(schema), path.name
    assert with_sources >= total - 2  # only literal columns (e.g. 'store' AS channel) have no source


def test_cli_contract(tmp_path):
    schema = tmp_path / "schema.json"
    schema.write_text(json.dumps({"users": {"email": "varchar", "user_id": "int"}}))
    code, out, err = run_dfg("lineage", "--sql", "SELECT SHA256(email) AS h FROM users WHERE user_id > 3",
                             "--schema", str(schema), "--dialect", "duckdb", "--json")
    assert code == 0, err
    assert json.loads(out) == {"columns": {"h": {
        "direct": [{"table": "users", "column": "email", "transformation": "transformation", "masking": True}],
        "indirect": [{"table": "users", "column": "user_id", "kind": "filter"}]}}, "tables": ["users"]}
    code, out, err = run_dfg("lineage", "--sql", "SELECT email FROM users WHERE (", "--schema", str(schema))
    assert code == 2 and "line 1, column" in err and "Traceback" not in err and len(err.strip().splitlines()) == 1
    code, out, err = run_dfg("lineage", "--sql", "SELECT phone FROM users", "--schema", str(schema))
    assert code == 0 and "warning:" in out and "'phone'" in out  # a partial schema: best effort, said
    code, out, err = run_dfg("lineage", "--sql", "SELECT phone FROM users", "--schema", str(schema), "--strict")
    assert code == 2 and "'phone'" in err and "Traceback" not in err


def test_cli_asset_and_impact(demo_project):
    manifest, _ = demo_project
    code, out, _ = run_dfg("lineage", "--asset", "revenue_by_country", "--json", project=manifest)
    payload = json.loads(out)
    assert code == 0 and payload["tables"] == ["orders", "users"]
    assert payload["columns"]["revenue"]["direct"] == [
        {"table": "orders", "column": "amount", "transformation": "aggregation", "masking": False}]
    assert payload["classification"]["country"]["anonymous"]
    code, out, _ = run_dfg("lineage", "--downstream", "tickets_clean.text", "--json", project=manifest)
    assert code == 0 and json.loads(out)["downstream"] == [
        {"asset": "ticket_classifier", "column": "*"},  # a Python asset: as a whole
        {"asset": "ticket_features", "column": "n_words"}, {"asset": "ticket_features", "column": "text"},
        {"asset": "ticket_training_set", "column": "text"}]
