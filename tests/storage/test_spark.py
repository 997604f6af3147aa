"""The Spark engine on a real Spark Connect server: DELETE and UPDATE as atomic, resumable table
rewrites; bound values; Spark's own HMAC; the ledger in the project's store, not in Spark."""

import pandas as pd
import pytest
from sqlglot import exp

from conftest import make_warehouse
from dataflow_governance import load_project
from dataflow_governance.storage.engines.spark import SparkConnection, staging_table
from dataflow_governance.crypto.hashing import keyed_hash
from dataflow_governance.ledger.chain import Ledger
from dataflow_governance.model.manifest import ManifestError
from dataflow_governance.storage.warehouse import WarehouseError, table_expr
from dataflow_governance import open_warehouse

PEOPLE = pd.DataFrame({"user_id": [1, 2, 3, 4], "email": ["a@example.com", "b@example.com", None, "d@example.com"],
                       "country": ["DE", "FR", "DE", "IT"]})


@pytest.fixture
def spark(request, tmp_path):
    warehouse = make_warehouse("spark", request, tmp_path)
    warehouse.replace_table("people", PEOPLE)
    return warehouse


def delete(warehouse, where: exp.Expression, params: list) -> int:
    with warehouse.connect() as con:
        return warehouse.engine.affected_rows(con.execute(warehouse.render_bound(exp.delete(table_expr("people"), where=where)), params))


def user_is() -> exp.Expression:
    return exp.column("user_id").eq(exp.Placeholder())


def ids(warehouse) -> list[int]:
    return sorted(int(v) for v in warehouse.read_table("people")["user_id"])


def test_delete_and_update_rewrite_the_table_and_count_what_they_changed(spark):
    assert delete(spark, user_is(), [2]) == 1
    assert ids(spark) == [1, 3, 4]
    assert delete(spark, user_is(), [99]) == 0  # nothing matches: no rewrite at all
    # A NULL condition is not a match: the row with no email stays.
    assert delete(spark, exp.column("email").like(exp.Placeholder()), ["a@%"]) == 1 and ids(spark) == [3, 4]
    with spark.connect() as con:
        update = exp.update(table_expr("people"), {"email": exp.null()}, where=exp.column("country").eq(exp.Placeholder()))
        assert spark.engine.affected_rows(con.execute(spark.render_bound(update), ["IT"])) == 1
    frame = spark.read_table("people").set_index("user_id")
    assert frame["email"].isna().all() and list(frame.columns) == ["email", "country"]
    assert not spark.table_exists("people" + "__dfg_rewrite")


def test_a_hostile_value_is_bound_and_erases_nobody(spark):
    for hostile in ["1 OR 1=1", "2; DROP TABLE people", "' OR '1'='1", "?"]:
        assert delete(spark, exp.cast(exp.column("user_id"), "STRING").eq(exp.Placeholder()), [hostile]) == 0
    assert ids(spark) == [1, 2, 3, 4]


def test_a_rewrite_interrupted_after_staging_is_finished_by_the_next_statement(spark, monkeypatch):
    real = SparkConnection.overwrite_from

    def crash(self, *args):
        raise KeyboardInterrupt("killed between the staging table and the overwrite")

    monkeypatch.setattr(SparkConnection, "overwrite_from", crash)
    with pytest.raises(KeyboardInterrupt):
        delete(spark, user_is(), [1])
    assert ids(spark) == [1, 2, 3, 4]  # the table is untouched …
    assert spark.table_exists("people__dfg_rewrite")  # … and the complete staging table holds the intent
    monkeypatch.setattr(SparkConnection, "overwrite_from", real)
    # Rows appended now come after the interrupted rewrite (which finishing it later would drop) …
    spark.append_rows("people", pd.DataFrame({"user_id": [5], "email": ["e@example.com"], "country": ["DE"]}))
    assert ids(spark) == [2, 3, 4, 5]
    spark.execute("INSERT INTO people VALUES (6, NULL, 'FR')")
    # … and the next statement on the table does its own change.
    assert delete(spark, user_is(), [4]) == 1
    assert ids(spark) == [2, 3, 5, 6]
    assert not spark.table_exists("people__dfg_rewrite")


