"""Sagas as declared, and their BPMN run on a real BPMN engine (SpiffWorkflow): the happy path ends
completed, each failing path runs the compensations of the steps before it in reverse order."""

import pytest
from lxml import etree
from SpiffWorkflow.bpmn import BpmnWorkflow
from SpiffWorkflow.bpmn.parser.BpmnParser import BpmnParser, BpmnValidator
from SpiffWorkflow.util.task import TaskState

from dataflow_governance.errors import GovernanceError
from dataflow_governance.model.sagas import build_processes, build_sagas
from dataflow_governance.reports.bpmn import bpmn_id, process_bpmn, process_sequence, saga_bpmn

SYSTEMS = {"inventory_service": 1, "payments_psp": 1, "shipping_carrier": 1, "browser": 1, "auth_service": 1, "mailer": 1}


def order_saga(**changes):
    raw = {"state": "order_sagas", "events": "order_saga_events", "key": "order_id", "steps": [
        {"name": "reserve_stock", "participant": "inventory_service", "command": "ReserveStock",
         "sends": ["orders.order_id"], "compensation": "release_stock", "idempotency_key": "order_id"},
        {"name": "check_fraud", "participant": "payments_psp", "command": "Screen", "sends": ["orders.order_id"]},
        {"name": "charge_payment", "participant": "payments_psp", "command": "Charge",
         "sends": ["orders.order_id", "user.financial.credit_card"], "returns": ["orders.charge_id"],
         "compensation": "refund_payment", "idempotency_key": "order_id"},
        {"name": "book_shipment", "participant": "shipping_carrier", "command": "BookShipment",
         "sends": ["orders.order_id", "orders.charge_id", "user.contact.address.street"], "compensation": "cancel_shipment"}],
        "compensations": {
            "release_stock": {"participant": "inventory_service", "command": "ReleaseStock"},
            "refund_payment": {"participant": "payments_psp", "command": "Refund", "then": "notify_customer"},
            "notify_customer": {"participant": "inventory_service", "command": "NotifyCustomer"},
            "cancel_shipment": {"participant": "shipping_carrier", "command": "CancelShipment", "leaves_data": True,
                                "deletion": "DELETE /shipments/{id}"}}}
    raw.update(changes)
    return build_sagas({"order_fulfilment": raw}, SYSTEMS)["order_fulfilment"]


def run(xml: str, process: str, failed_step: str | None, seed: dict, seen: dict | None = None) -> tuple[list[str], list[str]]:
    """Drive the process as the participants would: complete each task (with the data it returns),
    failing `failed_step`; every data input a task reads must have a value by then (given, or
    returned by an earlier task; `seen` collects them). Returns the tasks run, in order, and the end
    events reached."""
    parser = BpmnParser(validator=BpmnValidator())  # the BPMN 2.0 schema first, then the engine's own parse
    parser.add_bpmn_xml(etree.fromstring(xml.encode()), filename=f"{process}.bpmn")
    workflow = BpmnWorkflow(parser.get_spec(process))
    workflow.data_objects.update(seed)
    ran: list[str] = []
    workflow.do_engine_steps()
    for _ in range(100):
        if workflow.is_completed():
            break
        ready = workflow.get_tasks(state=TaskState.READY, manual=True)
        assert ready, "the process is stuck"
        task = ready[0]
        ran.append(task.task_spec.bpmn_id)
        for data_input in task.task_spec.data_input_associations:
            value = task.data.get(data_input.bpmn_id)
            assert value is not None, f"{task.task_spec.bpmn_id} reads {data_input.bpmn_id}, which nobody gave or returned"
            (seen if seen is not None else {})[(task.task_spec.bpmn_id, data_input.bpmn_id)] = value
        task.data["failed_step"] = failed_step
        for output in task.task_spec.data_output_associations:
            task.data[output.bpmn_id] = f"returned by {task.task_spec.bpmn_id}"
        task.run()
        workflow.do_engine_steps()
    ends = [t.task_spec.bpmn_name for t in workflow.get_tasks(state=TaskState.COMPLETED)
            if t.task_spec.__class__.__name__ == "EndEvent"]
    return ran, ends


SEED = {f"Data_{bpmn_id(i)}": "given" for i in ("orders.order_id", "user.financial.credit_card", "user.contact.address.street")}


def test_the_happy_path_runs_every_step_and_completes():
    xml = saga_bpmn(order_saga())
    seen: dict = {}
    ran, ends = run(xml, "Process_order_fulfilment", None, SEED, seen)
    assert ran == ["Task_reserve_stock", "Task_check_fraud", "Task_charge_payment", "Task_book_shipment"]
    assert ends == ["completed"]
    # What the carrier gets: the order, the address given, and the charge the payment step returned.
    assert seen[("Task_book_shipment", "Data_orders_charge_id")] == "returned by Task_charge_payment"
    assert seen[("Task_book_shipment", "Data_user_contact_address_street")] == "given"


@pytest.mark.parametrize(("failing", "compensations"), [
    ("reserve_stock", []),
    ("check_fraud", ["release_stock"]),
    ("charge_payment", ["release_stock"]),  # check_fraud has nothing to undo
    ("book_shipment", ["refund_payment", "notify_customer", "release_stock"]),
])
def test_a_failing_step_runs_the_compensations_of_the_steps_before_it_in_reverse_order(failing, compensations):
    xml = saga_bpmn(order_saga())
    ran, ends = run(xml, "Process_order_fulfilment", failing, SEED)
    steps = [t for t in ran if t.startswith("Task_")]
    assert steps[-1] == f"Task_{failing}"
    run_compensations = [t.split("_", 1)[1] for t in ran if t.startswith("Compensate_")]
    assert [c.split("_", len(c.split("_")) - 1)[-1] for c in run_compensations] == [c.split("_")[-1] for c in compensations]
    expected = [f"Compensate_{_step_of(c)}_{c}" for c in compensations]
    assert [t for t in ran if t.startswith("Compensate_")] == expected
    assert ends == (["failed, compensated"] if compensations else ["failed, nothing to compensate"])


