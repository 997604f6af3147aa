"""The governance facts, column lineage and check results as a user sees them: the example after
`dfg demo`, opened in `dagster dev` and read in a real browser (Debian's chromium, driven by
Playwright). Screenshots go to out/screenshots/."""

import os
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from playwright.sync_api import sync_playwright

from conftest import REPO, copy_demo, free_port, run_dfg, stop_process_group

CHROMIUM = os.environ.get("DFG_CHROMIUM", "/usr/bin/chromium")
SCREENSHOTS = REPO / "out" / "screenshots"


@pytest.fixture(scope="module")
def ui(demo_project, tmp_path_factory):
    assert Path(CHROMIUM).exists(), f"{CHROMIUM} is missing: `make browser` installs Debian's chromium"
    manifest = copy_demo(demo_project, tmp_path_factory.mktemp("ui") / "deep_water")
    port = free_port()
    env = {**os.environ, "DAGSTER_HOME": str(manifest.parent / ".dfg" / "dagster_home"), "DFG_PROJECT": str(manifest)}
    log = open(manifest.parent / "dagster_dev.log", "w")
    server = subprocess.Popen([str(Path(sys.executable).with_name("dagster")), "dev", "-m", "assets.definitions",
                               "-p", str(port), "-h", "127.0.0.1"], cwd=manifest.parent, env=env,
                              stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 180
        while True:
            try:
                urllib.request.urlopen(f"{url}/server_info", timeout=2)
                break
            except OSError:
                assert server.poll() is None and time.monotonic() < deadline, \
                    (manifest.parent / "dagster_dev.log").read_text()[-3000:]
                time.sleep(1)
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
            page = browser.new_page(viewport={"width": 1600, "height": 1800})
            yield url, page
            browser.close()
    finally:
        stop_process_group(server)
        log.close()
        run_dfg("local", "stop", project=manifest)


def open_page(page, url: str, waiting_for: str, shot: str) -> str:
    """The page's visible text once `waiting_for` shows (the code location loads the Definitions first)."""
    page.goto(url)
    skip = page.get_by_role("button", name="Skip")  # Dagster's newsletter prompt covers the page once
    page.get_by_text(waiting_for).first.wait_for(timeout=180_000)
    if skip.count():
        skip.first.click()
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=SCREENSHOTS / f"{shot}.png", full_page=True)
    return page.inner_text("body")


def test_an_assets_governance_facts_and_both_descriptions_are_visible(ui):
    url, page = ui
    text = open_page(page, f"{url}/assets/users", "legal basis", "users")
    for fact in ("contract (Art. 6(1)(b))", "3 years, then delete", "eu-central-1", "user.contact.email"):
        assert fact in text
    # The manifest's description and the code's docstring: both shown, neither dropped.
    assert "One row per registered customer." in text and "passwords only as salted hashes" in text


def test_a_columns_lineage_is_readable_text(ui):
    url, page = ui
    text = open_page(page, f"{url}/assets/order_facts", "from users.country (identity)", "order_facts_columns")
    assert "personal: user.contact.address.country" in text
    assert "from orders.user_id (identity)" in text
    # The join that shapes every column is said once, in the lineage table, not on each column.
    assert text.count("Every column also depends on: join on orders.user_id, users.user_id.") == 1
    assert "shaped by" not in text


def test_check_results_are_readable_without_opening_json(ui):
    url, page = ui
    text = open_page(page, f"{url}/assets/users?view=checks&checkDetail=pii_matches_declarations",
                     "rows_scanned", "users_pii_check")
    metadata = text[text.index("Metadata"):]
    assert "email: email" in metadata and " rows" in metadata  # counts per column and detector, as text
    assert "Show JSON" not in metadata and "Show Markdown" not in metadata
    text = open_page(page, f"{url}/assets/daily_signups?view=checks&checkDetail=governance_policy",
                     "findings", "daily_signups_policy_check")
    assert "Show Markdown" not in text[text.index("Metadata"):]
