"""Where each subject's erasure (and each tenant's offboarding) stands, replayed from the ledger.

A request, its cancellation, each target done, execution, verification and a reopening when data
came back are ledger entries (`erasure.*` for a subject, `offboarding.*` for a tenant); replaying
them resumes an interrupted run without doing any target twice, and gives the suppression list
that keeps erased subjects from coming back.
"""

from __future__ import annotations

from typing import Any

from dataflow_governance.ledger.chain import Ledger


def _new_state() -> dict[str, Any]:
    return {"requested": None, "cancelled": False, "done": {}, "status": None, "executed": None, "reopened": 0}


def _apply(state: dict[str, Any], entry) -> None:
    details = entry.details_dict()
    step = entry.action.split(".", 1)[1]
    if step == "requested":
        state.update(requested=details, cancelled=False, done={}, status="requested", executed=None)
    elif step == "cancelled":
        state.update(cancelled=True, status="cancelled")
    elif step == "reopened":
        state.update(done={}, status="reopened", reopened=state["reopened"] + 1)
    elif step == "target_done":
        state["done"][details["target"]] = details["count"]
    elif step == "executed":
        state["status"] = "executed"
        if state["executed"] is None:
            state["executed"] = {"seq": entry.seq, "at": entry.ts, "counts": dict(state["done"])}
    elif step == "verified":
        state["status"] = "verified"


def request_state(ledger: Ledger, target: str, kind: str) -> dict[str, Any]:
    """What the ledger says about one request (`kind`: erasure or offboarding) about `target`
    (subject:<hash> or tenant:<hash>): the last request, done targets, status."""
    state = _new_state()
    for entry in ledger.entries(target=target, action_prefix=f"{kind}."):
        _apply(state, entry)
    return state


def erasure_state(ledger: Ledger, subject: str) -> dict[str, Any]:
    return request_state(ledger, f"subject:{subject}", "erasure")


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


def offboarded_tenants(ledger: Ledger) -> set[str]:
    """Keyed hashes of the tenants whose offboarding was carried out (their data must not come back)."""
    return {entry.target.removeprefix("tenant:") for entry in ledger.entries(action="offboarding.executed")}
