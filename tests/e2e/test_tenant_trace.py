"""Did tenant B ever receive tenant A's data? `dfg tenancy trace` on the example after `dfg demo`."""

import json
import os
import subprocess
import sys

from conftest import dfg_json, run_dfg
from dataflow_governance import load_project
from dataflow_governance.dagster_ext.parts import object_store


def test_did_tenant_b_ever_receive_tenant_as_data(demo_copy):
    """The example's tenants: 2 (US) writes documents under its own prefix; 1 (EU) has its own
    schema. Nothing of 2 is under 1's places until a record is put there."""
    from dataflow_governance import put_object

    code, trace, err = dfg_json("tenancy", "trace", "--from", "2", "--to", "1", project=demo_copy)
    assert code == 0, err
    assert trace["received"] is False and trace["answer"].startswith("not in what could be seen")
    places = {s["asset"]: s for s in trace["stored"]}
    assert places["workspace_documents_us"]["records"] == 0 and places["workspace_tickets"]["rows"] == 0
    assert {u["asset"] for u in trace["not_seen"]} >= {"workspace_documents", "workspace_invoices", None}
    assert places["document_search_index"]["records"] == 0  # the indexer's place for tenant 1
    project = load_project(demo_copy)
    put_object(object_store(project), "deepwater-bi-us", "workspaces/1/leaked.jsonl",
               b'{"doc_id": 2001, "workspace_id": 2, "title": "roadmap 1", "words": 10}\n')
    code, trace, err = dfg_json("tenancy", "trace", "--from", "2", "--to", "1", project=demo_copy)
    assert code == 1, err  # found: B received A's data
    assert trace["received"] is True and {s["asset"]: s for s in trace["stored"]}["workspace_documents_us"]["records"] == 1
    assert "roadmap" not in json.dumps(trace)  # counts, never a record
    code, _out, err = run_dfg("tenancy", "trace", "--from", "../2", "--to", "1", project=demo_copy)
    assert code == 2 and "tenant id" in err


def test_the_documents_topic_and_its_consumers_pass_and_a_broken_copy_fires_the_topic_rules(demo_project, tmp_path):
    import yaml

    from conftest import copy_project

    manifest, summary = demo_project
    # The run-time check reads the topic's events and the index's per-tenant records: it ran, and passed.
    probe = ("import json; from assets.definitions import defs; print(json.dumps(sorted(k.asset_key.to_user_string() "
             "for k in defs.resolve_asset_graph().asset_check_keys if k.name == 'tenant_objects')))")
    run = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, cwd=manifest.parent, timeout=300,
                         env={**os.environ, "DFG_PROJECT": str(manifest)})
    assert run.returncode == 0, run.stderr[-2000:]
    assert {"document_events_topic", "document_search_index"} <= set(json.loads(run.stdout.strip().splitlines()[-1]))
    assert summary["checks_failed"] == 0
    manifest = copy_project(tmp_path / "broken")
    raw = yaml.safe_load(manifest.read_text())
    assets = raw["groups"]["workspaces"]["assets"]
    del assets["document_stats"]["tenant_filter"]                    # the analytics consumer mixes tenants
    assets["document_search_index"].pop("tenant_prefix")             # "per tenant", but nowhere apart
    manifest.write_text(yaml.safe_dump(raw, sort_keys=False))
    code, report, err = dfg_json("check", project=manifest)
    assert code == 1, err
    fired = {(f["asset"], f["rule"]) for f in report["findings"]}
    assert {("document_stats", "topic-consumer-unfiltered"), ("document_search_index", "topic-consumer-unfiltered")} <= fired
    del assets["document_events_topic"]["tenant_key"]
    manifest.write_text(yaml.safe_dump(raw, sort_keys=False))
    code, report, err = dfg_json("check", project=manifest)
    assert ("document_events_topic", "topic-tenant-field-missing") in {(f["asset"], f["rule"]) for f in report["findings"]}
