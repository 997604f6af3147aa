"""The example project copied where a benchmark may change it (its manifest, OpenLineage config,
asset modules and resources; its state starts empty)."""

import shutil
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def copy_example(dest: Path) -> Path:
    """The example under `dest`; returns its manifest."""
    dest.mkdir(parents=True, exist_ok=True)
    for name in ("dagster_project.yaml", "openlineage.yml"):
        shutil.copy(REPO / name, dest / name)
    for folder in ("assets", "resources"):
        shutil.copytree(REPO / folder, dest / folder, ignore=shutil.ignore_patterns("__pycache__", ".dfg"))
    return dest / "dagster_project.yaml"
