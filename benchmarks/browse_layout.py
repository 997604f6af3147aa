"""The lineage browser in a real browser: a ~500-node neighbourhood laid out and drawn, beside the
layout library alone.

    python benchmarks/browse_layout.py [--assets 1000] [--nodes 500] [--repeat 5] [--chromium /usr/bin/chromium]

Generates the catalog (benchmarks/browse_catalog.py), starts `dfg serve --catalog`, opens the page
in chromium (Playwright) and picks the first asset whose column neighbourhood has at least
--nodes columns. Then, in the page, on the same answer:
  - ours:     the page's own render (dagre layout + SVG drawing), until the next frame is painted;
  - baseline: dagre's layout alone on the same graph, options and node sizes (what any dagre-based
              view pays).
Goal: ours <= 1 s for 500 nodes.
"""

from __future__ import annotations

import argparse
import json
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from playwright.sync_api import sync_playwright

sys.path.insert(0, str(Path(__file__).resolve().parent))

from browse_catalog import generate  # noqa: E402
from browse_server import free_port  # noqa: E402

MEASURE = """async (data) => {
  const frame = () => new Promise((resolve) => requestAnimationFrame(() => requestAnimationFrame(resolve)));
  await frame();
  const t0 = performance.now();
  window.dfgRender(data);
  await frame();
  const ours = performance.now() - t0;
  const g = new dagre.graphlib.Graph({ multigraph: true });
  g.setGraph(window.dfgLayoutOptions(data.nodes.length));
  g.setDefaultEdgeLabel(() => ({}));
  for (const node of data.nodes) g.setNode(String(node.id), { width: 200, height: 36 });
  data.edges.forEach((e, i) => g.setEdge(String(e.source), String(e.target), {}, "e" + i));
  const t1 = performance.now();
  dagre.layout(g);
  const layout = performance.now() - t1;
  return { ours, layout, drawn: document.querySelectorAll("#graph g.node").length };
}"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--assets", type=int, default=1000)
    parser.add_argument("--nodes", type=int, default=500)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--chromium", default="/usr/bin/chromium")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "catalog.json"
        generate(path, args.assets)
        port = free_port()
        server = subprocess.Popen([sys.executable, "-m", "dataflow_governance.cli", "serve", "--catalog", str(path),
                                   "--port", str(port)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        url = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + 120
            while True:
                try:
                    socket.create_connection(("127.0.0.1", port), timeout=1).close()
                    break
                except OSError:
                    assert server.poll() is None and time.monotonic() < deadline, "the server did not start"
                    time.sleep(0.1)
            data, asset = None, None
            for i in range(args.assets // 10, args.assets):
                for hops in (2, 3, 4):
                    asset = f"model_{i:04d}"
                    with urllib.request.urlopen(f"{url}/api/graph?asset={asset}&hops={hops}") as answer:
                        data = json.load(answer)
                    if len(data["nodes"]) >= args.nodes:
                        break
                if len(data["nodes"]) >= args.nodes:
                    break
            print(f"neighbourhood of {asset}: {len(data['nodes'])} columns, {len(data['edges'])} edges")
            with sync_playwright() as playwright:
                browser = playwright.chromium.launch(executable_path=args.chromium, args=["--no-sandbox"])
                page = browser.new_page(viewport={"width": 1600, "height": 1000})
                page.goto(url)
                page.wait_for_selector("body[data-ready='1']")
                runs = [page.evaluate(MEASURE, data) for _ in range(args.repeat)]
                browser.close()
            assert all(r["drawn"] == len(data["nodes"]) for r in runs)
            ours = statistics.median(r["ours"] for r in runs)
            layout = statistics.median(r["layout"] for r in runs)
            print(f"  ours (layout + SVG drawing, painted):   {ours:7.1f} ms   (goal <= 1000 ms)")
            print(f"  baseline (dagre layout alone):         {layout:7.1f} ms   ours / baseline = {ours / layout:.2f}x")
        finally:
            server.terminate()
            server.wait(timeout=30)


if __name__ == "__main__":
    main()
