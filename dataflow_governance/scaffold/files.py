"""Writing what is new, and showing what would change in what exists: `dfg init` never overwrites."""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from pathlib import Path

from dataflow_governance.local.files import write_safely


@dataclass(frozen=True)
class FileOutcome:
    path: Path
    status: str  # created | unchanged | exists (not written: the diff says what would change)
    diff: str = ""

    def to_dict(self, root: Path) -> dict[str, str]:
        out = {"path": str(self.path.relative_to(root)), "status": self.status}
        if self.diff:
            out["diff"] = self.diff
        return out


def write_new(files: dict[Path, str], root: Path, dry_run: bool = False) -> list[FileOutcome]:
    """Create each file that does not exist; for one that does, the unified diff from it to ours."""
    outcomes = []
    for path, text in files.items():
        name = str(path.relative_to(root))
        if path.exists() or path.is_symlink():
            current = path.read_text(errors="replace") if path.is_file() else ""
            if current == text:
                outcomes.append(FileOutcome(path, "unchanged"))
                continue
            diff = "".join(difflib.unified_diff(current.splitlines(keepends=True), text.splitlines(keepends=True),
                                                f"{name} (yours)", f"{name} (dfg init)"))
            outcomes.append(FileOutcome(path, "exists", diff))
            continue
        if not dry_run:
            path.parent.mkdir(parents=True, exist_ok=True)
            write_safely(path, text, "scaffold file")
        outcomes.append(FileOutcome(path, "created" if not dry_run else "would create"))
    return outcomes
