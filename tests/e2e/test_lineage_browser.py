"""The lineage browser as a user drives it: `dfg serve` on the example's catalog, in a real browser
(Debian's chromium through Playwright). Screenshots go to out/screenshots/."""

import json
import os
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from playwright.sync_api import expect, sync_playwright

from conftest import REPO, copy_project, free_port, run_dfg, stop_process_group

CHROMIUM = os.environ.get("DFG_CHROMIUM", "/usr/bin/chromium")
SCREENSHOTS = REPO / "out" / "screenshots"


@pytest.fixture(scope="module")
def browser_on_example(tmp_path_factory):
    assert Path(CHROMIUM).exists(), f"{CHROMIUM} is missing: `make browser` installs Debian's chromium"
    manifest = copy_project(tmp_path_factory.mktemp("browse") / "deep_water")
    code, _out, err = run_dfg("catalog", "build", project=manifest)
    assert code == 0, err[-2000:]
    port = free_port()
    log = open(manifest.parent / "serve.log", "w")
    server, url = serve(["--project", str(manifest), "serve", "--port", str(port)], log, cwd=manifest.parent)
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
            context = browser.new_context(viewport={"width": 1500, "height": 1000}, accept_downloads=True)
            page = context.new_page()
            errors: list[str] = []
            page.on("pageerror", lambda exc: errors.append(str(exc)))
            page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
            yield url, page, errors, manifest
            browser.close()
    finally:
        stop_process_group(server)
        log.close()


