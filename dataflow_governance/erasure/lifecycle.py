"""An erasure's lifecycle: request, grace period, execution, verification, certificate.

Every step is ledgered before and after it runs, so an interrupted erasure resumes and a finished
one is a no-op; verification re-queries every target. One destructive action at a time per
project (`locks.governance_lock`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from functools import partial

from ..errors import DfgError
from ..graph import ColumnGraph
from ..keys import keyed_hash, project_key, subject_hash
from ..ledger import Ledger, record_anchor
from ..locks import governance_lock
from ..manifest import Project
from ..matching import SubjectIdError, canonical_id, check_subject_id
from ..objectstore import ObjectStore
from ..reclaim import reclaim_storage
from ..spec import AssetGovernance
from ..warehouse import Warehouse
from .certificate import ErasureResult, write_certificate
from .execute import count_target, execute_target, verify_target
from .plan import Target, plan_erasure, pseudonym_of, with_provenance
from .state import request_state

DEFAULT_GRACE_DAYS = 30
MAX_GRACE_DAYS = 3650  # ten years: past that a "grace period" is a refusal, and dates overflow


class ErasureError(DfgError, RuntimeError):
    """The erasure cannot proceed; nothing was changed by the step that raised it."""


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
        with warehouse.session():
            targets = with_provenance(plan_erasure(project, governance, graph, warehouse), warehouse, subject)
            for target in targets:
                target.count = count_target(target, project, warehouse, store, subject_id)
            return ErasureResult(subject, "planned", targets, Ledger(warehouse).head().hash)
    with governance_lock(project.state_dir, warehouse, f"erasure of subject {subject[:12]}…"), warehouse.session():
        return _erase_locked(project, governance, graph, subject_id, subject, warehouse=warehouse, store=store,
                             immediately=immediately, cancel=cancel, grace_days=grace_days, actor=actor,
                             current=utc(now), vacuum_full=vacuum_full)


@dataclass(frozen=True)
class Request:
    """One erasure of a subject or offboarding of a tenant: what the ledger calls it, and the id."""

    kind: str  # erasure | offboarding: the ledger actions' prefix
    key: str  # the keyed hash of the id: the ledger target's and the certificate's name
    value: str  # the id itself, matched in the data; never ledgered
    what: str = "subject"  # subject | tenant

    @property
    def target(self) -> str:
        return f"{self.what}:{self.key}"


def _erase_locked(project: Project, governance: dict[str, AssetGovernance], graph: ColumnGraph | None,
                  subject_id: str, subject: str, **options) -> ErasureResult:
    warehouse = options["warehouse"]
    targets = with_provenance(plan_erasure(project, governance, graph, warehouse), warehouse, subject)
    request = Request("erasure", subject, subject_id)
    details = {"pseudonym_hash": keyed_hash(project_key(project.state_dir, "subject"), pseudonym_of(project, subject_id))}
    return run_request(project, request, targets, details, **options)


def run_request(project: Project, request: Request, targets: list[Target], details: dict, *, warehouse: Warehouse,
                store: ObjectStore | None, immediately: bool, cancel: bool, grace_days: int, actor: str,
                current: datetime, vacuum_full: bool) -> ErasureResult:
    """Request, then (when due) execute, verify and certify; resumable from the ledger. Called
    under the governance lock."""
    ledger = Ledger(warehouse)
    kind, subject, subject_id = request.kind, request.key, request.value
    state = request_state(ledger, request.target, kind)
    for target in targets:
        target.count = count_target(target, project, warehouse, store, subject_id)
    head = ledger.head().hash
    result = partial(ErasureResult, subject, kind=kind)
    if cancel:
        if state["status"] == "requested" and not state["cancelled"]:
            head = ledger.append(actor, f"{kind}.cancelled", request.target).hash
            return result("cancelled", targets, head)
        raise ErasureError(f"no pending {kind} request for this {request.what} to cancel")
    data_systems = ("warehouse", "s3", "keys", "delta")

    def back(target: Target) -> bool:
        """Whether what the target counts now is data that must not be there after an execution
        (events sealed with a shredded key stay by design)."""
        return target.system in data_systems and target.action != "shredded"
    original = state["executed"]
    reappeared = sum(t.count for t in targets if back(t)) if original else 0
    if state["status"] == "verified" and not reappeared:
        # Nothing came back: this run changes nothing and records nothing; it verifies now.
        for target in targets:
            target.verified = verify_target(target, project, warehouse, store, subject_id)
            target.count = 0
        ok = all(t.verified for t in targets)
        return result("verified" if ok else "executed", targets, head, original=original)
    fresh = state["requested"] is None or state["cancelled"]
    if fresh and not any(t.count for t in targets if t.system in data_systems):
        raise ErasureError(f"unknown {request.what}: no record of it in any planned target; nothing was changed")
    if fresh:
        due = (current + timedelta(days=0 if immediately else grace_days)).isoformat(timespec="seconds")
        ledger.append(actor, f"{kind}.requested", request.target,
                      {"due": due, "grace_days": 0 if immediately else grace_days, **details,
                       "targets": [{k: v for k, v in t.public().items() if k != "verified"} for t in targets]})
        state = request_state(ledger, request.target, kind)
    due = state["requested"]["due"]
    if not immediately and current.isoformat(timespec="seconds") < due:
        return result("planned", targets, ledger.head().hash, due=due)
    if original and state["status"] in ("executed", "verified"):
        # Data came back (or the last verification failed): a new pass.
        ledger.append(actor, f"{kind}.reopened", request.target,
                      {"reappeared": {t.target: t.count for t in targets if back(t) and t.count},
                       "original_seq": original["seq"]})
        state = request_state(ledger, request.target, kind)
    touched: list[str] = []
    touched_store: list[str] = []  # the project's own tables, where they are not in the warehouse
    dropped: list[str] = []
    # A killed run may have committed a delete (or a key's destruction) without ledgering it: the
    # pass that resumes it then finds nothing to count there, but the freed blocks still hold it.
    interrupted = bool(state["done"])
    for target in targets:
        resumed = target.target in state["done"]
        if resumed:
            target.count = state["done"][target.target]  # done before an interruption: never twice
        elif original and target.system in data_systems and target.action != "recompute" and not target.count:
            target.count = 0  # nothing here now: this pass has nothing to do
        else:
            count = execute_target(target, project, warehouse, store, subject_id, current)
            target.count = max(target.count, count) if target.action == "recompute" else count
        holder = warehouse.store if target.system == "keys" else warehouse  # (the key table is the project's own)
        if target.system in ("warehouse", "keys") and target.action != "shredded" and (
                target.count or (interrupted and target.action != "drop-schema" and holder.table_exists(target.target))):
            (dropped if target.action == "drop-schema" else touched_store if holder is not warehouse else touched
             ).append(target.target)
        if resumed:
            continue
        ledger.append(actor, f"{kind}.target_done", request.target,
                      {"target": target.target, "system": target.system, "action": target.action, "count": target.count})
    if store is not None:
        store.reclaim()  # the store's own files must not keep erased bodies — also those of a killed run
    storage = reclaim_storage(warehouse, sorted(set(touched)), full=vacuum_full, dropped=dropped)
    if touched_store:
        own = reclaim_storage(warehouse.store, sorted(set(touched_store)), full=vacuum_full)
        storage = {part: storage[part] + own[part] for part in ("done", "operator")}
    storage["done"] += [note for target in targets for note in target.notes]  # (Delta: files, log)
    ledger.append(actor, f"{kind}.executed", request.target, {"targets": len(targets), "storage": storage["done"]})
    for target in targets:
        target.verified = verify_target(target, project, warehouse, store, subject_id)
    ok = all(t.verified for t in targets)
    entry = ledger.append(actor, f"{kind}.verified" if ok else f"{kind}.verification_failed", request.target,
                          {"results": {t.target: t.verified for t in targets}})
    record_anchor(project.state_dir, ledger.head(), source=actor)
    done = result("verified" if ok else "executed", targets, entry.hash,
                  original=original, reappeared=reappeared, storage=storage)
    write_certificate(done, project)
    return done
