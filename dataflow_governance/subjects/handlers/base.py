"""The handler protocol, and the defaults a handler inherits."""

from __future__ import annotations

from datetime import datetime

from dataflow_governance.subjects.reach import Reach
from dataflow_governance.subjects.targets import Outcome, Target


class Handler:
    """One storage system's part of an erasure, an offboarding and an access export.

    Every method takes the target's `Outcome` (the plan's `Target` plus what this run found), the
    stores (`Reach`) and the id (`value`: the subject's or the tenant's, matched in the data, never
    written anywhere). Handlers write what they find into the outcome (`retained`, `unsearched`,
    `notes`, `pending`, …) and return counts in the target's unit.
    """

    def confirm(self, outcome: Outcome, reach: Reach) -> str | None:
        """Why the target's declared place cannot be searched (a table, a column, a bucket that is
        not there), or None. Zero found where nothing exists proves nothing: never verified."""
        return None

    def count(self, outcome: Outcome, reach: Reach, value: str, now: datetime) -> int:
        """What the target holds of the subject (or tenant) now."""
        return 0

    def execute(self, outcome: Outcome, reach: Reach, value: str, now: datetime) -> int:
        """Carry the target out; returns the count affected."""
        return 0

    def verify(self, outcome: Outcome, reach: Reach, value: str, now: datetime) -> bool:
        """Whether nothing of the subject is left there now (re-queried, never remembered)."""
        return False

    def records(self, target: Target, reach: Reach, value: str) -> tuple[list[dict], int] | None:
        """The subject's records there, for an access export, and how many objects could not be
        searched; None where the place holds no records of its own (a model, a key, a processor)."""
        return None
