"""Right to erasure (GDPR Art. 17) and right of access (Art. 15/20), planned from the graph.

The plan is every place the project keeps the subject: warehouse tables with a column that
identifies the subject (raw, or as the project's keyed pseudonym) — declared, or derived through
SQL lineage — S3 prefixes templated with `{subject_id}`, JSON-lines objects carrying the subject's
id, aggregates to recompute, and processors to notify. Legal holds turn a delete into an
anonymization. Every step is ledgered before and after it runs, so an interrupted erasure resumes
and a finished one is a no-op; verification re-queries every target.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from sqlglot import exp

from .errors import DfgError
from . import anonymize
from .graph import ColumnGraph, table_of
from .keys import keyed_hash, project_key, subject_hash
from .ledger import Ledger
from .locks import governance_lock
from .manifest import Project
from .matching import Condition, SubjectIdError, canonical_id, check_subject_id, column_matches, record_matches
from .objectstore import ObjectStore, ObjectStoreError, s3_errors, split_s3_uri
from .spec import AssetGovernance
from .warehouse import Warehouse, column_expr, table_expr

DEFAULT_GRACE_DAYS = 30
MAX_GRACE_DAYS = 3650  # ten years: past that a "grace period" is a refusal, and dates overflow
REWRITE_ATTEMPTS = 20  # conditional rewrites of one JSON-lines object before giving up


class ErasureError(DfgError, RuntimeError):
    """The erasure cannot proceed; nothing was changed by the step that raised it."""


@dataclass
class Target:
    system: str  # warehouse | s3 | model | processor
    target: str  # table, s3://bucket/prefix, models:/name/version, processor name
    action: str  # delete | anonymize | retain | notify | recompute | rewrite | flag
    asset: str
    column: str | None = None
    pseudonymized: bool = False
    count: int = 0
    verified: bool | None = None
    lineage: list[str] = field(default_factory=list)
    held: dict[str, str] = field(default_factory=dict)  # column → method, for legal-hold rows
    hold_where: str | None = None
    hold_days: int | None = None
    timestamp_column: str | None = None
    sql: str | None = None  # for a recompute: the SQL that rebuilds the aggregate
    dialect: str = "duckdb"

    def public(self) -> dict:
        return {"system": self.system, "target": self.target, "action": self.action, "count": self.count,
                "verified": bool(self.verified) if self.verified is not None else False, "asset": self.asset}


def pseudonym_of(project: Project, subject_id: str) -> str:
    """The project's keyed pseudonym of a subject, as pseudonymizing assets write it."""
    return keyed_hash(project_key(project.state_dir, "pseudonym"), canonical_id(subject_id))


def _match(target: Target, project: Project, warehouse: Warehouse, subject_id: str) -> Condition:
    """The target's rows that are the subject: typed, with the value bound (see `matching`)."""
    column_type = warehouse.columns(target.target).get(target.column)
    if column_type is None:
        return Condition.never()
    pseudonym = pseudonym_of(project, subject_id) if target.pseudonymized else None
    return column_matches(target.column, column_type, subject_id, pseudonym)


# --- the plan -------------------------------------------------------------------------------

def plan_erasure(project: Project, governance: dict[str, AssetGovernance], graph: ColumnGraph | None) -> list[Target]:
    """Every target for the project's subjects, without touching data (counts come later)."""
    targets: list[Target] = []
    for asset, gov in sorted(governance.items()):
        identity = [(name, col) for name, col in gov.columns.items() if col.identity]
        traced = graph.columns_of(asset) if graph is not None and asset in graph.lineage else {}
        if not identity and traced:
            identity = [(name, None) for name, cls in traced.items() if cls.subject_linked and not cls.anonymous]
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
                                  column=identity[0][0], lineage=[f"{asset}: records whose {identity[0][0]} is the subject"]))
    # Aggregates are rebuilt after every deletion; processors are told last.
    targets.sort(key=lambda t: (t.action == "recompute", t.system == "processor"))
    receivers = sorted({p for t in targets if t.action != "recompute" for p in governance[t.asset].processors})
    for name in receivers:
        sent_from = sorted(t.asset for t in targets if name in governance[t.asset].processors)
        targets.append(Target("processor", name, "notify", ", ".join(sent_from),
                              lineage=[f"{a} → {name}" for a in sent_from]))
    return targets


