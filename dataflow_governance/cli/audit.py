"""`dfg audit verify|export`: the governance ledger's chain, checked against its anchors; its entries."""

from __future__ import annotations

import re

from . import render
from .common import CliError, emit, utc_time


def cmd_audit(args, project) -> int:
    from ..ledger import Ledger, load_anchors, verify_entries

    ledger = Ledger(project.open_warehouse())
    anchors = [*load_anchors(project.state_dir), *(_anchor(a) for a in args.anchor or [])]
    if args.action == "verify":
        result = ledger.verify(anchors, independent=args.independent)
        emit(args, result.to_dict(), render.verification(result))
        return 0 if result.ok else 1
    entries = ledger.entries(since=utc_time(args.since, "--since"), until=utc_time(args.until, "--until"),
                             target=args.target, actor=args.actor)
    result = verify_entries(ledger.entries(), anchors) if entries else ledger.verify(anchors)
    emit(args, {"verification": result.to_dict(), "entries": [e.to_dict() for e in entries]},
         render.ledger_export(entries, result))
    return 0 if result.ok else 1


def _anchor(text: str):
    from ..ledger import Anchor

    seq, _, digest = text.partition(":")
    if not seq.isdigit() or not re.fullmatch(r"[0-9a-f]{64}", digest):
        raise CliError(f"--anchor {text!r}: expected SEQ:HASH (a sequence number and a 64-hex-digit hash)")
    return Anchor(int(seq), digest, source="--anchor")
