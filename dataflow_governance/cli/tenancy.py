"""`dfg tenancy apply|verify`: row-level tenant isolation in the database, generated and proven;
`dfg tenant offboard`: a tenant's data gone, verified and certified."""

from __future__ import annotations

from dataflow_governance.cli import render
from dataflow_governance.cli.common import CliError, emit, policy, uses_s3
from dataflow_governance.dagster_ext.parts import object_store, reach_of, scope_of, warehouse_of


def register(subparsers, common) -> None:
    """The `tenancy` family's commands and options."""
    p = subparsers.add_parser("tenancy", parents=[common],
                              help="row-level tenant isolation in the database: apply, verify; trace one tenant's data")
    p.add_argument("action", choices=["apply", "verify", "trace"])
    p.add_argument("--from", dest="source", metavar="A", help="trace: the tenant whose data is looked for")
    p.add_argument("--to", dest="target", metavar="B", help="trace: the tenant whose places are read")
    p.add_argument("--dry-run", action="store_true", help="apply: print the statements; change nothing")
    p.add_argument("--tenant", help="verify: act as this tenant")
    p.add_argument("--other", help="verify: another tenant, whose rows must stay invisible and unwritable")
    p.set_defaults(handler="tenancy:cmd_tenancy")
    p = subparsers.add_parser("tenant", parents=[common], help="offboard a tenant: all its data, verified, certified")
    p.add_argument("action", choices=["offboard"])
    p.add_argument("--tenant", required=True, help="the tenant's id, as its tenant column holds it")
    p.add_argument("--dry-run", action="store_true", help="print the exact plan with counts; change nothing")
    p.add_argument("--now", action="store_true", help="skip the grace period")
    p.add_argument("--cancel", action="store_true", help="cancel a pending offboarding")
    p.add_argument("--grace-days", type=int, default=30, help="days before a request is carried out (0 to 3650)")
    p.add_argument("--notified", action="append", metavar="PROCESSOR",
                   help="record that this processor was told to erase the tenant's data (repeatable)")
    p.set_defaults(handler="tenancy:cmd_tenant")


def cmd_tenant(args, project) -> int:
    from dataflow_governance.cli.subjects import check_flags
    from dataflow_governance.subjects.offboard import offboard

    check_flags(args, ("--cancel", "--now", "--dry-run", "--notified"))
    ctx = policy(project, checked=True)
    reach = reach_of(project, store=object_store(project) if uses_s3(ctx) else None)
    result = offboard(reach, scope_of(project, dict(ctx.governance), ctx.graph), args.tenant, immediately=args.now,
                      dry_run=args.dry_run, cancel=args.cancel, grace_days=args.grace_days,
                      notified=args.notified or ())
    emit(args, result.to_dict(), render.erasure(result))
    return 0 if result.status in ("verified", "planned", "cancelled") else 1


def _trace(args, project) -> int:
    from dataflow_governance.tenancy.trace import TenantIdError, trace_tenants

    if not args.source or not args.target:
        raise CliError("trace needs --from A and --to B")
    ctx = policy(project)
    try:
        trace = trace_tenants(ctx, args.source, args.target, warehouse=warehouse_of(project),
                              store=object_store(project) if uses_s3(ctx) else None)
    except TenantIdError as exc:
        raise CliError(str(exc)) from None
    emit(args, trace, render.tenant_trace(trace))
    return 1 if trace["received"] else 0


def cmd_tenancy(args, project) -> int:
    from dataflow_governance.ledger.chain import Ledger
    from dataflow_governance.tenancy import isolation as tenant_isolation

    if args.action == "trace":
        return _trace(args, project)
    warehouse = warehouse_of(project)
    isolation = tenant_isolation.plan(dict(policy(project, checked=True).governance), warehouse, project.tenancy)
    ledger = Ledger(warehouse)
    if args.action == "apply":
        payload = {"tables": sorted(isolation.scoped), "reporting_readable": isolation.readable,
                   "statements": isolation.statements, "applied": not args.dry_run,
                   "strategy": project.tenancy.isolation, "removed_policies": isolation.removed,
                   "tenant_roles": sorted((isolation.tenant_roles or {}).values())}
        if not args.dry_run:
            tenant_isolation.apply(isolation, warehouse)
            ledger.append("dfg:tenancy", "tenancy.isolation_applied", f"project:{project.name}",
                          {"tables": sorted(isolation.scoped), "role": project.tenancy.role,
                           "reporting_role": project.tenancy.reporting_role, "strategy": project.tenancy.isolation,
                           "tenant_roles": len(isolation.tenant_roles or {}),
                           "removed_policies": isolation.removed})
        text = "\n".join(f"{s};" for s in isolation.statements) if args.dry_run else (
            f"row-level isolation ({project.tenancy.isolation} strategy) on {len(isolation.scoped)} table(s) for role "
            f"{project.tenancy.role}; {project.tenancy.reporting_role} reads {len(isolation.readable)} table(s)"
            + "".join(f"\nremoved a policy the project did not write: {p}" for p in isolation.removed))
        emit(args, payload, text)
        return 0
    if not args.tenant or not args.other or args.tenant == args.other:
        raise CliError("verify needs --tenant A and --other B, two different tenants")
    result = tenant_isolation.verify(isolation, warehouse, project.tenancy, args.tenant, args.other)
    ledger.append("dfg:tenancy", "tenancy.isolation_verified", f"project:{project.name}",
                  {"ok": result["ok"], "tables": {t: {k: v for k, v in r.items()} for t, r in result["tables"].items()},
                   "reporting": result["reporting"], "leaks": len(result["leaks"])})
    lines = [f"{_verdict(r)} "
             f"{t}: {r['rows_visible']} row(s) visible, {r['rows_of_other_tenants']} of other tenants; insert for "
             f"another tenant {'refused' if r['insert_for_other_tenant_refused'] else 'ACCEPTED'}"
             + ("" if r["reads_proven"] else f" (no row of the other tenant could be written: {r['canary']}; reads "
                "NOT proven)")
             for t, r in result["tables"].items()]
    lines += [f"{leak['severity'].upper()}: {leak['problem']}" for leak in result["leaks"]]
    lines += [f"reporting role: {t} {state}" for t, state in result["reporting"].items()]
    if result["tenant_chooses_tenant"]:
        lines.append("note: with the session strategy a session chooses its tenant (app.tenant_id); safe only when no "
                     "tenant-supplied SQL runs under the role (tenancy.isolation: role takes the choice away)")
    lines.append("tenant isolation verified" if result["ok"] else "TENANT ISOLATION BROKEN")
    emit(args, result, "\n".join(lines))
    return 0 if result["ok"] else 1


def _verdict(row: dict) -> str:
    """ok: reads proven and nothing of another tenant seen or insertable; LEAK; UNPROVEN."""
    if not row["reads_proven"]:
        return "UNPROVEN"
    return "ok  " if not row["rows_of_other_tenants"] and row["insert_for_other_tenant_refused"] else "LEAK"
