"""Shared fixtures: a private copy of the example project, a Postgres schema per test, the CLI."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
PG_DSN = os.environ.get("DFG_TEST_PG_DSN", "postgresql://postgres@127.0.0.1:5432/test")


def copy_project(dest: Path) -> Path:
    """The example project (manifest, assets, resources) in `dest`, with its own state."""
    dest.mkdir(parents=True, exist_ok=True)
    shutil.copy(REPO / "dagster_project.yaml", dest / "dagster_project.yaml")
    shutil.copy(REPO / "openlineage.yml", dest / "openlineage.yml")
    for folder in ("assets", "resources"):
        shutil.copytree(REPO / folder, dest / folder, ignore=shutil.ignore_patterns("__pycache__"))
    return dest / "dagster_project.yaml"


def run_dfg(*args: str, project: Path | None = None, env: dict | None = None, timeout: int = 300):
    """Run the real `dfg` entry point in a child process and return (exit code, stdout, stderr)."""
    command = [sys.executable, "-m", "dataflow_governance.cli"]
    if project is not None:
        command += ["--project", str(project)]
    full_env = {**os.environ, **(env or {})}
    full_env.pop("DFG_PROJECT", None)
    proc = subprocess.run(command + list(args), capture_output=True, text=True, timeout=timeout,
                          env=full_env, cwd=str(project.parent) if project else None)
    return proc.returncode, proc.stdout, proc.stderr


def dfg_json(*args: str, project: Path | None = None, env: dict | None = None):
    code, out, err = run_dfg(*args, "--json", project=project, env=env)
    return code, json.loads(out), err


@pytest.fixture(scope="session")
def demo_project(request, tmp_path_factory):
    """The example project copied and run once through `dfg demo`, for the whole session: the
    first xdist worker to ask runs it, the others wait on the lock and read its result (shared,
    read-only for tests; its endpoint is stopped when the session ends)."""
    import fcntl

    root = _shared_root(request.config, tmp_path_factory)
    summary_file = root / "deep_water.summary.json"
    with open(root / "deep_water.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        manifest = root / "deep_water" / "dagster_project.yaml"
        if not summary_file.exists():
            copy_project(manifest.parent)
            code, out, err = run_dfg("demo", "--json", project=manifest)
            assert code == 0, err[-3000:]
            summary_file.write_text(out)
    return manifest, json.loads(summary_file.read_text())


def copy_demo(demo_project, dest: Path) -> Path:
    """A private copy of the demo project's files and state; it starts its own S3 endpoint when used."""
    manifest, _summary = demo_project
    shutil.copytree(manifest.parent, dest, ignore=shutil.ignore_patterns("endpoint.json", "*.lock", "__pycache__"))
    return dest / "dagster_project.yaml"


@pytest.fixture
def demo_copy(demo_project, tmp_path):
    """The example after `dfg demo`, for a test that changes it (copied, not run again)."""
    from dataflow_governance import load_project
    from dataflow_governance.local import s3 as local_s3

    manifest = copy_demo(demo_project, tmp_path / "copy")
    yield manifest
    local_s3.stop(load_project(manifest).state_dir)


@pytest.fixture
def pg_schema():
    """A fresh schema on the real PostgreSQL server, dropped afterwards."""
    import psycopg

    schema = f"dfg_test_{uuid.uuid4().hex[:10]}"
    yield schema
    with psycopg.connect(PG_DSN, autocommit=True) as con:
        con.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


def _shared_root(config, factory) -> Path:
    """The test session's temporary root, the same for every xdist worker (each has a folder in it)."""
    base = factory.getbasetemp()
    return base.parent if hasattr(config, "workerinput") else base


@pytest.fixture(scope="session")
def spark_home(request, tmp_path_factory) -> Path:
    """The directory of the test session's Spark Connect server (its tables are in `tables/`)."""
    return _shared_root(request.config, tmp_path_factory) / "spark-server"


@pytest.fixture(scope="session")
def spark_remote(spark_home):
    """One Spark Connect server for the whole test session (shared by the workers; stopped at the end)."""
    from dataflow_governance.local import spark as local_spark

    return local_spark.ensure_running(spark_home).url


