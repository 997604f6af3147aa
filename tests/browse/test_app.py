"""The lineage browser's server, over a catalog built in the test (no Dagster, no project code): its
answers, its bounds, and what it does with hostile names, damaged catalogs and stale ones."""

import json
import logging
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from dataflow_governance.browse.app import create_app
from dataflow_governance.browse.index import MAX_HOPS, MAX_NODES, LineageIndex
from dataflow_governance.browse.source import CatalogSource
from dataflow_governance.catalog import artifact
from dataflow_governance.lineage.graph import SqlDefinition
from dataflow_governance.lineage.sql import table_dependencies
from dataflow_governance.model.spec import build_governance

HOSTILE = '<script>alert("x")</script>'
LONG = "c" * 10_000


def shop_catalog(root: Path, extra_sql: dict[str, str] | None = None, extra_gov: dict | None = None) -> artifact.Catalog:
    """users (declared) → customers (SQL: copy, hash, join) → country_counts (SQL: aggregate), plus hostile names."""
    governance = {
        "users": build_governance("users", {
            "region": "eu-central-1", "purposes": ["essential.service"], "legal_basis": "contract",
            "retention": {"keep": "3 years", "action": "delete", "timestamp_column": "plan"},
            "columns": {"user_id": {"type": "int", "categories": ["user.unique_id"], "identity": True},
                        "email": {"type": "varchar", "categories": ["user.contact.email"]},
                        "country": {"type": "varchar", "categories": ["user.contact.address.country"]},
                        "plan": {"type": "varchar"},
                        HOSTILE: {"type": "varchar"}, LONG: {"type": "varchar"}}}),
        "orders": build_governance("orders", {
            "legal_basis": "contract",
            "columns": {"user_id": {"type": "int", "categories": ["user.unique_id"]}, "amount": {"type": "double"}}}),
        "customers": build_governance("customers", {"region": "us-east-1", "legal_basis": "contract"}),
        "country_counts": build_governance("country_counts", {"pii_free": True, "anonymization": "counts per country"}),
        **(extra_gov or {}),
    }
    sql = {
        "customers": "SELECT u.user_id, u.email, sha256(u.email) AS email_hash, u.country, o.amount, "
                     "row_number() OVER (PARTITION BY u.country ORDER BY o.amount) AS rank_in_country "
                     "FROM users u JOIN orders o ON o.user_id = u.user_id WHERE u.plan = 'paid'",
        "country_counts": "SELECT country, count(*) AS customers, sum(amount) AS revenue FROM customers GROUP BY country",
        **(extra_sql or {}),
    }
    upstream = {"users": frozenset(), "orders": frozenset(), "customers": frozenset({"users", "orders"}),
                "country_counts": frozenset({"customers"})}
    for key, text in (extra_sql or {}).items():
        upstream.setdefault(key, frozenset(table_dependencies(text)))
    origin = artifact.Origin(project="shop", root=root)
    return artifact.build(origin, governance, upstream, [SqlDefinition(k, v) for k, v in sql.items()])


@pytest.fixture
def served(tmp_path):
    path = tmp_path / "catalog.json"
    artifact.write(shop_catalog(tmp_path), path)
    return TestClient(create_app(CatalogSource(path)), base_url="http://127.0.0.1"), path


def test_a_column_graph_has_typed_edges_both_ways(served):
    client, _ = served
    answer = client.get("/api/graph", params={"asset": "customers", "column": "email", "hops": 2}).json()
    nodes = {n["id"]: (n["asset"], n["column"]) for n in answer["nodes"]}
    edges = {(nodes[e["source"]], nodes[e["target"]], e["kind"]) for e in answer["edges"]}
    assert (("users", "email"), ("customers", "email"), "identity") in edges
    assert (("users", "plan"), ("customers", "email"), "filter") in edges
    assert (("orders", "user_id"), ("customers", "email"), "join") in edges
    assert (("customers", "email"), ("country_counts", "country"), "group_by") not in edges  # email is not grouped by
    distances = {(n["asset"], n["column"]): n["distance"] for n in answer["nodes"]}
    assert distances[("customers", "email")] == 0 and distances[("users", "email")] == -1


def test_window_masking_and_aggregation_edges_are_told_apart(served):
    client, _ = served
    rank = client.get("/api/graph", params={"asset": "customers", "column": "rank_in_country", "hops": 1}).json()
    names = {n["id"]: (n["asset"], n["column"]) for n in rank["nodes"]}
    kinds = {(names[e["source"]], e["kind"]) for e in rank["edges"]}
    assert {(("users", "country"), "window"), (("orders", "amount"), "window")} <= kinds
    hashed = client.get("/api/graph", params={"asset": "customers", "column": "email_hash", "hops": 1}).json()
    assert "masking" in {e["kind"] for e in hashed["edges"]}
    revenue = client.get("/api/graph", params={"asset": "country_counts", "column": "revenue", "hops": 1}).json()
    assert "aggregation" in {e["kind"] for e in revenue["edges"]}


