"""An erasure's lifecycle: request, grace period, execution, verification, certificate.

Every step is ledgered before and after it runs, so an interrupted erasure resumes and a finished
one is a no-op; verification re-queries every target. One destructive action at a time per
project (`locks.governance_lock`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from dataflow_governance.errors import ErasureError
from dataflow_governance.ledger.chain import Ledger
from dataflow_governance.ledger.erasures import request_state
from dataflow_governance.model.ids import SubjectIdError, check_subject_id
from dataflow_governance.storage.locks import governance_lock
from dataflow_governance.storage.reclaim import reclaim_storage
from dataflow_governance.subjects.certificate import ErasureResult, write_certificate
from dataflow_governance.subjects.execute import count_target, execute_target, utc, verify_target
from dataflow_governance.subjects.plan import plan_erasure, with_provenance
from dataflow_governance.subjects.reach import Reach
from dataflow_governance.subjects.scope import Scope
from dataflow_governance.subjects.targets import Action, Outcome, System, Target

DEFAULT_GRACE_DAYS = 30
MAX_GRACE_DAYS = 3650  # ten years: past that a "grace period" is a refusal, and dates overflow
DATA_SYSTEMS = (System.WAREHOUSE, System.S3, System.KEYS, System.DELTA)
PENDING_KEK = "shredded, pending KEK retirement"

__all__ = ["DEFAULT_GRACE_DAYS", "MAX_GRACE_DAYS", "ErasureError", "Options", "Request", "check_grace_days", "erase",
           "run_request", "utc"]


def check_grace_days(grace_days: int) -> int:
    if not isinstance(grace_days, int) or isinstance(grace_days, bool) or not 0 <= grace_days <= MAX_GRACE_DAYS:
        raise ErasureError(f"grace days must be a whole number from 0 to {MAX_GRACE_DAYS} (got {grace_days!r})")
    return grace_days


def checked_id(value: str, what: str) -> str:
    """A subject's or tenant's id as the data holds it, or an error naming what is wrong with it."""
    try:
        return check_subject_id(value)
    except SubjectIdError as exc:
        raise ErasureError(str(exc).replace("subject", what)) from None


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


@dataclass(frozen=True)
class Options:
    """How a request is run.

    Args:
        immediately: skip the grace period.
        cancel: cancel a pending request instead.
        grace_days: days between the request and its execution.
        actor: who the ledger says acted.
        now: the run's time (UTC).
        vacuum_full: PostgreSQL: rewrite the touched tables' files.
        notified: processors an operator has told (recorded, then shown as confirmed).
    """

    immediately: bool = False
    cancel: bool = False
    grace_days: int = DEFAULT_GRACE_DAYS
    actor: str = "dfg:erase"
    now: datetime = field(default_factory=utc)
    vacuum_full: bool = False
    notified: tuple[str, ...] = ()


def erase(reach: Reach, scope: Scope, subject_id: str, *, immediately: bool = False, dry_run: bool = False,
          cancel: bool = False, grace_days: int = DEFAULT_GRACE_DAYS, actor: str = "dfg:erase",
          now: datetime | None = None, vacuum_full: bool = False, notified: Sequence[str] = (),
          unknown_is_error: bool = False) -> ErasureResult:
    """Request, execute (after the grace period, or `immediately`), verify and certify an erasure.

    Every run re-plans and counts what is there now. A run after an earlier execution erases what
    came back (ledgered as `erasure.reopened`) and verifies again; its counts are its own.

    Args:
        reach: the stores, keys and folders the subject's data may be in.
        scope: the governance and graph to plan from.
        subject_id: the subject's id, as the identity column holds it.
        dry_run: the plan with counts; nothing changes (an unknown subject is an error unless erased before).
        unknown_is_error: refuse a dry run for a subject found nowhere, even one erased before.
        notified: processors an operator has told to erase the subject (after the erasure).

    Returns:
        The result: its status, each target's outcome, the ledger head; a certificate is written
        when the request was carried out.
    """
    subject_id = checked_id(subject_id, "subject")
    check_grace_days(grace_days)
    warehouse = reach.warehouse
    subject = reach.keyring.subject_hash(subject_id)
    request = Request("erasure", subject, subject_id)

    def plan() -> list[Target]:
        return with_provenance(plan_erasure(scope, warehouse), warehouse, subject)

    if dry_run:
        with warehouse.session():
            return preview(reach, request, plan(), always_known=unknown_is_error)
    with governance_lock(reach.paths.state, warehouse, f"erasure of subject {subject[:12]}…"), warehouse.session():
        targets = plan()
        details = {"pseudonym_hash": reach.keyring.hash("subject", reach.keyring.pseudonym(subject_id)),
                   **mention_fingerprints(reach, targets, subject_id)}
        options = Options(immediately, cancel, grace_days, actor, utc(now), vacuum_full, tuple(notified))
        return run_request(reach, request, targets, details, options)


def mention_fingerprints(reach: Reach, targets: list[Target], subject_id: str) -> dict:
    """Keyed hashes of the identifiers the plan's redactions look for, for the request to record: a
    later run finds the subject's mentions by them once the identity row is gone."""
    from dataflow_governance.subjects.mentions import fingerprints, subject_identifiers

    source = next((t.identity for t in targets if t.action == Action.REDACT and t.identity), None)
    if source is None:
        return {}
    identifiers = subject_identifiers(reach.warehouse, source[0], source[1], source[2], subject_id)
    return {"mentions": fingerprints(identifiers, reach.keyring.key("subject"))} if identifiers else {}


