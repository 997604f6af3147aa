"""HIPAA access accounting: runs and commands that touch PHI are ledgered, and the accounting of
disclosures answers for one subject from the ledger and lineage — without a health value in sight."""

import getpass

import duckdb
import pytest
from conftest import dfg_json, run_dfg

from dataflow_governance import PolicyContext, build_governance
from dataflow_governance.lineage.graph import SqlDefinition, build_column_graph
from dataflow_governance.subjects.disclosures import RunInfo, access_of, run_entries

from assets.data import HEALTH_NOTES

BASE = {"legal_basis": "contract", "purposes": ["essential.service"], "retention": {"keep": "1y"},
        "art9_condition": "explicit_consent"}
NOTES = {**BASE, "regime": "hipaa", "processors": [], "columns": {
    "ticket_id": {"type": "bigint"}, "user_id": {"type": "bigint", "identity": True, "categories": ["user.unique_id"]},
    "note": {"type": "varchar", "categories": ["user.health_and_medical"]}}}


def context(sql: dict, upstream: dict, extra: dict | None = None) -> PolicyContext:
    governance = {"notes": build_governance("notes", NOTES),
                  **{k: build_governance(k, v) for k, v in (extra or {}).items()}}
    upstream = {name: frozenset(upstream.get(name, ())) for name in {"notes", *sql, *upstream}}
    graph = build_column_graph(governance, [SqlDefinition(k, v) for k, v in sql.items()], upstream)
    return PolicyContext(governance=governance, upstream=upstream, processors={}, graph=graph)


def test_a_run_reading_phi_is_one_entry_with_the_columns_it_read():
    ctx = context({"care": "SELECT ticket_id, note FROM notes", "counts": "SELECT count(*) AS n FROM notes"},
                  {"care": ["notes"], "counts": ["notes"]})
    run = RunInfo(run_id="r1", job="j", launched_by="ana", started="2026-12-01T00:00:00", code_version="v1")
    [entry] = run_entries(ctx, run, ["care", "counts"])
    accesses = {a["asset"]: a for a in entry.details["accesses"]}
    assert entry.action == "phi.accessed" and entry.target == "run:r1"
    assert accesses["care"]["read"] == ["notes.note"]  # the ticket id is not PHI
    assert "counts" not in accesses  # count(*) reads no column
    assert entry.details["launched_by"] == "ana" and entry.details["code_version"] == "v1"
    assert run_entries(ctx, run, ["counts"]) == []


def test_untraced_code_is_taken_to_read_every_phi_column():
    ctx = context({}, {"py": ["notes"]}, {"py": {**BASE, "columns": {"x": {"type": "int"}}}})
    assert access_of(ctx, "py")["read"] == ["notes.note"]


def _subject_with_notes(manifest) -> tuple[str, str]:
    path = manifest.parent / ".dfg" / "warehouse.duckdb"
    with duckdb.connect(str(path), read_only=True) as con:
        with_notes = con.execute("SELECT min(user_id) FROM ticket_health_notes").fetchone()[0]
        without = con.execute("SELECT min(user_id) FROM users WHERE user_id NOT IN "
                          "(SELECT user_id FROM ticket_health_notes)").fetchone()[0]
    return str(with_notes), str(without)


def test_the_demo_run_ledgers_its_phi_disclosure(demo_project):
    manifest, summary = demo_project
    assert summary["phi_access_entries"] == 1
    code, exported, _err = dfg_json("audit", "export", project=manifest)
    [entry] = [e for e in exported["entries"] if e["action"] == "phi.accessed" and e["target"] == f"run:{summary['run_id']}"]
    details = entry["details"]
    [notes] = [a for a in details["accesses"] if a["asset"] == "ticket_health_notes"]
    assert notes["written"] == ["note"] and notes["disclosed_to"] == ["care_partner"]
    assert details["launched_by"] == getpass.getuser() and details["code_version"].startswith("sha256:")


def test_accounting_of_disclosures_for_a_subject(demo_project):
    manifest, summary = demo_project
    with_notes, without = _subject_with_notes(manifest)
    code, out, _err = dfg_json("disclosures", "--subject-id", with_notes, project=manifest)
    assert code == 0
    assert out["holding"]["ticket_health_notes"] >= 1
    assert {(d["recipient"], d["asset"], d["run_id"]) for d in out["disclosures"]} == \
        {("care_partner", "ticket_health_notes", summary["run_id"])}
    assert out["disclosures"][0]["purposes"] == ["essential.service.operations.support"]
    code, text, _err = run_dfg("disclosures", "--subject-id", with_notes, project=manifest)
    assert "care_partner" in text and not any(note in text for note in HEALTH_NOTES)
    code, later, _err = dfg_json("disclosures", "--subject-id", with_notes, "--since", "2999-01-01", project=manifest)
    assert later["disclosures"] == []
    code, none, _err = dfg_json("disclosures", "--subject-id", without, project=manifest)
    assert none["disclosures"] == [] and none["holding"] == {}
    assert any("ticket_health_notes: disclosed, but the subject has no rows" in gap for gap in none["gaps"])


