"""An erasure on the example with the redaction of the subject's mentions in other rows' free text,
beside the same erasure without it (today's: the subject's own rows, objects and keys only).

Two customers whom other customers' tickets name, each erased once in the same copy of the example
(after `dfg demo`, and a third erased first to warm up): one with the plan as it is, one with a plan
that knows no identity asset (so it has no text targets). Times are the whole `erase` (plan, count, execute, reclaim, verify, certify).

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


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        for name in ("dagster_project.yaml", "openlineage.yml"):
            shutil.copy(REPO / name, root / name)
        for folder in ("assets", "resources"):
            shutil.copytree(REPO / folder, root / folder)
        subprocess.run([sys.executable, "-m", "dataflow_governance.cli", "demo"], cwd=root, check=True,
                       capture_output=True)
        sys.path.insert(0, str(root))
        from dataflow_governance import load_project
        from dataflow_governance.cli.subjects import _inputs
        from dataflow_governance.subjects import erase

        project = load_project(root / "dagster_project.yaml")
        reach, scope = _inputs(project)
        mentioned = [int(u) for (u,) in reach.warehouse.fetch(
            "SELECT u.user_id FROM tickets t JOIN users u ON strpos(t.body, u.email) > 0 AND t.user_id <> u.user_id "
            "GROUP BY u.user_id ORDER BY count(*) DESC, u.user_id LIMIT 5")]
        erase(reach, scope, str(mentioned[0]), immediately=True)  # warm: imports, connections, the model registry
        without = dataclasses.replace(scope, identities=frozenset())
        runs: dict[str, list[float]] = {"with text redaction": [], "without (today)": []}
        # In the order A B B A, so that neither side is always the first or the last.
        for (label, plan_scope), subject in zip([("with text redaction", scope), ("without (today)", without),
                                                 ("without (today)", without), ("with text redaction", scope)], mentioned[1:]):
            started = time.perf_counter()
            result = erase(reach, plan_scope, str(subject), immediately=True)
            runs[label].append(time.perf_counter() - started)
            redacted = sum(o.count for o in result.targets if o.plan.action == "redact")
            print(f"{label:22} {runs[label][-1]:6.2f} s  status {result.status}, {len(result.targets)} targets, "
                  f"{redacted} row(s) redacted in others' text")
        mean = {label: sum(times) / len(times) for label, times in runs.items()}
        print(f"mean: with {mean['with text redaction']:.2f} s, without {mean['without (today)']:.2f} s, "
              f"ratio {mean['with text redaction'] / mean['without (today)']:.2f}x")


if __name__ == "__main__":
    main()