def test_only_the_asked_edge_kinds_are_walked(served):
    client, _ = served
    direct = client.get("/api/graph", params={"asset": "customers", "column": "email", "hops": 3,
                                              "kinds": "identity,transformation,aggregation,masking"}).json()
    columns = {(n["asset"], n["column"]) for n in direct["nodes"]}
    assert ("users", "email") in columns and ("users", "plan") not in columns and ("orders", "user_id") not in columns
    assert {e["kind"] for e in direct["edges"]} <= {"identity", "transformation", "aggregation", "masking"}
    assert client.get("/api/graph", params={"asset": "customers", "kinds": "teleport"}).status_code == 400


def test_the_table_view_joins_column_edges_into_asset_edges(served):
    client, _ = served
    answer = client.get("/api/graph", params={"asset": "customers", "view": "table", "hops": 1}).json()
    keys = {n["id"]: n["key"] for n in answer["nodes"]}
    edges = {(keys[e["source"]], keys[e["target"]]): set(e["kinds"]) for e in answer["edges"]}
    assert {"identity", "join", "filter"} <= edges[("users", "customers")]
    assert "group_by" in edges[("customers", "country_counts")]
    regions = {n["key"]: n["region"] for n in answer["nodes"]}
    assert regions["users"] == "eu-central-1" and regions["customers"] == "us-east-1"


def test_why_explains_personal_pseudonymized_and_anonymous(served):
    client, _ = served
    personal = client.get("/api/why", params={"asset": "country_counts", "column": "country"}).json()
    assert personal["verdict"] == "anonymous" and "group key" in personal["reason"]
    assert personal["chain"]["children"][0]["asset"] == "customers"
    assert personal["chain"]["children"][0]["children"][0] == {**personal["chain"]["children"][0]["children"][0],
                                                              "asset": "users", "column": "country", "declared": True}
    email = client.get("/api/why", params={"asset": "customers", "column": "email"}).json()
    assert email["verdict"] == "personal" and email["chain"]["children"][0]["categories"] == ["user.contact.email"]
    hashed = client.get("/api/why", params={"asset": "customers", "column": "email_hash"}).json()
    assert hashed["verdict"] == "pseudonymized" and "hash" in hashed["reason"]
    assert hashed["chain"]["children"][0]["via"]["kind"] == "masking"
    revenue = client.get("/api/why", params={"asset": "country_counts", "column": "revenue"}).json()
    assert revenue["verdict"] in ("anonymous", "not personal")


def test_impact_lists_everything_downstream_as_csv_and_json(served):
    client, _ = served
    listed = client.get("/api/impact.json", params={"asset": "users", "column": "email"})
    assert listed.headers["content-disposition"].startswith("attachment;")
    rows = listed.json()["downstream"]
    found = {(r["asset"], r["column"]): r for r in rows}
    assert found[("customers", "email")]["hops"] == 1 and found[("customers", "email")]["via"] == "direct"
    assert found[("customers", "email")]["region"] == "us-east-1" and "gdpr" in found[("customers", "email")]["regimes"]
    assert not any(a == "country_counts" for a, _c in found)  # nothing of an email reaches the counts
    country = {(r["asset"], r["column"]): r for r in client.get(
        "/api/impact.json", params={"asset": "users", "column": "country"}).json()["downstream"]}
    assert country[("country_counts", "country")]["hops"] == 2  # through the copy, then the grouping
    assert country[("customers", "rank_in_country")]["via"] == "indirect"  # a window's partition
    text = client.get("/api/impact.csv", params={"asset": "users", "column": "email"}).text
    header, *lines = text.strip().splitlines()
    assert header.startswith("asset,column,hops,via,level") and len(lines) == len(rows)


def test_search_finds_assets_and_columns_and_is_bounded(served):
    client, _ = served
    results = client.get("/api/search", params={"q": "EMAIL"}).json()["results"]
    assert {"asset": "users", "column": "email", "label": "users.email"} in results
    assert all("email" in r["label"].lower() for r in results)
    assert client.get("/api/search", params={"q": "x" * 10_000}).status_code == 200


def test_deep_links_open_assets_and_columns_and_an_unknown_asset_is_a_clear_404(served):
    client, _ = served
    page = client.get("/asset/users/column/email")
    assert page.status_code == 200 and '"asset": "users", "column": "email"' in page.text
    assert client.get("/asset/customers").status_code == 200
    missing = client.get("/asset/userz")
    assert missing.status_code == 404 and "no asset named “userz”" in missing.text and 'href="/asset/users"' in missing.text
    assert "Traceback" not in missing.text
    assert client.get("/asset/users/column/nope").status_code == 404


