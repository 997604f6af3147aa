"""The local S3-compatible endpoint: moto's server on loopback, managed as a small service.

Started on demand by whichever command needs S3 first, then reused by later commands and by every
Dagster run process (the endpoint is found through a state file). Its contents persist across
restarts the way the DuckDB file does: the server records every mutating request and replays the
recording when it starts again.

    python -m dataflow_governance.local_s3 serve --state-dir DIR --port N   (run by `ensure_running`)
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from dataclasses import asdict, dataclass
from pathlib import Path

STARTUP_TIMEOUT_S = 60


class LocalS3Error(RuntimeError):
    pass


@dataclass(frozen=True)
class Endpoint:
    url: str
    pid: int
    port: int


def _paths(state_dir: Path) -> tuple[Path, Path, Path, Path]:
    base = Path(state_dir) / "s3"
    return base / "endpoint.json", base / "recording.jsonl", base / "server.log", base / "start.lock"


def _alive(endpoint: Endpoint) -> bool:
    try:
        os.kill(endpoint.pid, 0)
    except OSError:
        return False
    try:
        with socket.create_connection(("127.0.0.1", endpoint.port), timeout=5):
            return True
    except OSError:
        return False


def read_endpoint(state_dir: Path) -> Endpoint | None:
    endpoint_file = _paths(state_dir)[0]
    try:
        endpoint = Endpoint(**json.loads(endpoint_file.read_text()))
    except (OSError, ValueError, TypeError):
        return None
    return endpoint if _alive(endpoint) else None


def ensure_running(state_dir: Path, port: int | None = None) -> Endpoint:
    """The running endpoint for this state dir, starting it if none is up (safe across processes).

    `port` asks for a specific port (a restart keeps the address clients already hold).
    """
    endpoint = read_endpoint(state_dir)
    if endpoint:
        return endpoint
    endpoint_file, _recording, log_file, lock_file = _paths(state_dir)
    lock_file.parent.mkdir(parents=True, exist_ok=True)
    with open(lock_file, "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # two processes starting at once get one server
        endpoint = read_endpoint(state_dir)
        if endpoint:
            return endpoint
        endpoint_file.unlink(missing_ok=True)
        port = port or _free_port()
        with open(log_file, "ab") as log:
            process = subprocess.Popen(
                [sys.executable, "-m", "dataflow_governance.local_s3", "serve",
                 "--state-dir", str(state_dir), "--port", str(port)],
                stdout=log, stderr=log, stdin=subprocess.DEVNULL, start_new_session=True,
            )
        deadline = time.monotonic() + STARTUP_TIMEOUT_S
        while time.monotonic() < deadline:
            endpoint = read_endpoint(state_dir)
            if endpoint:
                return endpoint
            if process.poll() is not None:
                break
            time.sleep(0.1)
        process.kill()
        tail = log_file.read_text(errors="replace")[-800:] if log_file.exists() else ""
        raise LocalS3Error(f"the local S3 endpoint did not start (log: {log_file}):\n{tail}")


def stop(state_dir: Path) -> bool:
    """Stop the endpoint if it runs; its contents stay in the recording for the next start."""
    endpoint_file = _paths(state_dir)[0]
    endpoint = read_endpoint(state_dir)
    if not endpoint:
        endpoint_file.unlink(missing_ok=True)
        return False
    os.kill(endpoint.pid, signal.SIGTERM)
    for _ in range(100):
        with contextlib.suppress(ChildProcessError):
            os.waitpid(endpoint.pid, os.WNOHANG)  # reap it if this process started it
        try:
            os.kill(endpoint.pid, 0)
        except OSError:
            break
        time.sleep(0.05)
    endpoint_file.unlink(missing_ok=True)
    return True


def recording_path(state_dir: Path) -> Path:
    return _paths(state_dir)[1]


def _free_port() -> int:
    with contextlib.closing(socket.socket()) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _compact(recording: Path) -> None:
    """Drop reads from the recording: only mutating requests change state on replay."""
    if not recording.exists():
        return
    kept = [line for line in recording.read_text().splitlines()
            if line and json.loads(line).get("method") not in ("GET", "HEAD")]
    tmp = recording.with_suffix(".tmp")
    tmp.write_text("".join(line + "\n" for line in kept))
    tmp.replace(recording)


def _snapshot_dir(state_dir: Path) -> Path:
    return Path(state_dir) / "s3" / "snapshot"


def compact(state_dir: Path) -> None:
    """Replace the recorded history with a snapshot of what the endpoint holds now.

    Erasure and retention delete object versions; a recording would replay the deleted bodies
    on the next start (and version-specific deletes do not replay, as version ids are new each
    time). A snapshot of the current state has neither problem.
    """
    import boto3

    endpoint = ensure_running(state_dir)
    port = endpoint.port
    client = boto3.client("s3", endpoint_url=endpoint.url, region_name="us-east-1",
                          aws_access_key_id="dfg-local", aws_secret_access_key="dfg-local")
    tmp = _snapshot_dir(state_dir).with_name("snapshot.tmp")
    if tmp.exists():
        import shutil

        shutil.rmtree(tmp)
    (tmp / "blobs").mkdir(parents=True)
    buckets = []
    for bucket in client.list_buckets().get("Buckets", []):
        name = bucket["Name"]
        region = client.get_bucket_location(Bucket=name).get("LocationConstraint") or "us-east-1"
        versioned = client.get_bucket_versioning(Bucket=name).get("Status") == "Enabled"
        events = []
        for page in client.get_paginator("list_object_versions").paginate(Bucket=name):
            for item in page.get("Versions", []):
                blob = f"{len(list((tmp / 'blobs').iterdir()))}"
                body = client.get_object(Bucket=name, Key=item["Key"], VersionId=item["VersionId"])["Body"].read()
                (tmp / "blobs" / blob).write_bytes(body)
                events.append((item["LastModified"].timestamp(), item["IsLatest"], "put", item["Key"], blob))
            for item in page.get("DeleteMarkers", []):
                events.append((item["LastModified"].timestamp(), item["IsLatest"], "delete", item["Key"], None))
        events.sort(key=lambda e: (e[3], e[0], e[1]))  # per key, oldest first, the latest last
        buckets.append({"name": name, "region": region, "versioned": versioned,
                        "events": [{"type": t, "key": k, "blob": b} for _ts, _latest, t, k, b in events]})
    (tmp / "state.json").write_text(json.dumps(buckets))
    stop(state_dir)
    final = _snapshot_dir(state_dir)
    if final.exists():
        import shutil

        shutil.rmtree(final)
    tmp.replace(final)
    recording_path(state_dir).write_text("")
    ensure_running(state_dir, port=port)


def _restore(snapshot: Path, url: str) -> None:
    import boto3

    client = boto3.client("s3", endpoint_url=url, region_name="us-east-1",
                          aws_access_key_id="dfg-local", aws_secret_access_key="dfg-local")
    for bucket in json.loads((snapshot / "state.json").read_text()):
        params = {"Bucket": bucket["name"]}
        if bucket["region"] != "us-east-1":
            params["CreateBucketConfiguration"] = {"LocationConstraint": bucket["region"]}
        client.create_bucket(**params)
        if bucket["versioned"]:
            client.put_bucket_versioning(Bucket=bucket["name"], VersioningConfiguration={"Status": "Enabled"})
        for event in bucket["events"]:
            if event["type"] == "put":
                client.put_object(Bucket=bucket["name"], Key=event["key"], Body=(snapshot / "blobs" / event["blob"]).read_bytes())
            else:
                client.delete_object(Bucket=bucket["name"], Key=event["key"])


def _serve(state_dir: Path, port: int) -> None:
    endpoint_file, recording, _log, _lock = _paths(state_dir)
    _compact(recording)
    os.environ["MOTO_RECORDER_FILEPATH"] = str(recording)
    os.environ["MOTO_ENABLE_RECORDING"] = "true"
    from moto.moto_api import recorder
    from moto.server import ThreadedMotoServer

    record = recorder._record_request
    write_lock = threading.Lock()
    restoring = threading.Event()

    def record_mutations(request, body=None):
        # Reads change nothing, the snapshot is not history, and writers must not interleave lines.
        if request.method in ("GET", "HEAD") or restoring.is_set():
            return
        with write_lock:
            record(request, body)

    recorder._record_request = record_mutations
    server = ThreadedMotoServer("127.0.0.1", port, verbose=False)
    server.start()
    url = f"http://127.0.0.1:{port}"
    if (_snapshot_dir(state_dir) / "state.json").exists():
        restoring.set()
        _restore(_snapshot_dir(state_dir), url)
        restoring.clear()
    if recording.exists() and recording.stat().st_size:
        recorder.replay_recording(target_host=url)
    tmp = endpoint_file.with_suffix(".tmp")
    tmp.write_text(json.dumps(asdict(Endpoint(url=url, pid=os.getpid(), port=port))))
    tmp.replace(endpoint_file)
    stopped = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stopped.set())
    signal.signal(signal.SIGINT, lambda *_: stopped.set())
    while not stopped.wait(0.2):  # a timed wait lets the signal handler run
        pass
    # Stop accepting, let a request being recorded finish its line, then leave without waiting
    # for idle keep-alive connections to close.
    threading.Thread(target=server.stop, daemon=True).start()
    with write_lock:
        os._exit(0)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m dataflow_governance.local_s3")
    sub = parser.add_subparsers(dest="command", required=True)
    serve = sub.add_parser("serve")
    serve.add_argument("--state-dir", required=True, type=Path)
    serve.add_argument("--port", required=True, type=int)
    args = parser.parse_args(argv)
    _serve(args.state_dir, args.port)


if __name__ == "__main__":
    main()
