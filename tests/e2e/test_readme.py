"""The README's code as a new user meets it, so that it cannot drift from the code.

Every code block says how it is checked, in its info string:

- `file=PATH` is written into the quick start's fresh folder; `run` is run there with bash, in order;
  `output` lines must each appear in what the `run` before printed; `serve` is started, asked what
  the README says about it, and stopped; `install` names extras the package must have;
- `exec context=standalone|example` is Python run in an empty folder, or in a copy of the example
  after `dfg demo`;
- `tested=PATH` is run by that test (which reads it from the README);
- `fragment` is an excerpt (a YAML one must still parse).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
import tomllib
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import yaml

from conftest import REPO, free_port, run_dfg, stop_process_group

BIN = Path(sys.executable).parent
KINDS = {"install", "run", "output", "serve", "exec", "fragment"}


@dataclass
class Block:
    language: str
    line: int
    text: str
    flags: set[str] = field(default_factory=set)
    options: dict[str, str] = field(default_factory=dict)


def readme_blocks() -> list[Block]:
    blocks, current = [], None
    for number, line in enumerate((REPO / "README.md").read_text().splitlines(), start=1):
        if line.startswith("```"):
            if current is None:
                words = line[3:].split()
                current = Block(words[0] if words else "", number, "",
                                {w for w in words[1:] if "=" not in w}, dict(w.split("=", 1) for w in words[1:] if "=" in w))
            else:
                blocks.append(current)
                current = None
        elif current is not None:
            current.text += line + "\n"
    return blocks


def quick_start() -> list[Block]:
    """The blocks of the first section, in order."""
    return [b for b in readme_blocks() if b.line < _line_of("## `dfg init`")]


def _line_of(heading: str) -> int:
    return next(n for n, line in enumerate((REPO / "README.md").read_text().splitlines(), 1) if line == heading)


def _env(folder: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DFG_", "DAGSTER_", "MLFLOW_"))}
    return {**env, "PATH": f"{BIN}{os.pathsep}{env['PATH']}", "HOME": str(folder)}


def test_every_code_block_says_how_it_is_checked():
    for block in readme_blocks():
        assert block.flags & KINDS or "file" in block.options or "tested" in block.options, \
            f"README line {block.line}: a code block without file=, run, output, serve, install, exec, tested= or fragment"
        if "tested" in block.options:
            test = REPO / block.options["tested"]
            assert test.is_file() and "README.md" in test.read_text(), f"README line {block.line}: {test} does not read it"
        if "fragment" in block.flags and block.language == "yaml":
            assert yaml.safe_load(block.text) is not None, f"README line {block.line}"
        if block.language == "python" and "exec" not in block.flags and "file" not in block.options:
            compile(block.text, f"README line {block.line}", "exec")


def test_the_quick_start_opens_the_readme():
    headings = [line for line in (REPO / "README.md").read_text().splitlines() if line.startswith("## ")]
    assert headings[0] == "## Your own project in ten minutes"


def test_the_quick_start_runs_as_written(tmp_path):
    """Its files written, its commands run and its claims checked, from an empty folder."""
    folder = tmp_path / "shop-project"
    folder.mkdir()
    env, output, exports = _env(folder), "", []
    started = time.monotonic()
    try:
        for block in quick_start():
            if "file" in block.options:
                (folder / block.options["file"]).parent.mkdir(parents=True, exist_ok=True)
                (folder / block.options["file"]).write_text(block.text)
            elif "install" in block.flags:
                extras = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["optional-dependencies"]
                for named in re.findall(r"dataflow-governance\[([\w,]+)\]", block.text):
                    assert set(named.split(",")) <= set(extras), named
            elif "run" in block.flags:
                exports += [line for line in block.text.splitlines() if line.startswith("export ")]
                run = subprocess.run(["bash", "-e", "-c", block.text], cwd=folder, env=env, capture_output=True,
                                     text=True, timeout=600)
                assert run.returncode == 0, f"README line {block.line}:\n{run.stdout[-3000:]}\n{run.stderr[-3000:]}"
                output = run.stdout
            elif "output" in block.flags:
                missing = [line for line in block.text.splitlines() if line.strip() and line not in output]
                assert not missing, f"README line {block.line}: not printed: {missing}\n{output[-3000:]}"
            elif "serve" in block.flags:
                _check_the_ui(block, folder, env, exports)
        print(f"quick start: {time.monotonic() - started:.1f} s")
    finally:
        run_dfg("local", "stop", project=folder / "dagster_project.yaml")


def _check_the_ui(block: Block, folder: Path, env: dict, exports: list[str]) -> None:
    """`dagster dev` as written (on a free port), asked through its GraphQL API for what the README
    says the asset pages show."""
    port = free_port()
    command = block.text.split("#", 1)[0].strip()
    script = "\n".join([*exports, f"exec {command} -p {port} -h 127.0.0.1"])
    log = open(folder / "dagster_dev.log", "w")
    server = subprocess.Popen(["bash", "-e", "-c", script], cwd=folder, env=env, stdout=log, stderr=subprocess.STDOUT,
                              start_new_session=True)
    try:
        query = json.dumps({"query": "{ assetNodes { assetKey { path } kinds } }"}).encode()
        deadline, nodes = time.monotonic() + 180, None
        while nodes is None:
            try:
                request = urllib.request.Request(f"http://127.0.0.1:{port}/graphql", query, {"Content-Type": "application/json"})
                answer = json.load(urllib.request.urlopen(request, timeout=5))
                nodes = {"/".join(n["assetKey"]["path"]): set(n["kinds"]) for n in answer["data"]["assetNodes"]}
            except (OSError, KeyError, TypeError):
                assert server.poll() is None and time.monotonic() < deadline, (folder / "dagster_dev.log").read_text()[-3000:]
                time.sleep(1)
        assert {"duckdb", "pii"} <= nodes["customers"] and {"s3", "pii"} <= nodes["customer_export"], nodes
    finally:
        stop_process_group(server)
        log.close()


@pytest.mark.parametrize("block", [b for b in readme_blocks() if "exec" in b.flags], ids=lambda b: f"line{b.line}")
def test_a_python_snippet_runs(block, request, tmp_path):
    """A snippet outside the quick start runs as written: in an empty folder, or in the example."""
    if block.options.get("context") == "example":
        from conftest import copy_demo

        folder = copy_demo(request.getfixturevalue("demo_project"), tmp_path / "example").parent
    else:
        assert block.options.get("context") == "standalone", f"README line {block.line}: context=standalone|example"
        folder = tmp_path
    (folder / "snippet.py").write_text(block.text)
    env = {**_env(folder), "PYTHONPATH": str(folder)}
    try:
        run = subprocess.run([sys.executable, "snippet.py"], cwd=folder, env=env, capture_output=True, text=True, timeout=600)
        assert run.returncode == 0, f"README line {block.line}:\n{run.stderr[-3000:]}"
    finally:
        if (folder / "dagster_project.yaml").exists():
            run_dfg("local", "stop", project=folder / "dagster_project.yaml")
