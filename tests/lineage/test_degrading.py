"""Lineage that degrades instead of failing (the corpus in corpus/degrading.yaml), a property test
that catches any column pinned on another's source, and what a partial schema means for a project."""

import itertools
import random
from pathlib import Path

import pytest
import yaml

from dataflow_governance.errors import LineageError
from dataflow_governance.lineage.graph import SqlDefinition, build_column_graph
from dataflow_governance.lineage.scripts import script_lineage
from dataflow_governance.lineage.sql import column_lineage, table_dependencies
from dataflow_governance.model.spec import build_governance

CORPUS = yaml.safe_load((Path(__file__).parent / "corpus" / "degrading.yaml").read_text())


@pytest.mark.parametrize("case", CORPUS, ids=[c["name"] for c in CORPUS])
def test_the_degrading_corpus(case):
    result = column_lineage(case["sql"], case.get("schema"), case["dialect"])
    assert set(result.columns) == set(case["expect"]), result.columns
    for column, expected in case["expect"].items():
        got = result.columns[column]
        assert sorted(f"{d.table}.{d.column}" for d in got.direct) == sorted(expected["direct"]), column
        if "indirect" in expected:
            assert sorted(f"{i.table}.{i.column}:{i.kind}" for i in got.indirect) == sorted(expected["indirect"]), column
        assert sorted(f"{t}.{c}" for t, c in got.unverified) == sorted(expected.get("unverified", [])), column
        assert sorted(a.column for a in got.ambiguous) == sorted(expected.get("ambiguous", [])), column
    assert bool(result.warnings) == case.get("warns", False), result.warnings


def test_a_typod_table_is_still_an_error_and_strict_columns_refuse_a_partial_schema():
    schema = {"users": {"id": "int"}}
    with pytest.raises(LineageError, match="unknown table 'userz'"):
        column_lineage("SELECT id, nickname FROM userz", schema)
    with pytest.raises(LineageError, match="could not be resolved"):
        column_lineage("SELECT id, nickname FROM users", schema, strict_columns=True)


def test_create_table_without_a_query_declares_columns_for_the_statements_after_it():
    script = script_lineage("CREATE TABLE t (p INT, q INT); INSERT INTO t SELECT b, a FROM s; "
                            "CREATE TABLE u AS SELECT q FROM t")
    assert not script.skipped
    assert [(d.table, d.column) for d in script.end_to_end["u"]["q"].direct] == [("s", "a")]  # by position, then on
    assert table_dependencies("CREATE TABLE t (id INT)") == []


def test_bigquery_dependencies_name_logical_tables():
    sql = "SELECT e.user_id FROM `p.ds.events_20240229` e JOIN `p.ds.users$20240101` u USING (user_id)"
    assert table_dependencies(sql, "bigquery") == ["p.ds.events_yyyymmdd", "p.ds.users"]


DIALECTS = ["duckdb", "postgres", "snowflake", "bigquery", "spark", "trino"]


@pytest.mark.parametrize("dialect", DIALECTS)
def test_no_output_column_is_ever_pinned_on_another_columns_source(dialect):
    """Every output is named after the one source column it copies (`b_3` ← b.b_3): across
    parenthesised bodies, CTEs, joins, unions, INSERT column lists and a target the schema already
    knows in another order, any swap of sources between columns fails here."""
    rng = random.Random(f"swap-{dialect}")
    a_columns, b_columns = [f"a_{i}" for i in range(5)], [f"b_{i}" for i in range(5)]
    schema = {"a": {c: "int" for c in [*a_columns, "k"]}, "b": {c: "int" for c in [*b_columns, "k"]}}
    for trial in range(40):
        picked = rng.sample([*(("a", c) for c in a_columns), *(("b", c) for c in b_columns)], rng.randint(2, 7))
        select = ", ".join(f"{t}.{c}" for t, c in picked)
        body = f"SELECT {select} FROM a JOIN b ON a.k = b.k"
        shapes = [
            f"CREATE TABLE t AS ({body})",
            f"CREATE TABLE t AS (({body}))",
            f"CREATE TABLE t AS {body}",
            f"CREATE TABLE t AS (WITH w AS ({body}) SELECT {', '.join(c for _t, c in picked)} FROM w)",
            f"CREATE TABLE t AS (SELECT * FROM ({body}) AS s)",
        ]
        known_target = {"t": {c: "int" for _t, c in rng.sample(picked, len(picked))}}  # the same names, shuffled
        for sql, with_target in itertools.product(shapes, (False, True)):
            lineage = column_lineage(sql, {**schema, **(known_target if with_target else {})}, dialect)
            for name, column in lineage.columns.items():
                table = name.split("_")[0]
                assert [(d.table, d.column) for d in column.direct] == [(table, name)], (trial, sql, with_target, name)
        # An INSERT fills by position: named columns, or the target's own order.
        targets = [f"t_{i}" for i in range(len(picked))]
        rng.shuffle(targets)
        insert = column_lineage(f"INSERT INTO t ({', '.join(targets)}) ({body})", schema, dialect)
        assert {n: [(d.table, d.column) for d in c.direct] for n, c in insert.columns.items()} == {
            target: [source] for target, source in zip(targets, picked)}


def test_a_project_asset_reading_an_undeclared_column_keeps_its_lineage_marked_unverified():
    users = build_governance("users", {"legal_basis": "contract", "columns": {
        "id": {"type": "int", "categories": ["user.unique_id"], "identity": True},
        "email": {"type": "varchar", "categories": ["user.contact.email"]}}})
    sql = SqlDefinition("contacts", "SELECT id, email, nickname FROM users")
    graph = build_column_graph({"users": users}, [sql], {"contacts": frozenset({"users"})})
    assert "contacts" not in graph.errors  # one undeclared column no longer loses the whole asset
    lineage = graph.lineage["contacts"]
    assert lineage.columns["nickname"].unverified == (("users", "nickname"),) and lineage.warnings
    assert graph.class_of("contacts", "email").personal  # the rest is classified as before
    typo = build_column_graph({"users": users}, [SqlDefinition("contacts", "SELECT id FROM userz")],
                              {"contacts": frozenset()})
    assert "unknown table 'userz'" in typo.errors["contacts"]  # a typo'd table is never guessed
