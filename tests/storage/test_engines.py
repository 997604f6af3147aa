"""Engines are types registered by name: the core asks the engine, never which engine it is."""

import pytest

from conftest import dfg_json, run_dfg
from dataflow_governance import load_project
from dataflow_governance.storage import engines
from dataflow_governance.storage.anonymize import update_statement
from dataflow_governance.storage.engines.duckdb import DuckDBEngine
from dataflow_governance.crypto.hashing import keyed_hash
from dataflow_governance.ledger.chain import Ledger
from sqlglot import exp
from dataflow_governance import open_warehouse
from dataflow_governance.storage.warehouse import WarehouseError


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
    # The model declares the warehouse; storage opens it, and says which engines there are.
    with pytest.raises(WarehouseError, match=r"unknown warehouse kind 'oracle'; engines: duckdb, postgres"):
        open_warehouse(load_project(tmp_path / "dagster_project.yaml"))
    code, _out, err = run_dfg("check", project=tmp_path / "dagster_project.yaml")  # every command, before anything
    assert code == 2 and "unknown warehouse kind 'oracle'" in err


def test_a_registered_engine_serves_the_manifest_the_ledger_and_sql_hashing(tmp_path, counting):
    (tmp_path / "dagster_project.yaml").write_text("warehouse: {kind: counting, path: w.duckdb}\n")
    warehouse = open_warehouse(load_project(tmp_path / "dagster_project.yaml"))
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


def test_an_installed_engine_is_found_through_its_entry_point(tmp_path):
    """A separately installed package declares `dataflow_governance.engines = acme = module:Class`."""
    site = tmp_path / "site"
    (site / "acme_engine-0.1.dist-info").mkdir(parents=True)
    (site / "acme_engine-0.1.dist-info" / "METADATA").write_text("Metadata-Version: 2.1\nName: acme-engine\nVersion: 0.1\n")
    (site / "acme_engine-0.1.dist-info" / "entry_points.txt").write_text(
        "[dataflow_governance.engines]\nacme = acme_engine:AcmeEngine\n")
    (site / "acme_engine.py").write_text(
        "from dataflow_governance.engines.duckdb import DuckDBEngine\n\n"
        "class AcmeEngine(DuckDBEngine):\n    name = 'acme'\n\n"
        "    def describe(self):\n        return 'acme:' + super().describe()\n")
    (tmp_path / "dagster_project.yaml").write_text("warehouse: {kind: acme, path: w.duckdb}\n")
    code, status, err = dfg_json("local", "status", project=tmp_path / "dagster_project.yaml",
                                 env={"PYTHONPATH": str(site)})
    assert code == 0, err
    assert status["warehouse"] == f"acme:{tmp_path / '.dfg' / 'w.duckdb'}"
    code, out, err = run_dfg("audit", "verify", project=tmp_path / "dagster_project.yaml", env={"PYTHONPATH": str(site)})
    assert code == 0 and "0 entries verified" in out, err


def test_a_session_lets_go_of_the_file_while_it_is_rewritten_and_writes_to_the_new_one(tmp_path):
    import os
    from pathlib import Path

    from dataflow_governance.storage.reclaim import reclaim_storage
    from dataflow_governance.storage.warehouse import Warehouse

    warehouse = Warehouse(kind="duckdb", path=str(tmp_path / "w.duckdb"))
    warehouse.execute("CREATE TABLE t (id INTEGER, email TEXT)")
    warehouse.execute("INSERT INTO t SELECT i, 'person' || i || '@example.com' FROM range(1000) r(i)")
    with warehouse.session():
        before = os.stat(warehouse.path).st_ino
        warehouse.execute("DELETE FROM t WHERE id < 500")
        reclaim_storage(warehouse, ["t"])
        assert os.stat(warehouse.path).st_ino != before  # the file was replaced under the session
        warehouse.execute("INSERT INTO t VALUES (9999, 'late@example.com')")  # and the session uses the new one
    assert warehouse.fetch("SELECT count(*), min(id) FROM t") == [(501, 500)]
    assert b"person1@example.com" not in Path(warehouse.path).read_bytes()
