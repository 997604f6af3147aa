"""A user's `make test` runs on a clone placed anywhere and leaves nothing running behind it."""

import subprocess
import sys
from pathlib import Path

from conftest import REPO, project_servers


def test_a_test_run_leaves_no_endpoint_process_behind(tmp_path):
    basetemp = tmp_path / "inner"
    run = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:xdist", "-p", "no:cacheprovider",
                          f"--basetemp={basetemp}", "tests/test_local_s3.py::test_objects_and_regions_survive_a_restart",
                          "tests/test_local_s3.py::test_concurrent_starts_share_one_endpoint"],
                         cwd=REPO, capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-2000:]
    assert project_servers(basetemp) == []


def test_tests_and_benchmarks_read_nothing_outside_the_project():
    """A clone has nothing beside it: the corpora the tests use live in the project."""
    import re

    sources = [*Path(__file__).parent.glob("*.py"), *(REPO / "benchmarks").glob("*.py")]
    reaching_out = [p.name for p in sources if re.search(r"\.parent\s*/\s*[\"']shared|\.\./shared|parents\[2\]", p.read_text())]
    assert reaching_out == []
    assert len(list((REPO / "benchmarks" / "corpus" / "tpc" / "tpcds").glob("*.sql"))) == 99
