"""The local S3-compatible endpoint: moto's server on loopback, managed as a small service.

Started on demand by whichever command needs S3 first, then reused by later commands and by every
Dagster run process (the endpoint is found through a state file). Its contents persist across
restarts the way the DuckDB file does, with write-ahead-log discipline:

- every mutating request is applied and appended to the write-ahead log of the current
  generation (`s3/wal-<G>.jsonl`) under one lock, before it is answered;
- `compact` asks the running server (never a second process) to write a snapshot of what it holds
  now under a temporary name, fsync it and rename it to `s3/snapshots/<G+1>`, then to start
  `wal-<G+1>.jsonl` and delete older generations — so erased bodies leave the disk, and a kill -9
  at any instruction leaves either the old generation (snapshot + its log) or the new one whole;
- on start the newest complete snapshot is restored and only its own log replayed; a torn last
  log line (a crash mid-append) is dropped, anything else unreadable is a clear error.

The server keeps no request log: key names carry subject ids (`attachments/42/…`).

    python -m dataflow_governance.local.s3 serve --state-dir DIR --port N   (run by `ensure_running`)
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import fcntl
import hashlib
import io
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from dataclasses import asdict, dataclass
from pathlib import Path

from dataflow_governance.errors import LocalS3Error

STARTUP_TIMEOUT_S = 120
COMPACT_TIMEOUT_S = 900
COMPACT_PATH = "/_dfg/compact"
# Headers that describe one connection, not the request: the replay sets its own.
_HOP_HEADERS = {"host", "content-length", "transfer-encoding", "connection", "expect", "keep-alive"}


@dataclass(frozen=True)
class Endpoint:
    url: str
    pid: int
    port: int


def _base(state_dir: Path, service: str = "s3") -> Path:
    return Path(state_dir) / service


def _paths(state_dir: Path, service: str = "s3") -> tuple[Path, Path, Path]:
    """A local service's endpoint file, log and start lock (`s3`, or `spark` for local_spark)."""
    base = _base(state_dir, service)
    return base / "endpoint.json", base / "server.log", base / "start.lock"


def private_dir(path: Path) -> Path:
    """A directory only the owner can read: the store holds personal data."""
    path.mkdir(parents=True, exist_ok=True, mode=0o700)
    return path


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


def read_endpoint(state_dir: Path, service: str = "s3") -> Endpoint | None:
    endpoint_file = _paths(state_dir, service)[0]
    try:
        endpoint = Endpoint(**json.loads(endpoint_file.read_text()))
    except (OSError, ValueError, TypeError):
        return None
    return endpoint if _alive(endpoint) else None


