"""dbt models as governed assets: governance from schema.yml, lineage from dbt's compiled SQL (the
same as the SQL written by hand as a sql_asset), and materialization, erasure and sweeps on them."""

import shutil

import dagster as dg
import pytest

from conftest import copy_demo, copy_project, dfg_json, run_dfg
from dataflow_governance import Warehouse, load_project
from dataflow_governance.dagster_ext import project_resources, read_governance, sql_asset
from dataflow_governance.dagster_ext.dbt import DbtProjectError, governed_dbt_assets, lineage_sql
from dataflow_governance.dagster_ext.definitions import all_specs, sql_definitions
from dataflow_governance.dagster_ext.sql_assets import SQL_KEY
from dataflow_governance.lineage.graph import build_column_graph
from dataflow_governance.model.spec import GovernanceError
from dataflow_governance import open_warehouse

# The example's two dbt models, written by hand as a sql_asset would be.
BY_HAND = {
    "order_facts": """
        SELECT o.order_id, o.user_id, u.country, o.amount, o.currency, o.ordered_at
        FROM orders AS o JOIN users AS u ON u.user_id = o.user_id""",
    "monthly_revenue": """
        SELECT date_trunc('month', ordered_at) AS month, country, currency, sum(amount) AS revenue, count(*) AS orders
        FROM order_facts GROUP BY 1, 2, 3""",
}


@pytest.fixture(scope="module")
def example(tmp_path_factory):
    manifest = copy_project(tmp_path_factory.mktemp("dbt_example"))
    project = load_project(manifest)
    assets = governed_dbt_assets(project, manifest.parent / "assets" / "dbt")
    return manifest, project, {s.key.to_user_string(): s for s in assets.specs}


def test_governance_comes_from_schema_yml_and_the_manifest_defaults(example):
    _manifest, _project, specs = example
    assert set(specs) == {"order_facts", "monthly_revenue"}
    governance = read_governance(specs.values())
    facts = governance["order_facts"]
    assert facts.legal_basis == "contract" and facts.owner == "team:finance"
    assert facts.retention.keep == "2 years" and facts.retention.timestamp_column == "ordered_at"
    assert facts.columns["user_id"].identity and facts.columns["user_id"].type == "bigint"
    assert facts.columns["country"].categories == ("user.contact.address.country",)
    assert facts.region == "eu-central-1" and facts.data_subjects == ("customer",)  # the manifest's defaults
    assert facts.storage.kind == "warehouse" and facts.storage.table == "order_facts"
    assert governance["monthly_revenue"].pii_free
    # Visible in Dagster like every governed asset: tags, owners, the model's own description.
    assert specs["order_facts"].tags["pii"] == "true" and specs["order_facts"].owners == ["team:finance"]
    assert "Orders with their customer's country" in specs["order_facts"].description
    assert {d.asset_key.to_user_string() for d in specs["order_facts"].deps} == {"orders", "users"}
    assert {d.asset_key.to_user_string() for d in specs["monthly_revenue"].deps} == {"order_facts"}


def test_compiled_sql_names_the_same_tables_as_every_other_asset(example):
    _manifest, _project, specs = example
    sql = specs["order_facts"].metadata[SQL_KEY]
    assert "orders" in sql and '"main"' not in sql and "scratch" not in sql
    assert lineage_sql('select a from "db"."main"."t" join "raw"."s" using (a)', "duckdb", "main") \
        .replace("\n", " ").split() == ["SELECT", "a", "FROM", '"t"', "JOIN", '"raw"."s"', "USING", "(a)"]


