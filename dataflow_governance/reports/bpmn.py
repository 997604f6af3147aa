"""BPMN 2.0 and sequence views of sagas and declared processes, in the notations business and
compliance people read (and BPMN tools open: every file has its diagram interchange, so a modeler
draws it as laid out here).

A saga is one executable process with a lane per participant and one for the orchestrator: each
step a task (its data inputs and outputs as data objects), an exclusive gateway after it ("did it
succeed?"), and on failure the compensating path: the compensations of the steps that completed,
in reverse order, then an end event. The compensation is wired as explicit compensating paths
rather than with BPMN compensation events, so that engines without compensation events (the
reference engine the tests run it on has none) execute the failing paths too; each compensation
task says which step it compensates. A process is a collaboration with a lane per actor, and a
Mermaid sequence diagram that shows where data crosses the organization's boundary.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from xml.sax.saxutils import escape, quoteattr

from dataflow_governance.model.sagas import Process, Saga, SagaCompensation

NS = ('xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL" '
      'xmlns:bpmndi="http://www.omg.org/spec/BPMN/20100524/DI" '
      'xmlns:dc="http://www.omg.org/spec/DD/20100524/DC" '
      'xmlns:di="http://www.omg.org/spec/DD/20100524/DI" '
      'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"')
FAILED_VARIABLE = "failed_step"  # the process variable a gateway reads: the step that failed, if any
SIZES = {"task": (160, 80), "exclusiveGateway": (50, 50), "startEvent": (36, 36), "endEvent": (36, 36)}
LANE_HEIGHT, COLUMN = 220, 300


def bpmn_id(text: str) -> str:
    """An XML NCName from any name (`user.contact.email` → `user_contact_email`)."""
    cleaned = re.sub(r"[^A-Za-z0-9_]", "_", text)
    return cleaned if cleaned[:1].isalpha() or cleaned[:1] == "_" else "_" + cleaned


@dataclass
class _Node:
    id: str
    kind: str  # task | exclusiveGateway | startEvent | endEvent
    name: str
    lane: str
    x: float
    y: float
    documentation: str = ""
    inputs: tuple[str, ...] = ()
    outputs: tuple[str, ...] = ()
    default: str | None = None
    incoming: list[str] = field(default_factory=list)
    outgoing: list[str] = field(default_factory=list)


@dataclass
class _Flow:
    id: str
    source: str
    target: str
    name: str = ""
    condition: str | None = None


class _Diagram:
    def __init__(self, lanes: list[str]):
        self.lanes = lanes
        self.nodes: dict[str, _Node] = {}
        self.flows: list[_Flow] = []

    def node(self, node: _Node) -> str:
        self.nodes[node.id] = node
        return node.id

    def flow(self, source: str, target: str, name: str = "", condition: str | None = None) -> str:
        flow = _Flow(f"Flow_{len(self.flows) + 1}", source, target, name, condition)
        self.flows.append(flow)
        self.nodes[source].outgoing.append(flow.id)
        self.nodes[target].incoming.append(flow.id)
        return flow.id

    def lane_y(self, lane: str) -> float:
        return self.lanes.index(lane) * LANE_HEIGHT


def saga_bpmn(saga: Saga, describe: Mapping[str, str] | None = None) -> str:
    """BPMN 2.0 XML of a saga: the happy path, a gateway after each step, every compensating path.

    Args:
        saga: the validated saga.
        describe: data item → how to show it (a category's name); default the item itself.
    """
    describe = describe or {}
    orchestrator = f"{saga.name} orchestrator"
    participants = list(dict.fromkeys([s.participant for s in saga.steps] +
                                      [c.participant for c in saga.compensations.values()]))
    lanes = [orchestrator, *participants]
    d = _Diagram(lanes)
    mid = LANE_HEIGHT / 2
    start = d.node(_Node("StartEvent_1", "startEvent", f"{saga.name} started", orchestrator, 60, mid,
                         documentation="The saga's data: " + ", ".join(_initial_data(saga)) if _initial_data(saga) else ""))
    steps = list(saga.steps)
    gateways: list[str] = []
    for i, step in enumerate(steps):
        x = 160 + i * COLUMN
        task = d.node(_Node(f"Task_{bpmn_id(step.name)}", "task", f"{step.name}: {step.command}", step.participant,
                            x, d.lane_y(step.participant) + 60,
                            documentation=f"{step.command} → {step.participant}"
                                          + (f"; idempotency key {step.idempotency_key}" if step.idempotency_key else
                                             "; no idempotency key declared")
                                          + (f"; compensated by {step.compensation}" if step.compensation else ""),
                            inputs=step.sends, outputs=step.returns))
        if i == 0:
            d.flow(start, task)  # (each later task is reached from the gateway before it, below)
        gateway = d.node(_Node(f"Gateway_{bpmn_id(step.name)}", "exclusiveGateway", f"{step.name} succeeded?",
                               orchestrator, x + 170, mid))
        d.flow(task, gateway)
        gateways.append(gateway)
    completed = d.node(_Node("EndEvent_completed", "endEvent", "completed", orchestrator, 160 + len(steps) * COLUMN, mid))
    # The compensating path runs from the last compensable step back to the first; built from the first
    # (each step's compensations lead on to those of the compensable step before it), each entry a merge.
    # (The last step's compensation never runs here: no step after it can fail.)
    chain: list[tuple[int, list[SagaCompensation]]] = [(i, saga.compensation_chain(s)) for i, s in enumerate(steps[:-1])
                                                       if s.compensation]
    compensated = d.node(_Node("EndEvent_compensated", "endEvent", "failed, compensated", orchestrator, 60, mid + 70))
    failed = d.node(_Node("EndEvent_failed", "endEvent", "failed, nothing to compensate", orchestrator, 60, mid - 70))
    entry: dict[int, str] = {}  # step index → the first node of its compensations
    next_node = compensated
    for i, compensations in chain:
        step = steps[i]
        nodes: list[str] = []
        for j, compensation in enumerate(compensations):
            node = d.node(_Node(f"Compensate_{bpmn_id(step.name)}_{bpmn_id(compensation.name)}", "task",
                                f"{compensation.name}: {compensation.command}", compensation.participant,
                                160 + i * COLUMN + j * 40, d.lane_y(compensation.participant) + 160 + j * 10,
                                documentation=f"compensates {step.name}; {compensation.command} → {compensation.participant}"
                                              + (f"; the participant keeps the data it was sent, deleted by: "
                                                 f"{compensation.deletion or 'NOT DECLARED'}" if compensation.leaves_data else ""),
                                inputs=step.sends if j == 0 else ()))
            if nodes:
                d.flow(nodes[-1], node)
            nodes.append(node)
        merge = d.node(_Node(f"Merge_{bpmn_id(step.name)}", "exclusiveGateway", f"undo {step.name}", orchestrator,
                             160 + i * COLUMN - 40, mid + 60))
        d.flow(merge, nodes[0])
        d.flow(nodes[-1], next_node)
        entry[i] = merge
        next_node = merge
    # Each gateway: on to the next step (its default), or on failure to the compensations of the steps before it.
    for i, (step, gateway) in enumerate(zip(steps, gateways)):
        onward = f"Task_{bpmn_id(steps[i + 1].name)}" if i + 1 < len(steps) else completed
        ok = d.flow(gateway, onward, "yes")
        d.nodes[gateway].default = ok
        undo = next((entry[j] for j in range(i - 1, -1, -1) if j in entry), failed)
        d.flow(gateway, undo, f"{step.name} failed", f'{FAILED_VARIABLE} == "{step.name}"')
    return _document(saga.name, "saga", d, describe)


def _initial_data(saga: Saga) -> list[str]:
    """What the steps send that no earlier step returned: the saga's own data, in order."""
    returned: set[str] = set()
    found: list[str] = []
    for step in saga.steps:
        found += [item for item in step.sends if item not in returned and item not in found]
        returned |= set(step.returns)
    return found


def data_items(saga: Saga) -> list[str]:
    return list(dict.fromkeys(i for s in saga.steps for i in (*s.sends, *s.returns)))


def process_bpmn(process: Process) -> str:
    """A declared process as a BPMN collaboration: a lane per actor, a task per step in the sender's lane."""
    d = _Diagram(process.actors())
    first_lane = process.steps[0].source
    previous = d.node(_Node("StartEvent_1", "startEvent", f"{process.name} starts", first_lane, 60, d.lane_y(first_lane) + 110))
    for i, step in enumerate(process.steps):
        task = d.node(_Node(f"Task_{i + 1}", "task", f"{step.action} → {step.target}", step.source, 160 + i * 220,
                            d.lane_y(step.source) + 110, documentation=f"{step.source} → {step.target}: {step.action}",
                            inputs=step.data))
        d.flow(previous, task)
        previous = task
    last_lane = process.steps[-1].target
    end = d.node(_Node("EndEvent_done", "endEvent", "done", last_lane, 160 + len(process.steps) * 220, d.lane_y(last_lane) + 110))
    d.flow(previous, end)
    return _document(process.name, "process", d, {})


def _document(name: str, kind: str, d: _Diagram, describe: Mapping[str, str]) -> str:
    pid, cid = f"Process_{bpmn_id(name)}", f"Collaboration_{bpmn_id(name)}"
    items = list(dict.fromkeys(i for n in d.nodes.values() for i in (*n.inputs, *n.outputs)))
    out = ['<?xml version="1.0" encoding="UTF-8"?>',
           f'<bpmn:definitions {NS} id="Definitions_{bpmn_id(name)}" '
           f'targetNamespace="urn:dataflow-governance:{kind}s" exporter="dataflow-governance" exporterVersion="1">',
           f'  <bpmn:collaboration id="{cid}">',
           f'    <bpmn:participant id="Participant_{bpmn_id(name)}" name={quoteattr(name)} processRef="{pid}"/>',
           '  </bpmn:collaboration>',
           f'  <bpmn:process id="{pid}" name={quoteattr(f"{name} ({kind})")} isExecutable="true">',
           '    <bpmn:laneSet id="LaneSet_1">']
    for lane in d.lanes:
        out.append(f'      <bpmn:lane id="Lane_{bpmn_id(lane)}" name={quoteattr(lane)}>')
        out += [f'        <bpmn:flowNodeRef>{n.id}</bpmn:flowNodeRef>' for n in d.nodes.values() if n.lane == lane]
        out.append('      </bpmn:lane>')
    out.append('    </bpmn:laneSet>')
    for item in items:
        out.append(f'    <bpmn:dataObject id="Data_{bpmn_id(item)}"/>')
        out.append(f'    <bpmn:dataObjectReference id="DataRef_{bpmn_id(item)}" '
                   f'name={quoteattr(describe.get(item, item))} dataObjectRef="Data_{bpmn_id(item)}"/>')
    for node in d.nodes.values():
        attributes = f' default="{node.default}"' if node.default else ""
        out.append(f'    <bpmn:{node.kind} id="{node.id}" name={quoteattr(node.name)}{attributes}>')
        if node.documentation:
            out.append(f'      <bpmn:documentation>{escape(node.documentation)}</bpmn:documentation>')
        out += [f'      <bpmn:incoming>{f}</bpmn:incoming>' for f in node.incoming]
        out += [f'      <bpmn:outgoing>{f}</bpmn:outgoing>' for f in node.outgoing]
        if node.inputs:  # an input association targets a property of the task, as BPMN modelers write it
            out.append(f'      <bpmn:property id="Property_{node.id}" name="__targetRef_placeholder"/>')
        for item in node.inputs:
            out += [f'      <bpmn:dataInputAssociation id="In_{node.id}_{bpmn_id(item)}">',
                    f'        <bpmn:sourceRef>DataRef_{bpmn_id(item)}</bpmn:sourceRef>',
                    f'        <bpmn:targetRef>Property_{node.id}</bpmn:targetRef>',
                    '      </bpmn:dataInputAssociation>']
        for item in node.outputs:
            out += [f'      <bpmn:dataOutputAssociation id="Out_{node.id}_{bpmn_id(item)}">',
                    f'        <bpmn:targetRef>DataRef_{bpmn_id(item)}</bpmn:targetRef>',
                    '      </bpmn:dataOutputAssociation>']
        out.append(f'    </bpmn:{node.kind}>')
    for flow in d.flows:
        name = f" name={quoteattr(flow.name)}" if flow.name else ""
        if flow.condition:
            out += [f'    <bpmn:sequenceFlow id="{flow.id}"{name} sourceRef="{flow.source}" targetRef="{flow.target}">',
                    f'      <bpmn:conditionExpression xsi:type="bpmn:tFormalExpression">{escape(flow.condition)}'
                    '</bpmn:conditionExpression>',
                    '    </bpmn:sequenceFlow>']
        else:
            out.append(f'    <bpmn:sequenceFlow id="{flow.id}"{name} sourceRef="{flow.source}" targetRef="{flow.target}"/>')
    out.append('  </bpmn:process>')
    out += _interchange(cid, name, d, items)
    out.append('</bpmn:definitions>')
    return "\n".join(out) + "\n"


def _interchange(cid: str, name: str, d: _Diagram, items: list[str]) -> list[str]:
    """Diagram interchange: where each shape and edge is drawn (pool, lanes, nodes, data objects)."""
    width = max([n.x + SIZES[n.kind][0] for n in d.nodes.values()] + [600]) + 120
    height = len(d.lanes) * LANE_HEIGHT
    out = [f'  <bpmndi:BPMNDiagram id="Diagram_{bpmn_id(name)}">',
           f'    <bpmndi:BPMNPlane id="Plane_{bpmn_id(name)}" bpmnElement="{cid}">',
           f'      <bpmndi:BPMNShape id="Participant_{bpmn_id(name)}_di" bpmnElement="Participant_{bpmn_id(name)}" '
           'isHorizontal="true">',
           f'        <dc:Bounds x="0" y="0" width="{width + 30:.0f}" height="{height}"/>',
           '      </bpmndi:BPMNShape>']
    for lane in d.lanes:
        out += [f'      <bpmndi:BPMNShape id="Lane_{bpmn_id(lane)}_di" bpmnElement="Lane_{bpmn_id(lane)}" isHorizontal="true">',
                f'        <dc:Bounds x="30" y="{d.lane_y(lane):.0f}" width="{width:.0f}" height="{LANE_HEIGHT}"/>',
                '      </bpmndi:BPMNShape>']
    centers = {}
    for node in d.nodes.values():
        w, h = SIZES[node.kind]
        x, y = node.x, node.y - h / 2
        centers[node.id] = (x + w / 2, y + h / 2)
        marker = ' isMarkerVisible="true"' if node.kind == "exclusiveGateway" else ""
        out += [f'      <bpmndi:BPMNShape id="{node.id}_di" bpmnElement="{node.id}"{marker}>',
                f'        <dc:Bounds x="{x:.0f}" y="{y:.0f}" width="{w}" height="{h}"/>',
                '      </bpmndi:BPMNShape>']
    for i, item in enumerate(items):
        out += [f'      <bpmndi:BPMNShape id="DataRef_{bpmn_id(item)}_di" bpmnElement="DataRef_{bpmn_id(item)}">',
                f'        <dc:Bounds x="{60 + i * 70}" y="{height + 20}" width="36" height="50"/>',
                '      </bpmndi:BPMNShape>']
    for flow in d.flows:
        (x1, y1), (x2, y2) = centers[flow.source], centers[flow.target]
        out += [f'      <bpmndi:BPMNEdge id="{flow.id}_di" bpmnElement="{flow.id}">',
                f'        <di:waypoint x="{x1:.0f}" y="{y1:.0f}"/>',
                f'        <di:waypoint x="{x2:.0f}" y="{y2:.0f}"/>',
                '      </bpmndi:BPMNEdge>']
    out += ['    </bpmndi:BPMNPlane>', '  </bpmndi:BPMNDiagram>']
    return out


# --- sequence diagrams ------------------------------------------------------------------------------

def process_sequence(process: Process, outside: set[str], describe: Mapping[str, str] | None = None) -> str:
    """Mermaid sequence diagram of a process; actors outside the organization (people, public
    clients, third parties: `outside`) are boxed apart, and every message that crosses the
    organization's boundary says so with the data it carries."""
    describe = describe or {}
    actors = process.actors()
    alias = {a: f"A{i}" for i, a in enumerate(actors)}
    lines = ["sequenceDiagram", f"    title {_mermaid_text(process.name)}"]
    groups = [("Outside the organization", [a for a in actors if a in outside]),
              ("The organization", [a for a in actors if a not in outside])]
    for label, members in groups:
        if members:
            lines.append(f"    box {_mermaid_text(label)}")
            lines += [f"        participant {alias[a]} as {_mermaid_text(a)}" for a in members]
            lines.append("    end")
    for step in process.steps:
        data = ", ".join(describe.get(i, i) for i in step.data)
        lines.append(f"    {alias[step.source]}->>{alias[step.target]}: {_mermaid_text(step.action)}"
                     + (f" ({_mermaid_text(data)})" if data else ""))
        if (step.source in outside) != (step.target in outside) and step.data:
            lines.append(f"    Note over {alias[step.source]},{alias[step.target]}: crosses the organization's boundary: "
                         f"{_mermaid_text(data)}")
    return "\n".join(lines) + "\n"


def _mermaid_text(text: str) -> str:
    """Mermaid labels: no characters that end a statement or open markup."""
    return re.sub(r"[;#<>\n\r]", " ", text).strip()[:200]


# --- the files ----------------------------------------------------------------------------------------

OUTSIDE_ZONES = ("public", "third_party")


def outside_the_organization(landscape, processors, actors) -> set[str]:
    """Actors outside the organization: people (not systems), public clients, third parties."""
    systems = landscape.systems if landscape is not None else {}
    return {a for a in actors if a not in systems or a in processors or systems[a].zone in OUTSIDE_ZONES
            or systems[a].kind == "person"}


def write_process_views(landscape, processors, out_dir, sagas=None, processes=None) -> list:
    """`bpmn/<saga>.bpmn` for the sagas named (all by default), `swimlane/<process>.bpmn` and `.md`
    (the sequence) for the processes named (all by default); `[]` writes none of that kind."""
    from dataflow_governance.local.files import check_output_folder, write_safely

    written = []
    declared_sagas = landscape.sagas if landscape is not None else {}
    declared_processes = landscape.processes if landscape is not None else {}
    for name in sorted(declared_sagas) if sagas is None else sagas:
        folder = check_output_folder(out_dir / "bpmn")
        written.append(write_safely(folder / f"{bpmn_id(name)}.bpmn", saga_bpmn(declared_sagas[name])))
    for name in sorted(declared_processes) if processes is None else processes:
        folder = check_output_folder(out_dir / "swimlane")
        flow = declared_processes[name]
        written.append(write_safely(folder / f"{bpmn_id(name)}.bpmn", process_bpmn(flow)))
        sequence = process_sequence(flow, outside_the_organization(landscape, processors, flow.actors()))
        written.append(write_safely(folder / f"{bpmn_id(name)}.md",
                                    f"# {name}\n\n{flow.description}\n\n```mermaid\n{sequence}```\n"))
    return written