@contextlib.contextmanager
def start_lock(state_dir: Path, service: str = "s3"):
    """Held by the one process that starts a local service: yields the endpoint another process
    started meanwhile (use it), or None (start it; its old endpoint file is gone)."""
    endpoint_file, _, lock_file = _paths(state_dir, service)
    private_dir(lock_file.parent)
    with open(os.open(lock_file, os.O_WRONLY | os.O_CREAT, 0o600), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # two processes starting at once get one server
        endpoint = read_endpoint(state_dir, service)
        if endpoint is None:
            endpoint_file.unlink(missing_ok=True)
        yield endpoint


def require_server() -> None:
    """moto's server is an extra: a production install talks to real S3 and does not carry it."""
    import importlib.util

    if importlib.util.find_spec("moto") is None or importlib.util.find_spec("flask") is None:
        raise LocalS3Error("the local S3 endpoint needs moto's server, which is not installed: "
                           "pip install 'dataflow-governance[local]', or set object_store.endpoint_url "
                           "(DFG_S3_ENDPOINT_URL) to a real S3 endpoint")


def ensure_running(state_dir: Path, port: int | None = None) -> Endpoint:
    """The running endpoint for this state dir, starting it if none is up (safe across processes)."""
    endpoint = read_endpoint(state_dir)
    if endpoint:
        return endpoint
    require_server()
    _, log_file, _ = _paths(state_dir)
    with start_lock(state_dir) as started:
        if started:
            return started
        port = port or _free_port()
        log = os.open(log_file, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        try:
            process = subprocess.Popen(
                [sys.executable, "-m", "dataflow_governance.local.s3", "serve",
                 "--state-dir", str(state_dir), "--port", str(port)],
                stdout=log, stderr=log, stdin=subprocess.DEVNULL, start_new_session=True,
            )
        finally:
            os.close(log)
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


def stop(state_dir: Path, service: str = "s3") -> bool:
    """Stop the endpoint if it runs; its contents stay in the snapshot and log for the next start."""
    endpoint_file = _paths(state_dir, service)[0]
    endpoint = read_endpoint(state_dir, service)
    if not endpoint:
        endpoint_file.unlink(missing_ok=True)
        return False
    os.kill(endpoint.pid, signal.SIGTERM)
    for _ in range(200):
        with contextlib.suppress(ChildProcessError):
            os.waitpid(endpoint.pid, os.WNOHANG)  # reap it if this process started it
        try:
            os.kill(endpoint.pid, 0)
        except OSError:
            break
        time.sleep(0.05)
    else:  # (a JVM may take longer to wind down than we wait: what it holds is on disk already)
        with contextlib.suppress(OSError):
            os.kill(endpoint.pid, signal.SIGKILL)
    endpoint_file.unlink(missing_ok=True)
    return True


def compact(state_dir: Path) -> int:
    """Have the running endpoint replace its history with a snapshot of what it holds now.

    Erasure and retention delete object versions; a log would replay the deleted bodies on the
    next start (version-specific deletes do not replay, version ids are new each time). Returns
    the new generation. Any number of callers may compact at once: the server serializes them.
    """
    endpoint = ensure_running(state_dir)
    request = urllib.request.Request(endpoint.url + COMPACT_PATH, data=b"", method="POST")
    try:
        with urllib.request.urlopen(request, timeout=COMPACT_TIMEOUT_S) as response:
            return int(json.loads(response.read())["generation"])
    except (urllib.error.URLError, OSError, ValueError, KeyError) as exc:
        raise LocalS3Error(f"the local S3 endpoint at {endpoint.url} could not compact its storage "
                           f"({type(exc).__name__}); nothing was lost, run the command again") from None


def _free_port() -> int:
    with contextlib.closing(socket.socket()) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _write_synced(path: Path, data: bytes) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.write(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)


# --- the store on disk: generations of snapshot + write-ahead log ------------------------------

class DiskState:
    """Snapshots and logs of one state dir; `generation` is the one in force."""

    def __init__(self, state_dir: Path):
        self.base = private_dir(_base(state_dir))
        self.snapshots = private_dir(self.base / "snapshots")
        self.generation = max((int(p.name) for p in self.snapshots.iterdir() if p.name.isdigit()), default=0)
        self._log_fd: int | None = None

    def snapshot_dir(self, generation: int) -> Path:
        return self.snapshots / str(generation)

    def log_path(self, generation: int) -> Path:
        return self.base / f"wal-{generation}.jsonl"

    def drop_other_generations(self) -> None:
        """Older generations (superseded, holding what was since erased) and unfinished snapshots."""
        for path in self.snapshots.iterdir():
            if path.name != str(self.generation):
                shutil.rmtree(path, ignore_errors=True)
        for path in self.base.glob("wal-*.jsonl"):
            if path != self.log_path(self.generation):
                path.unlink(missing_ok=True)
        # The first round's layout (one recording, one snapshot) once imported is history too.
        (self.base / "recording.jsonl").unlink(missing_ok=True)
        shutil.rmtree(self.base / "snapshot", ignore_errors=True)

    def read_log(self, path: Path) -> list[dict]:
        """The log's entries. A last line without its newline is torn (a crash mid-append: that
        request was never answered) and is cut off; any other unreadable line is damage."""
        if not path.exists():
            return []
        raw = path.read_bytes()
        complete, _, torn = raw.rpartition(b"\n")
        if torn:
            with open(path, "r+b") as handle:
                handle.truncate(len(complete) + 1 if complete else 0)
        entries = []
        for number, line in enumerate(complete.split(b"\n") if complete else [], start=1):
            try:
                entries.append(json.loads(line))
            except ValueError:
                raise LocalS3Error(f"{path}: line {number} is unreadable; the store is damaged "
                                   "(restore the state dir's s3 folder from a backup)") from None
        return entries

    def open_log(self) -> None:
        path = self.log_path(self.generation)
        self._log_fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)

    def append(self, entry: dict) -> None:
        # One write() of one whole line: a kill -9 cannot leave half of it behind.
        os.write(self._log_fd, (json.dumps(entry, separators=(",", ":")) + "\n").encode())

    def commit_snapshot(self, buckets: list[dict], blobs: dict[str, bytes]) -> int:
        """Write generation G+1 whole under a temporary name, rename it, then switch the log."""
        new = self.generation + 1
        tmp = self.snapshots / f"tmp-{new}-{os.getpid()}"
        shutil.rmtree(tmp, ignore_errors=True)
        private_dir(tmp / "blobs")
        for name, body in blobs.items():
            _write_synced(tmp / "blobs" / name, body)
        _write_synced(tmp / "state.json", json.dumps(buckets).encode())
        _fsync_dir(tmp / "blobs")
        _fsync_dir(tmp)
        os.rename(tmp, self.snapshot_dir(new))
        _fsync_dir(self.snapshots)
        old_fd, self.generation = self._log_fd, new
        self.open_log()
        _fsync_dir(self.base)
        if old_fd is not None:
            os.close(old_fd)
        self.drop_other_generations()
        return new


# --- snapshot and restore, over the endpoint's own S3 API ---------------------------------------

def _client(url: str):
    import boto3
    from botocore.config import Config

    return boto3.client("s3", endpoint_url=url, region_name="us-east-1", aws_access_key_id="dfg-local",
                        aws_secret_access_key="dfg-local", config=Config(s3={"addressing_style": "path"}))


def take_snapshot(url: str) -> tuple[list[dict], dict[str, bytes]]:
    """Every bucket, its region and versioning, and every version and delete marker in order."""
    client = _client(url)
    buckets, blobs = [], {}
    for bucket in client.list_buckets().get("Buckets", []):
        name = bucket["Name"]
        region = client.get_bucket_location(Bucket=name).get("LocationConstraint") or "us-east-1"
        versioned = client.get_bucket_versioning(Bucket=name).get("Status") == "Enabled"
        events = []
        for page in client.get_paginator("list_object_versions").paginate(Bucket=name):
            # Listed newest first per key: the position breaks ties of equal timestamps.
            for position, item in enumerate(page.get("Versions", [])):
                got = client.get_object(Bucket=name, Key=item["Key"], VersionId=item["VersionId"])
                body = got["Body"].read()
                blob = hashlib.sha256(body).hexdigest()  # content-addressed: no name is ever reused for other bytes
                blobs[blob] = body
                events.append((item["Key"], item["LastModified"].timestamp(), item["IsLatest"], -position,
                               {"type": "put", "key": item["Key"], "blob": blob,
                                "metadata": got.get("Metadata") or {}, "content_type": got.get("ContentType")}))
            for position, item in enumerate(page.get("DeleteMarkers", [])):
                events.append((item["Key"], item["LastModified"].timestamp(), item["IsLatest"], -position,
                               {"type": "delete", "key": item["Key"]}))
        events.sort(key=lambda e: e[:4])  # per key, oldest first, the latest last
        buckets.append({"name": name, "region": region, "versioned": versioned, "events": [e[4] for e in events]})
    return buckets, blobs


def restore_snapshot(snapshot: Path, url: str) -> None:
    state = snapshot / "state.json"
    if not state.exists():
        return
    client = _client(url)
    for bucket in json.loads(state.read_text()):
        params = {"Bucket": bucket["name"]}
        if bucket["region"] != "us-east-1":
            params["CreateBucketConfiguration"] = {"LocationConstraint": bucket["region"]}
        client.create_bucket(**params)
        if bucket["versioned"]:
            client.put_bucket_versioning(Bucket=bucket["name"], VersioningConfiguration={"Status": "Enabled"})
        for event in bucket["events"]:
            if event["type"] == "put":
                extra = {"Metadata": event.get("metadata") or {}}
                if event.get("content_type"):
                    extra["ContentType"] = event["content_type"]
                client.put_object(Bucket=bucket["name"], Key=event["key"],
                                  Body=(snapshot / "blobs" / event["blob"]).read_bytes(), **extra)
            else:
                client.delete_object(Bucket=bucket["name"], Key=event["key"])


def replay(entries: list[dict], url: str) -> None:
    """Send logged requests again, in order, as they were received."""
    import requests

    with requests.Session() as session:
        for entry in entries:
            body = base64.b64decode(entry["body"]) if entry.get("body_encoded") else (entry.get("body") or "").encode()
            headers = {k: v for k, v in entry["headers"].items() if k.lower() not in _HOP_HEADERS}
            session.request(entry["method"], url + entry["url"], headers=headers, data=body, timeout=120)


# --- the server ---------------------------------------------------------------------------------

class PersistentApp:
    """WSGI middleware around moto: mutations are applied and logged under one lock."""

    def __init__(self, app, disk: DiskState):
        self.app, self.disk = app, disk
        self.lock = threading.Lock()
        self.recording = False
        self.url = ""

    def __call__(self, environ, start_response):
        method = environ.get("REQUEST_METHOD", "GET")
        if environ.get("PATH_INFO") == COMPACT_PATH and method == "POST":
            return self._compact(start_response)
        if method in ("GET", "HEAD", "OPTIONS") or environ.get("HTTP_X_AMZ_TARGET", "").startswith("TrentService."):
            # (KMS requests are served but not persisted: replaying CreateKey would make other keys,
            # so the endpoint's KMS, like moto's, forgets its keys on a restart.)
            return self.app(environ, start_response)
        body = self._read_body(environ)
        environ["wsgi.input"], environ["CONTENT_LENGTH"] = io.BytesIO(body), str(len(body))
        environ.pop("wsgi.input_terminated", None)
        answered: list[str] = []

        def capture(status, headers, exc_info=None):
            answered.append(status)
            return start_response(status, headers, exc_info)

        with self.lock:
            result = self.app(environ, capture)
            try:
                chunks = list(result)
            finally:
                getattr(result, "close", lambda: None)()
            if self.recording and answered and answered[0][:1] == "2":
                self.disk.append(self._entry(environ, method, body))
        return chunks

    @staticmethod
    def _read_body(environ) -> bytes:
        stream = environ["wsgi.input"]
        if environ.get("wsgi.input_terminated"):
            return stream.read()
        length = int(environ.get("CONTENT_LENGTH") or 0)
        return stream.read(length) if length else b""

    @staticmethod
    def _entry(environ, method: str, body: bytes) -> dict:
        path = environ.get("RAW_URI") or environ.get("REQUEST_URI") or (
            environ.get("PATH_INFO", "") + ("?" + environ["QUERY_STRING"] if environ.get("QUERY_STRING") else ""))
        from moto.moto_server.werkzeug_app import PRESERVED_HEADER_NAMES_ENVIRON_KEY

        spelled = environ.get(PRESERVED_HEADER_NAMES_ENVIRON_KEY) or {}
        headers = {spelled.get(key) or key[5:].replace("_", "-").title(): value for key, value in environ.items()
                   if key.startswith("HTTP_")}
        if environ.get("CONTENT_TYPE"):
            headers["Content-Type"] = environ["CONTENT_TYPE"]
        return {"method": method, "url": path, "headers": headers,
                "body": base64.b64encode(body).decode(), "body_encoded": True}

    def _compact(self, start_response):
        with self.lock:  # no mutation runs while the snapshot is read; reads go on meanwhile
            buckets, blobs = take_snapshot(self.url)
            generation = self.disk.commit_snapshot(buckets, blobs)
        start_response("200 OK", [("Content-Type", "application/json")])
        return [json.dumps({"generation": generation}).encode()]


def _serve(state_dir: Path, port: int) -> None:
    os.umask(0o077)
    from moto.moto_server.werkzeug_app import MotoRequestHandler
    from moto.server import DomainDispatcherApplication, create_backend_app
    from werkzeug.serving import make_server

    class QuietHandler(MotoRequestHandler):
        def log_request(self, *args, **kwargs):  # request lines name keys, and keys name subjects
            pass

    endpoint_file = _paths(state_dir)[0]
    disk = DiskState(state_dir)
    app = PersistentApp(DomainDispatcherApplication(create_backend_app), disk)
    server = make_server("127.0.0.1", port, app, threaded=True, request_handler=QuietHandler)
    app.url = f"http://127.0.0.1:{port}"
    threading.Thread(target=server.serve_forever, daemon=True).start()

    legacy_snapshot, legacy_log = disk.base / "snapshot", disk.base / "recording.jsonl"
    if disk.generation == 0 and (legacy_snapshot.exists() or legacy_log.exists()):
        restore_snapshot(legacy_snapshot, app.url)  # the first round's layout: import it once
        replay(disk.read_log(legacy_log), app.url)
        disk.open_log()
        app.recording = True
        app._compact(lambda *_: None)
    else:
        restore_snapshot(disk.snapshot_dir(disk.generation), app.url)
        replay(disk.read_log(disk.log_path(disk.generation)), app.url)
        disk.drop_other_generations()
        disk.open_log()
        app.recording = True

    tmp = endpoint_file.with_suffix(".tmp")
    tmp.write_text(json.dumps(asdict(Endpoint(url=app.url, pid=os.getpid(), port=port))))
    tmp.replace(endpoint_file)
    stopped = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stopped.set())
    signal.signal(signal.SIGINT, lambda *_: stopped.set())
    while not stopped.wait(0.2):  # a timed wait lets the signal handler run
        pass
    # Let a mutation being applied and logged finish, then leave without waiting for idle
    # keep-alive connections to close.
    with app.lock:
        os._exit(0)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m dataflow_governance.local.s3")
    sub = parser.add_subparsers(dest="command", required=True)
    serve = sub.add_parser("serve")
    serve.add_argument("--state-dir", required=True, type=Path)
    serve.add_argument("--port", required=True, type=int)
    args = parser.parse_args(argv)
    _serve(args.state_dir, args.port)


if __name__ == "__main__":
    main()
