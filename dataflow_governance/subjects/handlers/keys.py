"""The subject's data key: destroyed, then the KEK that wrapped it retired — every other live key
re-wrapped with a new KEK and the old one destroyed — so no copy of the wrapped key left in WAL,
backups or replicas opens any more. A rerun after a crash in between finishes the retirement."""

from __future__ import annotations

from datetime import datetime

from dataflow_governance.crypto.data_keys import DataKeyStore
from dataflow_governance.errors import KeyStoreError
from dataflow_governance.model.ids import canonical_id
from dataflow_governance.subjects.handlers.base import Handler
from dataflow_governance.subjects.reach import Reach
from dataflow_governance.subjects.targets import Outcome


class DataKeys(Handler):
    def count(self, outcome: Outcome, reach: Reach, value: str, now: datetime) -> int:
        keys = reach.keyring.data_keys()
        return int(keys.is_live(keys.subject_owner(canonical_id(value))))

    def execute(self, outcome: Outcome, reach: Reach, value: str, now: datetime) -> int:
        keys = reach.keyring.data_keys()
        owner = keys.subject_owner(canonical_id(value))
        shredded = keys.shred(owner)
        if shredded is not None:
            outcome.evidence, outcome.kek = shredded
        else:
            outcome.kek = keys.kek_of(owner)
        if outcome.kek is None or keys.kek.retired_at(outcome.kek, now) is not None or \
                _scheduled_date(keys, outcome.kek) is not None:
            return int(shredded is not None)
        try:
            rotation = keys.retire_kek()
        except KeyStoreError as exc:
            outcome.pending = f"the key-encryption key {outcome.kek} could not be retired: {exc}"
            return int(shredded is not None)
        outcome.notes.append(f"key-encryption key rotated to {rotation['kek']}: {rotation['rewrapped']} live data "
                             f"key(s) re-wrapped; retired: {', '.join(rotation['retired']) or 'none'}")
        return int(shredded is not None)

    def verify(self, outcome: Outcome, reach: Reach, value: str, now: datetime) -> bool:
        """No live key row; (where the engine's files can be read) no copy of its wrapped bytes; and
        the KEK that wrapped it destroyed — until then, copies of the wrapped key elsewhere would open."""
        keys = reach.keyring.data_keys()
        owner = keys.subject_owner(canonical_id(value))
        if keys.is_live(owner):
            return False
        if outcome.evidence is not None and \
                reach.warehouse.governance_store.engine.files_contain(outcome.evidence) is True:
            return False
        kek = outcome.kek or keys.kek_of(owner)
        if kek is None:
            return True  # the subject never had a key: nothing was sealed for them
        outcome.kek = kek
        outcome.kek_retired_at = keys.kek.retired_at(kek, now)
        if outcome.kek_retired_at is None:
            scheduled = _scheduled_date(keys, kek)
            outcome.pending = outcome.pending or (
                f"the key-encryption key {kek} that wrapped the subject's key is scheduled for deletion on {scheduled}"
                if scheduled else f"the key-encryption key {kek} that wrapped the subject's key still exists")
            return False
        outcome.pending = None
        return True


def _scheduled_date(keys: DataKeyStore, kek_id: str) -> str | None:
    """When a KMS key's scheduled deletion happens (None: not scheduled, or a local KEK)."""
    book = getattr(keys.kek, "book", None)
    record = book.recorded(f"kms:{kek_id}") if book is not None else None
    if record is None or record.action != "retirement_scheduled":
        return None
    return record.details.get("deletion_date") or "a date the KMS set"
