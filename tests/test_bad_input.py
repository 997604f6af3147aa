"""Every bad input is one clear line on stderr and exit 2 — no traceback, nothing written."""

import json

import pytest

from conftest import copy_project, run_dfg

def hold_manifest(where: str) -> str:
    """An asset whose legal hold selects its rows with `where`."""
    return ("groups:\n  g:\n    assets:\n      t:\n        storage: {kind: warehouse, table: t}\n"
            "        legal_basis: contract\n        columns: {a: {type: varchar}, ts: {type: timestamp}}\n"
            "        retention:\n          keep: 1 year\n          timestamp_column: ts\n"
            f"          legal_holds: [{{name: h, reason: r, keep: 2 years, where: {where!r}}}]\n")


HOLDS = {"hold with a subquery": "a IN (SELECT id FROM users)", "hold reading a file": "a = read_text('/etc/passwd')"}

MANIFESTS = {
    "groups not a mapping": ("groups: 5\n", "groups: must be a mapping"),
    "subjects a list": ("subjects: [a, b]\n", "subjects: must be a mapping"),
    "buckets text": ("buckets: eu\n", "buckets: must be a mapping"),
    "defaults a number": ("defaults: 3\n", "defaults: must be a mapping"),
    "processor an int": ("processors: {mailer: 5}\n", "processors.mailer: must be a mapping"),
    "state_dir a number": ("state_dir: 5\n", "state_dir: must be a folder path"),
    "duplicate key": ("project: a\nproject: b\n", "duplicate key 'project'"),
    "yaml syntax": ("project: [a\nwarehouse: {}\n", "line 2, column"),
    "group assets a list": ("groups: {g: {assets: [a]}}\n", "groups.g.assets: must be a mapping"),
    "hold with a subquery": (None, "may not use SUBQUERY"),
    "hold reading a file": (None, "may not use"),
    "zero retention": ("""groups:
  g:
    assets:
      t: {storage: {kind: warehouse, table: t}, retention: {keep: P0D}}
""", "is zero"),
    "hostile schema": ("warehouse: {schema: \"x'; DROP TABLE users; --\"}\n", "warehouse"),
}


def one_clear_line(code: int, err: str) -> None:
    assert code == 2, err
    assert "Traceback" not in err
    assert len(err.strip().splitlines()) == 1, err


@pytest.mark.parametrize("name", sorted(MANIFESTS))
def test_bad_manifests(tmp_path, name):
    text, message = MANIFESTS[name]
    text = text if text is not None else hold_manifest(HOLDS[name])
    manifest = tmp_path / "dagster_project.yaml"
    manifest.write_text(text)
    code, _out, err = run_dfg("local", "status", project=manifest)
    one_clear_line(code, err)
    assert message in err


def test_binary_manifest_state_dir_file_and_project_folder(tmp_path):
    manifest = tmp_path / "dagster_project.yaml"
    manifest.write_bytes(b"\xff\xfe\x00binary")
    code, _out, err = run_dfg("local", "status", project=manifest)
    one_clear_line(code, err)
    (tmp_path / "state").write_text("a file")
    manifest.write_text("state_dir: state\n")
    code, _out, err = run_dfg("local", "status", project=manifest)
    one_clear_line(code, err)
    assert "not a folder" in err
    manifest.write_text("project: p\n")
    code, out, err = run_dfg("local", "status", "--json", project=tmp_path)  # a folder holding the manifest
    assert code == 0 and json.loads(out)["state_dir"].endswith(".dfg"), err
    code, _out, err = run_dfg("local", "status", project=tmp_path / "nowhere")
    one_clear_line(code, err)


def test_missing_definitions_module(tmp_path):
    manifest = copy_project(tmp_path / "p")
    manifest.write_text(manifest.read_text().replace("definitions: assets.definitions:defs",
                                                     "definitions: no_such_module:defs"))
    code, _out, err = run_dfg("check", project=manifest)
    one_clear_line(code, err)
    assert "no_such_module" in err


@pytest.mark.parametrize("args, message", [
    (["--sql", "SELECT 1", "--dialect", "foo"], "unknown SQL dialect"),
    (["--sql", "SELECT " + "(" * 3000 + "1" + ")" * 3000], "levels of parentheses"),
    (["--sql", " UNION ".join(["SELECT a FROM t"] * 3000)], "UNION/INTERSECT/EXCEPT"),
    (["--file", "SELECT a FROM t WHERE " + " OR ".join(f"a = {i}" for i in range(20000))], "AND/OR terms"),
])
def test_hostile_sql(tmp_path, args, message):
    if args[0] == "--file":  # too long for a command line
        (tmp_path / "q.sql").write_text(args[1])
        args = ["--file", str(tmp_path / "q.sql")]
    code, _out, err = run_dfg("lineage", *args, timeout=60)
    one_clear_line(code, err)
    assert message in err


def test_binary_sql_file_and_malformed_schema(tmp_path):
    binary = tmp_path / "q.sql"
    binary.write_bytes(b"\x80\x81\xff")
    code, _out, err = run_dfg("lineage", "--file", str(binary))
    one_clear_line(code, err)
    schema = tmp_path / "schema.json"
    schema.write_text(json.dumps({"t": 5}))
    code, _out, err = run_dfg("lineage", "--sql", "SELECT a FROM t", "--schema", str(schema))
    one_clear_line(code, err)
    assert "expected {table" in err


def test_bad_flags(demo_project):
    manifest, _summary = demo_project
    code, _out, err = run_dfg("audit", "export", "--since", "garbage", project=manifest)
    one_clear_line(code, err)
    assert "ISO 8601" in err
    code, _out, err = run_dfg("audit", "verify", "--anchor", "3:" + "z" * 64, project=manifest)
    one_clear_line(code, err)
    assert "SEQ:HASH" in err
    code, _out, err = run_dfg("scan", "--file", str(manifest), "--sample", "-1", project=manifest)
    assert code == 2 and "positive whole number" in err and "Traceback" not in err
    code, _out, err = run_dfg("sweep", "--as-of", "2999-01-01", project=manifest)  # would delete early
    one_clear_line(code, err)
    assert "in the future" in err


@pytest.mark.parametrize("broken, where", [
    ("def broken(:\n", "SyntaxError"),
    ("raise RuntimeError('the CRM export is missing')\n", "RuntimeError"),
])
def test_definitions_that_fail_to_load_are_one_clear_line_naming_the_file(tmp_path, broken, where):
    manifest = copy_project(tmp_path / "p")
    with open(manifest.parent / "assets" / "messaging.py", "a") as handle:
        handle.write("\n" + broken)
    code, _out, err = run_dfg("check", project=manifest)
    one_clear_line(code, err)
    assert "loading the Definitions (assets.definitions:defs) failed" in err and where in err
    assert "assets/messaging.py, line" in err or "messaging.py, line" in err
