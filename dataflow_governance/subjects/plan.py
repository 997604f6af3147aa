"""The erasure plan: every place the project keeps a subject, read off the governance and the graph.

Warehouse tables with a column that identifies the subject (raw, or as the project's keyed
pseudonym) — declared, or derived through SQL lineage — S3 prefixes templated with `{subject_id}`,
JSON-lines objects carrying the subject's id, dataset snapshots holding the subject (their
membership index) and the models trained on them, aggregates to recompute, processors to notify.
Legal holds turn a delete into an anonymization.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from dataflow_governance.crypto.data_keys import KEYS_TABLE
from dataflow_governance.ml.datasets import dataset_records, digests_holding
from dataflow_governance.lineage.graph import ColumnGraph
from dataflow_governance.model.spec import table_of
from dataflow_governance.ledger.chain import Ledger
from dataflow_governance.model.manifest import Project
from dataflow_governance.ml.model_registry import models_trained_on
from dataflow_governance.model.spec import AssetGovernance
from dataflow_governance.tenancy.census import tenant_tables
from dataflow_governance.storage.warehouse import Warehouse


@dataclass
class Target:
    system: str  # warehouse | s3 | keys | model | processor | operator (a step the project cannot take)
    target: str  # table, schema, s3://bucket/prefix, models:/name/version, processor name
    # delete | anonymize | retain | notify | recompute | rewrite | flag | drop-schema | drop-database |
    # shred (a subject's data key) | shredded (immutable data left in place, unreadable without the key)
    action: str
    asset: str
    column: str | None = None
    pseudonymized: bool = False
    count: int = 0
    verified: bool | None = None
    lineage: list[str] = field(default_factory=list)
    held: dict[str, str] = field(default_factory=dict)  # column → method, for legal-hold rows
    hold_where: str | None = None
    hold_days: int | None = None
    keep_held: bool = False  # offboarding: rows under a legal hold stay (their `held` columns anonymized)
    retained: int = 0  # rows kept under a legal hold
    fingerprint: dict[str, str] = field(default_factory=dict)  # immutable objects' ETags when counted
    evidence: bytes | None = None  # a shredded key's wrapped bytes, to search the engine's files for
    kek: str | None = None  # the key-encryption key that wrapped a shredded key (retired with it)
    kek_retired_at: str | None = None  # when that KEK was destroyed
    pending: str | None = None  # why the target is not verified yet though nothing is left to do now
    problem: str | None = None  # its declared place is not there (a table, a column, a bucket): never verified
    personal: tuple[str, ...] = ()  # Delta: personal columns whose values must leave the log; sealed: the sealed fields
    values: tuple[str, ...] = ()  # Delta: the subject's values in them, in memory only, for verification
    notes: list[str] = field(default_factory=list)  # what was done to remnants, for the certificate
    executed: bool = False  # carried out by this run
    notified_at: str | None = None  # a processor: when an operator confirmed telling it
    timestamp_column: str | None = None
    sql: str | None = None  # for a recompute: the SQL that rebuilds the aggregate
    dialect: str = "duckdb"
    fmt: str | None = None  # S3: the objects' declared format, for keys whose suffix does not say it
    unsearched: list[str] = field(default_factory=list)  # S3: objects that could not be searched (by key)

    @property
    def outstanding(self) -> bool:
        """A step the project does not perform itself (telling a processor): never shown as verified."""
        return self.action == "notify"

    @property
    def outcome(self) -> str:
        """What is true of the target: verified, failed, pending (nothing to do but wait: a KEK's
        scheduled deletion), outstanding (an operator's step), confirmed (an operator said it was
        done), or planned."""
        if self.outstanding:
            return "confirmed" if self.notified_at else "outstanding"
        if self.verified:
            return "verified"
        if self.pending:
            return "pending"
        return "planned" if self.verified is None else "failed"

    def public(self) -> dict:
        out = {"system": self.system, "target": self.target, "action": self.action, "count": self.count,
               "unit": self.unit, "verified": bool(self.verified) and not self.outstanding,
               "outcome": self.outcome, "asset": self.asset}
        if self.keep_held:
            out["retained_under_legal_hold"] = self.retained
        if self.pending:
            out["pending"] = self.pending
        if self.problem:
            out["problem"] = self.problem
        if self.unsearched:
            out["unsearched"] = list(self.unsearched)
        if self.kek_retired_at:
            out["kek_retired_at"] = self.kek_retired_at
        if self.notified_at:
            out["notified_at"] = self.notified_at
        return out

    @property
    def unit(self) -> str:
        """What `count` counts."""
        if self.action == "shredded":
            return "records"
        if self.system == "s3":
            return "object versions" if self.action == "delete" else "records and object versions"
        return {"warehouse": "tables" if self.action == "drop-schema" else "rows", "delta": "rows",
                "keys": "data keys", "model": "model versions", "processor": "notifications",
                "operator": "steps"}.get(self.system, "items")


def pseudonym_of(project: Project, subject_id: str) -> str:
    """The project's keyed pseudonym of a subject, as pseudonymizing assets write it."""
    from dataflow_governance.crypto import open_keyring

    return open_keyring(project).pseudonym(subject_id)


