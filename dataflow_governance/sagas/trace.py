"""`dfg saga trace`: why did a saga fail, and where did its data go?

One saga's state row and its events are read from where the saga keeps them — the state by its id,
or by a business key inside its data (`order_id=456`), and its events by the saga id — each by a
query the warehouse answers (an index or a scan there, never a table read into Python). Events in S3
(JSON lines) are read line by line, and a line that is not an event of the saga's shape is counted,
never fatal. The answer says which steps completed, which failed and why, which compensations ran
(and which should have and did not), and what each step sent to whom. Values of the saga's data are
never part of it: field names, step names, systems, times and counts.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from sqlglot import exp

from dataflow_governance.errors import DfgError
from dataflow_governance.model.sagas import EVENT_TYPES, Saga
from dataflow_governance.storage.engines.base import column_expr, table_expr


class SagaNotFound(DfgError):
    """No saga with that id or key in the state asset (the CLI's exit 1)."""


@dataclass(frozen=True)
class EventSource:
    """Where a saga's events are: a warehouse table, or JSON lines under an S3 prefix."""

    table: str | None = None
    bucket: str | None = None
    prefix: str | None = None


def state_query(saga: Saga, table: str, dialect: str, by_key: str | None) -> exp.Select:
    """The one state row, by id or by a field of the data (bound as a placeholder, never spliced)."""
    c = saga.columns
    names = [c.id, c.type, c.status, c.step, c.created_at, *([c.reason] if c.reason else [])]
    where: exp.Expr
    if by_key is None:
        where = exp.EQ(this=exp.cast(column_expr(c.id), "TEXT"), expression=exp.Placeholder())
    else:
        data: exp.Expr = column_expr(c.data)
        if dialect == "postgres":  # its JSON operators take json, the column may be text
            data = exp.cast(data, "JSON")
        path = exp.JSONPath(expressions=[exp.JSONPathRoot(), exp.JSONPathKey(this=by_key)])
        where = exp.EQ(this=exp.cast(exp.JSONExtractScalar(this=data, expression=path), "TEXT"), expression=exp.Placeholder())
    return exp.select(*[column_expr(n) for n in names]).from_(table_expr(table)).where(where).limit(2)


EVENT_FIELDS = ("saga_id", "event", "step", "at", "reason")


def events_query(table: str) -> exp.Select:
    id_, event, step, at, reason = (column_expr(n) for n in EVENT_FIELDS)
    return (exp.select(event, step, exp.cast(at, "TEXT"), reason).from_(table_expr(table))
            .where(exp.EQ(this=exp.cast(id_, "TEXT"), expression=exp.Placeholder())).order_by(at))


def trace_saga(saga: Saga, warehouse: Any, state_table: str, events: EventSource | None, *, saga_id: str | None = None,
               key: tuple[str, str] | None = None, store: Any = None, third_parties: Iterable[str] = ()) -> dict:
    """The trace of one saga (by `saga_id`, or by `key` = (field, value) in its data)."""
    rows = warehouse.fetch(state_query(saga, state_table, warehouse.dialect, key[0] if key else None),
                           [saga_id if key is None else key[1]])
    asked = f"id {saga_id}" if key is None else f"{key[0]}={key[1]}"
    if not rows:
        raise SagaNotFound(f"no {saga.name} saga with {asked} in {saga.state}")
    if len(rows) > 1:
        raise SagaNotFound(f"several {saga.name} sagas have {asked}: give --id")
    row = rows[0]
    found_id, status, current, created, reason = str(row[0]), row[2], row[3], row[4], row[5] if len(row) > 5 else None
    read = _read_events(warehouse, events, found_id, store)
    return explain(saga, found_id, status, current, str(created), reason, read, set(third_parties))


@dataclass
class _Events:
    rows: list[tuple[str, str, str, str | None]]  # (event, step, at, reason), in order
    corrupted: int = 0
    read: int = 0


def _read_events(warehouse: Any, events: EventSource | None, saga_id: str, store: Any) -> _Events:
    if events is None:
        return _Events([])
    if events.table is not None:
        rows = warehouse.fetch(events_query(events.table), [saga_id])
        good = [(str(e), str(s), str(a), r) for e, s, a, r in rows if e in EVENT_TYPES and s]
        return _Events(good, corrupted=len(rows) - len(good), read=len(rows))
    from dataflow_governance.storage.objectstore import get_object, list_keys

    bucket = events.bucket or ""
    found, corrupted, read = [], 0, 0
    for key in sorted(list_keys(store, bucket, events.prefix or "")):
        for line in _lines(get_object(store, bucket, key)):
            read += 1
            try:
                event = json.loads(line)
            except ValueError:
                corrupted += 1
                continue
            if not isinstance(event, dict) or event.get("event") not in EVENT_TYPES or not event.get("step") \
                    or not event.get("at") or "saga_id" not in event:
                corrupted += 1
                continue
            if str(event["saga_id"]) == saga_id:
                found.append((event["event"], str(event["step"]), str(event["at"]), event.get("reason")))
    found.sort(key=lambda e: e[2])
    return _Events(found, corrupted, read)


def _lines(body: bytes) -> Iterator[str]:
    text = body.decode("utf-8", errors="replace")
    yield from (line for line in text.splitlines() if line.strip())


def explain(saga: Saga, saga_id: str, status: str, current: str | None, created: str, reason: str | None,
            events: _Events, third_parties: set[str]) -> dict:
    """What happened, from the events (the state row says where it ended)."""
    steps = {s.name: s for s in saga.steps}
    completed: list[dict[str, Any]] = []
    compensations: list[dict[str, Any]] = []
    failed: dict[str, Any] | None = None
    unknown = 0
    for event, step, at, why in events.rows:
        if event in ("step_completed", "step_failed") and step not in steps:
            unknown += 1
            continue
        if event == "step_completed":
            s = steps[step]
            completed.append({"step": step, "participant": s.participant, "command": s.command, "at": at,
                              "sent": list(s.sends), "returned": list(s.returns)})
        elif event == "step_failed":
            s = steps[step]
            failed = {"step": step, "participant": s.participant, "command": s.command, "at": at, "reason": why or reason}
        else:
            of = next((s.name for s in saga.steps if step in [c.name for c in saga.compensation_chain(s)]), None)
            if step not in saga.compensations:
                unknown += 1
                continue
            compensation = saga.compensations[step]
            compensations.append({"compensation": step, "of_step": of, "participant": compensation.participant,
                                  "at": at, "ok": event == "compensation_completed",
                                  "leaves_data": compensation.leaves_data, "deletion": compensation.deletion})
    if failed is None and status in ("failed", "compensated") and current is not None and current in steps:
        s = steps[current]  # no failure event (a lost one): the state says where it stopped
        failed = {"step": current, "participant": s.participant, "command": s.command, "at": None, "reason": reason,
                  "from_state_only": True}
    done = {c["step"] for c in completed}
    expected = [c.name for s in reversed(saga.steps) if s.name in done and (failed is not None)
                for c in saga.compensation_chain(s)]
    ran = [c["compensation"] for c in compensations if c["ok"]]
    sent = [{"step": c["step"], "to": c["participant"], "data": c["sent"], "third_party": c["participant"] in third_parties}
            for c in completed]
    if failed is not None:
        s = steps[failed["step"]]
        sent.append({"step": s.name, "to": s.participant, "data": list(s.sends), "third_party": s.participant in third_parties,
                     "attempted": True})
    still_held = [{"participant": c["participant"], "compensation": c["compensation"], "deletion": c["deletion"]}
                  for c in compensations if c["leaves_data"]]
    return {"saga": saga.name, "id": saga_id, "status": status, "current_step": current, "created_at": created,
            "completed": completed, "failed": failed, "compensations": compensations,
            "expected_compensations": expected, "missing_compensations": [c for c in expected if c not in ran],
            "out_of_order": ran != [c for c in expected if c in ran],
            "data_sent": sent, "data_still_held": still_held,
            "events": {"read": events.read, "of_this_saga": len(events.rows), "corrupted": events.corrupted,
                       "unknown_steps": unknown}}
