"""The handler protocol, and the defaults a handler inherits."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from dataflow_governance.subjects.reach import Reach
from dataflow_governance.subjects.targets import Outcome, Target

if TYPE_CHECKING:
    import pandas as pd


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


def json_records(frame: pd.DataFrame) -> list[dict]:
    """A frame's rows as JSON values a person can read: a date as `1990-07-02`, a time to the second
    (`2026-01-31T12:00:00`), never pandas' `1990-07-02T00:00:00.000`."""
    import json

    frame = frame.copy()
    for name in frame.columns:
        column = frame[name]
        if hasattr(column, "dt") and str(column.dtype).startswith("datetime64"):
            values = column.dropna()
            dates_only = bool(len(values)) and bool((values == values.dt.normalize()).all())
            fmt = "%Y-%m-%d" if dates_only else ("%Y-%m-%dT%H:%M:%S.%f" if (values.dt.microsecond != 0).any()
                                                 else "%Y-%m-%dT%H:%M:%S")
            frame[name] = column.dt.strftime(fmt).astype(object).where(column.notna(), None)
    return json.loads(frame.to_json(orient="records", date_format="iso"))
