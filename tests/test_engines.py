"""Engines are types registered by name: the core asks the engine, never which engine it is."""

import pytest

from dataflow_governance import ManifestError, load_project
from dataflow_governance import engines
from dataflow_governance.anonymize import update_statement
from dataflow_governance.engines.duckdb import DuckDBEngine
from dataflow_governance.keys import keyed_hash
from dataflow_governance.ledger import Ledger
from sqlglot import exp


class CountingEngine(DuckDBEngine):
    """A third-party engine: DuckDB underneath, registered under its own name, counting connections."""

    name = "counting"
    opened = 0

    def connect(self):
        CountingEngine.opened += 1
        return super().connect()


@pytest.fixture
def counting():
    engines.register("counting", CountingEngine)
    yield
    engines._REGISTRY.pop("counting")


def test_an_unknown_engine_in_the_manifest_names_the_registered_ones(tmp_path):
    (tmp_path / "dagster_project.yaml").write_text("warehouse: {kind: oracle}\n")
    with pytest.raises(ManifestError, match=r"unknown warehouse kind 'oracle'; engines: duckdb, postgres"):
        load_project(tmp_path / "dagster_project.yaml")


def test_a_registered_engine_serves_the_manifest_the_ledger_and_sql_hashing(tmp_path, counting):
    (tmp_path / "dagster_project.yaml").write_text("warehouse: {kind: counting, path: w.duckdb}\n")
    warehouse = load_project(tmp_path / "dagster_project.yaml").open_warehouse()
    assert isinstance(warehouse.engine, CountingEngine)
    before = CountingEngine.opened
    ledger = Ledger(warehouse)
    ledger.append("test", "engine.registered", "warehouse:counting", {"n": 1})
    assert ledger.verify().ok and ledger.verify(independent=True).ok
    assert CountingEngine.opened > before  # every connection went through the registered type

    warehouse.execute("CREATE TABLE people (email TEXT)")
    warehouse.execute("INSERT INTO people VALUES ('ada@example.com')")
    sql, params = update_statement(warehouse, "people", {"email": "hash"}, exp.true(), b"k" * 32)
    with warehouse.connect() as con:
        warehouse.engine.prepare_keyed_hash(con)
        assert warehouse.engine.affected_rows(con.execute(sql, params)) == 1
    assert warehouse.fetch("SELECT email FROM people") == [(keyed_hash(b"k" * 32, "ada@example.com"),)]