def test_dbt_lineage_matches_the_same_sql_written_as_a_sql_asset(example):
    manifest, _project, _specs = example
    code, _out, err = run_dfg("catalog", "build", project=manifest)
    assert code == 0, err
    from dataflow_governance.catalog.artifact import read

    built = read(load_project(manifest).paths.catalog)
    by_hand = sql_definitions(all_specs([sql_asset(name, sql=sql) for name, sql in BY_HAND.items()]))
    others = [d for a, d in built.graph.sql.items() if a not in BY_HAND]
    hand_graph = build_column_graph(built.governance, [*others, *by_hand], built.upstream)
    for asset in BY_HAND:
        dbt_lineage, hand = built.graph.lineage[asset], hand_graph.lineage[asset]
        assert dbt_lineage.columns == hand.columns, asset
        for column in dbt_lineage.columns:
            dbt_class, hand_class = built.graph.classes[(asset, column)], hand_graph.classes[(asset, column)]
            assert (dbt_class.categories, dbt_class.personal, dbt_class.anonymous) == \
                   (hand_class.categories, hand_class.personal, hand_class.anonymous), (asset, column)
    assert built.graph.classes[("order_facts", "country")].categories == {"user.contact.address.country"}
    assert not built.graph.classes[("monthly_revenue", "revenue")].personal
    # Impact analysis reaches into dbt models.
    code, impact, _err = dfg_json("lineage", "--downstream", "users.country", project=manifest)
    assert {"asset": "order_facts", "column": "country"} in impact["downstream"]
    assert {"asset": "monthly_revenue", "column": "country"} in impact["downstream"]


def test_bad_governance_in_schema_yml_names_the_dbt_file(example, tmp_path):
    _manifest, project, _specs = example
    dbt_dir = tmp_path / "dbt"
    shutil.copytree(project.root / "assets" / "dbt", dbt_dir, ignore=shutil.ignore_patterns("target", "logs"))
    schema = dbt_dir / "models" / "schema.yml"
    schema.write_text(schema.read_text().replace("user.contact.address.country", "user.contact.adress.country"))
    with pytest.raises(GovernanceError, match=r"dbt model order_facts \(models/order_facts.sql\).*user.contact.adress"):
        governed_dbt_assets(project, dbt_dir)


def test_broken_dbt_projects_fail_clearly(example, tmp_path):
    _manifest, project, _specs = example
    with pytest.raises(DbtProjectError, match="no dbt project at"):
        governed_dbt_assets(project, tmp_path / "nowhere")
    dbt_dir = tmp_path / "dbt"
    shutil.copytree(project.root / "assets" / "dbt", dbt_dir, ignore=shutil.ignore_patterns("target", "logs"))
    (dbt_dir / "models" / "monthly_revenue.sql").write_text("select * from {{ ref('no_such_model') }}")
    with pytest.raises(DbtProjectError, match="dbt compile of dbt failed.*no_such_model"):
        governed_dbt_assets(project, dbt_dir)


def test_the_incremental_model_adds_new_rows_and_erasure_and_sweeps_reach_dbt_models(demo_project, tmp_path):
    manifest = copy_demo(demo_project, tmp_path / "copy")
    project = load_project(manifest)
    wh = open_warehouse(project)
    try:
        before = wh.row_count("order_facts")
        assert before == wh.fetch("SELECT count(*) FROM orders JOIN users USING (user_id)")[0][0]
        # A new order, placed after every other: the incremental run adds it and only it.
        wh.execute("INSERT INTO orders (order_id, user_id, amount, currency, ordered_at) "
                   "SELECT max(order_id) + 1, min(user_id), 12.5, 'EUR', now() FROM orders")
        assets = governed_dbt_assets(project, manifest.parent / "assets" / "dbt")
        result = dg.materialize([assets], selection=["order_facts"],
                                resources={"warehouse": project_resources(project)["warehouse"]})
        assert result.success
        assert wh.row_count("order_facts") == before + 1
        subject = str(wh.fetch("SELECT min(user_id) FROM users")[0][0])
        held = wh.fetch("SELECT count(*) FROM order_facts WHERE user_id = ?", [int(subject)])[0][0]
        assert held >= 1
        code, erased, err = dfg_json("erase", "--subject-id", subject, "--now", project=manifest)
        assert code == 0, err
        [target] = [t for t in erased["targets"] if t["target"] == "order_facts"]
        assert target["count"] == held and target["verified"]
        assert wh.fetch("SELECT count(*) FROM order_facts WHERE user_id = ?", [int(subject)])[0][0] == 0
        code, plan, _err = dfg_json("sweep", "--dry-run", project=manifest)
        assert code == 0 and "order_facts" in plan["assets"]
    finally:
        run_dfg("local", "stop", project=manifest)


