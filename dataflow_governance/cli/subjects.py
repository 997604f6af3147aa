"""`dfg erase`, `dfg access` and `dfg sweep`: what happens to a subject's data, and to data past its time."""

from __future__ import annotations

import sys
from datetime import UTC
from pathlib import Path

from dataflow_governance.cli import render
from dataflow_governance.cli.common import CliError, emit, policy, uses_s3, utc_time
from dataflow_governance.dagster_ext.parts import object_store, reach_of, scope_of, warehouse_of


def register(subparsers, common) -> None:
    """The `subjects` family's commands and options."""
    p = subparsers.add_parser("erase", parents=[common], help="erase a subject everywhere (GDPR Art. 17), verify, certify")
    p.add_argument("--subject-id", required=True)
    p.add_argument("--dry-run", action="store_true", help="print the exact plan with counts; change nothing")
    p.add_argument("--now", action="store_true", help="skip the grace period")
    p.add_argument("--cancel", action="store_true", help="cancel a pending request")
    p.add_argument("--grace-days", type=int, default=30, help="days before a request is carried out (0 to 3650)")
    p.add_argument("--vacuum-full", action="store_true",
                   help="PostgreSQL: VACUUM FULL the touched tables, rewriting their files (locks them meanwhile)")
    p.add_argument("--queue", action="store_true",
                   help="file a request for the Dagster erase_subject_job instead (prints its request id)")
    p.add_argument("--notified", action="append", metavar="PROCESSOR",
                   help="record that this processor was told to erase the subject (after the erasure; repeatable)")
    p.set_defaults(handler="subjects:cmd_erase")
    p = subparsers.add_parser("sweep", parents=[common], help="apply every retention rule (warehouse and S3), ledgered")
    p.add_argument("--dry-run", action="store_true", help="print the exact plan with counts; change nothing")
    p.add_argument("--as-of", metavar="TIME", help="cut-offs as of this UTC time (ISO 8601), not now; never in the future")
    p.set_defaults(handler="subjects:cmd_sweep")
    p = subparsers.add_parser("access", parents=[common], help="export everything held about a subject (Art. 15/20)")
    p.add_argument("--subject-id", required=True)
    p.add_argument("--out", metavar="FILE",
                   help="also write the export to FILE: JSON (.json) or CSV (.csv, one line per field: asset, record, field, value)")
    p.set_defaults(handler="subjects:cmd_access")
    p = subparsers.add_parser("disclosures", parents=[common],
                       help="HIPAA accounting of disclosures: who received a subject's PHI, when, why, by which run")
    p.add_argument("--subject-id", required=True)
    p.add_argument("--since", metavar="TIME", help="only disclosures at or after this UTC time (ISO 8601)")
    p.set_defaults(handler="subjects:cmd_disclosures")


def _inputs(project, ctx=None):
    """What a request acts on (`Reach`) and plans from (`Scope`), from the checked catalog."""
    ctx = ctx or policy(project, checked=True)
    reach = reach_of(project, warehouse_of(project), object_store(project) if uses_s3(ctx) else None)
    return reach, scope_of(project, dict(ctx.governance), ctx.graph)


def check_flags(args, flags: tuple[str, ...]) -> None:
    """Flags that ask for opposite things are refused, not silently ranked."""
    given = [f for f in flags if getattr(args, f.lstrip("-").replace("-", "_"), None)]
    clashing = [("--cancel", "--now"), ("--cancel", "--dry-run"), ("--cancel", "--notified"), ("--dry-run", "--notified"),
                ("--queue", "--now"), ("--queue", "--cancel"), ("--queue", "--dry-run"), ("--queue", "--notified")]
    for a, b in clashing:
        if a in given and b in given:
            raise CliError(f"{a} and {b} ask for different things: give one")


