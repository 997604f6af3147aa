"""Steps the project lists but cannot take: telling a processor that received the data (an
operator confirms it with `--notified`), dropping a tenant's database outside this connection.
Never verified: the project cannot see them done."""

from __future__ import annotations

from datetime import datetime

from dataflow_governance.subjects.handlers.base import Handler
from dataflow_governance.subjects.reach import Reach
from dataflow_governance.subjects.targets import Outcome, System


class OperatorSteps(Handler):
    def count(self, outcome: Outcome, reach: Reach, value: str, now: datetime) -> int:
        return 1  # one processor to tell; one step for an operator

    def execute(self, outcome: Outcome, reach: Reach, value: str, now: datetime) -> int:
        return outcome.count if outcome.plan.system == System.PROCESSOR else 0
