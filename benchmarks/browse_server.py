"""`dfg serve` on a large catalog: time to first byte of its pages and answers, beside the server's floor.

    python benchmarks/browse_server.py [--assets 1000] [--columns 20] [--requests 50]

Generates the catalog (benchmarks/browse_catalog.py), starts the real server (`dfg serve
--catalog`) and times each request from sending it to its status line and headers (keep-alive, one
connection), median and 95th percentile. The floor, measured in the same run on the same server,
is a request that does no work (`/favicon.ico`); the goal is an asset page within 100 ms.
"""

from __future__ import annotations

import argparse
import http.client
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from browse_catalog import generate  # noqa: E402


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def timed(conn: http.client.HTTPConnection, path: str, n: int, status: int = 200) -> tuple[float, float, int]:
    samples, size = [], 0
    for _ in range(n):
        started = time.perf_counter()
        conn.request("GET", path)
        response = conn.getresponse()
        samples.append(time.perf_counter() - started)
        size = len(response.read())
        assert response.status in (status, 204), (path, response.status)
    samples.sort()
    return statistics.median(samples) * 1000, samples[int(0.95 * (len(samples) - 1))] * 1000, size


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--assets", type=int, default=1000)
    parser.add_argument("--columns", type=int, default=20)
    parser.add_argument("--requests", type=int, default=50)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "catalog.json"
        generate(path, args.assets, args.columns)
        port = free_port()
        server = subprocess.Popen([sys.executable, "-m", "dataflow_governance.cli", "serve", "--catalog", str(path),
                                   "--port", str(port)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        try:
            started = time.perf_counter()
            while True:
                try:
                    socket.create_connection(("127.0.0.1", port), timeout=1).close()
                    break
                except OSError:
                    if server.poll() is not None or time.perf_counter() - started > 120:
                        raise SystemExit(server.stderr.read().decode()[-2000:]) from None
                    time.sleep(0.1)
            print(f"catalog of {args.assets} assets, {args.assets * args.columns} columns "
                  f"({path.stat().st_size / 1e6:.1f} MB): server ready in {time.perf_counter() - started:.1f} s")
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
            middle = f"model_{args.assets // 2:04d}"
            floor, floor_p95, _ = timed(conn, "/favicon.ico", args.requests)
            print(f"  {'floor (a request that does no work)':<44} median {floor:6.2f} ms   p95 {floor_p95:6.2f} ms")
            for label, url in [
                ("asset page (deep link)", f"/asset/{middle}"),
                ("column page (deep link)", f"/asset/{middle}/column/c05"),
                ("column graph, 3 hops", f"/api/graph?asset={middle}&column=c05&hops=3"),
                ("column graph of the asset, 2 hops", f"/api/graph?asset={middle}&hops=2"),
                ("table graph, 3 hops", f"/api/graph?asset={middle}&view=table&hops=3"),
                ("why", f"/api/why?asset={middle}&column=c05"),
                ("impact of a source asset (CSV)", "/api/impact.csv?asset=source_0005"),
                ("search", "/api/search?q=c05"),
                ("unknown asset (404, with suggestions)", "/asset/model_05xx"),
            ]:
                median, p95, size = timed(conn, url, args.requests, 404 if "unknown" in label else 200)
                goal = "   (goal <= 100 ms)" if label.startswith("asset page") else ""
                print(f"  {label:<44} median {median:6.2f} ms   p95 {p95:6.2f} ms   {median / floor:5.1f}x floor"
                      f"   {size / 1000:7.1f} kB{goal}")
        finally:
            server.terminate()
            server.wait(timeout=30)


if __name__ == "__main__":
    main()
