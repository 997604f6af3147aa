"""The catalog the browser shows, re-read when its file changes, and what is wrong with it.

A catalog that cannot be read (missing, damaged, of another format) is no lineage at all: every
page says so. A catalog whose inputs changed since it was built (the manifest, the asset modules,
the SQL files) is shown with a warning on every page, since an auditor must not read yesterday's
lineage as today's. Either is logged once, when it is first seen.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from dataflow_governance.catalog import artifact
from dataflow_governance.errors import CatalogError
from dataflow_governance.model.levels import DEFAULT_LEVELS

if TYPE_CHECKING:
    from dataflow_governance.browse.index import LineageIndex
    from dataflow_governance.catalog.artifact import Origin

log = logging.getLogger("dataflow_governance.browse")

RECHECK_SECONDS = 2.0  # how often a request looks at the file and the inputs again


@dataclass
class Snapshot:
    """One reading of the catalog file: its index, or why there is none, and what is stale."""

    signature: tuple[int, int] | None
    index: LineageIndex | None = None
    error: str | None = None
    stale: list[str] = field(default_factory=list)
    project: str = ""
    generated_at: str = ""


class CatalogSource:
    def __init__(self, path: Path, origin: Origin | None = None, levels: Mapping[str, str] = DEFAULT_LEVELS,
                 recheck_seconds: float = RECHECK_SECONDS):
        self.path = Path(path)
        self.recheck_seconds = recheck_seconds
        self.origin = origin  # None: a catalog file alone, whose inputs are not at hand to compare
        self.levels = levels
        self._lock = threading.Lock()
        self._snapshot: Snapshot | None = None
        self._checked = 0.0

    def current(self) -> Snapshot:
        with self._lock:
            now = time.monotonic()
            if self._snapshot is not None and now - self._checked < self.recheck_seconds:
                return self._snapshot
            self._checked = now
            signature = _signature(self.path)
            if self._snapshot is None or self._snapshot.signature != signature:
                self._snapshot = self._load(signature)
            elif self._snapshot.index is not None:
                self._restale(self._snapshot)
            return self._snapshot

    def _load(self, signature: tuple[int, int] | None) -> Snapshot:
        from dataflow_governance.browse.index import LineageIndex

        try:
            catalog = artifact.read(self.path)
            index = LineageIndex(catalog, self.levels)
        except CatalogError as exc:
            log.error("lineage browser: %s", exc)
            return Snapshot(signature, error=str(exc))
        except Exception as exc:  # any other defect of the file is a damaged catalog, not a crash
            message = f"the governance catalog {self.path} cannot be browsed ({type(exc).__name__}): run `dfg catalog build`"
            log.error("lineage browser: %s", message)
            return Snapshot(signature, error=message)
        snapshot = Snapshot(signature, index=index, project=catalog.project, generated_at=catalog.generated_at)
        self._restale(snapshot)
        log.info("lineage browser: catalog of %s read (%d assets, %d columns)", catalog.project, len(index.assets),
                 sum(len(c) for c in index.columns.values()))
        return snapshot

    def _restale(self, snapshot: Snapshot) -> None:
        if self.origin is None or snapshot.index is None:
            return
        stale = artifact.changed_inputs(self.origin, snapshot.index.catalog)
        if stale and stale != snapshot.stale:
            log.warning("lineage browser: the catalog is stale; changed since it was built: %s (run `dfg catalog build`)",
                        ", ".join(stale))
        snapshot.stale = stale


def _signature(path: Path) -> tuple[int, int] | None:
    try:
        stat = os.stat(path)
    except OSError:
        return None
    return (stat.st_mtime_ns, stat.st_size)
