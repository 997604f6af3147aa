"""An erasure on the example with the redaction of the subject's mentions in other rows' free text
(warehouse columns and the S3 attachments that copy them), beside the same erasure without it
(today's: the subject's own rows, objects and keys only).

The example is run once (`dfg demo`) and copied twice: in one copy three customers whom other
customers' tickets name are erased with the plan as it is; in the other the same three with a plan
that knows no identity asset (so it has no text targets). The first erasure of each copy is a
warm-up (imports, connections, the model registry); the times are the other two, whole (plan,
count, execute, reclaim, verify, certify).

    python benchmarks/text_erasure.py
"""

from __future__ import annotations

import dataclasses
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def erase_in(copy: Path, subjects: list[int], with_text: bool) -> list[float]:
    from dataflow_governance import load_project
    from dataflow_governance.cli.subjects import _inputs
    from dataflow_governance.local import s3 as local_s3
    from dataflow_governance.subjects import erase

    project = load_project(copy / "dagster_project.yaml")
    reach, scope = _inputs(project)
    if not with_text:
        scope = dataclasses.replace(scope, identities=frozenset())
    times = []
    try:
        for subject in subjects:
            started = time.perf_counter()
            result = erase(reach, scope, str(subject), immediately=True)
            times.append(time.perf_counter() - started)
            redacted = sum(o.count for o in result.targets if o.plan.action == "redact")
            print(f"  {'with' if with_text else 'without'} text redaction: subject {subject} {times[-1]:6.2f} s, "
                  f"{result.status}, {len(result.targets)} targets, {redacted} redacted in others' text")
    finally:
        local_s3.stop(project.state_dir)
    return times[1:]


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "example"
        root.mkdir()
        for name in ("dagster_project.yaml", "openlineage.yml"):
            shutil.copy(REPO / name, root / name)
        for folder in ("assets", "resources"):
            shutil.copytree(REPO / folder, root / folder)
        subprocess.run([sys.executable, "-m", "dataflow_governance.cli", "demo"], cwd=root, check=True, capture_output=True)
        subprocess.run([sys.executable, "-m", "dataflow_governance.cli", "local", "stop"], cwd=root, capture_output=True)
        sys.path.insert(0, str(root))
        from dataflow_governance import load_project, open_warehouse

        subjects = [int(u) for (u,) in open_warehouse(load_project(root / "dagster_project.yaml")).fetch(
            "SELECT u.user_id FROM tickets t JOIN users u ON strpos(t.body, u.email) > 0 AND t.user_id <> u.user_id "
            "GROUP BY u.user_id ORDER BY count(*) DESC, u.user_id LIMIT 3")]
        means = {}
        for with_text in (True, False):
            copy = Path(tmp) / f"copy-{with_text}"
            shutil.copytree(root, copy, ignore=shutil.ignore_patterns("endpoint.json", "*.lock", "__pycache__"))
            times = erase_in(copy, subjects, with_text)
            means[with_text] = sum(times) / len(times)
        print(f"mean of the same two subjects: with {means[True]:.2f} s, without {means[False]:.2f} s, "
              f"ratio {means[True] / means[False]:.2f}x")

if __name__ == "__main__":
    main()
