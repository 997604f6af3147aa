"""HIPAA Safe Harbor on the example: `health_research_extract` passes the run-time check and the
policy; a copy that keeps a ZIP code or a full date, or a patient's name in a note, fails the
check, and a manifest whose lineage keeps an identifier fails the policy."""

import json
import re

import yaml

from conftest import REPO, copy_project, run_dfg
from dataflow_governance import load_project, open_warehouse
from dataflow_governance.detection.deidentified import check_safe_harbor


def test_the_example_extract_is_deidentified(demo_project):
    manifest, summary = demo_project
    assert "health_research_extract: safe_harbor_deidentified" not in summary["failed_checks"]
    project = load_project(manifest)
    warehouse = open_warehouse(project)
    report = check_safe_harbor(warehouse, "health_research_extract", own_time="extracted_at")
    assert report.passed and report.rows > 10, report.problems
    # The notes named patients and their birth dates; the extract keeps neither.
    assert warehouse.fetch("SELECT count(*) FROM ticket_health_notes WHERE note LIKE '%(patient %'")[0][0] > 0
    assert warehouse.fetch("SELECT count(*) FROM health_research_extract WHERE note LIKE '%[person_name]%'")[0][0] > 0


def test_a_copy_that_keeps_identifiers_fails_the_check(demo_copy):
    project = load_project(demo_copy)
    warehouse = open_warehouse(project)
    warehouse.execute("CREATE OR REPLACE TABLE health_research_extract AS SELECT e.note || CASE WHEN n = 1 THEN "
                      "' (patient Maria Gonzalez)' ELSE '' END AS note, e.noted_year, e.birth_year, u.postal_code AS zip3, "
                      "e.country, e.extracted_at, u.birth_date FROM (SELECT *, row_number() OVER () AS n "
                      "FROM health_research_extract) AS e, (SELECT postal_code, birth_date FROM users LIMIT 1) AS u")
    report = check_safe_harbor(warehouse, "health_research_extract", own_time="extracted_at")
    assert not report.passed
    assert report.problems["zip3"] == {"five-digit ZIP codes": report.rows}
    assert report.problems["birth_date"] == {"full dates (a DATE column)": report.rows}
    assert report.problems["note"] == {"person_name": 1}


def test_the_check_fails_in_a_run_of_a_broken_asset(tmp_path):
    """The asset's code broken (the ZIP code kept whole): materializing it fails its check."""
    manifest = copy_project(tmp_path / "broken")
    support = manifest.parent / "assets" / "support.py"
    support.write_text(support.read_text().replace('"zip3": "zip3"', '"zip3": "keep"'))
    code, out, err = run_dfg("materialize", "--select", "*health_research_extract", "--json", project=manifest, timeout=900)
    assert code == 1, err[-3000:]
    assert "health_research_extract: safe_harbor_deidentified" in json.loads(out)["failed_checks"]


def test_a_manifest_whose_lineage_keeps_identifiers_fails_the_policy(tmp_path):
    manifest = copy_project(tmp_path / "policy")
    data = yaml.safe_load(manifest.read_text())
    extract = data["groups"]["support"]["assets"]["health_research_extract"]
    extract["lineage"]["zip3"] = {"from": ["users.postal_code"], "transformation": "identity"}  # the ZIP code kept
    extract["lineage"]["birth_year"] = {"from": ["users.birth_date"]}  # not said to be generalized
    extract["columns"]["visit"] = {"type": "date"}  # a full date
    extract["columns"]["patient"] = {"type": "varchar", "categories": ["user.name"]}
    manifest.write_text(yaml.safe_dump(data, sort_keys=False))
    code, out, err = run_dfg("check", "--json", project=manifest, timeout=600)
    assert code == 1, err[-2000:]
    messages = [f["message"] for f in json.loads(out)["findings"] if f["rule"] == "safe-harbor-identifier"]
    assert any("zip3 reads users.postal_code (user.contact.address.postal_code) as it is" in m for m in messages)
    assert any("birth_year reads users.birth_date (user.demographic.date_of_birth)" in m for m in messages)
    assert any("visit is a date" in m for m in messages)
    assert any("patient is declared as user.name" in m for m in messages)


def test_the_readme_shows_the_example_s_own_code():
    """The README's Safe Harbor snippet is the example asset's code, line for line."""
    snippet = re.search(r"<!-- safe-harbor-snippet -->\n```python[^\n]*\n(.*?)```", (REPO / "README.md").read_text(), re.S)
    code = (REPO / "assets" / "support.py").read_text()
    lines = [line.strip() for line in snippet.group(1).splitlines() if line.strip()]
    assert len(lines) == 5 and all(line in code for line in lines)