def test_new_contents_supersede_an_interrupted_rewrite(spark, monkeypatch):
    monkeypatch.setattr(SparkConnection, "overwrite_from", lambda self, *args: (_ for _ in ()).throw(KeyboardInterrupt()))
    with pytest.raises(KeyboardInterrupt):
        delete(spark, user_is(), [1])
    monkeypatch.undo()
    spark.replace_table("people", PEOPLE.head(2))  # a materialization replaces the table
    assert delete(spark, user_is(), [99]) == 0 and ids(spark) == [1, 2]


def test_an_incomplete_staging_table_is_dropped_and_the_table_kept(spark):
    staging = staging_table(table_expr("people", spark.schema))
    with spark.connect() as con:  # what a kill during CREATE TABLE … AS SELECT leaves
        con.run(f"CREATE TABLE {spark.render(staging)} USING parquet AS SELECT * FROM people WHERE user_id = 3")
    assert delete(spark, user_is(), [2]) == 1
    assert ids(spark) == [1, 3, 4] and not spark.table_exists("people__dfg_rewrite")


def test_keyed_hash_in_spark_is_the_projects_keyed_hash(spark):
    key = b"k" * 40
    query = exp.select(spark.engine.keyed_hash(exp.column("email"))).from_("people").where(exp.column("user_id").eq(1))
    with spark.connect() as con:
        (digest,) = con.execute(spark.render_bound(query), spark.engine.keyed_hash_parameters(key)).fetchone()
    assert digest == keyed_hash(key, "a@example.com")


def test_the_ledger_lives_in_the_projects_store_not_in_spark(spark):
    ledger = Ledger(spark)
    ledger.append("test", "sweep.run", "asset:people", {"rows": 1})
    assert ledger.warehouse.kind == "duckdb" and ledger.verify().ok
    assert not spark.table_exists("governance_ledger")
    assert spark.schema_tables(spark.schema) == [f"{spark.schema}.people"]


def test_a_spark_warehouse_in_the_manifest(tmp_path):
    manifest = tmp_path / "dagster_project.yaml"
    manifest.write_text("project: p\nwarehouse: {kind: spark, remote: 'sc://spark.internal:15002/;token=secret'}\n")
    warehouse = open_warehouse(load_project(manifest))
    assert warehouse.kind == "spark" and warehouse.dsn.startswith("sc://spark.internal:15002")
    assert "secret" not in warehouse.describe() and warehouse.governance_store.path.endswith("governance.duckdb")
    manifest.write_text("project: p\nwarehouse: {kind: spark, remote: 'http://spark.internal'}\n")
    with pytest.raises(WarehouseError, match="Spark Connect URL"):  # (the engine checks its own settings)
        open_warehouse(load_project(manifest))
    manifest.write_text("project: p\nwarehouse: {kind: duckdb, remote: 'sc://x:1'}\n")
    with pytest.raises(ManifestError, match="remote.*for kind spark"):
        load_project(manifest)


def test_an_unreachable_server_is_a_clear_error(tmp_path):
    from dataflow_governance import Warehouse

    warehouse = Warehouse(kind="spark", dsn="sc://127.0.0.1:1", store_path=str(tmp_path / "s.duckdb"))
    with pytest.raises(WarehouseError, match="Spark at sc://127.0.0.1:1"):
        warehouse.fetch("SELECT 1")


MERGE = """
MERGE INTO dim AS d USING (SELECT user_id, email, country FROM people) AS s ON d.user_id = s.user_id
WHEN MATCHED AND s.country = 'IT' THEN DELETE
WHEN MATCHED THEN UPDATE SET email = s.email, seen = d.seen + 1
WHEN NOT MATCHED AND s.country <> 'FR' THEN INSERT (user_id, email, seen) VALUES (s.user_id, s.email, 1)
"""


def test_a_merge_leaves_the_rows_it_leaves_on_duckdb(spark, tmp_path):
    """The same MERGE (written for DuckDB, as the example's incremental models are) on Spark's
    rewrite and on DuckDB's own MERGE: the same rows."""
    from dataflow_governance import Warehouse

    duck = Warehouse(kind="duckdb", path=str(tmp_path / "w.duckdb"))
    dim = pd.DataFrame({"user_id": [1, 4, 9], "email": ["old@example.com", "x@example.com", "gone@example.com"],
                        "seen": [1, 5, 2]})
    results = []
    for warehouse in (duck, spark):
        warehouse.replace_table("people", PEOPLE)
        warehouse.replace_table("dim", dim)
        warehouse.run_statement(MERGE, read_dialect="duckdb")
        frame = warehouse.read_table("dim").sort_values("user_id").reset_index(drop=True)
        results.append([(int(r.user_id), r.email if isinstance(r.email, str) else None, int(r.seen)) for r in frame.itertuples()])
    assert results[0] == results[1] == [(1, "a@example.com", 2), (3, None, 1), (9, "gone@example.com", 2)]