def with_provenance(targets: list[Target], warehouse: Warehouse, subject: str) -> list[Target]:
    """The plan plus the dataset snapshots holding the subject and the models trained on them,
    placed after the data targets and before aggregates are rebuilt and processors told."""
    from .provenance import erasure_targets  # provenance builds on this module

    extra = erasure_targets(warehouse, subject)
    split = next((i for i, t in enumerate(targets) if t.action == "recompute" or t.system == "processor"), len(targets))
    return [*targets[:split], *extra, *targets[split:]]


def _lineage(project: Project, asset: str, column: str, graph: ColumnGraph | None) -> list[str]:
    roots = [s.identity for s in project.subjects.values()]
    path = [f"{asset}.{column}"]
    if graph is not None:
        path += [f"← {a}.{c}" for a, c in graph.upstream(asset, column)]
    if f"{asset}.{column}" in roots:
        path.append("(the subject's identity column)")
    return path


# --- counting, executing, verifying ------------------------------------------------------------

def count_target(target: Target, project: Project, warehouse: Warehouse, store: ObjectStore | None, subject_id: str) -> int:
    if target.system == "model":
        return 1  # one model version to flag
    if target.system == "warehouse" and target.column:
        if not warehouse.table_exists(target.target):
            return 0
        match = _match(target, project, warehouse, subject_id)
        query = exp.select(exp.func("count", exp.Star())).from_(table_expr(target.target)).where(match.where)
        return int(warehouse.fetch(query, list(match.params))[0][0])
    if target.system == "s3" and store is not None:
        bucket, prefix = _split(target.target, subject_id)
        if prefix is None:
            return 0
        if target.action == "delete":
            return len(_versions(store, bucket, prefix))
        test = subject_test(subject_id)
        return sum(len(_subject_lines(store, bucket, key, target.column, test)[1])
                   + len(stale_versions(store, bucket, key, target.column, test)) for key in _keys(store, bucket, prefix))
    return 0


def _split(uri: str, subject_id: str) -> tuple[str, str | None]:
    """Bucket and the subject's own prefix; None when the id cannot be one key segment (a `/` in
    it would reach into other subjects' folders)."""
    bucket, prefix = split_s3_uri(uri)
    if "{subject_id}" not in prefix:
        return bucket, prefix
    segment = canonical_id(subject_id)
    if "/" in segment or segment in (".", ".."):
        return bucket, None
    return bucket, prefix.replace("{subject_id}", segment)


def _versions(store: ObjectStore, bucket: str, prefix: str) -> list[dict]:
    """Every object version and delete marker under the prefix (versioned buckets keep history)."""
    client = store.client()
    found = []
    with s3_errors(f"list versions of s3://{bucket}/{prefix}", store):
        for page in client.get_paginator("list_object_versions").paginate(Bucket=bucket, Prefix=prefix):
            for item in page.get("Versions", []) + page.get("DeleteMarkers", []):
                found.append({"Key": item["Key"], "VersionId": item.get("VersionId") or "null"})
    return found


def _keys(store: ObjectStore, bucket: str, prefix: str) -> list[str]:
    client = store.client()
    with s3_errors(f"list s3://{bucket}/{prefix}", store):
        return [item["Key"] for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
                for item in page.get("Contents", [])]


RecordTest = Callable[[object], bool]  # is this record's id field value one to erase?


def subject_test(subject_id: str) -> RecordTest:
    return lambda value: record_matches(value, subject_id)


def _subject_lines(store: ObjectStore, bucket: str, key: str, field_name: str, is_gone: RecordTest,
                   with_etag: bool = False):
    """(lines to keep, the subject's lines) of the current version [, its ETag for a conditional rewrite]."""
    with s3_errors(f"get s3://{bucket}/{key}", store):
        got = store.client().get_object(Bucket=bucket, Key=key)
        body = got["Body"].read().decode()
    keep, drop = [], []
    for line in body.splitlines():
        (drop if _is_subject(line, field_name, is_gone) else keep).append(line)
    return (keep, drop, got["ETag"]) if with_etag else (keep, drop)


