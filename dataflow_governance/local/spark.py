"""The local Spark Connect server: Spark's embedded mode, managed like the local S3 endpoint.

`warehouse.kind: spark` without `warehouse.remote` runs on a Spark Connect server this project
starts on loopback (`spark-submit` from the pyspark package, `local[*]`), shared by every command
and Dagster run process and found through `<home>/endpoint.json`. Its tables live in `<home>/tables`
and its catalog in an embedded Derby metastore in `<home>`, so they persist across restarts. One
JVM serves everyone: a warm query answers in well under a second, where a session per process
would pay 10–15 s of JVM start each time.

The same server is what the tests run the Spark engine against (one per test session).
"""

from __future__ import annotations

import os
import socket
import subprocess
import time
from pathlib import Path

from dataflow_governance.errors import LocalSparkError
from dataflow_governance.local.s3 import Endpoint, _free_port, _paths, read_endpoint, start_lock
from dataflow_governance.local.s3 import stop as _stop

STARTUP_TIMEOUT_S = 180
SERVER_CLASS = "org.apache.spark.sql.connect.service.SparkConnectServer"


def running(home: Path) -> Endpoint | None:
    return read_endpoint(Path(home).parent, _service(home))


def _service(home: Path) -> str:
    return Path(home).name  # `_paths(parent, name)` is `home/…`


def _spark_home() -> Path:
    try:
        import pyspark
    except ImportError:
        raise LocalSparkError("warehouse.kind spark needs the Spark extra: pip install 'dataflow-governance[spark]'") from None
    return Path(pyspark.__file__).parent


def _command(home: Path, port: int) -> list[str]:
    spark_home = _spark_home()
    metastore = home / "metastore_db"
    return [
        str(spark_home / "bin" / "spark-submit"), "--class", SERVER_CLASS, "--master", "local[*]",
        "--conf", f"spark.connect.grpc.binding.port={port}",
        "--conf", "spark.connect.grpc.binding.address=127.0.0.1",
        "--conf", "spark.sql.catalogImplementation=hive",
        "--conf", f"spark.sql.warehouse.dir={home / 'tables'}",
        "--conf", f"spark.hadoop.javax.jdo.option.ConnectionURL=jdbc:derby:;databaseName={metastore};create=true",
        "--conf", f"spark.driver.extraJavaOptions=-Dderby.system.home={home}",
        "--conf", f"spark.local.dir={home / 'tmp'}",
        "--conf", "spark.ui.enabled=false",
        # Small local data: a few partitions, not Spark's 200, keep a query's overhead low.
        "--conf", "spark.sql.shuffle.partitions=4",
        "--conf", "spark.sql.sources.partitionOverwriteMode=static",
        # Every command and run is a session of its own: none may read a table through a file
        # listing cached before another session rewrote it.
        "--conf", "spark.sql.filesourceTableRelationCacheSize=0",
    ]


def ensure_running(home: Path) -> Endpoint:
    """The running server whose state is in `home`, starting it if none is up (safe across processes)."""
    home = Path(home).resolve()
    endpoint = running(home)
    if endpoint:
        return endpoint
    endpoint_file, log_file, _ = _paths(home.parent, _service(home))
    with start_lock(home.parent, _service(home)) as started:
        if started:
            return started
        port = _free_port()
        log = os.open(log_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        env = {**os.environ, "SPARK_HOME": str(_spark_home()), "PYSPARK_PYTHON": os.environ.get("PYSPARK_PYTHON", "python3")}
        try:
            process = subprocess.Popen(_command(home, port), stdout=log, stderr=log, stdin=subprocess.DEVNULL,
                                       cwd=home, env=env, start_new_session=True)
        finally:
            os.close(log)
        endpoint = Endpoint(url=f"sc://127.0.0.1:{port}", pid=process.pid, port=port)
        deadline = time.monotonic() + STARTUP_TIMEOUT_S
        while time.monotonic() < deadline and process.poll() is None:
            if _answers(port):
                endpoint_file.write_text(_json(endpoint))
                endpoint_file.chmod(0o600)
                return endpoint
            time.sleep(0.2)
        process.kill()
        tail = log_file.read_text(errors="replace")[-1200:] if log_file.exists() else ""
        raise LocalSparkError(f"the local Spark Connect server did not start (log: {log_file}):\n{tail}")


def _answers(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=2):
            return True
    except OSError:
        return False


def _json(endpoint: Endpoint) -> str:
    import json
    from dataclasses import asdict

    return json.dumps(asdict(endpoint))


def stop(home: Path) -> bool:
    """Stop the server if it runs; its tables and catalog stay in `home` for the next start."""
    home = Path(home).resolve()
    return _stop(home.parent, _service(home))


__all__ = ["LocalSparkError", "ensure_running", "running", "stop"]
