"""Where a project keeps its own state and writes its reports, as paths — nothing opened."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class StatePaths:
    """The state folder (keys, locks, anchors, the catalog, Delta tables) and the output folder
    (reports, certificates) of a project."""

    state: Path
    output: Path

    @property
    def keys(self) -> Path:
        return self.state / "keys"

    @property
    def locks(self) -> Path:
        return self.state / "locks"

    @property
    def anchors(self) -> Path:
        """The state folder's anchors file (the ledger heads jobs left behind)."""
        return self.state / "ledger" / "anchors.jsonl"

    @property
    def catalog(self) -> Path:
        return self.state / "catalog.json"

    def delta(self, path: str) -> Path:
        """A Delta table's folder, declared relative to the state folder."""
        return self.state / path

    def certificates(self, kind: str) -> Path:
        """Where an erasure's (`erasure`) or offboarding's (`offboarding`) certificates go."""
        return self.output / ("offboarding" if kind == "offboarding" else "erasures")
