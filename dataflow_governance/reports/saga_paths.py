"""Sagas on the data map and the C4 container view: each saga's happy path (its steps, numbered, with
the data they send) and every compensating path (the compensations that undo a step), labelled."""

from __future__ import annotations

from dataflow_governance.model.sagas import Saga
from dataflow_governance.reports.mermaid import mermaid_id


def _data(items: tuple[str, ...]) -> str:
    return ", ".join(items[:4]) + (" …" if len(items) > 4 else "")


def _text(text: str) -> str:
    return text.replace('"', "'")


def saga_edges(saga: Saga) -> list[tuple[str, str, str, bool]]:
    """(participant, label, data, compensating) for every step and compensation of the saga, in order."""
    edges = []
    for n, step in enumerate(saga.steps, 1):
        edges.append((step.participant, f"{n}. {step.name}: {step.command}", _data(step.sends), False))
        for compensation in saga.compensation_chain(step):
            edges.append((compensation.participant, f"undo {n}: {compensation.name}: {compensation.command}",
                          "leaves the data there" if compensation.leaves_data else "", True))
    return edges


def flowchart_lines(sagas: dict[str, Saga], node_of) -> list[str]:
    """Data map (flowchart) lines: each saga a node, solid arrows on its happy path, dotted ones on
    its compensating paths; `node_of(system)` is the id a participant is drawn as (None: draw it)."""
    lines: list[str] = []
    drawn: set[str] = set()
    for name, saga in sorted(sagas.items()):
        sid = f"saga_{mermaid_id(name)}"
        lines.append(f'  {sid}(["{_text(name)} saga · state in {_text(saga.state)}"])')
        lines.append(f"  {sid} --- {mermaid_id(saga.state)}")
        for participant, label, data, compensating in saga_edges(saga):
            target = node_of(participant)
            if target is None:
                target = f"sys_{mermaid_id(participant)}"
                if target not in drawn:
                    drawn.add(target)
                    lines.append(f'  {target}["{_text(participant)}"]')
            text = _text(label + (f" · {data}" if data else ""))
            lines.append(f'  {sid} -. "{text}" .-> {target}' if compensating else f'  {sid} -- "{text}" --> {target}')
    return lines


def c4_lines(sagas: dict[str, Saga], element_of) -> list[str]:
    """C4 container lines: each saga an orchestrating container, a Rel per step (happy path) and per
    compensation (compensating path); `element_of(system)` is a participant's element id, or None
    with the line that draws it."""
    lines: list[str] = []
    drawn: set[str] = set()
    for name, saga in sorted(sagas.items()):
        sid = f"saga_{mermaid_id(name)}"
        lines.append(f'  Container({sid}, "{_text(name)} saga", "orchestrator", "state in {_text(saga.state)}")')
        for participant, label, data, compensating in saga_edges(saga):
            element, draw = element_of(participant)
            if draw and element not in drawn:
                drawn.add(element)
                lines.append(draw)
            path = "compensating path" if compensating else "happy path"
            lines.append(f'  Rel({sid}, {element}, "{_text(label)}", "{path}{"; " + _text(data) if data else ""}")')
    return lines
