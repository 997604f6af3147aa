"""`dfg keys status|rotate|recreate`: the project's keys, checked; rotating the KEK; making a lost
hashing key again, on purpose and ledgered."""

from __future__ import annotations

from dataflow_governance.cli.common import CliError, emit
from dataflow_governance.dagster_ext.parts import warehouse_of


def register(subparsers, common) -> None:
    """The `keys` family's commands and options."""
    p = subparsers.add_parser("keys", parents=[common],
                       help="the project's keys: status (each checked), rotate the KEK, recreate a lost hashing key")
    p.add_argument("action", choices=["status", "rotate", "recreate"])
    p.add_argument("--key", help="recreate: which hashing key (pseudonym or subject)")
    p.add_argument("--reason", help="recreate: why, for the ledger")
    p.set_defaults(handler="keys:cmd_keys")

PROBLEMS = {"missing", "empty", "truncated", "malformed", "unreadable", "different", "retired, still on disk"}


def cmd_keys(args, project) -> int:
    from dataflow_governance.crypto import HASHING_KEYS, LocalKek
    from dataflow_governance.dagster_ext.parts import open_key_store
    from dataflow_governance.ledger.chain import Ledger
    from dataflow_governance.storage.locks import governance_lock

    warehouse = warehouse_of(project)
    store = open_key_store(project, warehouse)
    if args.action == "status":
        status = key_status(project, store)
        bad = [k for k in status["keys"] if k["state"] in PROBLEMS] + \
              [k for k in status["keks"] if k["state"] in PROBLEMS]
        emit(args, status, _render(status))
        return 1 if bad or status["rows"]["unopenable"] else 0
    if args.action == "recreate":
        if args.key not in HASHING_KEYS:
            raise CliError(f"recreate needs --key {' or '.join(HASHING_KEYS)} (a lost KEK cannot be made again: the "
                           "data keys it wrapped are gone with it; restore keys/ from the state folder's backup)")
        if not (args.reason or "").strip():
            raise CliError("recreate needs --reason: why the key is made again goes into the ledger")
        with governance_lock(project.state_dir, warehouse, f"recreation of the {args.key} key"):
            done = store.keyring.recreate(args.key, args.reason.strip())
        emit(args, done, f"the {args.key} key was made again (it was {done['previous_state']}); ledgered with your "
                         f"reason. Data hashed with the old key no longer matches anyone")
        return 0
    if args.key or args.reason:
        raise CliError("--key and --reason are for `dfg keys recreate`")
    # One destructive action at a time: a rotation must not race an erasure shredding a key.
    with governance_lock(project.state_dir, warehouse, "rotation of the key-encryption key"):
        if isinstance(store.kek, LocalKek) or project.keys.kms_key_id.startswith("alias/"):
            store.kek.rotate()
        summary = store.rotate()
        Ledger(warehouse).append("dfg:keys", "keys.rotated", f"project:{project.name}",
                                 {"kek": store.kek.current_id(), **summary})
    emit(args, {"kek": store.kek.current_id(), **summary},
         f"{summary['rewrapped']} data key(s) re-wrapped with {store.kek.current_id()}; retired: "
         f"{', '.join(summary['retired']) or 'none'}")
    return 0


def key_status(project, store) -> dict:
    """Every key's state (hashing keys, each KEK version) and every data key row's, by count and row."""
    from dataflow_governance.crypto import HASHING_KEYS, LocalKek

    keys = [store.keyring.state(name) for name in HASHING_KEYS]
    if isinstance(store.kek, LocalKek):
        keks = [{"kek": f"local:{v}", "state": store.kek.state(v)} for v in store.kek.versions()]
    else:
        try:
            keks = [{"kek": store.kek.current_id(), "state": "ok"}]
        except Exception as exc:
            keks = [{"kek": project.keys.kms_key_id, "state": str(exc)}]
    rows = store.row_states()
    counts = {state: sum(r["state"] == state for r in rows) for state in ("live", "shredded", "unopenable")}
    current = next((k["kek"] for k in reversed(keks) if k["state"] == "ok"), None)
    return {"provider": project.keys.provider, "kek": current, "keys": keys, "keks": keks,
            "rows": counts, "live": counts["live"], "shredded": counts["shredded"], "key_rows": rows}


def _render(status: dict) -> str:
    lines = [f"{k['key']:10} {k['state']:14} {k['source']}"
             + (f"  (recorded {k['recorded']['at']}, ledger entry {k['recorded']['seq']})" if k["recorded"] else "")
             for k in status["keys"]]
    lines += [f"KEK {k['kek']:16} {k['state']}" for k in status["keks"]]
    rows = status["rows"]
    lines.append(f"{status['provider']} KEK {status['kek']}: {rows['live']} live data key(s), {rows['shredded']} "
                 f"shredded, {rows['unopenable']} unopenable")
    return "\n".join(lines)