def preview(reach: Reach, request: Request, targets: list[Target], always_known: bool = False) -> ErasureResult:
    """The plan with what each target holds now; nothing changes. An id found nowhere is an error
    unless its request was carried out before (an erased subject's plan is all zeros, and says so)."""
    outcomes = [Outcome(t) for t in targets]
    for outcome in outcomes:
        outcome.count = count_target(outcome, reach, request.value)
    ledger = Ledger(reach.warehouse)
    if always_known or not request_state(ledger, request.target, request.kind)["executed"]:
        refuse_unknown(outcomes, request.what)
    return ErasureResult(request.key, "planned", outcomes, ledger.head().hash, kind=request.kind)


def refuse_unknown(outcomes: list[Outcome], what: str) -> None:
    """Nothing of them anywhere the plan reaches: an unknown id, said as such (nothing was changed)."""
    if not any(o.count for o in outcomes if o.plan.system in DATA_SYSTEMS):
        raise ErasureError(f"unknown {what}: no record of it in any planned target; nothing was changed")


def outcome_status(outcomes: list[Outcome]) -> str:
    """verified: everything the project does is done and checked now (steps only an operator can
    take are listed as outstanding, never as verified); pending KEK retirement: all that is left is
    the destruction of the KEK that wrapped a shredded key; executed: something did not verify."""
    open_ = [o for o in outcomes if not o.plan.outstanding and not o.verified]
    if not open_:
        return "verified"
    if all(o.pending for o in open_):
        return PENDING_KEK
    return "executed"


def run_request(reach: Reach, request: Request, targets: list[Target], details: dict, options: Options) -> ErasureResult:
    """Request, then (when due) execute, verify and certify; resumable from the ledger. Called
    under the governance lock.

    A target done before (by an interrupted run of this request, or by its earlier execution) is
    verified first and done again only when that fails, so one rerun finishes any job: data that a
    replayed log or a restored backup brought back is removed in the same run."""
    return RequestRun(reach, request, [Outcome(t) for t in targets], options).run(details)


