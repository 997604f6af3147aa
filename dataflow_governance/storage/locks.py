"""One destructive governance action at a time per project: erasures and sweeps take this lock.

They read, decide and rewrite the same tables and objects (a JSON-lines file holds many subjects;
a sweep and an erasure may touch the same rows), and each must see the other's finished work.
The lock is a file lock in the project's state dir (released by the OS when a process dies, so a
kill -9 never leaves it held) plus the engine's own lock (`Engine.exclusive`; PostgreSQL: a session
advisory lock), so processes on other machines sharing the warehouse are serialized too. A process that has to wait says for whom.
"""

from __future__ import annotations

import fcntl
import os
import sys
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

from dataflow_governance.storage.warehouse import Warehouse


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
        if warehouse is not None:  # other machines on a shared warehouse wait too
            stack.enter_context(warehouse.engine.exclusive(holder, notify))
        yield
