"""The subject named in other rows' free text (a neighbour's ticket, a colleague's note): the
mentions redacted in place, the rows kept; counted, verified and exported like any target.

The identifiers are read from the identity row when the run first counts the target, before any
target deletes that row, and kept on the outcome in memory only. A run that finds the identity row
gone (an interrupted earlier run deleted it) cannot search the text any more, and says so: the
target is never verified on an empty list of things to look for.
"""

from __future__ import annotations

from datetime import datetime

from dataflow_governance.subjects import mentions
from dataflow_governance.subjects.handlers.base import Handler
from dataflow_governance.subjects.reach import Reach
from dataflow_governance.subjects.targets import Outcome, Target

GONE = ("the subject's identity row is gone (an earlier, interrupted run erased it): their name and contact "
        "details in this text can no longer be searched for")


class TextMentions(Handler):
    def confirm(self, outcome: Outcome, reach: Reach) -> str | None:
        from dataflow_governance.detection.places import table_problems

        target = outcome.plan
        problems = "; ".join(map(str, table_problems(target.asset, target.table, [target.column], reach.warehouse)))
        return problems or None

    def _pattern(self, outcome: Outcome, reach: Reach, value: str) -> str | None:
        if not outcome.values:
            table, id_column, columns = outcome.plan.identity
            outcome.values = tuple(mentions.subject_identifiers(reach.warehouse, table, id_column, columns, value))
        if not outcome.values:
            outcome.problem = GONE
            return None
        return mentions.pattern(outcome.values)

    def count(self, outcome: Outcome, reach: Reach, value: str, now: datetime) -> int:
        regex = self._pattern(outcome, reach, value)
        return mentions.count_mentions(reach.warehouse, outcome.plan.table, outcome.plan.column, regex) if regex else 0

    def execute(self, outcome: Outcome, reach: Reach, value: str, now: datetime) -> int:
        regex = self._pattern(outcome, reach, value)
        if regex is None:
            return 0
        return mentions.redact_mentions(reach.warehouse, outcome.plan.table, outcome.plan.column, regex)

    def verify(self, outcome: Outcome, reach: Reach, value: str, now: datetime) -> bool:
        regex = self._pattern(outcome, reach, value)
        return regex is not None and mentions.count_mentions(reach.warehouse, outcome.plan.table,
                                                             outcome.plan.column, regex) == 0

    def records(self, target: Target, reach: Reach, value: str) -> tuple[list[dict], int] | None:
        table, id_column, columns = target.identity
        identifiers = mentions.subject_identifiers(reach.warehouse, table, id_column, columns, value)
        if not identifiers or not reach.warehouse.table_exists(target.table):
            return None
        regex = mentions.pattern(identifiers)
        return mentions.passages(reach.warehouse, target.table, target.column, regex, identifiers), 0
