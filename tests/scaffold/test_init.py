"""`dfg init` on a Dagster project of a user's own (not the example): what it writes, what it never
overwrites, what it proposes from the data, and a clear answer for every folder it cannot use."""

import subprocess
import sys
import textwrap

import duckdb
import pytest

from conftest import run_dfg

DEFINITIONS = textwrap.dedent('''\
    import dagster as dg


    @dg.asset(group_name="sales")
    def customers() -> None: ...


    @dg.asset(group_name="sales", deps=[customers])
    def orders() -> None: ...


    @dg.asset(group_name="reporting", deps=[orders])
    def revenue_by_country() -> None: ...


    defs = dg.Definitions(assets=[customers, orders, revenue_by_country])
''')


def init(folder, *args):
    return subprocess.run([sys.executable, "-m", "dataflow_governance.cli", "init", *args], cwd=folder,
                          capture_output=True, text=True, timeout=300)


@pytest.fixture
def shop(tmp_path):
    """A user's Dagster project: a package, pyproject's code location, a DuckDB file with its tables."""
    root = tmp_path / "shop"
    (root / "shop").mkdir(parents=True)
    (root / "shop" / "__init__.py").write_text("")
    (root / "shop" / "definitions.py").write_text(DEFINITIONS)
    (root / "pyproject.toml").write_text('[project]\nname = "shop"\n\n[tool.dagster]\nmodule_name = "shop.definitions"\n')
    with duckdb.connect(str(root / "shop.duckdb")) as con:
        con.execute("CREATE TABLE customers AS SELECT i AS customer_id, 'c' || i || '@example.org' AS email, "
                    "['DE', 'FR'][1 + i % 2] AS country, TIMESTAMP '2024-01-01' + i * INTERVAL 1 DAY AS signed_up_at "
                    "FROM range(1, 201) t(i)")
        con.execute("CREATE TABLE orders AS SELECT i AS order_id, 1 + i % 200 AS customer_id, i * 1.5 AS amount, "
                    "TIMESTAMP '2024-03-01' + i * INTERVAL 1 HOUR AS ordered_at FROM range(1, 1001) t(i)")
        con.execute("CREATE TABLE revenue_by_country AS SELECT 'DE' AS country, 10.0 AS revenue")
        con.execute("CREATE TABLE archive_2019 AS SELECT 'x' || i || '@example.org' AS email FROM range(5) t(i)")
    return root


def test_init_scaffolds_a_governed_project_that_loads(shop):
    run = init(shop)
    assert run.returncode == 0, run.stderr
    assert "Definitions shop.definitions:defs (from pyproject.toml [tool.dagster])" in run.stdout
    for name in ("dagster_project.yaml", "shop/governed_definitions.py", "shop/governed_resources.py"):
        assert f"{name}: created" in run.stdout and (shop / name).is_file()
    # pyproject.toml exists: the move of the code location is shown, never written.
    assert '+module_name = "shop.governed_definitions"' in run.stdout
    assert 'module_name = "shop.definitions"' in (shop / "pyproject.toml").read_text()
    code, out, err = run_dfg("check", project=shop / "dagster_project.yaml")
    assert code == 0 and "0 finding(s)" in out, err
    validate = subprocess.run([sys.executable, "-m", "dagster", "definitions", "validate", "-m", "shop.governed_definitions"],
                              cwd=shop, capture_output=True, text=True, timeout=300)
    assert validate.returncode == 0, validate.stderr[-2000:]


def test_init_never_overwrites_and_shows_the_diff(shop):
    (shop / "shop" / "governed_resources.py").write_text("# mine\n")
    run = init(shop)
    assert run.returncode == 0, run.stderr
    assert "shop/governed_resources.py: exists, left as it is" in run.stdout and "-# mine" in run.stdout
    assert (shop / "shop" / "governed_resources.py").read_text() == "# mine\n"
    assert "dagster_project.yaml: unchanged" in init(shop).stdout  # a second run finds its own manifest
    # A manifest of the user's: the project is governed already; only the proposal's diff is shown.
    (shop / "dagster_project.yaml").write_text("project: mine\ndefinitions: shop.definitions:defs\n")
    run = init(shop)
    assert "dagster_project.yaml: exists, left as it is" in run.stdout and "-project: mine" not in run.stdout
    assert "+# Governance manifest of mine" in run.stdout
    assert (shop / "dagster_project.yaml").read_text() == "project: mine\ndefinitions: shop.definitions:defs\n"