def test_dbt_writes_where_the_warehouse_is(example):
    _manifest, project, _specs = example
    from dataflow_governance.dagster_ext.dbt import GovernedDbtProject

    dbt = GovernedDbtProject(project, project.root / "assets" / "dbt")
    run_profile = (dbt.profiles_dir("run") / "profiles.yml").read_text()
    assert str(project.warehouse_path) in run_profile and "schema: main" in run_profile
    assert str(project.warehouse_path) not in (dbt.profiles_dir("compile") / "profiles.yml").read_text()
    assert (dbt.profiles_dir("run") / "profiles.yml").stat().st_mode & 0o077 == 0
    postgres = Warehouse(kind="postgres", dsn="postgresql://etl:s3cret@db:6543/sales", schema="finance")
    target = postgres.engine.dbt_target()
    assert (target["host"], target["port"], target["dbname"], target["schema"]) == ("db", 6543, "sales", "finance")


def test_a_source_loaded_outside_the_project_is_governed_from_its_meta(example, tmp_path):
    _manifest, project, _specs = example
    from dataflow_governance.dagster_ext import governed_dbt_sources

    dbt_dir = tmp_path / "dbt"
    shutil.copytree(project.root / "assets" / "dbt", dbt_dir, ignore=shutil.ignore_patterns("target", "logs"))
    (dbt_dir / "models" / "raw_sources.yml").write_text("""
version: 2
sources:
  - name: crm
    schema: "{{ target.schema }}"
    tables:
      - name: leads
        identifier: crm_leads
        description: Leads loaded by the CRM's own export.
        config:
          meta: {governance: {legal_basis: legitimate_interests, retention: {keep: 1 year, action: delete}}}
        columns:
          - name: email
            data_type: varchar
            config: {meta: {governance: {categories: [user.contact.email]}}}
""")
    [spec] = governed_dbt_sources(project, dbt_dir)  # the example's own sources are other assets: not repeated
    assert spec.key.path == ["crm", "leads"]
    [gov] = read_governance([spec]).values()
    assert gov.legal_basis == "legitimate_interests" and gov.columns["email"].categories == ("user.contact.email",)
    assert gov.storage.table == "crm_leads" and gov.region == "eu-central-1"
    assert spec.tags["pii"] == "true" and "Leads loaded" in spec.description


def test_processes_loading_at_once_compile_once_and_all_load(tmp_path):
    """A code server and run workers load the Definitions together: one compiles, the others wait."""
    import subprocess
    import sys

    manifest = copy_project(tmp_path / "project")
    load = ("import sys; from dataflow_governance import load_project; "
            "from dataflow_governance.dagster_ext import governed_dbt_assets; "
            f"p = load_project({str(manifest)!r}); "
            f"print(len(governed_dbt_assets(p, {str(manifest.parent / 'assets' / 'dbt')!r}).specs))")
    procs = [subprocess.Popen([sys.executable, "-c", load], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for _ in range(3)]
    outcomes = [(p.wait(timeout=300), p.stdout.read(), p.stderr.read()) for p in procs]
    assert [(code, out.strip()) for code, out, _err in outcomes] == [(0, "2")] * 3, [e[-800:] for *_, e in outcomes]
    logs = (load_project(manifest).state_dir / "dbt" / "deep_water_finance" / "logs" / "dbt.log").read_text()
    assert logs.count("Running with dbt=") == 1  # compiled once