def rewrite_without(store: ObjectStore, bucket: str, key: str, field_name: str, is_gone: RecordTest) -> int:
    """Rewrite one JSON-lines object without the subject's records; returns how many went.

    The write is conditional on the version read (If-Match): a writer that changed the object in
    between — another erasure, an ingest — makes it fail, and it is read and filtered again, so
    no one else's records are ever lost or brought back.
    """
    for _attempt in range(REWRITE_ATTEMPTS):
        keep, drop, etag = _subject_lines(store, bucket, key, field_name, is_gone, with_etag=True)
        if not drop:
            return 0
        try:
            with s3_errors(f"rewrite s3://{bucket}/{key}", store):
                store.client().put_object(Bucket=bucket, Key=key, IfMatch=etag,
                                          Body="".join(line + "\n" for line in keep).encode())
            return len(drop)
        except ObjectStoreError as exc:  # only a lost race is retried
            if exc.code not in ("PreconditionFailed", "412", "ConditionalRequestConflict"):
                raise
    raise ErasureError(f"s3://{bucket}/{key} kept changing while it was rewritten ({REWRITE_ATTEMPTS} attempts); "
                       "run the erasure again")


def stale_versions(store: ObjectStore, bucket: str, key: str, field_name: str, is_gone: RecordTest) -> list[dict]:
    """Noncurrent versions of `key` whose records include the subject."""
    client = store.client()
    stale = []
    with s3_errors(f"list versions of s3://{bucket}/{key}", store):
        versions = client.list_object_versions(Bucket=bucket, Prefix=key).get("Versions", [])
    for item in versions:
        if item["Key"] != key or item.get("IsLatest") or item.get("VersionId") in (None, "null"):
            continue
        with s3_errors(f"get s3://{bucket}/{key}", store):
            body = client.get_object(Bucket=bucket, Key=key, VersionId=item["VersionId"])["Body"].read().decode()
        if any(_is_subject(line, field_name, is_gone) for line in body.splitlines()):
            stale.append({"Key": key, "VersionId": item["VersionId"]})
    return stale


def _is_subject(line: str, field_name: str, is_gone: RecordTest) -> bool:
    try:
        record = json.loads(line)
    except json.JSONDecodeError:
        return False
    return isinstance(record, dict) and field_name in record and is_gone(record[field_name])


def delete_versions(store: ObjectStore, bucket: str, versions: list[dict]) -> int:
    """Batched deletes, 1,000 keys a call (the S3 limit), every version and marker."""
    client = store.client()
    deleted = 0
    for start in range(0, len(versions), 1000):
        batch = versions[start:start + 1000]
        with s3_errors(f"delete {len(batch)} object versions in s3://{bucket}", store):
            response = client.delete_objects(Bucket=bucket, Delete={"Objects": batch, "Quiet": True})
        if response.get("Errors"):
            raise ErasureError(f"S3 refused {len(response['Errors'])} deletes in bucket {bucket}")
        deleted += len(batch)
    return deleted


def purge_prefix(store: ObjectStore, bucket: str, prefix: str) -> int:
    """Every version and delete marker under the prefix; returns how many objects (keys) went."""
    versions = _versions(store, bucket, prefix)
    delete_versions(store, bucket, versions)
    return len({v["Key"] for v in versions})


def purge_records(store: ObjectStore, bucket: str, prefix: str, field_name: str, is_gone: RecordTest) -> int:
    """Records whose id passes `is_gone`, out of every JSON-lines object under the prefix and out of
    every earlier version that held them; returns records removed plus versions purged."""
    removed = 0
    for key in _keys(store, bucket, prefix):
        removed += rewrite_without(store, bucket, key, field_name, is_gone)
        # Earlier versions still hold the records (also after an interrupted rewrite): purge them.
        stale = stale_versions(store, bucket, key, field_name, is_gone)
        delete_versions(store, bucket, stale)
        removed += len(stale)
    return removed