def test_scan_writes_a_draft_to_review(shop):
    run = init(shop, "--scan", "--warehouse", "shop.duckdb")
    assert run.returncode == 0, run.stderr
    assert "scanned 4 table(s)" in run.stdout and "1206 rows read" in run.stdout
    draft = (shop / "dagster_project.yaml").read_text()
    assert "draft: true" in draft
    assert "customer: {data_subject: customer, identity: customers.customer_id}   # REVIEW" in draft
    assert 'email: {type: "varchar", categories: [user.contact.email]}   # 0.99 proposed' in draft
    assert 'country: {type: "varchar", categories: [user.contact.address.country]}   # REVIEW 0.80 uncertain' in draft
    assert "# legal_basis: contract   # REVIEW: decide" in draft  # a decision for a person, never made by a scan
    assert "timestamp candidates: signed_up_at" in draft and "timestamp candidates: ordered_at" in draft
    assert "# archive_2019: no asset of the Definitions writes this table" in draft
    assert "c1@example.org" not in draft and "c1@example.org" not in run.stdout
    # The person decides; then the draft is a manifest like any other, and says it is a draft.
    decided = draft.replace("# legal_basis:", "legal_basis:").replace("# retention:", "retention:").replace(
        "# purposes:", "purposes:").replace(
        "        # no personal data proposed", "        pii_free: true\n        anonymization: aggregated by country  #")
    (shop / "dagster_project.yaml").write_text(decided)
    code, out, err = run_dfg("check", project=shop / "dagster_project.yaml")
    assert code == 0 and "[manifest-is-draft]" in out and "1 finding(s), 0 error(s)" in out, out + err


def test_a_folder_that_is_no_dagster_project_is_told_so(tmp_path):
    (tmp_path / "notes.py").write_text("print('hello')\n")
    run = init(tmp_path)
    assert run.returncode == 2 and "is not a Dagster project" in run.stderr and "--definitions" in run.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes.py"]


@pytest.mark.parametrize("warehouse, message", [
    ("postgresql://nobody@127.0.0.1:1/none", "cannot reach the warehouse"),
    ("missing.duckdb", "no DuckDB file there"),
])
def test_an_unreachable_warehouse_writes_nothing(shop, warehouse, message):
    before = sorted(p.name for p in shop.rglob("*"))
    run = init(shop, "--scan", "--warehouse", warehouse)
    assert run.returncode == 2 and message in run.stderr and "Traceback" not in run.stderr
    assert sorted(p.name for p in shop.rglob("*")) == before


def test_a_large_table_is_sampled_and_the_answer_says_so(shop):
    with duckdb.connect(str(shop / "shop.duckdb")) as con:
        con.execute("CREATE TABLE events AS SELECT i % 1000 AS customer_id, 'login' AS kind FROM range(10000000) t(i)")
    run = init(shop, "--scan", "--warehouse", "shop.duckdb", "--sample", "2000", "--dry-run")
    assert run.returncode == 0, run.stderr
    assert "events: sampled 2000 of 10000000 rows" in run.stdout
    assert not (shop / "dagster_project.yaml").exists()  # a dry run writes nothing


def test_a_file_is_created_whole_or_not_at_all_never_over_another(tmp_path):
    """Two inits at once: the second finds the first's file and leaves it; no temporary is left."""
    from dataflow_governance.scaffold.files import create_only

    target = tmp_path / "pkg" / "governed_resources.py"
    assert create_only(target, "first\n") and target.read_text() == "first\n"
    assert not create_only(target, "second\n") and target.read_text() == "first\n"
    (tmp_path / "elsewhere.py").write_text("theirs\n")
    (tmp_path / "link.py").symlink_to(tmp_path / "elsewhere.py")
    assert not create_only(tmp_path / "link.py", "ours\n") and (tmp_path / "elsewhere.py").read_text() == "theirs\n"
    assert sorted(p.name for p in (tmp_path / "pkg").iterdir()) == ["governed_resources.py"]
