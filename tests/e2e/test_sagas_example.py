"""The example's order-fulfilment saga after `dfg demo`: traced by id and by order, reached by erasure
and access, drawn as BPMN; a broken copy of its declarations fires every saga rule."""

import json

import pytest
import yaml

from conftest import copy_project, dfg_json, run_dfg
from dataflow_governance import load_project
from dataflow_governance.dagster_ext.parts import object_store, warehouse_of

SAGA_RULES = {"saga-compensation-missing", "saga-data-left-at-third-party", "saga-idempotency-missing",
              "saga-state-retention", "saga-state-unerasable"}


def sagas_of(manifest) -> dict[str, dict]:
    rows = warehouse_of(load_project(manifest)).fetch("SELECT saga_id, status, data, customer_id FROM order_sagas")
    return {status: {"id": saga_id, "order_id": json.loads(data)["order_id"], "customer": customer,
                     "ship_to": json.loads(data)["ship_to"]}
            for saga_id, status, data, customer in rows}


def test_why_did_the_order_fail_and_where_did_its_data_go(demo_copy):
    sagas = sagas_of(demo_copy)
    assert set(sagas) == {"completed", "compensated"}
    failed = sagas["compensated"]
    code, trace, err = dfg_json("saga", "trace", "--key", f"order_id={failed['order_id']}", project=demo_copy)
    assert code == 0, err
    assert trace["id"] == failed["id"] and trace["status"] == "compensated"
    assert [s["step"] for s in trace["completed"]] == ["reserve_stock", "charge_payment"]
    assert trace["failed"]["step"] == "book_shipment" and trace["failed"]["reason"] == "carrier_rejected_address"
    # Undone in reverse order, nothing left out.
    assert [c["compensation"] for c in trace["compensations"]] == ["refund_payment", "release_stock"]
    assert trace["missing_compensations"] == [] and not trace["out_of_order"]
    sent = {s["step"]: s for s in trace["data_sent"]}
    assert sent["charge_payment"]["to"] == "payments_psp" and sent["charge_payment"]["third_party"]
    assert sent["book_shipment"]["to"] == "shipping_carrier" and sent["book_shipment"].get("attempted")
    assert "user.contact.address.street" in sent["book_shipment"]["data"]
    assert trace.get("ledgered")  # it read a card-data flow: an access, ledgered
    code, text, _ = run_dfg("saga", "trace", "--id", failed["id"], project=demo_copy)
    assert code == 0 and "COMPENSATED" in text and "FAILED: carrier_rejected_address" in text
    assert "↶ refund_payment" in text
    for value in (failed["ship_to"]["name"], failed["ship_to"]["street"]):  # names and times, never the saga's data
        assert value not in text and value not in json.dumps(trace)


def test_a_completed_saga_an_unknown_one_and_a_corrupted_event_line(demo_copy):
    from dataflow_governance import put_object

    sagas = sagas_of(demo_copy)
    code, trace, _ = dfg_json("saga", "trace", "--id", sagas["completed"]["id"], project=demo_copy)
    assert code == 0 and trace["status"] == "completed" and trace["failed"] is None
    assert [s["step"] for s in trace["completed"]] == ["reserve_stock", "charge_payment", "book_shipment"]
    code, out, err = run_dfg("saga", "trace", "--id", "S-404404", project=demo_copy)
    assert code == 1 and "no order_fulfilment saga with id S-404404" in out + err and "Traceback" not in err
    code, _, err = run_dfg("saga", "trace", "--key", "order id=1", project=demo_copy)
    assert code == 2 and "not a field name" in err
    project = load_project(demo_copy)
    put_object(object_store(project), "deepwater-raw-eu", "order-saga-events/zz-damaged.jsonl",
               b'{"saga_id": "' + sagas["completed"]["id"].encode() + b'", "event": "step_compl\n{not json\n')
    code, trace, err = dfg_json("saga", "trace", "--id", sagas["completed"]["id"], project=demo_copy)
    assert code == 0, err
    assert trace["events"]["corrupted"] == 2 and trace["status"] == "completed"


def test_a_subjects_sagas_are_in_their_erasure_plan_and_access_export(demo_copy):
    sagas = sagas_of(demo_copy)
    customer = sagas["compensated"]["customer"]
    theirs = sum(s["customer"] == customer for s in sagas.values())
    code, plan, err = dfg_json("erase", "--subject-id", str(customer), "--dry-run", project=demo_copy)
    assert code == 0, err
    targets = {t["target"]: t for t in plan["targets"]}
    assert targets["order_sagas"]["count"] == theirs >= 1
    code, export, err = dfg_json("access", "--subject-id", str(customer), project=demo_copy)
    assert code == 0, err
    assert len(export["assets"]["order_sagas"]["records"]) == theirs


