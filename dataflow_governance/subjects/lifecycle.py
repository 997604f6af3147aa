"""An erasure's lifecycle: request, grace period, execution, verification, certificate.

Every step is ledgered before and after it runs, so an interrupted erasure resumes and a finished
one is a no-op; verification re-queries every target. One destructive action at a time per
project (`locks.governance_lock`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from functools import partial

from dataflow_governance.errors import ErasureError
from dataflow_governance.lineage.graph import ColumnGraph
from dataflow_governance.crypto import open_keyring
from dataflow_governance.ledger.anchors import record_project_anchor
from dataflow_governance.ledger.chain import Ledger
from dataflow_governance.storage.locks import governance_lock
from dataflow_governance.model.manifest import Project
from dataflow_governance.model.ids import SubjectIdError, check_subject_id
from dataflow_governance.storage.objectstore import ObjectStore
from dataflow_governance.storage.reclaim import reclaim_storage
from dataflow_governance.model.spec import AssetGovernance
from dataflow_governance.storage.warehouse import Warehouse
from dataflow_governance.subjects.certificate import ErasureResult, write_certificate
from dataflow_governance.subjects.execute import count_target, execute_target, verify_target
from dataflow_governance.subjects.plan import Target, plan_erasure, pseudonym_of, with_provenance
from dataflow_governance.ledger.erasures import request_state

DEFAULT_GRACE_DAYS = 30
MAX_GRACE_DAYS = 3650  # ten years: past that a "grace period" is a refusal, and dates overflow


def utc(now: datetime | None = None) -> datetime:
    return now or datetime.now(timezone.utc).replace(tzinfo=None)


def check_grace_days(grace_days: int) -> int:
    if not isinstance(grace_days, int) or isinstance(grace_days, bool) or not 0 <= grace_days <= MAX_GRACE_DAYS:
        raise ErasureError(f"grace days must be a whole number from 0 to {MAX_GRACE_DAYS} (got {grace_days!r})")
    return grace_days


def erase(project: Project, governance: dict[str, AssetGovernance], graph: ColumnGraph | None, subject_id: str, *,
          warehouse: Warehouse, store: ObjectStore | None, immediately: bool = False, dry_run: bool = False,
          cancel: bool = False, grace_days: int = DEFAULT_GRACE_DAYS, actor: str = "dfg:erase",
          now: datetime | None = None, vacuum_full: bool = False, notified: Sequence[str] = (),
          unknown_is_error: bool = False) -> ErasureResult:
    """Request, execute (after the grace period, or `immediately`), verify and certify an erasure;
    `notified`: processors an operator has told to erase the subject (recorded, then shown as confirmed).

    Every run re-plans and counts what is there now. A run after an earlier execution erases what
    came back (ledgered as `erasure.reopened`) and verifies again; its counts are its own.
    """
    try:
        subject_id = check_subject_id(subject_id)
    except SubjectIdError as exc:
        raise ErasureError(str(exc)) from None
    check_grace_days(grace_days)
    subject = open_keyring(project, warehouse).subject_hash(subject_id)
    if dry_run:
        with warehouse.session():
            targets = with_provenance(plan_erasure(project, governance, graph, warehouse), warehouse, subject)
            for target in targets:
                target.count = count_target(target, project, warehouse, store, subject_id)
            if unknown_is_error or not request_state(Ledger(warehouse), f"subject:{subject}", "erasure")["executed"]:
                refuse_unknown(targets, "subject")  # (an erased subject's plan is all zeros, and says so)
            return ErasureResult(subject, "planned", targets, Ledger(warehouse).head().hash)
    with governance_lock(project.state_dir, warehouse, f"erasure of subject {subject[:12]}…"), warehouse.session():
        return _erase_locked(project, governance, graph, subject_id, subject, warehouse=warehouse, store=store,
                             immediately=immediately, cancel=cancel, grace_days=grace_days, actor=actor,
                             current=utc(now), vacuum_full=vacuum_full, notified=tuple(notified))


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
    keyring = open_keyring(project, warehouse)
    details = {"pseudonym_hash": keyring.hash("subject", keyring.pseudonym(subject_id))}
    return run_request(project, request, targets, details, **options)


DATA_SYSTEMS = ("warehouse", "s3", "keys", "delta")


def refuse_unknown(targets: list[Target], what: str) -> None:
    """Nothing of them anywhere the plan reaches: an unknown id, said as such (nothing was changed)."""
    if not any(t.count for t in targets if t.system in DATA_SYSTEMS):
        raise ErasureError(f"unknown {what}: no record of it in any planned target; nothing was changed")
PENDING_KEK = "shredded, pending KEK retirement"


def _back(target: Target) -> bool:
    """Whether what the target counts now is data that must not be there after an execution
    (events sealed with a shredded key stay by design)."""
    return target.system in DATA_SYSTEMS and target.action != "shredded"


def outcome_status(targets: list[Target]) -> str:
    """verified: everything the project does is done and checked now (steps only an operator can
    take are listed as outstanding, never as verified); pending KEK retirement: all that is left is
    the destruction of the KEK that wrapped a shredded key; executed: something did not verify."""
    open_ = [t for t in targets if not t.outstanding and not t.verified]
    if not open_:
        return "verified"
    if all(t.pending for t in open_):
        return PENDING_KEK
    return "executed"


def run_request(project: Project, request: Request, targets: list[Target], details: dict, *, warehouse: Warehouse,
                store: ObjectStore | None, immediately: bool, cancel: bool, grace_days: int, actor: str,
                current: datetime, vacuum_full: bool, notified: tuple[str, ...] = ()) -> ErasureResult:
    """Request, then (when due) execute, verify and certify; resumable from the ledger. Called
    under the governance lock.

    A target done before (by an interrupted run of this request, or by its earlier execution) is
    verified first and done again only when that fails, so one rerun finishes any job: data that a
    replayed log or a restored backup brought back is removed in the same run."""
    ledger = Ledger(warehouse)
    state = request_state(ledger, request.target, request.kind)
    for target in targets:
        target.count = count_target(target, project, warehouse, store, request.value)
    if notified:
        _record_notified(ledger, request, state, targets, notified, actor)
    _notified(ledger, request, targets)
    result = partial(ErasureResult, request.key, kind=request.kind)
    if cancel:
        return _cancel(ledger, request, state, targets, actor, result)
    original = state["executed"]
    reappeared = sum(t.count for t in targets if _back(t)) if original else 0
    fresh = state["requested"] is None or state["cancelled"]
    if fresh:
        refuse_unknown(targets, request.what)
    if fresh:
        state = _file(ledger, request, targets, details, immediately, grace_days, actor, current)
    due = state["requested"]["due"]
    if not immediately and current.isoformat(timespec="seconds") < due:
        return result("planned", targets, ledger.head().hash, due=due)
    if reappeared:
        # Data came back (a late event, a replay, a restored backup): a new pass.
        ledger.append(actor, f"{request.kind}.reopened", request.target,
                      {"reappeared": {t.target: t.count for t in targets if _back(t) and t.count},
                       "original_seq": original["seq"]})
        state = request_state(ledger, request.target, request.kind)
    executed = _execute(project, request, targets, state, ledger, warehouse=warehouse, store=store, actor=actor,
                        current=current, rechecking=bool(original) and not reappeared, reopened=bool(reappeared))
    if original and not reappeared and not executed and state["status"] == "verified" and \
            outcome_status(targets) == "verified":
        # Nothing came back and nothing needed doing: this run changes nothing and records nothing.
        for target in targets:
            target.count = 0
        return result("verified", targets, ledger.head().hash, original=original)
    storage = {"done": [], "operator": []}
    if executed or not original:
        storage = _reclaim(targets, state, warehouse, store, vacuum_full)
        ledger.append(actor, f"{request.kind}.executed", request.target,
                      {"targets": len(targets), "storage": storage["done"]})
    for target in targets:
        target.verified = verify_target(target, project, warehouse, store, request.value, current)
    return _certify(project, request, targets, ledger, actor, result, original=original, reappeared=reappeared,
                    storage=storage)


def _cancel(ledger: Ledger, request: Request, state: dict, targets: list[Target], actor: str, result) -> ErasureResult:
    if state["status"] == "requested" and not state["cancelled"]:
        head = ledger.append(actor, f"{request.kind}.cancelled", request.target).hash
        return result("cancelled", targets, head)
    raise ErasureError(f"no pending {request.kind} request for this {request.what} to cancel")


def _file(ledger: Ledger, request: Request, targets: list[Target], details: dict, immediately: bool, grace_days: int,
          actor: str, current: datetime) -> dict:
    """The request, with its due date and plan, in the ledger."""
    due = (current + timedelta(days=0 if immediately else grace_days)).isoformat(timespec="seconds")
    ledger.append(actor, f"{request.kind}.requested", request.target,
                  {"due": due, "grace_days": 0 if immediately else grace_days, **details,
                   "targets": [{k: v for k, v in t.public().items() if k not in ("verified", "outcome")}
                               for t in targets]})
    return request_state(ledger, request.target, request.kind)


def _execute(project: Project, request: Request, targets: list[Target], state: dict, ledger: Ledger, *,
             warehouse: Warehouse, store: ObjectStore | None, actor: str, current: datetime, rechecking: bool,
             reopened: bool) -> bool:
    """Carry out every target that is not done; returns whether anything was carried out.

    A target done before — in `state` (an interrupted run) or, when `rechecking`, by the earlier
    execution — is verified and done again only when that fails. A pass `reopened` for data that
    came back leaves alone the data targets where nothing came back."""
    executed = False
    for target in targets:
        earlier = target.target in state["done"]
        if reopened and not earlier and target.system in DATA_SYSTEMS and target.action != "recompute" \
                and not target.count:
            continue
        if earlier or rechecking:
            if verify_target(target, project, warehouse, store, request.value, current):
                target.count = state["done"].get(target.target, 0) if earlier else 0
                target.verified = True
                continue
            if target.outstanding or (target.pending and not target.count):
                continue  # nothing the project can do now (an operator's step, a KEK's scheduled deletion)
        count = execute_target(target, project, warehouse, store, request.value, current)
        target.count = max(target.count, count) if target.action == "recompute" else count
        target.executed = True
        executed = True
        ledger.append(actor, f"{request.kind}.target_done", request.target,
                      {"target": target.target, "system": target.system, "action": target.action,
                       "count": target.count, **({"kek": target.kek} if target.kek else {})})
    return executed


def _reclaim(targets: list[Target], state: dict, warehouse: Warehouse, store: ObjectStore | None,
             vacuum_full: bool) -> dict[str, list[str]]:
    """Erased bytes out of the engines' and the object store's own files."""
    touched: list[str] = []
    touched_store: list[str] = []  # the project's own tables, where they are not in the warehouse
    dropped: list[str] = []
    # A killed run may have committed a delete (or a key's destruction) without ledgering it: the
    # pass that resumes it then finds nothing to count there, but the freed blocks still hold it.
    interrupted = bool(state["done"]) and state["status"] in ("requested", "reopened")
    for target in targets:
        holder = warehouse.store if target.system == "keys" else warehouse  # (the key table is the project's own)
        if target.system in ("warehouse", "keys") and target.action != "shredded" and (
                (target.executed and target.count) or (interrupted and target.action != "drop-schema"
                                                        and holder.table_exists(target.target))):
            (dropped if target.action == "drop-schema" else touched_store if holder is not warehouse else touched
             ).append(target.target)
    if store is not None:
        store.reclaim()  # the store's own files must not keep erased bodies — also those of a killed run
    storage = reclaim_storage(warehouse, sorted(set(touched)), dropped=dropped, full=vacuum_full)
    if touched_store:
        own = reclaim_storage(warehouse.store, sorted(set(touched_store)), full=vacuum_full)
        storage = {part: storage[part] + own[part] for part in ("done", "operator")}
    storage["done"] += [note for target in targets for note in target.notes]  # (Delta: files, log; KEK rotation)
    return storage


def _certify(project: Project, request: Request, targets: list[Target], ledger: Ledger, actor: str, result,
             **outcome) -> ErasureResult:
    status = outcome_status(targets)
    details = {"results": {t.target: t.outcome for t in targets}}
    pending = [t for t in targets if t.pending]
    if status == PENDING_KEK:
        details["pending"] = [t.pending for t in pending]
    action = {"verified": "verified", PENDING_KEK: "pending_kek_retirement"}.get(status, "verification_failed")
    entry = ledger.append(actor, f"{request.kind}.{action}", request.target, details)
    record_project_anchor(project, ledger.head(), source=actor)
    done = result(status, targets, entry.hash, ledger_seq=entry.seq, **outcome)
    write_certificate(done, project)
    return done


def _record_notified(ledger: Ledger, request: Request, state: dict, targets: list[Target], names: tuple[str, ...],
                     actor: str) -> None:
    """An operator's word that processors were told: checked against the plan, then ledgered."""
    if not state["executed"]:
        raise ErasureError(f"no executed {request.kind} of this {request.what} yet: processors are told after it")
    planned = {t.target for t in targets if t.action == "notify"}
    unknown = sorted(set(names) - planned)
    if unknown:
        raise ErasureError(f"--notified {', '.join(unknown)}: not a processor this {request.kind} has to tell "
                           f"(those are: {', '.join(sorted(planned)) or 'none'})")
    for name in names:
        ledger.append(actor, f"{request.kind}.processor_notified", request.target, {"processor": name})


def _notified(ledger: Ledger, request: Request, targets: list[Target]) -> None:
    """Processors an operator has confirmed telling (`dfg erase --notified NAME`)."""
    told = {e.details_dict().get("processor"): e.ts for e in
            ledger.entries(target=request.target, action=f"{request.kind}.processor_notified")}
    for target in targets:
        if target.action == "notify" and target.target in told:
            target.notified_at = told[target.target]
