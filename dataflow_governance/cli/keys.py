"""`dfg keys status|rotate`: the key store of field-level encryption, and rotating its KEK."""

from __future__ import annotations

from .common import emit


def cmd_keys(args, project) -> int:
    from ..crypto import LocalKek, open_key_store
    from ..ledger import Ledger
    from ..locks import governance_lock

    warehouse = project.open_warehouse()
    store = open_key_store(project, warehouse)
    if args.action == "status":
        status = {"provider": project.keys.provider, "kek": store.kek.current_id(), **store.counts()}
        emit(args, status, f"{status['provider']} KEK {status['kek']}: {status['live']} live data key(s), "
                           f"{status['shredded']} shredded")
        return 0
    # One destructive action at a time: a rotation must not race an erasure shredding a key.
    with governance_lock(project.state_dir, warehouse, "rotation of the key-encryption key"):
        if isinstance(store.kek, LocalKek):
            store.kek.rotate()
        summary = store.rotate()
        Ledger(warehouse).append("dfg:keys", "keys.rotated", f"project:{project.name}",
                                 {"kek": store.kek.current_id(), **summary})
    emit(args, {"kek": store.kek.current_id(), **summary},
         f"{summary['rewrapped']} data key(s) re-wrapped with {store.kek.current_id()}; retired: "
         f"{', '.join(summary['retired']) or 'none'}")
    return 0