# --- the plan -------------------------------------------------------------------------------

def plan_erasure(project: Project, governance: dict[str, AssetGovernance], graph: ColumnGraph | None,
                 warehouse: Warehouse | None = None) -> list[Target]:
    """Every target for the project's subjects, without touching data (counts come later). With
    the warehouse, a table kept in a schema per tenant becomes one target per tenant's table."""
    targets: list[Target] = []
    for asset, gov in sorted(governance.items()):
        identity = [(name, col) for name, col in gov.columns.items() if col.identity]
        traced = graph.columns_of(asset) if graph is not None and asset in graph.lineage else {}
        if not identity and traced:
            identity = [(name, None) for name, cls in traced.items() if cls.subject_linked and not cls.anonymous]
        if gov.immutable and identity and identity[0][0] in gov.subject_encrypted:
            # Never deleted or rewritten: the subject's fields stay as ciphertext whose key is shredded.
            where = table_of(asset, gov) if gov.storage.kind == "warehouse" else \
                f"s3://{gov.storage.bucket}/{gov.storage.prefix or ''}"
            targets.append(Target(gov.storage.kind, where, "shredded", asset, column=identity[0][0],
                                  personal=gov.subject_encrypted,
                                  lineage=[f"{asset}: the subject's events, sealed with the subject's key"]))
            continue
        if gov.storage.kind == "delta" and identity:
            targets.append(Target("delta", gov.storage.path, "delete", asset, column=identity[0][0],
                                  personal=gov.personal_columns,
                                  lineage=[f"{asset}.{identity[0][0]} (a Delta table: rows, replaced files, log)"]))
            continue
        if gov.storage.kind == "warehouse" and identity:
            name, col = identity[0]
            pseudonymized = bool(col.pseudonymized) if col is not None else traced[name].pseudonymized
            holds = gov.retention.legal_holds if gov.retention else ()
            target = Target("warehouse", table_of(asset, gov), "delete", asset, column=name, pseudonymized=pseudonymized,
                            lineage=_lineage(project, asset, name, graph),
                            timestamp_column=gov.retention.timestamp_column if gov.retention else None)
            if holds:
                hold = holds[0]
                target.action = "anonymize"
                # Held rows stay (e.g. for tax) but lose their link to the person: the identity goes.
                target.held = {name: "nullify", **{c: m for c, m in hold.anonymize.items()}}
                target.hold_where, target.hold_days = hold.where, hold.keep_days
            targets.append(target)
        elif gov.storage.kind == "warehouse" and graph is not None and asset in graph.lineage and any(
                cls.anonymous for cls in traced.values()):
            definition = graph.sql[asset]
            targets.append(Target("warehouse", table_of(asset, gov), "recompute", asset,
                                  sql=definition.sql, dialect=definition.dialect))
        elif gov.storage.kind == "s3" and gov.subject_prefix:
            targets.append(Target("s3", f"s3://{gov.storage.bucket}/{gov.subject_prefix}", "delete", asset,
                                  lineage=[f"{asset}: objects under {gov.subject_prefix}"]))
        elif gov.storage.kind == "s3" and identity and not gov.storage.snapshots:
            # (Snapshots are found through their membership index: see `with_provenance`.)
            targets.append(Target("s3", f"s3://{gov.storage.bucket}/{gov.storage.prefix or ''}", "rewrite", asset,
                                  column=identity[0][0], fmt=gov.storage.format,
                                  lineage=[f"{asset}: records whose {identity[0][0]} is the subject"]))
    sealed = sorted(a for a, g in governance.items() if g.subject_encrypted)
    if sealed:
        targets.append(Target("keys", KEYS_TABLE, "shred", ", ".join(sealed),
                              lineage=[f"the subject's data key seals {a}.{', '.join(governance[a].subject_encrypted)}"
                                       for a in sealed]))
    if warehouse is not None:
        targets = [t for target in targets for t in _per_tenant(target, warehouse)]
    # Aggregates are rebuilt after every deletion; processors are told last.
    targets.sort(key=lambda t: (t.action == "recompute", t.system == "processor"))
    sent = [t for t in targets if t.action != "recompute" and t.system != "keys"]
    receivers = sorted({p for t in sent for p in governance[t.asset].processors})
    for name in receivers:
        sent_from = sorted(t.asset for t in sent if name in governance[t.asset].processors)
        targets.append(Target("processor", name, "notify", ", ".join(sent_from),
                              lineage=[f"{a} → {name}" for a in sent_from]))
    return targets


