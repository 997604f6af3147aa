"""Names in the example's tickets: `dfg scan` finds them (masked), the cleaned tickets hold none,
and `dfg incident --found user.name` measures the exposure."""

from conftest import dfg_json, run_dfg
from dataflow_governance import load_project, open_warehouse


def test_dfg_scan_finds_names_in_the_tickets(demo_project):
    manifest, _summary = demo_project
    code, report, err = dfg_json("scan", "--table", "tickets", project=manifest)
    assert code == 0, err
    body = report["columns"]["body"]
    assert body["findings"]["person_name"] >= 20 and "detectors_not_installed" not in report
    names = [n for (n,) in open_warehouse(load_project(manifest)).fetch("SELECT DISTINCT full_name FROM users")]
    shown = str(report)
    assert all("*" in e for e in body["examples"]["person_name"]) and not any(n in shown for n in names)
    code, clean, err = dfg_json("scan", "--table", "tickets_clean", project=manifest)
    assert code == 0 and clean["columns"]["text"]["findings"] == {}  # redact_personal took them out


def test_an_incident_for_names_measures_the_exposure(demo_copy):
    manifest = demo_copy  # (an incident is ledgered: not in the shared project)
    code, out, err = run_dfg("incident", "--found", "user.name", "--in", "tickets", project=manifest)
    assert code == 0, err
    assert "exposure now:" in out and "columns body" in out
    names = [n for (n,) in open_warehouse(load_project(manifest)).fetch("SELECT DISTINCT full_name FROM users")]
    assert not any(n in out for n in names)


def test_an_assets_allow_list_is_passed_over_by_its_scans(demo_copy):
    """The tickets' `scan.allow` names every customer: `dfg scan` of the table finds no name left
    (the emails are still found: the list names names only)."""
    import yaml

    project = load_project(demo_copy)
    names = sorted({n for (n,) in open_warehouse(project).fetch("SELECT full_name FROM users")})
    data = yaml.safe_load(demo_copy.read_text())
    data["groups"]["support"]["assets"]["tickets"]["scan"] = {"allow": [n.upper() for n in names]}  # (any case)
    demo_copy.write_text(yaml.safe_dump(data, sort_keys=False))
    code, report, err = dfg_json("scan", "--table", "tickets", project=demo_copy)
    assert code == 0, err
    assert "person_name" not in report["columns"]["body"]["findings"]
    assert report["columns"]["body"]["findings"]["email"] > 0