class RequestRun:
    """One run of a request, step by step: count, cancel, file, execute, reclaim, verify, certify."""

    def __init__(self, reach: Reach, request: Request, outcomes: list[Outcome], options: Options):
        self.reach, self.request, self.outcomes, self.options = reach, request, outcomes, options
        self.ledger = Ledger(reach.warehouse)

    def state(self) -> dict:
        return request_state(self.ledger, self.request.target, self.request.kind)

    def result(self, status: str, head: str | None = None, **extra) -> ErasureResult:
        return ErasureResult(self.request.key, status, self.outcomes, head or self.ledger.head().hash,
                             kind=self.request.kind, **extra)

    def run(self, details: dict) -> ErasureResult:
        state = self.state()
        for outcome in self.outcomes:
            outcome.count = count_target(outcome, self.reach, self.request.value, self.options.now)
        if self.options.notified:
            self.record_notified(state)
        self.mark_notified()
        if self.options.cancel:
            return self.cancel(state)
        original = state["executed"]
        reappeared = sum(o.count for o in self.outcomes if _back(o)) if original else 0
        if state["requested"] is None or state["cancelled"]:
            refuse_unknown(self.outcomes, self.request.what)
            state = self.file(details)
        due = state["requested"]["due"]
        if not self.options.immediately and self.options.now.isoformat(timespec="seconds") < due:
            return self.result("planned", due=due)
        if reappeared:
            state = self.reopen(original)
        executed = self.execute(state, rechecking=bool(original) and not reappeared, reopened=bool(reappeared))
        if original and not reappeared and not executed and state["status"] == "verified" and \
                outcome_status(self.outcomes) == "verified":
            return self.verified_unchanged(original)
        storage = self.reclaim(state) if executed or not original else {"done": [], "operator": []}
        for outcome in self.outcomes:
            outcome.verified = verify_target(outcome, self.reach, self.request.value, self.options.now)
        return self.certify(original=original, reappeared=reappeared, storage=storage)

    # the steps -----------------------------------------------------------------------------------
    def cancel(self, state: dict) -> ErasureResult:
        if state["status"] == "requested" and not state["cancelled"]:
            head = self.ledger.append(self.options.actor, f"{self.request.kind}.cancelled", self.request.target).hash
            return self.result("cancelled", head)
        raise ErasureError(f"no pending {self.request.kind} request for this {self.request.what} to cancel")

    def file(self, details: dict) -> dict:
        """The request, with its due date and plan, in the ledger."""
        grace = 0 if self.options.immediately else self.options.grace_days
        due = (self.options.now + timedelta(days=grace)).isoformat(timespec="seconds")
        self.ledger.append(self.options.actor, f"{self.request.kind}.requested", self.request.target,
                           {"due": due, "grace_days": grace, **details,
                            "targets": [{k: v for k, v in o.public().items() if k not in ("verified", "outcome")}
                                        for o in self.outcomes]})
        return self.state()

    def reopen(self, original: dict) -> dict:
        """Data came back (a late event, a replay, a restored backup): a new pass, ledgered."""
        self.ledger.append(self.options.actor, f"{self.request.kind}.reopened", self.request.target,
                           {"reappeared": {o.plan.target: o.count for o in self.outcomes if _back(o) and o.count},
                            "original_seq": original["seq"]})
        return self.state()

    def execute(self, state: dict, *, rechecking: bool, reopened: bool) -> bool:
        """Carry out every target that is not done; returns whether anything was carried out.

        A target done before — in `state` (an interrupted run) or, when `rechecking`, by the
        earlier execution — is verified and done again only when that fails. A pass `reopened` for
        data that came back leaves alone the data targets where nothing came back."""
        executed = False
        value, now = self.request.value, self.options.now
        for outcome in self.outcomes:
            target = outcome.plan
            earlier = target.target in state["done"]
            if reopened and not earlier and target.system in DATA_SYSTEMS and target.action != Action.RECOMPUTE \
                    and not outcome.count:
                continue
            if earlier or rechecking:
                if verify_target(outcome, self.reach, value, now):
                    outcome.count = state["done"].get(target.target, 0) if earlier else 0
                    outcome.verified = True
                    continue
                if target.outstanding or (outcome.pending and not outcome.count):
                    continue  # nothing the project can do now (an operator's step, a KEK's scheduled deletion)
            count = execute_target(outcome, self.reach, value, now)
            outcome.count = max(outcome.count, count) if target.action == Action.RECOMPUTE else count
            outcome.executed = executed = True
            self.ledger.append(self.options.actor, f"{self.request.kind}.target_done", self.request.target,
                               {"target": target.target, "system": str(target.system), "action": str(target.action),
                                "count": outcome.count, **({"kek": outcome.kek} if outcome.kek else {})})
        return executed

    def verified_unchanged(self, original: dict) -> ErasureResult:
        """Nothing came back and nothing needed doing: this run changes nothing and records nothing."""
        for outcome in self.outcomes:
            outcome.count = 0
        return self.result("verified", original=original)

    def reclaim(self, state: dict) -> dict[str, list[str]]:
        """Erased bytes out of the engines' and the object store's own files; then `executed`, ledgered."""
        warehouse = self.reach.warehouse
        touched: list[str] = []
        touched_own: list[str] = []  # the governance store's tables, where they are not in the warehouse
        dropped: list[str] = []
        # A killed run may have committed a delete (or a key's destruction) without ledgering it: the
        # pass that resumes it then finds nothing to count there, but the freed blocks still hold it.
        interrupted = bool(state["done"]) and state["status"] in ("requested", "reopened")
        for outcome in self.outcomes:
            target = outcome.plan
            holder = warehouse.governance_store if target.system == System.KEYS else warehouse
            if target.system in (System.WAREHOUSE, System.KEYS) and target.action != Action.SHREDDED and (
                    (outcome.executed and outcome.count) or (interrupted and target.action != Action.DROP_SCHEMA
                                                             and holder.table_exists(target.table))):
                (dropped if target.action == Action.DROP_SCHEMA else touched_own if holder is not warehouse
                 else touched).append(target.table)
        if self.reach.object_store is not None:
            self.reach.object_store.reclaim()  # the store's own files must not keep erased bodies — also a killed run's
        storage = reclaim_storage(warehouse, sorted(set(touched)), dropped=dropped, full=self.options.vacuum_full)
        if touched_own:
            own = reclaim_storage(warehouse.governance_store, sorted(set(touched_own)), full=self.options.vacuum_full)
            storage = {part: storage[part] + own[part] for part in ("done", "operator")}
        storage["done"] += [note for o in self.outcomes for note in o.notes]  # (Delta: files, log; KEK rotation)
        self.ledger.append(self.options.actor, f"{self.request.kind}.executed", self.request.target,
                           {"targets": len(self.outcomes), "storage": storage["done"]})
        return storage

    def certify(self, **outcome) -> ErasureResult:
        """The verdict, ledgered and anchored, and the certificate written."""
        status = outcome_status(self.outcomes)
        details: dict = {"results": {o.plan.target: o.outcome for o in self.outcomes}}
        if status == PENDING_KEK:
            details["pending"] = [o.pending for o in self.outcomes if o.pending]
        action = {"verified": "verified", PENDING_KEK: "pending_kek_retirement"}.get(status, "verification_failed")
        entry = self.ledger.append(self.options.actor, f"{self.request.kind}.{action}", self.request.target, details)
        self.reach.anchors.record(self.ledger.head(), source=self.options.actor)
        done = self.result(status, entry.hash, ledger_seq=entry.seq, **outcome)
        write_certificate(done, self.reach.paths, self.reach.project)
        return done

    # processors an operator has told -------------------------------------------------------------
    def record_notified(self, state: dict) -> None:
        """An operator's word that processors were told: checked against the plan, then ledgered."""
        request = self.request
        if not state["executed"]:
            raise ErasureError(f"no executed {request.kind} of this {request.what} yet: processors are told after it")
        planned = {o.plan.target for o in self.outcomes if o.plan.action == Action.NOTIFY}
        unknown = sorted(set(self.options.notified) - planned)
        if unknown:
            raise ErasureError(f"--notified {', '.join(unknown)}: not a processor this {request.kind} has to tell "
                               f"(those are: {', '.join(sorted(planned)) or 'none'})")
        for name in self.options.notified:
            self.ledger.append(self.options.actor, f"{request.kind}.processor_notified", request.target,
                               {"processor": name})

    def mark_notified(self) -> None:
        """Processors an operator has confirmed telling (`dfg erase --notified NAME`)."""
        told = {e.details_dict().get("processor"): e.ts for e in
                self.ledger.entries(target=self.request.target, action=f"{self.request.kind}.processor_notified")}
        for outcome in self.outcomes:
            if outcome.plan.action == Action.NOTIFY and outcome.plan.target in told:
                outcome.notified_at = told[outcome.plan.target]


def _back(outcome: Outcome) -> bool:
    """Whether what the target counts now is data that must not be there after an execution
    (events sealed with a shredded key stay by design)."""
    return outcome.plan.system in DATA_SYSTEMS and outcome.plan.action != Action.SHREDDED