def test_the_demo_writes_the_sagas_bpmn_and_the_swimlanes(demo_project):
    manifest, _summary = demo_project
    out = load_project(manifest).output_dir
    bpmn = (out / "bpmn" / "order_fulfilment.bpmn").read_text()
    assert "<bpmn:process" in bpmn and "Compensate_charge_payment_refund_payment" in bpmn
    assert "<bpmn:process" in (out / "swimlane" / "password_reset.bpmn").read_text()
    sequence = (out / "swimlane" / "password_reset.md").read_text()
    assert "sequenceDiagram" in sequence and "crosses the organization's boundary" in sequence


def test_the_example_passes_the_saga_rules_and_a_broken_copy_fires_each(tmp_path):
    manifest = copy_project(tmp_path / "broken")
    raw = yaml.safe_load(manifest.read_text())
    saga = raw["sagas"]["order_fulfilment"]
    steps = {s["name"]: s for s in saga["steps"]}
    del steps["charge_payment"]["compensation"]                 # card data to the PSP, never refunded
    del saga["compensations"]["cancel_shipment"]["deletion"]    # the address stays at the carrier
    del steps["reserve_stock"]["idempotency_key"]               # a retried reservation runs twice
    state = raw["groups"]["commerce"]["assets"]["order_sagas"]
    del state["retention"]                                      # finished sagas kept forever
    state["columns"]["customer_id"].pop("identity")             # no erasure finds a subject's sagas
    manifest.write_text(yaml.safe_dump(raw, sort_keys=False))
    code, report, err = dfg_json("check", project=manifest)
    assert code == 1, err
    fired = {f["rule"] for f in report["findings"]}
    assert SAGA_RULES <= fired, SAGA_RULES - fired
    on_saga = [f for f in report["findings"] if f["asset"] == "saga:order_fulfilment"]
    assert all(f["fix"] for f in on_saga)


@pytest.mark.parametrize(("edit", "message"), [
    (lambda s: s["steps"][0].update(participant="warehouse_robot"), "unknown system 'warehouse_robot'"),
    (lambda s: s["steps"][1].update(compensation="undo_everything"), "unknown compensation 'undo_everything'"),
    (lambda s: s["compensations"]["refund_payment"].update(then="release_stock") or
     s["compensations"]["release_stock"].update(then="refund_payment"), "a compensation cycle"),
    (lambda s: s["steps"].append(dict(s["steps"][0])), "is declared twice"),
])
def test_a_bad_saga_declaration_is_one_clear_error(tmp_path, edit, message):
    manifest = copy_project(tmp_path / "bad")
    raw = yaml.safe_load(manifest.read_text())
    edit(raw["sagas"]["order_fulfilment"])
    manifest.write_text(yaml.safe_dump(raw, sort_keys=False))
    code, _out, err = run_dfg("check", project=manifest)
    assert code == 2 and message in err and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1


def test_the_data_map_and_the_c4_view_show_the_happy_and_the_compensating_paths(tmp_path):
    manifest = copy_project(tmp_path / "maps")
    code, c4, err = dfg_json("map", "--view", "c4-container", "--out", str(tmp_path / "out"), project=manifest)
    assert code == 0, err
    rels = [line for line in c4["mermaid"].splitlines() if line.strip().startswith("Rel(saga_order_fulfilment")]
    happy = [r for r in rels if "happy path" in r]
    undo = [r for r in rels if "compensating path" in r]
    assert len(happy) == 3 and "3. book_shipment" in happy[-1] and "proc_shipping_carrier" in happy[-1]
    assert len(undo) == 3 and any("undo 2: refund_payment" in r for r in undo)
    assert any("leaves the data there" in r for r in undo)
    code, flow, err = dfg_json("map", "--out", str(tmp_path / "out"), project=manifest)
    assert code == 0, err
    assert '-- "2. charge_payment: ChargeCard' in flow["mermaid"] and '-. "undo 1: release_stock' in flow["mermaid"]
    code, views, err = dfg_json("map", "--view", "bpmn", "--saga", "order_fulfilment", "--out", str(tmp_path / "out"),
                                project=manifest)
    assert code == 0 and views["paths"] == [str(tmp_path / "out" / "bpmn" / "order_fulfilment.bpmn")]
    code, _out, err = run_dfg("map", "--view", "swimlane", "--flow", "password_rest", project=manifest)
    assert code == 2 and "unknown process 'password_rest'" in err