def cmd_erase(args, project) -> int:
    check_flags(args, ("--cancel", "--now", "--dry-run", "--notified", "--queue"))
    if args.queue:
        from dataflow_governance.subjects import erase
        from dataflow_governance.subjects.queue import file_request

        # A request for nobody would run, find nothing and say so weeks later: say it now.
        reach, scope = _inputs(project)
        erase(reach, scope, args.subject_id, dry_run=True, unknown_is_error=True)
        request_id = file_request(reach.warehouse, args.subject_id)
        emit(args, {"request_id": request_id},
             f"erasure request {request_id} filed; run erase_subject_job with ops.erase_subject.config.request_id")
        return 0
    from dataflow_governance.subjects import erase

    reach, scope = _inputs(project)
    result = erase(reach, scope, args.subject_id, immediately=args.now, dry_run=args.dry_run, cancel=args.cancel,
                   grace_days=args.grace_days, vacuum_full=args.vacuum_full, notified=args.notified or ())
    emit(args, result.to_dict(), render.erasure(result))
    return 0 if result.status in ("verified", "planned", "cancelled") else 1


def cmd_sweep(args, project) -> int:
    from datetime import datetime

    from dataflow_governance.retention.sweep import run_sweep

    as_of = None
    if args.as_of:
        as_of = datetime.fromisoformat(utc_time(args.as_of, "--as-of"))
        # An earlier moment keeps more; a later one would delete data before its time.
        if as_of > datetime.now(UTC).replace(tzinfo=None):
            raise CliError(f"--as-of {args.as_of!r} is in the future: a sweep may not delete data before its time")
    reach, scope = _inputs(project)
    result = run_sweep(reach, scope, dry_run=args.dry_run, now=as_of)
    emit(args, result, render.sweep(result, args.dry_run))
    return 1 if result["problems"] else 0


def cmd_access(args, project) -> int:
    from dataflow_governance.ledger.chain import Ledger
    from dataflow_governance.subjects import access_export
    from dataflow_governance.subjects.disclosures import record_command

    ctx = policy(project, checked=True)
    reach, scope = _inputs(project, ctx)
    out_format = access_file_format(args.out) if args.out else None
    export = access_export(reach, scope, args.subject_id)
    # The export read the subject's PHI: ledgered as an access, for the subject's own request.
    record_command(Ledger(reach.warehouse), ctx, "access", [a.split(" (")[0] for a in export["assets"]],
                   "the subject's right of access (GDPR Art. 15; HIPAA 45 CFR 164.524)")
    if out_format:
        from dataflow_governance.local.files import write_safely

        written = write_safely(args.out, render.access_file(export, out_format), "access export")
        print(f"access export written to {written} ({out_format})", file=sys.stderr)
    emit(args, export, render.access(export))
    return 0


def access_file_format(path: str) -> str:
    """The export's format from the file's suffix, checked before anything is read."""
    suffix = Path(path).suffix.lower().lstrip(".")
    if suffix not in ("json", "csv"):
        raise CliError(f"--out {path}: write the export to a .json or a .csv file")
    return suffix


def cmd_disclosures(args, project) -> int:
    """HIPAA's accounting of disclosures (45 CFR 164.528) for one subject, from the ledger and lineage."""
    from dataflow_governance.ledger.chain import Ledger
    from dataflow_governance.model.ids import SubjectIdError, check_subject_id
    from dataflow_governance.policy.hipaa import hipaa_assets
    from dataflow_governance.subjects.disclosures import GAPS, access_of, disclosures, subject_holdings

    try:
        subject_id = check_subject_id(args.subject_id)
    except SubjectIdError as exc:
        raise CliError(str(exc)) from None
    since = utc_time(args.since, "--since")
    ctx = policy(project, checked=True)
    under = hipaa_assets(ctx)
    disclosing = {a for a in under if (access_of(ctx, a, under) or {}).get("disclosed_to")}
    needs_store = uses_s3(ctx) and any(ctx.governance[a].storage.kind == "s3" for a in disclosing)
    reach, scope = reach_of(project, store=object_store(project) if needs_store else None), \
        scope_of(project, dict(ctx.governance), ctx.graph)
    with reach.warehouse.session():
        holding = subject_holdings(reach, scope, subject_id, disclosing)
        found = disclosures(Ledger(reach.warehouse), holding, since)
    gaps = list(GAPS) + [f"{a}: disclosed, but the subject has no rows in it now; earlier disclosures of rows since "
                         "deleted cannot be attributed to the subject" for a in sorted(disclosing - set(holding))]
    payload = {"subject": subject_id, "since": since, "holding": holding, "disclosures": found, "gaps": gaps}
    emit(args, payload, render.disclosures(payload))
    return 0
