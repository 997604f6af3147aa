"""Writing what is new, and showing what would change in what exists: `dfg init` never overwrites."""

from __future__ import annotations

import difflib
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path


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
        if not dry_run and not create_only(path, text):
            outcomes.append(FileOutcome(path, "exists", "(written meanwhile by another process: left as it is)"))
            continue
        outcomes.append(FileOutcome(path, "created" if not dry_run else "would create"))
    return outcomes


def create_only(path: Path, text: str) -> bool:
    """Write `path` whole, only if nothing is there: a temporary file hard-linked into place, so a
    second process (or a kill -9) can neither overwrite the file nor leave half of it. False when
    something is there already."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        os.link(temporary, path)  # fails if the path exists, a symlink or a folder included
        return True
    except FileExistsError:
        return False
    finally:
        os.unlink(temporary)