def serve(args: list[str], log, cwd=None) -> tuple[subprocess.Popen, str]:
    """`dfg <args>` (a `serve`) started in its own process group, once it answers: (process, its URL)."""
    port = args[args.index("--port") + 1]
    server = subprocess.Popen([sys.executable, "-m", "dataflow_governance.cli", *args], cwd=cwd, stdout=log,
                              stderr=subprocess.STDOUT, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            urllib.request.urlopen(url, timeout=2)
            return server, url
        except OSError:
            if server.poll() is not None or time.monotonic() > deadline:
                stop_process_group(server)
                raise AssertionError(f"dfg serve did not start (exit {server.poll()})") from None
            time.sleep(0.3)


def shot(page, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=SCREENSHOTS / f"{name}.png", full_page=True)


def ready(page) -> None:
    page.wait_for_selector("body[data-ready='1']", timeout=20_000)


def node(page, asset: str, column: str | None = None):
    selector = f'g.node[data-asset="{asset}"]' + (f'[data-column="{column}"]' if column is not None else "")
    return page.locator(selector)


def test_open_a_column_from_search_and_see_upstream_and_downstream(browser_on_example):
    url, page, errors, _ = browser_on_example
    page.goto(url)
    ready(page)
    page.fill("#search", "order_facts.country")
    page.locator("#results button", has_text="order_facts.country").first.click()
    expect(page.locator("#selected")).to_have_text("order_facts.country")
    expect(page).to_have_url(f"{url}/asset/order_facts/column/country")
    focus = node(page, "order_facts", "country")
    expect(focus).to_have_attribute("data-distance", "0")
    upstream, downstream = node(page, "users", "country"), node(page, "monthly_revenue", "country")
    assert upstream.get_attribute("data-distance") == "-1" and downstream.get_attribute("data-distance") == "1"
    # Laid out left to right: what it comes from on the left, what it feeds on the right.
    assert upstream.bounding_box()["x"] < focus.bounding_box()["x"] < downstream.bounding_box()["x"]
    distances = [int(d) for d in page.locator("g.node").evaluate_all("ns => ns.map(n => n.dataset.distance)")]
    assert min(distances) >= -2 and max(distances) <= 2  # two hops by default
    page.fill("#hops", "1")
    page.dispatch_event("#hops", "change")
    expect(page.locator('g.node[data-distance="2"]')).to_have_count(0)
    expect(page.locator('g.node[data-distance="-2"]')).to_have_count(0)
    shot(page, "browser_column")
    assert not errors, errors


def test_toggling_indirect_edges_hides_them_and_the_columns_only_they_reach(browser_on_example):
    url, page, errors, _ = browser_on_example
    page.goto(f"{url}/asset/customer_dim/column/email")
    ready(page)
    indirect = page.locator("path.edge.indirect")
    assert indirect.count() > 0
    before = page.locator("g.node").count()
    page.uncheck("#toggle-indirect")
    expect(indirect).to_have_count(0)
    assert page.locator("path.edge.direct").count() > 0
    assert page.locator("g.node").count() < before
    shot(page, "browser_direct_only")
    page.check("#toggle-indirect")
    expect(indirect.first).to_be_visible()
    assert not errors, errors


def test_the_why_chain_of_daily_signups_leads_to_the_declared_column(browser_on_example):
    url, page, errors, _ = browser_on_example
    page.goto(f"{url}/asset/daily_signups/column/country")
    ready(page)
    why = page.locator("#why")
    expect(why.locator(".verdict")).to_have_text("anonymous")
    expect(why.locator(".reason")).to_contain_text("group key")
    link = why.locator("a.chain-link", has_text="users.country")
    expect(link).to_contain_text("user.contact.address.country")
    shot(page, "browser_why_daily_signups")
    link.click()
    expect(page).to_have_url(f"{url}/asset/users/column/country")
    expect(page.locator("#why .verdict")).to_have_text("personal")
    expect(page.locator("#why .reason")).to_contain_text("declared on this asset")
    assert not errors, errors


def test_an_impact_list_is_exported(browser_on_example, tmp_path):
    url, page, errors, _ = browser_on_example
    page.goto(f"{url}/asset/users/column/email")
    ready(page)
    with page.expect_download() as download:
        page.click("#export-csv")
    saved = tmp_path / "impact.csv"
    download.value.save_as(saved)
    lines = saved.read_text().splitlines()
    assert lines[0].startswith("asset,column,hops,via") and any(line.startswith("customer_dim,email,1,direct") for line in lines)
    with page.expect_download() as download:
        page.click("#export-json")
    download.value.save_as(tmp_path / "impact.json")
    listed = json.loads((tmp_path / "impact.json").read_text())
    assert listed["of"] == {"asset": "users", "column": "email"} and len(listed["downstream"]) == len(lines) - 1
    assert not errors, errors


def test_a_deep_link_opens_the_table_view_and_the_colouring_shows_boundaries(browser_on_example):
    url, page, errors, _ = browser_on_example
    page.goto(f"{url}/asset/orders")
    ready(page)
    expect(page.locator("#selected")).to_have_text("orders")
    page.select_option("#view", "table")
    tables = page.locator("g.node:not([data-column])")  # the table view's nodes are assets
    expect(tables.and_(node(page, "orders"))).to_have_attribute("data-distance", "0")
    expect(tables.and_(node(page, "users"))).to_have_count(1)  # its upstream, as one table
    assert page.locator("g.node[data-column]").count() == 0
    page.select_option("#colour", "pci")
    expect(page.locator("#legend")).to_contain_text("PCI")
    page.select_option("#colour", "processors")
    expect(page.locator("#legend")).to_contain_text("payments_psp")
    shot(page, "browser_table_view")
    assert not errors, errors


def test_an_unknown_asset_is_a_page_that_says_so(browser_on_example):
    url, page, errors, _ = browser_on_example
    response = page.goto(f"{url}/asset/daily_signup")
    assert response.status == 404
    expect(page.locator("h1")).to_have_text("No such asset")
    expect(page.locator(".suggestions a", has_text="daily_signups")).to_be_visible()
    shot(page, "browser_unknown_asset")


def test_hostile_names_render_as_text_and_run_nothing(browser_on_example, tmp_path):
    """Names are data: markup in an asset or column name is shown, never run; a 10,000-character
    name is shortened on screen."""
    from dataflow_governance.catalog import artifact
    from dataflow_governance.lineage.graph import SqlDefinition
    from dataflow_governance.model.spec import build_governance

    hostile = "<img src=x onerror=document.body.dataset.pwned=1>"
    governance = {"raw": build_governance("raw", {"columns": {hostile: {"type": "text"}, "c" * 10_000: {"type": "text"}}})}
    sql = [SqlDefinition("copy", f'SELECT "{hostile}" AS "{hostile}", "{"c" * 10_000}" AS long_one FROM raw')]
    built = artifact.build(artifact.Origin(project="<b>hostile</b>", root=tmp_path), governance,
                           {"raw": frozenset(), "copy": frozenset({"raw"})}, sql)
    path = artifact.write(built, tmp_path / "catalog.json")
    port = free_port()
    server, url = serve(["serve", "--catalog", str(path), "--port", str(port)], subprocess.DEVNULL)
    try:
        _url, page, _errors, _manifest = browser_on_example  # the same browser, another server
        if True:
            dialogs: list[str] = []
            page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
            page.goto(f"{url}/asset/copy")
            ready(page)
            expect(page.locator(".project")).to_have_text("<b>hostile</b>")
            page.fill("#search", "img")
            expect(page.locator("#results button").first).to_contain_text("<img src=x")
            page.locator("#results button").first.click()
            ready(page)
            expect(page.locator("#selected")).to_contain_text(hostile)
            assert page.locator("#graph img, #panel img, #results img").count() == 0  # text, not an element
            assert page.evaluate("document.body.dataset.pwned") is None
            page.goto(f"{url}/asset/copy")  # every column of `copy`, and their sources
            ready(page)
            shown = page.locator("g.node").evaluate_all(
                "ns => ns.filter(n => n.dataset.column.length > 1000)"
                "        .map(n => [n.dataset.column.length, n.querySelector('text.column-name').textContent.length,"
                "                   n.getBoundingClientRect().width])")
            assert shown and all(full == 10_000 and text <= 40 and width <= 300 for full, text, width in shown)
            shot(page, "browser_hostile_names")
        assert not dialogs
    finally:
        stop_process_group(server)