def test_hostile_names_are_escaped_and_bounded(served):
    client, _ = served
    page = client.get("/asset/" + HOSTILE)
    assert page.status_code == 404 and HOSTILE not in page.text and "&lt;script&gt;" in page.text
    column = client.get("/asset/users/column/" + HOSTILE.replace("/", "%2F"))
    assert column.status_code == 200 and "<script>alert" not in column.text  # the focus travels as escaped JSON
    assert "\\u003cscript\\u003e" in column.text
    assert "script-src 'self'" in column.headers["content-security-policy"]
    graph = client.get("/api/graph", params={"asset": "users", "hops": 1}).json()
    long_node = next(n for n in graph["nodes"] if n["column"] == LONG)
    assert len(long_node["label"]) <= 80 and long_node["column"] == LONG
    assert client.get("/asset/" + "a" * 20_000).status_code == 404
    assert client.get("/api/graph", params={"asset": "a" * 5_000}).status_code == 400


def test_path_traversal_reaches_no_file(served):
    client, _ = served
    for url in ("/static/../../catalog.json", "/static/%2e%2e/%2e%2e/catalog.json", "/asset/..%2F..%2Fetc%2Fpasswd",
                "/static/vendor/../../app.py"):
        answer = client.get(url)
        assert answer.status_code == 404, url
        assert "fingerprint" not in answer.text and "create_app" not in answer.text


def test_the_browser_is_read_only_and_answers_only_local_host_names(served):
    client, _ = served
    assert client.post("/api/graph", params={"asset": "users"}).status_code == 405
    assert client.delete("/asset/users").status_code == 405
    rebinding = TestClient(client.app, base_url="http://attacker.example")
    assert rebinding.get("/asset/users").status_code == 400


def test_fifty_hops_on_a_large_graph_are_bounded_and_say_so(tmp_path):
    chain = {f"step_{i}": f"SELECT {', '.join(f'c{j}' for j in range(40))} FROM step_{i - 1}" for i in range(1, 120)}
    governance = {"step_0": build_governance("step_0", {"columns": {f"c{j}": {"type": "int"} for j in range(40)}})}
    index = LineageIndex(shop_catalog(tmp_path, chain, governance))
    answer = index.neighbourhood([("step_0", "c0")], 50, {"identity"})
    assert answer["hops"] == MAX_HOPS and any("at most" in note for note in answer["bounded"])
    assert max(n["distance"] for n in answer["nodes"]) == MAX_HOPS
    wide = index.neighbourhood(index.focus_of("step_60", None), 50, {"identity"})
    assert len(wide["nodes"]) == MAX_NODES and any(f"more than {MAX_NODES}" in note for note in wide["bounded"])


def test_a_damaged_catalog_is_a_clear_page_and_a_log_line(served, caplog):
    _, path = served
    path.write_text(path.read_text()[:500])
    source = CatalogSource(path, recheck_seconds=0)
    broken = TestClient(create_app(source), base_url="http://127.0.0.1")
    with caplog.at_level(logging.ERROR, logger="dataflow_governance.browse"):
        page = broken.get("/asset/users")
    assert page.status_code == 503 and "cannot be read" in page.text and "dfg catalog build" in page.text
    assert any("cannot be read" in r.getMessage() for r in caplog.records)
    assert broken.get("/api/graph", params={"asset": "users"}).status_code == 503
    data = json.loads(json.dumps(shop_catalog(path.parent).to_dict()))
    data["assets"]["users"]["upstream"] = ["orders"]  # edited by hand: the checksum no longer matches
    path.write_text(json.dumps(data))
    edited = broken.get("/")
    assert edited.status_code == 503 and "does not match its checksum" in edited.text


def test_a_stale_catalog_is_shown_with_a_warning_and_logged(tmp_path, caplog):
    manifest = tmp_path / "dagster_project.yaml"
    manifest.write_text("project: shop\n")
    origin = artifact.Origin(project="shop", root=tmp_path, manifest=manifest)
    built = shop_catalog(tmp_path)
    built = artifact.assemble(origin, built.governance, built.upstream, built.graph)
    path = tmp_path / "catalog.json"
    artifact.write(built, path)
    client = TestClient(create_app(CatalogSource(path, origin, recheck_seconds=0)), base_url="http://127.0.0.1")
    assert "stale" not in client.get("/asset/users").text
    manifest.write_text("project: shop\n# edited\n")
    with caplog.at_level(logging.WARNING, logger="dataflow_governance.browse"):
        page = client.get("/asset/users")
    assert page.status_code == 200 and "stale" in page.text and "dagster_project.yaml" in page.text
    assert any("stale" in r.getMessage() for r in caplog.records)


def test_an_impact_list_in_another_format_is_refused(served):
    client, _ = served
    assert client.get("/api/impact.xml", params={"asset": "users"}).status_code == 404


def test_an_exact_match_comes_first_however_many_names_contain_the_text(tmp_path):
    many = {f"a_{i:03d}": f"SELECT id AS zz_{i}, id AS zz FROM users" for i in range(120)}
    index = LineageIndex(shop_catalog(tmp_path, many))
    results = index.search("zz")["results"]
    assert len(results) == 50 and index.search("zz")["more"]
    assert all(r["column"] == "zz" for r in results[:50])  # the 120 exact column names before any zz_<n>