def _step_of(compensation: str) -> str:
    return {"release_stock": "reserve_stock", "refund_payment": "charge_payment", "notify_customer": "charge_payment",
            "cancel_shipment": "book_shipment"}[compensation]


def test_data_a_step_reads_must_have_been_given_or_returned_before():
    """The data objects are wired: a step reading what an earlier step returns cannot run without it."""
    xml = saga_bpmn(order_saga())
    with pytest.raises(AssertionError, match="Task_reserve_stock reads Data_orders_order_id"):
        run(xml, "Process_order_fulfilment", None, {})


def test_the_file_has_lanes_data_objects_gateways_and_a_diagram():
    xml = saga_bpmn(order_saga())
    tree = etree.fromstring(xml.encode())
    ns = {"bpmn": "http://www.omg.org/spec/BPMN/20100524/MODEL", "bpmndi": "http://www.omg.org/spec/BPMN/20100524/DI"}
    lanes = [lane.get("name") for lane in tree.iterfind(".//bpmn:lane", ns)]
    assert lanes == ["order_fulfilment orchestrator", "inventory_service", "payments_psp", "shipping_carrier"]
    assert len(tree.findall(".//bpmn:exclusiveGateway", ns)) >= 4
    names = {d.get("name") for d in tree.iterfind(".//bpmn:dataObjectReference", ns)}
    assert {"user.financial.credit_card", "user.contact.address.street", "orders.charge_id"} <= names
    shapes = {s.get("bpmnElement") for s in tree.iterfind(".//bpmndi:BPMNShape", ns)}
    elements = {e.get("id") for e in tree.iter() if e.get("id") and e.tag.endswith(("task", "Gateway", "Event"))}
    assert elements <= shapes  # every node is drawn
    cancel = tree.find(".//bpmn:task[@id='Compensate_book_shipment_cancel_shipment']", ns)
    assert cancel is None  # the last step's compensation never runs: nothing after it can fail


def test_hostile_names_stay_well_formed_xml():
    saga = order_saga(description='<x/>"&')
    xml = saga_bpmn(saga, {"orders.order_id": 'order "id" <&>'})
    etree.fromstring(xml.encode())  # parses


@pytest.mark.parametrize(("change", "message"), [
    ({"steps": [{"name": "a", "participant": "nowhere", "command": "C"}]}, "steps[0].participant: unknown system 'nowhere'"),
    ({"steps": [{"name": "a", "participant": "payments_psp", "command": "C", "compensation": "undo_a"}]},
     "steps[0].compensation: unknown compensation 'undo_a'"),
    ({"steps": [{"name": "a", "participant": "payments_psp", "command": "C"},
                {"name": "a", "participant": "payments_psp", "command": "D"}]}, "step 'a' is declared twice"),
    ({"compensations": {"release_stock": {"participant": "inventory_service", "command": "R", "then": "again"},
                        "again": {"participant": "inventory_service", "command": "A", "then": "release_stock"},
                        "refund_payment": {"participant": "payments_psp", "command": "Refund"},
                        "cancel_shipment": {"participant": "shipping_carrier", "command": "C"}}},
     "a compensation cycle: release_stock → again → release_stock"),
])
def test_bad_sagas_are_one_clear_error(change, message):
    with pytest.raises(GovernanceError) as caught:
        order_saga(**change)
    assert message in str(caught.value)


def test_a_process_is_lanes_of_actors_and_a_sequence_that_marks_the_organizations_boundary():
    process = build_processes({"password_reset": {"steps": [
        {"from": "customer", "to": "browser", "action": "asks for a reset", "data": ["user.contact.email"]},
        {"from": "browser", "to": "auth_service", "action": "POST /password-reset", "data": ["user.contact.email"]},
        {"from": "auth_service", "to": "mailer", "action": "send the link", "data": ["user.contact.email"]},
        {"from": "mailer", "to": "customer", "action": "the link", "data": ["user.authorization.credentials"]}]}},
        SYSTEMS, people=("customer",))["password_reset"]
    xml = process_bpmn(process)
    ran, ends = run(xml, "Process_password_reset", None, {"Data_user_contact_email": "given",
                                                          "Data_user_authorization_credentials": "given"})
    assert ran == ["Task_1", "Task_2", "Task_3", "Task_4"] and ends == ["done"]
    lanes = [lane.get("name") for lane in etree.fromstring(xml.encode()).iterfind(
        ".//{http://www.omg.org/spec/BPMN/20100524/MODEL}lane")]
    assert lanes == ["customer", "browser", "auth_service", "mailer"]
    sequence = process_sequence(process, outside={"customer", "browser", "mailer"})
    assert sequence.startswith("sequenceDiagram") and "box Outside the organization" in sequence
    crossings = [line for line in sequence.splitlines() if "crosses the organization's boundary" in line]
    assert len(crossings) == 2  # browser → auth_service, and auth_service → mailer
    with pytest.raises(GovernanceError, match="unknown system 'nobody'"):
        build_processes({"p": {"steps": [{"from": "nobody", "to": "browser", "action": "x"}]}}, SYSTEMS)
