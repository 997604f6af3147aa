"""Did tenant B ever receive tenant A's data? `dfg tenancy trace` on the example after `dfg demo`."""

import json

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
    project = load_project(demo_copy)
    put_object(object_store(project), "deepwater-bi-us", "workspaces/1/leaked.jsonl",
               b'{"doc_id": 2001, "workspace_id": 2, "title": "roadmap 1", "words": 10}\n')
    code, trace, err = dfg_json("tenancy", "trace", "--from", "2", "--to", "1", project=demo_copy)
    assert code == 1, err  # found: B received A's data
    assert trace["received"] is True and {s["asset"]: s for s in trace["stored"]}["workspace_documents_us"]["records"] == 1
    assert "roadmap" not in json.dumps(trace)  # counts, never a record
    code, _out, err = run_dfg("tenancy", "trace", "--from", "../2", "--to", "1", project=demo_copy)
    assert code == 2 and "tenant id" in err