def execute_target(target: Target, project: Project, warehouse: Warehouse, store: ObjectStore | None,
                   subject_id: str, now: datetime) -> int:
    """Carry out one target; returns the count affected."""
    if target.system == "warehouse" and target.column:
        if not warehouse.table_exists(target.target):
            return 0
        return _erase_rows(target, project, warehouse, subject_id, now)
    if target.system == "warehouse" and target.action == "recompute":
        return _recompute(target, warehouse)
    if target.system == "model":
        from .provenance import flag_model

        return flag_model(project, warehouse, target.target, reason="trained on data of an erased subject",
                          actor="dfg:erase")
    if target.system == "s3" and store is not None:
        bucket, prefix = _split(target.target, subject_id)
        if prefix is None:
            return 0
        if target.action == "delete":
            return purge_prefix(store, bucket, prefix)
        return purge_records(store, bucket, prefix, target.column, subject_test(subject_id))
    return 0


def _erase_rows(target: Target, project: Project, warehouse: Warehouse, subject_id: str, now: datetime) -> int:
    return erase_matching_rows(target, project, warehouse, _match(target, project, warehouse, subject_id), now)


def erase_matching_rows(target: Target, project: Project, warehouse: Warehouse, match: Condition, now: datetime) -> int:
    """Delete the matching rows of a warehouse target; rows under a legal hold lose the person instead."""
    params = list(match.params)
    table = table_expr(target.target)
    with warehouse.connect() as con:
        anonymize.prepare(warehouse, con)  # the match may use the keyed hash (suppression)
        count_sql = warehouse.render_bound(exp.select(exp.func("count", exp.Star())).from_(table).where(match.where))
        count = int(con.execute(count_sql, params).fetchall()[0][0])
        if target.action == "anonymize" and target.held:
            held, held_params = match.where, list(params)
            if target.hold_where:
                held = exp.and_(held, exp.paren(exp.condition(target.hold_where, dialect=warehouse.dialect)))
            if target.timestamp_column and target.hold_days:
                cutoff = (now - timedelta(days=target.hold_days)).strftime("%Y-%m-%d %H:%M:%S")
                held = exp.and_(held, column_expr(target.timestamp_column) >= exp.cast(exp.Placeholder(), "TIMESTAMP"))
                held_params.append(cutoff)
            key = project_key(project.state_dir, "pseudonym")
            anonymize.prepare(warehouse, con)
            anonymize.widen_to_text(warehouse, con, target.target, anonymize.needs_text(warehouse, target.target, target.held))
            sql, key_params = anonymize.update_statement(warehouse, target.target, target.held, held, key)
            # The SET clause's key material comes before the WHERE clause's values.
            con.execute(sql, [*key_params, *held_params])
        # Whatever the hold did not keep goes; held rows no longer match the subject's id.
        con.execute(warehouse.render_bound(exp.delete(table, where=match.where)), params)
    return count


def _recompute(target: Target, warehouse: Warehouse) -> int:
    """Rebuild an aggregate from its SQL, so it no longer counts the erased subject."""
    if not target.sql or not warehouse.table_exists(target.target):
        return 0
    return warehouse.create_table_as(target.target, target.sql, read_dialect=target.dialect)


def verify_target(target: Target, project: Project, warehouse: Warehouse, store: ObjectStore | None, subject_id: str) -> bool:
    if target.system == "model":
        from .provenance import model_is_flagged

        return model_is_flagged(project, target.target)
    if target.system in ("warehouse", "s3") and (target.column or target.system == "s3"):
        return count_target(target, project, warehouse, store, subject_id) == 0
    return target.action in ("notify", "recompute", "retain")


# --- the lifecycle ------------------------------------------------------------------------------

@dataclass
class ErasureResult:
    subject: str
    status: str  # planned | requested | cancelled | executed | verified
    targets: list[Target]  # counts are what *this* run found or did
    ledger_head: str
    due: str | None = None
    original: dict | None = None  # the first execution (ledger seq, time, counts) when this is a rerun
    reappeared: int = 0  # records of the subject this run found again after an earlier execution
    storage: dict = field(default_factory=dict)  # what was done to the engines' own files, what is left

    def to_dict(self) -> dict:
        out = {"subject": self.subject, "status": self.status, "targets": [t.public() for t in self.targets],
               "ledger_head": self.ledger_head}
        if self.due:
            out["due"] = self.due
        if self.original:
            out["original"] = self.original
            out["reappeared"] = self.reappeared
        if self.storage:
            out["storage"] = self.storage
        return out


