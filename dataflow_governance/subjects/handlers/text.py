"""The subject named in other rows' free text (a neighbour's ticket, a colleague's note, a text
attachment, a JSON-lines field): the mentions redacted in place, the rows and records kept;
counted, verified and exported like any target.

The identifiers are read from the identity row when the run first counts the target, before any
target deletes that row, and kept on the outcome in memory only. When the row is gone (a rerun,
a run resuming one that was killed after deleting it), the mentions are found by the keyed hashes
the request recorded (`mentions.fingerprints`). A request that recorded none — and an identity
row that is gone — cannot be searched any more, and says so: never verified on nothing to look for.
"""

from __future__ import annotations

from datetime import datetime

from dataflow_governance.ledger.chain import Ledger
from dataflow_governance.ledger.erasures import erasure_state
from dataflow_governance.storage import object_text
from dataflow_governance.storage.objectstore import split_s3_uri
from dataflow_governance.subjects import mentions
from dataflow_governance.subjects.handlers.base import Handler
from dataflow_governance.subjects.handlers.objects import Objects, _masked
from dataflow_governance.subjects.reach import Reach
from dataflow_governance.subjects.targets import Outcome, System, Target

GONE = ("the subject's identity row is gone and their erasure request recorded no fingerprints of their "
        "name and contact details: their mentions in this text can no longer be searched for")


def request_fingerprints(reach: Reach, value: str) -> list[dict]:
    """The keyed hashes of the subject's identifiers their erasure request recorded."""
    requested = erasure_state(Ledger(reach.warehouse), reach.keyring.subject_hash(value))["requested"] or {}
    return list(requested.get("mentions") or [])


class TextMentions(Handler):
    def confirm(self, outcome: Outcome, reach: Reach) -> str | None:
        from dataflow_governance.detection.places import table_problems

        target = outcome.plan
        if target.system == System.S3:
            return Objects().confirm(outcome, reach)
        problems = "; ".join(map(str, table_problems(target.asset, target.table, [target.column], reach.warehouse)))
        return problems or None

    def _matcher(self, outcome: Outcome, reach: Reach, value: str) -> mentions.Matcher | None:
        if not outcome.values:
            table, id_column, columns = outcome.plan.identity
            outcome.values = tuple(mentions.subject_identifiers(reach.warehouse, table, id_column, columns, value))
        if outcome.values:
            return mentions.PlainMatcher(outcome.values)
        prints = request_fingerprints(reach, value)
        if prints:
            return mentions.KeyedMatcher(prints, reach.keyring.key("subject"))
        outcome.problem = GONE
        return None

    def _tally(self, outcome: Outcome, reach: Reach, value: str, redact: bool) -> int:
        matcher = self._matcher(outcome, reach, value)
        if matcher is None:
            return 0
        target = outcome.plan
        if target.system != System.S3:
            act = mentions.redact_mentions if redact else mentions.count_mentions
            return act(reach.warehouse, target.table, target.column, matcher)
        bucket, prefix = split_s3_uri(target.table)
        act_on_objects = object_text.redact_mentions if redact else object_text.count_mentions
        tally = act_on_objects(reach.object_store, bucket, prefix, target.personal or None, matcher.redact, target.fmt)
        outcome.unsearched = [_masked(key, value) for key in tally.unsearched]
        return tally.count

    def count(self, outcome: Outcome, reach: Reach, value: str, now: datetime) -> int:
        return self._tally(outcome, reach, value, redact=False)

    def execute(self, outcome: Outcome, reach: Reach, value: str, now: datetime) -> int:
        return self._tally(outcome, reach, value, redact=True)

    def verify(self, outcome: Outcome, reach: Reach, value: str, now: datetime) -> bool:
        left = self._tally(outcome, reach, value, redact=False)
        return not outcome.problem and left == 0 and not outcome.unsearched

    def records(self, target: Target, reach: Reach, value: str) -> tuple[list[dict], int] | None:
        table, id_column, columns = target.identity
        identifiers = mentions.subject_identifiers(reach.warehouse, table, id_column, columns, value)
        if not identifiers:
            return None
        matcher = mentions.PlainMatcher(identifiers)
        if target.system != System.S3:
            if not reach.warehouse.table_exists(target.table):
                return None
            return mentions.column_passages(reach.warehouse, target.table, target.column, matcher), 0
        if reach.object_store is None:
            return None
        bucket, prefix = split_s3_uri(target.table)
        texts, unsearched = object_text.texts(reach.object_store, bucket, prefix, target.personal or None, target.fmt)
        return mentions.passages(texts, matcher), len(unsearched)
