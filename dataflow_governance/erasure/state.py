"""Where each subject's erasure stands, replayed from the ledger (the only record of it).

A request, its cancellation, each target done, execution, verification and a reopening when data
came back are ledger entries; replaying them resumes an interrupted erasure without doing any
target twice, and gives the suppression list that keeps erased subjects from coming back.
"""

from __future__ import annotations

from typing import Any

from ..ledger import Ledger


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