def _new_state() -> dict[str, Any]:
    return {"requested": None, "cancelled": False, "done": {}, "status": None, "executed": None, "reopened": 0}


def _apply(state: dict[str, Any], entry) -> None:
    details = entry.details_dict()
    if entry.action == "erasure.requested":
        state.update(requested=details, cancelled=False, done={}, status="requested", executed=None)
    elif entry.action == "erasure.cancelled":
        state.update(cancelled=True, status="cancelled")
    elif entry.action == "erasure.reopened":
        state.update(done={}, status="reopened", reopened=state["reopened"] + 1)
    elif entry.action == "erasure.target_done":
        state["done"][details["target"]] = details["count"]
    elif entry.action == "erasure.executed":
        state["status"] = "executed"
        if state["executed"] is None:
            state["executed"] = {"seq": entry.seq, "at": entry.ts, "counts": dict(state["done"])}
    elif entry.action == "erasure.verified":
        state["status"] = "verified"


def erasure_state(ledger: Ledger, subject: str) -> dict[str, Any]:
    """What the ledger says about this subject's erasure: the last request, done targets, status."""
    state = _new_state()
    for entry in ledger.entries(target=f"subject:{subject}"):
        _apply(state, entry)
    return state


def erasure_statuses(ledger: Ledger) -> dict[str, str]:
    """Subject hash → where its erasure stands (requested, cancelled, executed, verified)."""
    states: dict[str, dict[str, Any]] = {}
    for entry in ledger.entries(action_prefix="erasure."):
        if entry.target.startswith("subject:"):
            _apply(states.setdefault(entry.target.removeprefix("subject:"), _new_state()), entry)
    return {subject: state["status"] for subject, state in states.items() if state["status"]}


def suppression_list(ledger: Ledger) -> dict[str, str | None]:
    """Subjects whose erasure was carried out: subject hash → keyed hash of their pseudonym.

    Keyed hashes only, never ids: data of these subjects that comes back (a late event, a restored
    backup, an upstream replay) is found by hashing stored values the same way, and removed again.
    """
    requested: dict[str, str | None] = {}
    suppressed: dict[str, str | None] = {}
    for entry in ledger.entries(action_prefix="erasure."):
        subject = entry.target.removeprefix("subject:")
        if entry.action == "erasure.requested":
            requested[subject] = entry.details_dict().get("pseudonym_hash")
        elif entry.action == "erasure.executed" and subject in requested:
            suppressed[subject] = requested[subject]
    return suppressed


def certificate_markdown(result: ErasureResult, project: Project) -> str:
    rows = "\n".join(f"| {t.system} | {t.target} | {t.action} | {t.count} | {'yes' if t.verified else 'no'} |"
                     for t in result.targets)
    text = (f"# Erasure certificate\n\nProject: {project.name}  \nSubject (keyed hash): `{result.subject}`  \n"
            f"Status: **{result.status}**  \nLedger head: `{result.ledger_head}`\n\n")
    if result.original:
        text += (f"This run re-checked an erasure first executed at {result.original['at']} (ledger entry "
                 f"{result.original['seq']}); it found {result.reappeared} record(s) of the subject again. "
                 "Counts below are this run's.\n\n")
    text += f"| system | target | action | count | verified |\n|---|---|---|---|---|\n{rows}\n"
    if result.storage:
        text += "\n## Storage\n\n" + "".join(f"- {line}\n" for line in result.storage.get("done", [])) + \
                "".join(f"- operator: {line}\n" for line in result.storage.get("operator", []))
    return text


def write_certificate(result: ErasureResult, project: Project) -> list[Path]:
    out = project.output_dir / "erasures"
    out.mkdir(parents=True, exist_ok=True)
    paths = [out / f"{result.subject}.json", out / f"{result.subject}.md"]
    paths[0].write_text(json.dumps(result.to_dict(), indent=2))
    paths[1].write_text(certificate_markdown(result, project))
    return paths


def utc(now: datetime | None = None) -> datetime:
    return now or datetime.now(timezone.utc).replace(tzinfo=None)


