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


def ensure_running(state_dir: Path) -> Endpoint:
    """The running endpoint for this state dir, starting it if none is up (safe across processes)."""
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
        port = _free_port()
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


def _serve(state_dir: Path, port: int) -> None:
    endpoint_file, recording, _log, _lock = _paths(state_dir)
    _compact(recording)
    os.environ["MOTO_RECORDER_FILEPATH"] = str(recording)
    os.environ["MOTO_ENABLE_RECORDING"] = "true"
    from moto.moto_api import recorder
    from moto.server import ThreadedMotoServer

    record = recorder._record_request
    write_lock = threading.Lock()

    def record_mutations(request, body=None):
        # Reads change nothing, and concurrent writers must not interleave their lines.
        if request.method in ("GET", "HEAD"):
            return
        with write_lock:
            record(request, body)

    recorder._record_request = record_mutations
    server = ThreadedMotoServer("127.0.0.1", port, verbose=False)
    server.start()
    url = f"http://127.0.0.1:{port}"
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
