"""A user's `make test` runs on a clone placed anywhere and leaves nothing running behind it."""

import subprocess
import sys
from pathlib import Path

from conftest import REPO, project_servers


def test_a_test_run_leaves_no_endpoint_process_behind(tmp_path):
    basetemp = tmp_path / "inner"
    run = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:xdist", "-p", "no:cacheprovider",
                          f"--basetemp={basetemp}", "tests/local/test_s3.py::test_objects_and_regions_survive_a_restart",
                          "tests/local/test_s3.py::test_concurrent_starts_share_one_endpoint"],
                         cwd=REPO, capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-2000:]
    assert project_servers(basetemp) == []


def test_tests_and_benchmarks_read_nothing_outside_the_project():
    """A clone has nothing beside it: the corpora the tests use live in the project."""
    import re

    sources = [*Path(__file__).parent.rglob("*.py"), *(REPO / "benchmarks").glob("*.py")]
    reaching_out = [p.name for p in sources if re.search(r"\.parent\s*/\s*[\"']shared|\.\./shared|parents\[2\]", p.read_text())]
    assert reaching_out == []
    assert len(list((REPO / "benchmarks" / "corpus" / "tpc" / "tpcds").glob("*.sql"))) == 99


def test_state_files_are_owner_only(demo_project):
    """The warehouse, the object store, keys, MLflow and run storage hold personal data or secrets."""
    manifest, _summary = demo_project
    state = manifest.parent / ".dfg"
    readable = [str(p.relative_to(state)) for p in [state, *state.rglob("*")]
                if p.stat().st_mode & 0o077 and not p.is_symlink()]
    assert readable == []
    assert (state / "warehouse.duckdb").exists() and (state / "keys").is_dir()


def test_a_sample_of_a_big_file_reads_only_the_sample(tmp_path):
    big = tmp_path / "big.csv"
    row = "1234,someone@example.com,+49 30 1234567,some free text that pads the row out to a realistic width\n"
    with open(big, "w") as handle:
        handle.write("id,email,phone,note\n")
        for _ in range(150):
            handle.write(row * 10_000)  # ~150 MB
    # A fresh parent whose only child is the scan: its children's peak is the scan's peak.
    measure = ("import resource, subprocess, sys\n"
               "run = subprocess.run([sys.executable, '-m', 'dataflow_governance.cli', 'scan', '--file', sys.argv[1],"
               " '--sample', '1000', '--json'], capture_output=True, text=True)\n"
               "print(run.returncode, '\"rows_scanned\": 1000' in run.stdout, "
               "resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss // 1024)")
    run = subprocess.run([sys.executable, "-c", measure, str(big)], capture_output=True, text=True, timeout=120)
    code, sampled, peak_mb = run.stdout.split()
    assert code == "0" and sampled == "True", run.stderr
    assert int(peak_mb) < 300, f"peak {peak_mb} MB for a 1,000-row sample of a 150 MB file"


def test_the_readme_example_subject_is_in_the_training_data(demo_project):
    from conftest import dfg_json

    manifest, _summary = demo_project
    code, result, err = dfg_json("provenance", "--subject-id", "12", project=manifest)
    assert code == 0 and result["datasets"] and result["models"], err
    assert "customer `12`" in (REPO / "README.md").read_text()
