"""Lineage on real-world SQL: no schema, every statement shape that moves data, scripts."""

import json

import pytest

from conftest import run_dfg
from dataflow_governance.lineage.sql import LineageError, column_lineage
from dataflow_governance.lineage.scripts import script_lineage


def sources(result, column):
    return {(d.table, d.column) for d in result.columns[column].direct}


def influences(result, column):
    return {(i.table, i.column, i.kind) for i in result.columns[column].indirect}


@pytest.mark.parametrize("sql", ["SELECT col1 FROM t WHERE col1 = 1", "SELECT col1 FROM t GROUP BY col1",
                                 "SELECT col1 FROM t ORDER BY col1", "SELECT cast(CASE WHEN col1 > 0 THEN col2 END AS int) AS col1 FROM t"])
def test_no_schema_binds_a_single_source_and_never_recurses(sql):
    result = column_lineage(sql)
    assert ("t", "col1") in sources(result, "col1") or ("t", "col2") in sources(result, "col1")


def test_no_schema_names_ambiguity_instead_of_dropping_it():
    result = column_lineage("INSERT INTO tab1 SELECT col1, t.col2 FROM t JOIN u ON t.id = u.id")
    assert sources(result, "col1") == set()
    assert [a.to_dict() for a in result.columns["col1"].ambiguous] == [{"column": "col1", "candidates": ["t", "u"]}]
    assert sources(result, "col2") == {("t", "col2")}
    # A derived table that does not output the column settles it.
    result = column_lineage("SELECT name FROM sales s JOIN (SELECT id FROM ids) i ON s.id = i.id")
    assert sources(result, "name") == {("sales", "name")} and not result.columns["name"].ambiguous


def test_star_without_schema_is_table_level():
    result = column_lineage("INSERT INTO tab1 SELECT * FROM tab2")
    assert result.target == "tab1" and sources(result, "*") == {("tab2", "*")}
    result = column_lineage("SELECT * FROM (SELECT * FROM a JOIN b ON a.id = b.id) x")
    assert sources(result, "*") == {("a", "*"), ("b", "*")}


@pytest.mark.parametrize("sql, target", [
    ("WITH x AS (SELECT a FROM s) INSERT INTO t SELECT a FROM x", "t"),
    ("INSERT INTO t (SELECT a FROM s)", "t"),
    ("CREATE VIEW v (a) AS (SELECT b FROM s)", "v"),
    ("CREATE TABLE t AS (WITH c AS (SELECT a FROM s) SELECT a FROM c)", "t"),
    ("INSERT OVERWRITE TABLE t SELECT a FROM s", "t"),
])
def test_statement_shapes(sql, target):
    result = column_lineage(sql, dialect="spark" if "OVERWRITE" in sql else None)
    assert result.target == target
    column = next(iter(result.columns))
    assert sources(result, column) == {("s", "b" if "VIEW" in sql else "a")}
    assert "x" not in result.tables and "c" not in result.tables  # a CTE is no table


def test_update_from_and_merge():
    update = column_lineage("UPDATE dim SET email = s.email, seen = now() FROM staging s WHERE dim.id = s.id",
                            {"dim": {"id": "int", "email": "text", "seen": "timestamp"},
                             "staging": {"id": "int", "email": "text"}})
    assert update.kind == "update" and update.target == "dim"
    assert sources(update, "email") == {("staging", "email")} and sources(update, "seen") == set()
    assert ("staging", "id", "filter") in influences(update, "email")
    merge = column_lineage("""MERGE INTO dim d USING staging s ON d.id = s.id
        WHEN MATCHED AND s.deleted THEN DELETE
        WHEN MATCHED THEN UPDATE SET email = s.email
        WHEN NOT MATCHED AND s.active THEN INSERT (id, email) VALUES (s.id, lower(s.email))""")
    assert merge.kind == "merge" and merge.deletes and merge.target == "dim"
    assert sources(merge, "email") == {("staging", "email")}
    assert {("staging", "id", "join"), ("dim", "id", "join"), ("staging", "active", "conditional")} <= influences(merge, "email")


def test_partial_schema_is_a_warning_unless_strict():
    schema = {"t": {"a": "int"}}
    result = column_lineage("SELECT a, zz FROM t", schema, strict=False)
    assert sources(result, "zz") == {("t", "zz")} and result.warnings
    with pytest.raises(LineageError, match="could not be resolved"):
        column_lineage("SELECT a, zz FROM t", schema, strict_columns=True)


def test_unaliased_expressions_are_named_by_their_sql():
    result = column_lineage("SELECT max(col1), col2 + 1, col3 FROM t")
    assert list(result.columns) == ["MAX(col1)", "col2 + 1", "col3"]


