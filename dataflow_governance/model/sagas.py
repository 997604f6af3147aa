"""Sagas and declared processes: flows designed to fail, and flows between several actors.

A saga (`sagas:` in the manifest) is an ordered list of steps, each a command sent to a participant
system with the data it sends and gets back, undone by its compensation when a later step fails.
Its state (saga id, type, status, current step, data, created at) is an asset; so is the event log it
writes, if it has one. A process (`processes:`) is a declared multi-actor flow (a password reset):
who sends what to whom, in order; it is drawn as swimlanes and a sequence diagram.

Everything is validated here against the project's systems and assets, and a bad value names the
manifest key it came from: an unknown participant or compensation, a compensation cycle, a step
declared twice are each one GovernanceError (the CLI's exit 2).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from dataflow_governance.errors import GovernanceError
from dataflow_governance.model.validation import validated

STATUSES = ("running", "completed", "failed", "compensated")
EVENT_TYPES = ("step_completed", "step_failed", "compensation_completed", "compensation_failed")


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class SagaColumns(_Model):
    """The state asset's columns (their names, when the asset names them otherwise)."""

    id: str = "saga_id"
    type: str = "saga_type"
    status: str = Field(default="status", description=f"one of {', '.join(STATUSES)}")
    step: str = Field(default="current_step", description="the step it is at (the failed step, once failed)")
    data: str = Field(default="data", description="the saga's data, a JSON object")
    created_at: str = "created_at"
    reason: str | None = Field(default="failure_reason", description="why it failed (a code or a short text)")


class SagaStep(_Model):
    name: str
    participant: str = Field(description="the system the command is sent to")
    command: str
    sends: tuple[str, ...] = Field(default=(), description="fideslang categories, or asset.column")
    returns: tuple[str, ...] = ()
    compensation: str | None = Field(default=None, description="the compensation that undoes it")
    idempotency_key: str | None = Field(default=None, description="the field that makes a retried command harmless")


class SagaCompensation(_Model):
    name: str
    participant: str
    command: str
    leaves_data: bool = Field(default=False, description="the participant still holds what it was sent afterwards "
                                                          "(a cancelled shipment keeps the address)")
    deletion: str | None = Field(default=None, description="how that data is deleted at the participant")
    then: str | None = Field(default=None, description="a compensation that runs after this one")


class Saga(_Model):
    name: str
    description: str = ""
    state: str = Field(description="the asset holding each saga's state")
    events: str | None = Field(default=None, description="the asset of the events the saga writes")
    key: str | None = Field(default=None, description="the business key in the saga's data (order_id), for traces")
    columns: SagaColumns = SagaColumns()
    steps: tuple[SagaStep, ...]
    compensations: dict[str, SagaCompensation] = Field(default_factory=dict)

    def compensation_chain(self, step: SagaStep) -> list[SagaCompensation]:
        """The compensations that undo `step`: its own, then those it names with `then`."""
        chain, name = [], step.compensation
        while name is not None:
            compensation = self.compensations[name]
            chain.append(compensation)
            name = compensation.then
        return chain

    def to_dict(self) -> dict[str, Any]:
        return self.model_dump(mode="json", exclude_defaults=True)


class ProcessStep(_Model):
    source: str = Field(alias="from")
    target: str = Field(alias="to")
    action: str
    data: tuple[str, ...] = ()


class Process(_Model):
    name: str
    description: str = ""
    steps: tuple[ProcessStep, ...]

    def actors(self) -> list[str]:
        return list(dict.fromkeys(a for s in self.steps for a in (s.source, s.target)))


def build_sagas(raw: Mapping[str, Any], systems: Mapping[str, Any], assets: Mapping[str, Any] | None = None) -> dict[str, Saga]:
    """`sagas:` validated: participants are systems, compensations are declared once and end
    (no cycle), step names are unique, the state and events are assets (when `assets` is given)."""
    sagas = {}
    for name, body in raw.items():
        where = f"sagas.{name}"
        if not isinstance(body, dict):
            raise GovernanceError(f"{where}: must be a mapping (state, steps, compensations)")
        steps = body.get("steps")
        if not isinstance(steps, list) or not steps:
            raise GovernanceError(f"{where}.steps: a list of steps, each with a name, participant and command")
        seen: set[str] = set()
        for i, step in enumerate(steps):
            step_name = step.get("name") if isinstance(step, dict) else None
            if not isinstance(step_name, str) or not step_name:
                raise GovernanceError(f"{where}.steps[{i}].name: every step has a name")
            if step_name in seen:
                raise GovernanceError(f"{where}.steps[{i}].name: step {step_name!r} is declared twice")
            seen.add(step_name)
        compensations = body.get("compensations") or {}
        if not isinstance(compensations, dict):
            raise GovernanceError(f"{where}.compensations: a mapping of compensation name → participant and command")
        both = seen & set(compensations)
        if both:
            raise GovernanceError(f"{where}.compensations: {', '.join(sorted(both))} is both a step and a compensation")
        saga = validated(Saga, {**body, "name": name,
                                 "compensations": {c: {**(v or {}), "name": c} for c, v in compensations.items()}}, where)
        for i, step in enumerate(saga.steps):
            _known_system(step.participant, systems, f"{where}.steps[{i}].participant")
            if step.compensation is not None and step.compensation not in saga.compensations:
                raise GovernanceError(f"{where}.steps[{i}].compensation: unknown compensation {step.compensation!r}; "
                                      f"compensations: {', '.join(sorted(saga.compensations)) or '(none declared)'}")
        for c_name, compensation in saga.compensations.items():
            _known_system(compensation.participant, systems, f"{where}.compensations.{c_name}.participant")
            if compensation.then is not None and compensation.then not in saga.compensations:
                raise GovernanceError(f"{where}.compensations.{c_name}.then: unknown compensation {compensation.then!r}")
            path, current = [c_name], compensation.then
            while current is not None:
                if current in path:
                    raise GovernanceError(f"{where}.compensations.{c_name}: a compensation cycle: "
                                          f"{' → '.join([*path, current])}")
                path.append(current)
                current = saga.compensations[current].then
        if assets is not None:
            for field_name in ("state", "events"):
                asset = getattr(saga, field_name)
                if asset is not None and asset not in assets:
                    raise GovernanceError(f"{where}.{field_name}: {asset!r} is not a governed asset")
        sagas[name] = saga
    return sagas


def build_processes(raw: Mapping[str, Any], systems: Mapping[str, Any], people: tuple[str, ...] = ()) -> dict[str, Process]:
    """`processes:` validated: every actor is a system or a kind of data subject (`customer`)."""
    processes = {}
    for name, body in raw.items():
        where = f"processes.{name}"
        if not isinstance(body, dict) or not isinstance(body.get("steps"), list) or not body["steps"]:
            raise GovernanceError(f"{where}.steps: a list of steps, each {{from, to, action, data}}")
        process = validated(Process, {**body, "name": name}, where)
        for i, step in enumerate(process.steps):
            for end, actor in (("from", step.source), ("to", step.target)):
                if actor not in systems and actor not in people:
                    _known_system(actor, systems, f"{where}.steps[{i}].{end}", people)
        processes[name] = process
    return processes


def _known_system(name: str, systems: Mapping[str, Any], where: str, people: tuple[str, ...] = ()) -> None:
    if name not in systems and name not in people:
        from dataflow_governance.model import taxonomy

        near = taxonomy.suggest(name, frozenset(systems) | frozenset(people))
        raise GovernanceError(f"{where}: unknown system {name!r}" + (f" (did you mean {', '.join(near)}?)" if near else "")
                              + f"; systems: {', '.join(sorted(systems))}")

