"""`dfg audit verify|export`: the governance ledger's chain, checked against every anchor (the state
folder's, an Object Lock bucket's, the certificates'), its signed approvals, and — on PostgreSQL —
the guards that keep it append-only; its entries."""

from __future__ import annotations

import re
from pathlib import Path

from dataflow_governance.cli import render
from dataflow_governance.cli.common import CliError, emit, utc_time
from dataflow_governance.dagster_ext.parts import warehouse_of


def register(subparsers, common) -> None:
    """The `audit` family's commands and options."""
    p = subparsers.add_parser("audit", parents=[common], help="the governance ledger: verify the chain, export entries")
    p.add_argument("action", choices=["verify", "export"])
    p.add_argument("--anchor", action="append", help="an extra anchor SEQ:HASH to check against (repeatable)")
    p.add_argument("--certificate", action="append", metavar="FILE",
                   help="an erasure or offboarding certificate (JSON) whose ledger head to check against (repeatable)")
    p.add_argument("--independent", action="store_true", help="verify in Python instead of in the warehouse")
    p.add_argument("--since", help="export entries at or after this UTC time (ISO 8601)")
    p.add_argument("--until", help="export entries before this UTC time")
    p.add_argument("--target", help="export only entries about this target")
    p.add_argument("--actor", help="export only entries by this actor")
    p.set_defaults(handler="audit:cmd_audit")


def cmd_audit(args, project) -> int:
    from dataflow_governance.dagster_ext.parts import anchors_of
    from dataflow_governance.ledger.chain import Ledger, verify_entries

    ledger = Ledger(warehouse_of(project))
    anchors = [*anchors_of(project).load([Path(c) for c in args.certificate or []]),
               *(_anchor(a) for a in args.anchor or [])]
    if args.action == "verify":
        result = ledger.verify(anchors, independent=args.independent)
        approvals = _approvals(ledger, project)
        guard = ledger.guard_problems()
        ok = result.ok and not approvals["invalid"] and not any(g["severity"] == "error" for g in guard)
        payload = {**result.to_dict(), "ok": ok, "chain_ok": result.ok, "approvals": approvals, "guard": guard}
        emit(args, payload, render.verification(result) + "".join(
            f"\nAPPROVAL INVALID at entry {a['seq']} ({a['role']}): {a['problem']}" for a in approvals["invalid"])
            + (f"\n{approvals['checked']} signed approval(s) verified" if approvals["checked"] else "")
            + "".join(f"\n{g['severity'].upper()}: {g['problem']}" for g in guard))
        return 0 if ok else 1
    entries = ledger.entries(since=utc_time(args.since, "--since"), until=utc_time(args.until, "--until"),
                             target=args.target, actor=args.actor)
    result = verify_entries(ledger.entries(), anchors) if entries else ledger.verify(anchors)
    emit(args, {"verification": result.to_dict(), "entries": [e.to_dict() for e in entries]},
         render.ledger_export(entries, result))
    return 0 if result.ok else 1


def _approvals(ledger, project) -> dict:
    """Every recorded approval's signature, checked against the keys declared for its role."""
    from dataflow_governance.cli.review import APPROVED, approval_problem

    checked, invalid = 0, []
    for entry in ledger.entries(action=APPROVED):
        details = entry.details_dict()
        problem = approval_problem(details, project)
        checked += 1
        if problem:
            invalid.append({"seq": entry.seq, "role": details.get("role"), "problem": problem})
    return {"checked": checked, "invalid": invalid}


def _anchor(text: str):
    from dataflow_governance.ledger.chain import Anchor

    seq, _, digest = text.partition(":")
    if not seq.isdigit() or len(seq) > 18 or not re.fullmatch(r"[0-9a-f]{64}", digest):
        raise CliError(f"--anchor {text!r}: expected SEQ:HASH (a sequence number and a 64-hex-digit hash)")
    return Anchor(int(seq), digest, source="--anchor")