def test_a_script_traces_across_temp_tables_and_procedures():
    script = script_lineage("""
        CREATE TEMP TABLE recent AS SELECT user_id, email FROM users WHERE created_at > '2026-01-01';
        DROP TABLE IF EXISTS report;
        CREATE TABLE report AS SELECT r.*, o.total FROM recent r JOIN orders o ON o.user_id = r.user_id;
        INSERT INTO archive SELECT email FROM report;""")
    assert [s.target for s in script.statements] == ["recent", "report", "archive"]
    assert script.numbers == (1, 3, 4) and "statement 2" in script.skipped[0]
    report = script.statements[1]
    assert set(report.columns) == {"user_id", "email", "total"}  # the temp table's star, expanded
    assert {(d.table, d.column) for d in script.end_to_end["archive"]["email"].direct} == {("users", "email")}
    procedure = script_lineage("""CREATE PROCEDURE load() AS BEGIN
        INSERT INTO t2 (c) SELECT c FROM t1;
        INSERT INTO t3 (c) SELECT c FROM t2;
        END""", dialect="tsql")
    assert {(d.table, d.column) for d in procedure.end_to_end["t3"]["c"].direct} == {("t1", "c")}


def test_cli_script_mode_and_strict(tmp_path):
    script = tmp_path / "etl.sql"
    script.write_text("CREATE TABLE a AS SELECT x FROM src;\nINSERT INTO b SELECT x AS y FROM a;")
    code, out, err = run_dfg("lineage", "--file", str(script), "--json")
    assert code == 0, err
    payload = json.loads(out)
    assert [s["statement"] for s in payload["statements"]] == [1, 2]
    assert payload["end_to_end"]["b"]["y"]["direct"][0] == {"table": "src", "column": "x", "transformation": "identity",
                                                           "masking": False}
    schema = tmp_path / "schema.json"
    schema.write_text(json.dumps({"t": {"a": "int"}}))
    code, out, _ = run_dfg("lineage", "--sql", "SELECT a, zz FROM t", "--schema", str(schema))
    assert code == 0 and "warning:" in out
    code, _out, err = run_dfg("lineage", "--sql", "SELECT a, zz FROM t", "--schema", str(schema), "--strict")
    assert code == 2 and "zz" in err and "Traceback" not in err


def test_the_example_merge_asset_carries_lineage_propagation_and_erasure(demo_project):
    from conftest import dfg_json

    manifest, summary = demo_project
    assert summary["materialized"] == summary["assets"]
    code, lineage, err = dfg_json("lineage", "--asset", "customer_dim", project=manifest)
    assert code == 0, err
    assert lineage["columns"]["email"]["direct"][0]["table"] == "users"
    assert lineage["classification"]["lifetime_value"]["categories"] == ["user.behavior.purchase_history"]
    assert {"table": "orders", "column": "amount", "transformation": "aggregation", "masking": False} in \
        lineage["columns"]["lifetime_value"]["direct"]
    code, plan, err = dfg_json("erase", "--subject-id", "12", "--dry-run", project=manifest)
    assert code == 0, err
    assert {t["target"]: t["count"] for t in plan["targets"]}["customer_dim"] == 1


def test_struct_fields_are_column_paths_and_classed_as_their_column():
    from dataflow_governance.lineage.graph import SqlDefinition, build_column_graph
    from dataflow_governance.model.spec import build_governance

    result = column_lineage("SELECT w.address.city AS city, w.address AS a FROM widgets w",
                            {"widgets": {"address": "STRUCT(city TEXT, zip TEXT)"}}, "duckdb")
    assert sources(result, "city") == {("widgets", "address.city")}
    assert sources(result, "a") == {("widgets", "address")}
    widgets = build_governance("widgets", {"legal_basis": "contract", "storage": {"kind": "warehouse", "table": "widgets"},
                                           "columns": {"address": {"type": "STRUCT(city TEXT, zip TEXT)",
                                                                   "categories": ["user.contact.address"]}}})
    graph = build_column_graph({"widgets": widgets}, [SqlDefinition("cities", "SELECT w.address.city AS city FROM widgets w",
                                                                    "duckdb")], {"cities": ["widgets"]})
    assert "user.contact.address" in graph.columns_of("cities")["city"].categories


@pytest.mark.parametrize("sql, dialect, column, source", [
    ("SELECT t.id, l.x FROM t, LATERAL (SELECT t.a + 1 AS x) l", "postgres", "x", ("t", "a")),
    ("SELECT t.id, u.tag FROM t CROSS JOIN UNNEST(t.tags) AS u(tag)", "postgres", "tag", ("t", "tags")),
    ("SELECT id, tag FROM t, UNNEST(tags) AS tag", "bigquery", "tag", ("t", "tags")),
    ("SELECT t.id, e.value FROM t, LATERAL FLATTEN(input => t.items) e", "snowflake", "value", ("t", "items")),
    ("SELECT id, x FROM t LATERAL VIEW explode(arr) v AS x", "spark", "x", ("t", "arr")),
])
def test_lateral_unnest_and_table_functions_over_columns(sql, dialect, column, source):
    result = column_lineage(sql, dialect=dialect)
    assert sources(result, column) == {source}
    assert sources(result, "id") == {("t", "id")}