def test_the_example_runs_on_spark_and_a_killed_erasure_resumes_to_verified(tmp_path, spark_remote, spark_home,
                                                                           spark_schema):
    """The whole deep water project on the Spark server, a subject's access export, then `dfg
    erase` killed -9 in the middle of a table rewrite, then run again: verified, nothing lost, no
    staging table left."""
    import os
    import signal
    import subprocess
    import sys
    import time

    from conftest import copy_project, dfg_json
    from dataflow_governance import Warehouse

    manifest = copy_project(tmp_path / "spark_project")
    env = {"DFG_SPARK_REMOTE": spark_remote, "DFG_WAREHOUSE_SCHEMA": spark_schema}
    try:
        code, summary, err = dfg_json("demo", project=manifest, env=env)
        assert code == 0, err[-3000:]
        assert summary["materialized"] == summary["assets"] and summary["checks_failed"] == 0
        assert summary["findings"] == 0 and summary["warehouse"] == spark_remote
        warehouse = Warehouse(kind="spark", dsn=spark_remote, schema=spark_schema)
        users = warehouse.row_count("users")
        assert users == 500 and not warehouse.table_exists("governance_ledger")
        email = warehouse.fetch("SELECT email FROM users WHERE user_id = 12")[0][0]
        code, export, err = dfg_json("access", "--subject-id", "12", project=manifest, env=env)
        assert code == 0, err[-3000:]
        assert export["assets"]["users"]["records"][0]["email"] == email
        assert len(export["assets"]["tickets"]["records"]) == len(export["assets"]["tickets_clean"]["records"])

        tables = spark_home / "tables" / f"{spark_schema}.db"
        child = subprocess.Popen([sys.executable, "-m", "dataflow_governance.cli", "--project", str(manifest),
                                  "erase", "--subject-id", "12", "--now"], env={**os.environ, **env},
                                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline, killed = time.monotonic() + 180, False
        while child.poll() is None and time.monotonic() < deadline:
            if any(p.name.endswith("__dfg_rewrite") for p in tables.iterdir()):
                child.send_signal(signal.SIGKILL)
                killed = True
                break
            time.sleep(0.01)
        child.wait()
        assert killed, "the erasure finished before a rewrite began"

        code, result, err = dfg_json("erase", "--subject-id", "12", "--now", project=manifest, env=env)
        assert code == 0, err[-3000:]
        assert result["status"] == "verified" and all(t["verified"] or t["outcome"] == "outstanding"
                                                  for t in result["targets"])
        assert warehouse.row_count("users") == users - 1
        assert warehouse.fetch("SELECT count(*) FROM users WHERE user_id = 12")[0][0] == 0
        assert not any(p.name.endswith("__dfg_rewrite") for p in tables.iterdir())
    finally:
        dfg_json("local", "stop", project=manifest)


def test_without_a_remote_the_project_runs_its_own_spark_server_and_stops_it(tmp_path):
    from conftest import dfg_json, project_servers

    manifest = tmp_path / "dagster_project.yaml"
    manifest.write_text("project: p\nwarehouse: {kind: spark, schema: local_mode}\n")
    project = load_project(manifest)
    warehouse = open_warehouse(project)
    assert warehouse.path == str(project.state_dir / "spark")
    warehouse.replace_table("people", PEOPLE)
    assert delete(warehouse, user_is(), [3]) == 1 and ids(warehouse) == [1, 2, 4]
    code, status, _ = dfg_json("local", "status", project=manifest)
    assert code == 0 and status["spark_local_running"] is True
    code, stopped, _ = dfg_json("local", "stop", project=manifest)
    assert code == 0 and stopped["spark_stopped"] is True
    assert project_servers(tmp_path) == []
    # Its tables and catalog persist: a new server (started on demand) has the table as it was.
    again = open_warehouse(load_project(manifest))
    assert ids(again) == [1, 2, 4]
    dfg_json("local", "stop", project=manifest)
