"""Delta tables: the subject's rows, the data files that held them and any log statistic naming
them. Their personal values are read first, kept in memory only, so verification can search the
log for them."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

from dataflow_governance.storage import delta
from dataflow_governance.subjects.handlers.base import Handler
from dataflow_governance.subjects.reach import Reach
from dataflow_governance.subjects.targets import Outcome, Target


class DeltaRows(Handler):
    def confirm(self, outcome: Outcome, reach: Reach) -> str | None:
        target = outcome.plan
        if not (reach.paths.delta(target.target) / "_delta_log").is_dir():
            return f"asset {target.asset}: no Delta table at {target.target!r}; materialize it or correct storage.path"
        return None

    def count(self, outcome: Outcome, reach: Reach, value: str, now: datetime) -> int:
        return delta.count_rows(reach.paths.delta(outcome.plan.target), outcome.plan.column, value)

    def execute(self, outcome: Outcome, reach: Reach, value: str, now: datetime) -> int:
        target = outcome.plan
        path = reach.paths.delta(target.target)
        rows = delta.rows_of(path, target.column, value)
        outcome.values = tuple(sorted({str(r[c]) for r in rows for c in target.personal if r.get(c) is not None}))
        done = delta.erase_rows(path, target.column, value, outcome.values)
        outcome.notes = done.describe(Path(target.target))
        return done.deleted

    def verify(self, outcome: Outcome, reach: Reach, value: str, now: datetime) -> bool:
        target = outcome.plan
        return delta.verify_erased(reach.paths.delta(target.target), target.column, value, outcome.values).clean

    def records(self, target: Target, reach: Reach, value: str) -> tuple[list[dict], int] | None:
        rows = delta.rows_of(reach.paths.delta(target.target), target.column, value)
        return json.loads(json.dumps(rows, default=str)), 0