def _per_tenant(target: Target, warehouse: Warehouse) -> list[Target]:
    if target.system != "warehouse" or "{tenant_id}" not in target.target:
        return [target]
    return [replace(target, target=table, lineage=[*target.lineage, f"(tenant {tenant}'s schema)"])
            for tenant, table in sorted(tenant_tables(warehouse, target.target).items())]


def with_provenance(targets: list[Target], warehouse: Warehouse, subject: str) -> list[Target]:
    """The plan plus the dataset snapshots holding the subject and the models trained on them,
    placed after the data targets and before aggregates are rebuilt and processors told."""
    extra = training_targets(warehouse, subject)
    split = next((i for i, t in enumerate(targets) if t.action == "recompute" or t.system == "processor"), len(targets))
    return [*targets[:split], *extra, *targets[split:]]


def training_targets(warehouse: Warehouse, subject: str) -> list[Target]:
    """For a subject's erasure: each live snapshot holding them (delete) and each model trained on one (flag)."""
    ledger = Ledger(warehouse)
    digests = set(digests_holding(warehouse, subject))
    if not digests:
        return []
    targets: dict[str, Target] = {}
    for record in dataset_records(ledger):
        # (A snapshot this same erasure already deleted stays in its plan, as done.)
        if record.digest in digests and (not record.deleted or record.deleted["by"] == f"subject:{subject}"):
            targets[record.snapshot_uri] = Target(
                "s3", record.snapshot_uri, "delete", record.asset,
                lineage=[f"{record.asset}: snapshot {record.digest} holds the subject (membership index)"])
    for model in models_trained_on(ledger, digests):
        uri = f"models:/{model['model']}/{model['version']}"
        used = sorted(digests & set(model["datasets"]))
        targets[uri] = Target("model", uri, "flag", model["model"], lineage=[f"{uri} ← trained on {', '.join(used)}"])
    return list(targets.values())


def _lineage(project: Project, asset: str, column: str, graph: ColumnGraph | None) -> list[str]:
    roots = [s.identity for s in project.subjects.values()]
    path = [f"{asset}.{column}"]
    if graph is not None:
        path += [f"← {a}.{c}" for a, c in graph.upstream(asset, column)]
    if f"{asset}.{column}" in roots:
        path.append("(the subject's identity column)")
    return path