def check_grace_days(grace_days: int) -> int:
    if not isinstance(grace_days, int) or isinstance(grace_days, bool) or not 0 <= grace_days <= MAX_GRACE_DAYS:
        raise ErasureError(f"grace days must be a whole number from 0 to {MAX_GRACE_DAYS} (got {grace_days!r})")
    return grace_days


def erase(project: Project, governance: dict[str, AssetGovernance], graph: ColumnGraph | None, subject_id: str, *,
          warehouse: Warehouse, store: ObjectStore | None, immediately: bool = False, dry_run: bool = False,
          cancel: bool = False, grace_days: int = DEFAULT_GRACE_DAYS, actor: str = "dfg:erase",
          now: datetime | None = None, vacuum_full: bool = False) -> ErasureResult:
    """Request, execute (after the grace period, or `immediately`), verify and certify an erasure.

    Every run re-plans and counts what is there now. A run after an earlier execution erases what
    came back (ledgered as `erasure.reopened`) and verifies again; its counts are its own.
    """
    try:
        subject_id = check_subject_id(subject_id)
    except SubjectIdError as exc:
        raise ErasureError(str(exc)) from None
    check_grace_days(grace_days)
    subject = subject_hash(project.state_dir, canonical_id(subject_id))
    if dry_run:
        targets = with_provenance(plan_erasure(project, governance, graph), warehouse, subject)
        for target in targets:
            target.count = count_target(target, project, warehouse, store, subject_id)
        return ErasureResult(subject, "planned", targets, Ledger(warehouse).head().hash)
    with governance_lock(project.state_dir, warehouse, f"erasure of subject {subject[:12]}…"):
        return _erase_locked(project, governance, graph, subject_id, subject, warehouse=warehouse, store=store,
                             immediately=immediately, cancel=cancel, grace_days=grace_days, actor=actor,
                             current=utc(now), vacuum_full=vacuum_full)


def _erase_locked(project: Project, governance: dict[str, AssetGovernance], graph: ColumnGraph | None,
                  subject_id: str, subject: str, *, warehouse: Warehouse, store: ObjectStore | None,
                  immediately: bool, cancel: bool, grace_days: int, actor: str, current: datetime,
                  vacuum_full: bool) -> ErasureResult:
    from . import local_s3
    from .ledger import record_anchor
    from .reclaim import reclaim_storage

    ledger = Ledger(warehouse)
    state = erasure_state(ledger, subject)
    targets = with_provenance(plan_erasure(project, governance, graph), warehouse, subject)
    for target in targets:
        target.count = count_target(target, project, warehouse, store, subject_id)
    head = ledger.head().hash
    if cancel:
        if state["status"] == "requested" and not state["cancelled"]:
            head = ledger.append(actor, "erasure.cancelled", f"subject:{subject}").hash
            return ErasureResult(subject, "cancelled", targets, head)
        raise ErasureError("no pending erasure request for this subject to cancel")
    data_systems = ("warehouse", "s3")
    original = state["executed"]
    reappeared = sum(t.count for t in targets if t.system in data_systems) if original else 0
    if state["status"] == "verified" and not reappeared:
        # Nothing came back: this run changes nothing and records nothing; it verifies now.
        for target in targets:
            target.verified = verify_target(target, project, warehouse, store, subject_id)
            target.count = 0
        ok = all(t.verified for t in targets)
        return ErasureResult(subject, "verified" if ok else "executed", targets, head, original=original)
    fresh = state["requested"] is None or state["cancelled"]
    if fresh and not any(t.count for t in targets if t.system in data_systems):
        raise ErasureError("unknown subject: no record of it in any planned target; nothing was changed")
    if fresh:
        due = (current + timedelta(days=0 if immediately else grace_days)).isoformat(timespec="seconds")
        ledger.append(actor, "erasure.requested", f"subject:{subject}",
                      {"due": due, "grace_days": 0 if immediately else grace_days,
                       "pseudonym_hash": keyed_hash(project_key(project.state_dir, "subject"),
                                                    pseudonym_of(project, subject_id)),
                       "targets": [{k: v for k, v in t.public().items() if k != "verified"} for t in targets]})
        state = erasure_state(ledger, subject)
    due = state["requested"]["due"]
    if not immediately and current.isoformat(timespec="seconds") < due:
        return ErasureResult(subject, "planned", targets, ledger.head().hash, due=due)
    if original and state["status"] in ("executed", "verified"):
        # Data of the subject came back (or the last verification failed): a new pass.
        ledger.append(actor, "erasure.reopened", f"subject:{subject}",
                      {"reappeared": {t.target: t.count for t in targets if t.system in data_systems and t.count},
                       "original_seq": original["seq"]})
        state = erasure_state(ledger, subject)
    touched: list[str] = []
    for target in targets:
        if target.target in state["done"]:
            target.count = state["done"][target.target]  # done before an interruption: never twice
            continue
        if original and target.system in data_systems and target.action != "recompute" and not target.count:
            target.count = 0  # nothing of the subject here now: this pass has nothing to do
        else:
            count = execute_target(target, project, warehouse, store, subject_id, current)
            target.count = max(target.count, count) if target.action == "recompute" else count
            if target.system == "warehouse" and target.count:
                touched.append(target.target)
        ledger.append(actor, "erasure.target_done", f"subject:{subject}",
                      {"target": target.target, "system": target.system, "action": target.action, "count": target.count})
    if store is not None and store.local:
        # The endpoint's own storage must not keep erased bodies — also those of a run that was killed.
        local_s3.compact(project.state_dir)
    storage = reclaim_storage(warehouse, sorted(set(touched)), full=vacuum_full)
    ledger.append(actor, "erasure.executed", f"subject:{subject}", {"targets": len(targets), "storage": storage["done"]})
    for target in targets:
        target.verified = verify_target(target, project, warehouse, store, subject_id)
    ok = all(t.verified for t in targets)
    entry = ledger.append(actor, "erasure.verified" if ok else "erasure.verification_failed", f"subject:{subject}",
                          {"results": {t.target: t.verified for t in targets}})
    record_anchor(project.state_dir, ledger.head(), source=actor)
    result = ErasureResult(subject, "verified" if ok else "executed", targets, entry.hash,
                           original=original, reappeared=reappeared, storage=storage)
    write_certificate(result, project)
    return result


