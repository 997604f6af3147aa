"""One destructive governance action at a time per project: erasures and sweeps take this lock.

They read, decide and rewrite the same tables and objects (a JSON-lines file holds many subjects;
a sweep and an erasure may touch the same rows), and each must see the other's finished work.
The lock is a file lock in the project's state dir (released by the OS when a process dies, so a
kill -9 never leaves it held) and, on PostgreSQL, also a session advisory lock, so processes on
other machines sharing the warehouse are serialized too. A process that has to wait says for whom.
"""

from __future__ import annotations

import fcntl
import os
import sys
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

from .warehouse import Warehouse


def _say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


@contextmanager
def governance_lock(state_dir: Path, warehouse: Warehouse | None, holder: str,
                    notify: Callable[[str], None] = _say) -> Iterator[None]:
    """Hold the project's destructive-action lock; `holder` says what this process is doing."""
    locks = Path(state_dir) / "locks"
    locks.mkdir(parents=True, exist_ok=True, mode=0o700)
    path = locks / "governance.lock"
    with ExitStack() as stack:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        stack.callback(os.close, fd)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            other = os.pread(fd, 200, 0).decode(errors="replace").strip() or "another process"
            notify(f"waiting for {other} to finish (lock {path}) …")
            fcntl.flock(fd, fcntl.LOCK_EX)
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{holder} (pid {os.getpid()})".encode(), 0)
        if warehouse is not None and warehouse.kind == "postgres":
            stack.enter_context(_advisory_lock(warehouse, holder, notify))
        yield


@contextmanager
def _advisory_lock(warehouse: Warehouse, holder: str, notify: Callable[[str], None]) -> Iterator[None]:
    import psycopg

    key = f"dataflow_governance.governance:{warehouse.schema or ''}"
    with psycopg.connect(warehouse.dsn, autocommit=True) as con:
        taken = con.execute("SELECT pg_try_advisory_lock(hashtext(%s))", (key,)).fetchone()[0]
        if not taken:
            notify(f"waiting for another erasure or sweep on the PostgreSQL warehouse to finish ({holder}) …")
            con.execute("SELECT pg_advisory_lock(hashtext(%s))", (key,))
        try:
            yield
        finally:
            con.execute("SELECT pg_advisory_unlock(hashtext(%s))", (key,))
