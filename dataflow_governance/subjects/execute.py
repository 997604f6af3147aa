"""Counting, carrying out and verifying one target of a plan, through the handler of its storage
system (see `handlers`). A target whose declared place is not there counts nothing and says why
(`outcome.problem`): zero rows found where nothing exists proves nothing, so it never verifies."""

from __future__ import annotations

from datetime import UTC, datetime

from dataflow_governance.subjects.handlers import handler_for
from dataflow_governance.subjects.reach import Reach
from dataflow_governance.subjects.targets import Outcome


def utc(now: datetime | None = None) -> datetime:
    """`now`, or the current UTC time (naive, as the warehouse compares it)."""
    return now or datetime.now(UTC).replace(tzinfo=None)


def count_target(outcome: Outcome, reach: Reach, value: str, now: datetime | None = None) -> int:
    """What the target holds of the subject (or tenant) now; rows an offboarding keeps under a
    legal hold are counted apart, in `outcome.retained`."""
    handler = handler_for(outcome.plan)
    outcome.problem = handler.confirm(outcome, reach)
    if outcome.problem:
        return 0
    return handler.count(outcome, reach, value, utc(now))


def execute_target(outcome: Outcome, reach: Reach, value: str, now: datetime) -> int:
    """Carry out one target; returns the count affected."""
    if outcome.problem:
        return 0
    return handler_for(outcome.plan).execute(outcome, reach, value, now)


def verify_target(outcome: Outcome, reach: Reach, value: str, now: datetime | None = None) -> bool:
    """Whether the target holds nothing of the subject now (re-queried); never for an operator's step."""
    handler = handler_for(outcome.plan)
    outcome.problem = handler.confirm(outcome, reach)
    if outcome.problem or outcome.plan.outstanding:
        return False
    return handler.verify(outcome, reach, value, utc(now))