@pytest.fixture
def spark_schema(spark_remote):
    """A fresh database on the Spark server, dropped afterwards."""
    from dataflow_governance import Warehouse

    schema = f"dfg_test_{uuid.uuid4().hex[:10]}"
    yield schema
    Warehouse(kind="spark", dsn=spark_remote).execute(f"DROP DATABASE IF EXISTS `{schema}` CASCADE")


ENGINES = ["duckdb", "postgres", "spark"]


def make_warehouse(engine: str, request, tmp_path: Path):
    """A warehouse of each engine, each in a place of its own: a DuckDB file, a PostgreSQL schema,
    a Spark database (whose ledger and own tables are in a DuckDB store beside it)."""
    from dataflow_governance import Warehouse

    if engine == "duckdb":
        return Warehouse(kind="duckdb", path=str(tmp_path / "w.duckdb"))
    if engine == "postgres":
        return Warehouse(kind="postgres", dsn=PG_DSN, schema=request.getfixturevalue("pg_schema"))
    return Warehouse(kind="spark", dsn=request.getfixturevalue("spark_remote"),
                     schema=request.getfixturevalue("spark_schema"), store_path=str(tmp_path / "store.duckdb"))


def project_servers(under: Path) -> list[int]:
    """PIDs of the project's local S3 endpoints and Spark servers whose state lies under `under`."""
    pids = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            argv = (proc / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        ours = b"dataflow_governance.local.s3" in argv or any(a.endswith(b"SparkConnectServer") for a in argv)
        if ours and any(str(under).encode() in a for a in argv):
            pids.append(int(proc.name))
    return pids


def pytest_sessionfinish(session, exitstatus):
    """Stop every endpoint the tests started, then fail the run if any process is still there."""
    from dataflow_governance.local import s3 as local_s3, spark as local_spark

    factory = getattr(session.config, "_tmp_path_factory", None)
    if factory is None or hasattr(session.config, "workerinput"):
        return  # (the controller stops what the workers started, once they are all done)
    base = factory.getbasetemp()
    for endpoint_file in base.rglob("s3/endpoint.json"):
        local_s3.stop(endpoint_file.parent.parent)
    for endpoint_file in base.rglob("spark*/endpoint.json"):
        local_spark.stop(endpoint_file.parent)
    left = project_servers(base)
    if left:
        print(f"\nthe test run left {len(left)} local S3 or Spark server process(es) running: {left}")
        session.exitstatus = 1


def kill_when_logged(manifest: Path, args: list[str], needle: bytes, timeout_s: float = 120) -> bool:
    """Run `dfg <args>` and kill -9 it the moment the local S3 endpoint's write-ahead log records a
    request containing `needle` (the DuckDB file is held by one process at a time; the log is not).
    Returns whether it was killed before it finished."""
    from dataflow_governance import load_project

    logs = (load_project(manifest).state_dir / "s3").glob("wal-*.jsonl")
    log = max(logs, key=lambda p: int(p.stem.split("-")[1]))
    offset = log.stat().st_size
    env = {k: v for k, v in os.environ.items() if k != "DFG_PROJECT"}
    child = subprocess.Popen([sys.executable, "-m", "dataflow_governance.cli", "--project", str(manifest), *args],
                             env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + timeout_s
    while child.poll() is None and time.monotonic() < deadline:
        with open(log, "rb") as handle:
            handle.seek(offset)
            if needle in handle.read():
                child.send_signal(signal.SIGKILL)
                child.wait()
                return True
        time.sleep(0.005)
    child.wait()
    return False


def quick_start_project(folder: Path) -> Path:
    """The README's quick-start project (its `file=` blocks) in `folder`, not yet materialized."""
    import re

    text = (REPO / "README.md").read_text()
    for name, body in re.findall(r"^```\w+ file=(\S+)\n(.*?)^```", text, re.S | re.M):
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_text(body)
    (folder / "shop" / "__init__.py").touch()
    return folder / "dagster_project.yaml"


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def stop_process_group(process: subprocess.Popen) -> None:
    """A server started in a session of its own (`dagster dev` and its children): TERM, then KILL."""
    os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