def access_export(project: Project, governance: dict[str, AssetGovernance], graph: ColumnGraph | None, subject_id: str,
                  warehouse: Warehouse, store: ObjectStore | None) -> dict:
    """Every record about the subject, grouped by asset, with the path that led there (Art. 15/20)."""
    try:
        subject_id = check_subject_id(subject_id)
    except SubjectIdError as exc:
        raise ErasureError(str(exc)) from None
    assets: dict[str, dict] = {}
    for target in plan_erasure(project, governance, graph):
        if target.system == "warehouse" and target.column and warehouse.table_exists(target.target):
            match = _match(target, project, warehouse, subject_id)
            frame = warehouse.fetch_df(exp.select("*").from_(table_expr(target.target)).where(match.where), match.params)
            records = json.loads(frame.to_json(orient="records", date_format="iso"))
        elif target.system == "s3" and store is not None:
            bucket, prefix = _split(target.target, subject_id)
            if prefix is None:
                records = []
            elif target.action == "delete":
                records = [{"object": f"s3://{bucket}/{key}"} for key in _keys(store, bucket, prefix)]
            else:
                records = [json.loads(line) for key in _keys(store, bucket, prefix)
                           for line in _subject_lines(store, bucket, key, target.column, subject_test(subject_id))[1]]
        else:
            continue
        if records:
            assets[target.asset] = {"records": records, "lineage": target.lineage}
    from .provenance import subject_provenance  # provenance builds on this module

    training = subject_provenance(project, warehouse, subject_id)
    if not assets and not training["datasets"]:
        raise ErasureError("unknown subject: no record of it in any asset")
    # Art. 15(1)(c): also the training sets that held the subject and the models trained on them.
    return {"subject": subject_id, "assets": assets,
            "training": {"datasets": training["datasets"], "models": training["models"]}}


__all__ = ["ErasureError", "ErasureResult", "Target", "access_export", "certificate_markdown", "count_target", "erase",
           "erasure_state", "erasure_statuses", "suppression_list", "execute_target", "plan_erasure", "subject_hash", "verify_target", "write_certificate"]