def test_an_injection_shaped_subject_id_matches_no_one(demo_project):
    manifest, _summary = demo_project
    code, out, _err = dfg_json("disclosures", "--subject-id", "1' OR '1'='1", project=manifest)
    assert code == 0 and out["holding"] == {} and out["disclosures"] == []


@pytest.mark.parametrize("bad", ["", " ", "x" * 300, "1\n2"])
def test_a_malformed_subject_id_is_refused(demo_project, bad):
    manifest, _summary = demo_project
    code, _out, err = run_dfg("disclosures", "--subject-id", bad, project=manifest)
    assert code == 2 and "error: the subject id" in err


def test_an_access_export_and_a_scan_of_phi_are_ledgered(demo_copy):
    with_notes, _without = _subject_with_notes(demo_copy)
    code, _out, err = run_dfg("access", "--subject-id", with_notes, "--json", project=demo_copy)
    assert code == 0, err
    code, exported, _err = dfg_json("audit", "export", "--actor", "dfg:access", project=demo_copy)
    [entry] = [e for e in exported["entries"] if e["action"] == "phi.accessed"]
    assert entry["details"]["accesses"][0]["read"] == ["ticket_health_notes.note"]
    # Who read which columns and why; never whose data: no subject in the entry.
    assert entry["target"] == "command:access"
    assert set(entry["details"]) == {"accesses", "launched_by", "purpose"}

    # A scan reads every value: on the PHI table it is an access; on a table without PHI it is not.
    for table in ("ticket_health_notes", "users"):
        code, _out, err = run_dfg("scan", "--table", table, project=demo_copy)
        assert code == 0, err
    code, exported, _err = dfg_json("audit", "export", "--actor", "dfg:scan", project=demo_copy)
    assert [e["details"]["accesses"][0]["read"] for e in exported["entries"]] == [["ticket_health_notes.note"]]


def test_a_subject_is_found_in_phi_kept_in_s3_through_the_erasure_plan(demo_copy):
    """PHI in S3 (here: the support attachments, declared health data sent to the care partner)
    is located by the same plan erasure uses: the subject's own prefix."""
    from dataflow_governance import load_project
    from dataflow_governance.storage.objectstore import list_keys, open_object_store

    text = demo_copy.read_text()
    old = "        data_categories: [user.content.private]\n        retention: {keep: 2 years, action: delete}\n"
    assert old in text
    demo_copy.write_text(text.replace(old, "        data_categories: [user.content.private, user.health_and_medical]\n"
                                           "        art9_condition: explicit_consent\n        regime: hipaa\n"
                                           "        processors: [care_partner]\n"
                                           "        retention: {keep: 2 years, action: delete}\n"))
    project = load_project(demo_copy)
    store = open_object_store(project.object_store.endpoint_url, project.object_store.region, project.state_dir, True)
    subject = next(iter(list_keys(store, "deepwater-support-eu", "attachments/"))).split("/")[1]
    code, out, err = dfg_json("disclosures", "--subject-id", subject, project=demo_copy)
    assert code == 0, err
    assert out["holding"].get("support_attachments", 0) >= 1


def test_a_run_recorded_twice_is_one_disclosure(tmp_path):
    """The sensor and `dfg demo` (or two sensor ticks) may both record a run: it counts once."""
    from dataflow_governance import Warehouse
    from dataflow_governance.ledger.chain import Ledger
    from dataflow_governance.subjects.disclosures import disclosures

    ctx = context({}, {})
    governance = {**ctx.governance, "notes": build_governance("notes", {**NOTES, "processors": ["care"]})}
    ctx = PolicyContext(governance=governance, upstream=ctx.upstream, processors={}, graph=ctx.graph)
    run = RunInfo(run_id="r1", job="j", launched_by="ana", started="2026-12-01T00:00:00")
    ledger = Ledger(Warehouse(kind="duckdb", path=str(tmp_path / "w.duckdb")))
    ledger.append_many(run_entries(ctx, run, ["notes"]) * 2)
    assert [(d["recipient"], d["run_id"]) for d in disclosures(ledger, {"notes": 1})] == [("care", "r1")]
