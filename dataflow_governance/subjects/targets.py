"""One place an erasure (or an offboarding) reaches: what the plan says of it (`Target`, frozen) and
what a run found and did there (`Outcome`).

A target names a storage system and what to do there. The systems and actions are enums whose
values are the words the JSON output, the ledger and the certificate use.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any


class System(StrEnum):
    WAREHOUSE = "warehouse"
    S3 = "s3"
    DELTA = "delta"
    KEYS = "keys"  # the per-subject data keys
    MODEL = "model"  # a registered model version
    PROCESSOR = "processor"  # a processor that received the data: an operator tells it
    OPERATOR = "operator"  # a step the project cannot take (a database per tenant)


class Action(StrEnum):
    DELETE = "delete"
    ANONYMIZE = "anonymize"  # held rows lose the person (or, offboarding, stay with the hold's columns anonymized)
    RETAIN = "retain"  # kept while something is held (a tenant's entity row)
    RECOMPUTE = "recompute"  # an aggregate rebuilt from its SQL
    REWRITE = "rewrite"  # shared objects rewritten without the subject's records
    FLAG = "flag"  # a model trained on the subject's data, flagged for retraining
    NOTIFY = "notify"
    DROP_SCHEMA = "drop-schema"
    DROP_DATABASE = "drop-database"
    SHRED = "shred"  # a subject's data key destroyed (and the KEK that wrapped it retired)
    SHREDDED = "shredded"  # immutable data left in place, unreadable without the key
    EXPIRE = "expire"  # a backup still holding the subject until it expires (an operator restores none of it)
    REDACT = "redact"  # the subject named in other rows' free text: the mentions become [erased], the rows stay


@dataclass(frozen=True)
class Target:
    """What the plan says of one place: where, what to do, and what to match there."""

    system: System
    target: str  # table, schema, s3://bucket/prefix, delta folder, models:/name/version, processor name
    action: Action
    asset: str
    column: str | None = None  # the column (or record field) that identifies the subject or tenant
    pseudonymized: bool = False  # the column holds the project's keyed pseudonym of the id
    lineage: tuple[str, ...] = ()
    held: tuple[tuple[str, str], ...] = ()  # (column, method) anonymized in rows under a legal hold
    hold_where: str | None = None
    hold_days: int | None = None
    keep_held: bool = False  # offboarding: rows under a legal hold stay (their `held` columns anonymized)
    timestamp_column: str | None = None
    personal: tuple[str, ...] = ()  # Delta: personal columns whose values must leave the log; sealed: the sealed
    # fields; an S3 redaction: the records' free-text fields (none: every text value)
    sql: str | None = None  # for a recompute: the SQL that rebuilds the aggregate
    dialect: str = "duckdb"
    fmt: str | None = None  # S3: the objects' declared format, for keys whose suffix does not say it
    expires_in_days: int | None = None  # a backup: how long it keeps what it holds
    # A redaction: the identity table, its id column and its identifier columns (name, email, …) the
    # subject's mentions are read from; the target is `table.column`, the free-text column.
    identity: tuple[str, str, tuple[str, ...]] | None = None

    @property
    def table(self) -> str:
        """Where the target is: its warehouse table, or its `s3://bucket/prefix` (a redaction's
        target names its column, `table.column`, or its fields, `s3://bucket/prefix (fields)`)."""
        if self.action == Action.REDACT and self.system == System.S3:
            return self.target.split(" (", 1)[0]
        if self.action == Action.REDACT and self.column and self.target.endswith(f".{self.column}"):
            return self.target[: -len(self.column) - 1]
        return self.target

    @property
    def outstanding(self) -> bool:
        """A step the project does not perform itself (telling a processor, a backup expiring): never
        shown as verified."""
        return self.action in (Action.NOTIFY, Action.EXPIRE)

    @property
    def unit(self) -> str:
        """What a count of this target counts."""
        if self.action == Action.SHREDDED:
            return "records"
        if self.system == System.S3:
            return "object versions" if self.action == Action.DELETE else "records and object versions"
        return {System.WAREHOUSE: "tables" if self.action == Action.DROP_SCHEMA else "rows", System.DELTA: "rows",
                System.KEYS: "data keys", System.MODEL: "model versions", System.PROCESSOR: "notifications",
                System.OPERATOR: "steps"}[self.system]


@dataclass
class Outcome:
    """What a run found and did at one target. Reads as its plan too (`outcome.system`, `outcome.target`)."""

    plan: Target  # the plan's word on this place
    count: int = 0  # what this run found, or did (in the target's unit)
    verified: bool | None = None  # None: not checked yet
    retained: int = 0  # rows kept under a legal hold
    executed: bool = False  # carried out by this run
    problem: str | None = None  # its declared place is not there (a table, a column, a bucket): never verified
    pending: str | None = None  # why it is not verified yet though nothing is left to do now (a KEK's deletion date)
    unsearched: list[str] = field(default_factory=list)  # S3: objects that could not be searched (keys, masked)
    notes: list[str] = field(default_factory=list)  # what was done to remnants, for the certificate
    notified_at: str | None = None  # a processor: when an operator confirmed telling it
    fingerprint: dict[str, str] = field(default_factory=dict)  # immutable objects' ETags when counted
    evidence: bytes | None = None  # a shredded key's wrapped bytes, to search the engine's files for
    kek: str | None = None  # the key-encryption key that wrapped a shredded key (retired with it)
    kek_retired_at: str | None = None  # when that KEK was destroyed
    values: tuple[str, ...] = ()  # the subject's values, in memory only: Delta searches its log for them, a redaction its text

    def __getattr__(self, name: str) -> Any:
        # (Only reached for names an outcome does not have: the plan's fields.)
        if name.startswith("__") or name == "plan":
            raise AttributeError(name)
        return getattr(self.plan, name)

    @property
    def outcome(self) -> str:
        """verified, failed, pending (nothing to do but wait: a KEK's scheduled deletion),
        outstanding (an operator's step), confirmed (an operator said it was done), or planned."""
        if self.plan.outstanding:
            return "confirmed" if self.notified_at else "outstanding"
        if self.verified:
            return "verified"
        if self.pending:
            return "pending"
        return "planned" if self.verified is None else "failed"

    def public(self) -> dict:
        """The target as the JSON output, the ledger and the certificate give it: no personal value."""
        t = self.plan
        out: dict[str, Any] = {"system": str(t.system), "target": t.target, "action": str(t.action),
                               "count": self.count, "unit": t.unit,
                               "verified": bool(self.verified) and not t.outstanding, "outcome": self.outcome,
                               "asset": t.asset}
        if t.keep_held:
            out["retained_under_legal_hold"] = self.retained
        for name in ("pending", "problem", "kek_retired_at", "notified_at"):
            if getattr(self, name):
                out[name] = getattr(self, name)
        if self.unsearched:
            out["unsearched"] = list(self.unsearched)
        return out
