"""`dfg saga trace`: one saga's steps, failure, compensations and the data each step sent where."""

from __future__ import annotations

from dataflow_governance.cli import render
from dataflow_governance.cli.common import CliError, emit, policy
from dataflow_governance.dagster_ext.parts import object_store, warehouse_of

CARD = "user.financial.credit_card"


def register(subparsers, common) -> None:
    """The `saga` family's command and options."""
    p = subparsers.add_parser("saga", parents=[common], help="trace a saga: why it failed and where its data went")
    p.add_argument("action", choices=["trace"])
    p.add_argument("--saga", help="the saga (its name under sagas:); needed when the project declares several")
    which = p.add_mutually_exclusive_group(required=True)
    which.add_argument("--id", dest="saga_id", help="the saga's id, as its state asset holds it")
    which.add_argument("--key", metavar="FIELD=VALUE", help="a business key in the saga's data, e.g. order_id=456")
    p.set_defaults(handler="saga:cmd_saga")


def cmd_saga(args, project) -> int:
    from dataflow_governance.ledger.chain import Ledger
    from dataflow_governance.model import taxonomy
    from dataflow_governance.model.spec import table_of
    from dataflow_governance.policy.sagas import third_party
    from dataflow_governance.sagas.trace import EventSource, SagaNotFound, trace_saga

    ctx = policy(project, checked=True)
    sagas = ctx.landscape.sagas if ctx.landscape is not None else {}
    if not sagas:
        raise CliError("the project declares no saga (sagas: in the manifest)")
    if args.saga is None and len(sagas) > 1:
        raise CliError(f"give --saga: the project declares {', '.join(sorted(sagas))}")
    name = args.saga or next(iter(sagas))
    if name not in sagas:
        raise CliError(f"unknown saga {name!r}; sagas: {', '.join(sorted(sagas))}")
    saga = sagas[name]
    key = None
    if args.key is not None:
        field, sep, value = args.key.partition("=")
        if not sep or not field.strip() or not value:
            raise CliError(f"--key {args.key!r}: give FIELD=VALUE, e.g. {saga.key or 'order_id'}=456")
        if not field.strip().isidentifier():
            raise CliError(f"--key: {field!r} is not a field name")
        key = (field.strip(), value)
    state_gov = ctx.governance[saga.state]
    events, store = None, None
    if saga.events is not None:
        events_gov = ctx.governance[saga.events]
        if events_gov.storage.kind == "s3":
            events = EventSource(bucket=events_gov.storage.bucket, prefix=events_gov.storage.prefix)
            store = object_store(project)
        else:
            events = EventSource(table=table_of(saga.events, events_gov))
    warehouse = warehouse_of(project)
    third = [s for s in {*(st.participant for st in saga.steps), *(c.participant for c in saga.compensations.values())}
             if third_party(ctx, s)]
    with warehouse.session():
        try:
            trace = trace_saga(saga, warehouse, table_of(saga.state, state_gov), events, saga_id=args.saga_id, key=key,
                               store=store, third_parties=third)
        except SagaNotFound as exc:
            emit(args, {"error": str(exc), "saga": name}, f"error: {exc}")
            return 1
        read = sorted({c for step in saga.steps for c in step.sends if taxonomy.is_health_category(c) or c.startswith(CARD)})
        if read:  # a trace that reads PHI or card data is an access, ledgered like any other (no values, no id)
            Ledger(warehouse).append("dfg:saga", "saga.traced", f"saga:{name}", {
                "given_as": "id" if key is None else f"key {key[0]}", "status": trace["status"],
                "categories_sent": read, "steps_completed": len(trace["completed"])})
            trace["ledgered"] = True
    emit(args, trace, render.saga_trace(trace))
    return 0
