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


# --- the probe's list: each a clear line and exit 2, never a traceback, a hang or a silent yes ---------------

@pytest.mark.parametrize("subject, message", [
    ("1e5000", "unknown subject"), ("1e999999999", "unknown subject"), ("1_3", "unknown subject"),
    ("\u0661\u0663", "printable ASCII"), ("a\u0085b", "printable ASCII"), ("x\u202e", "printable ASCII"),
])
def test_hostile_subject_ids(demo_project, subject, message):
    manifest, _summary = demo_project
    code, _out, err = run_dfg("erase", "--subject-id", subject, "--dry-run", project=manifest, timeout=120)
    one_clear_line(code, err)
    assert message in err


@pytest.mark.parametrize("args, message", [
    (["sweep", "--as-of", "0001-01-01"], "before 1900"),
    (["audit", "export", "--until", "9999-12-31T23:59:59-01:00"], "outside the range"),
    (["erase", "--subject-id", "12", "--now", "--cancel", "--dry-run"], "ask for different things"),
    (["erase", "--subject-id", "no-such-customer", "--queue"], "unknown subject"),
    (["tenant", "offboard", "--tenant", "999", "--dry-run"], "unknown tenant"),
])
def test_flags_out_of_range_or_at_odds(demo_project, args, message):
    manifest, _summary = demo_project
    code, _out, err = run_dfg(*args, project=manifest, timeout=120)
    one_clear_line(code, err)
    assert message in err


def test_inputs_that_are_not_regular_files_are_never_read(tmp_path):
    import os

    fifo = tmp_path / "q.fifo"
    os.mkfifo(fifo)
    for args in (["--file", "/dev/zero"], ["--file", "/dev/urandom"], ["--file", str(fifo)],
                 ["--sql", "SELECT a FROM t", "--schema", "/dev/zero"]):
        code, _out, err = run_dfg("lineage", *args, timeout=30)  # (a read of /dev/zero would never end)
        one_clear_line(code, err)
        assert "not a regular file" in err
    deep = tmp_path / "deep.json"
    deep.write_text('{"t":' * 50_000 + '"int"' + "}" * 50_000)
    code, _out, err = run_dfg("lineage", "--sql", "SELECT a FROM t", "--schema", str(deep), timeout=30)
    one_clear_line(code, err)
    assert "nested too deeply" in err
    code, _out, err = run_dfg("scan", "--file", str(fifo), timeout=30)
    one_clear_line(code, err)


ALIAS_BOMB = ("a: &a [x, x, x, x, x, x, x, x, x, x]\nb: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a, *a]\n"
              "c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b, *b]\nd: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c, *c]\n"
              "e: &e [*d, *d, *d, *d, *d, *d, *d, *d, *d, *d]\nf: &f [*e, *e, *e, *e, *e, *e, *e, *e, *e, *e]\n"
              "g: &g [*f, *f, *f, *f, *f, *f, *f, *f, *f, *f]\n")


@pytest.mark.parametrize("text, message", [
    ("project: " + "[" * 20_000 + "]" * 20_000 + "\n", "nested too deeply"),
    ("x_bomb:\n  " + ALIAS_BOMB.replace("\n", "\n  ") + "\ndefaults: {data_subjects: *g}\n", "expands to more than"),
    ("x_bomb:\n  " + ALIAS_BOMB.replace("\n", "\n  ") + "\noutput_dir: *g\n", "expands to more than"),
    ("groups: {g: {assets: {t: {storage: {kind: warehouse}, retention: {keep: 99999999999 years, "
     "timestamp_column: ts}}}}}\n", "longer than 1000 years"),
    ("buckets: {b: {region: '../../x; rm'}}\n", "buckets.b"),
    ("processors: {p: {region: 'eu-west-1; rm -rf', dpa: true}}\n", "processors.p"),
])
def test_manifests_that_would_hang_or_smuggle(tmp_path, text, message):
    manifest = tmp_path / "dagster_project.yaml"
    manifest.write_text(text.replace("x_bomb:", "project: bomb\nx_bomb:") if "x_bomb" in text else text)
    if "x_bomb" in text:  # (an unknown top-level field would be refused before anything expands: keep it out)
        manifest.write_text(manifest.read_text().replace("x_bomb:\n", "defaults_anchor_holder: &holder\n", 1))
    code, _out, err = run_dfg("local", "status", project=manifest, timeout=60)
    one_clear_line(code, err)
    assert message in err


def test_outputs_go_to_regular_files_or_new_paths_only(demo_project, tmp_path):
    import os

    manifest, _summary = demo_project
    a_file = tmp_path / "a_file"
    a_file.write_text("keep me")
    fifo = tmp_path / "a_fifo"
    os.mkfifo(fifo)
    for command in (["ropa"], ["map"], ["scope", "--pci"]):
        for out in (a_file, fifo, "/proc/self"):
            code, _out, err = run_dfg(*command, "--out", str(out), project=manifest, timeout=120)
            one_clear_line(code, err)
    assert a_file.read_text() == "keep me"
    code, _out, err = run_dfg("openlineage", "export", "--out", str(tmp_path), project=manifest)
    one_clear_line(code, err)
    target = tmp_path / "elsewhere.txt"
    target.write_text("untouched")
    link = tmp_path / "export.ndjson"
    link.symlink_to(target)
    for out in (link, fifo):
        code, _out, err = run_dfg("openlineage", "export", "--out", str(out), project=manifest, timeout=120)
        one_clear_line(code, err)
        assert "regular files only" in err
    assert target.read_text() == "untouched" and link.is_symlink()


def test_settings_that_would_send_data_elsewhere_are_refused(demo_project, tmp_path):
    manifest, _summary = demo_project
    code, _out, err = run_dfg("check", project=manifest, env={"DFG_S3_ENDPOINT_URL": "not a url"})
    one_clear_line(code, err)
    assert "is not an http(s) URL" in err
    code, _out, err = run_dfg("openlineage", "export", "--emit", project=manifest,
                              env={"OPENLINEAGE_CONFIG": str(tmp_path / "missing.yml")})
    one_clear_line(code, err)
    assert "OPENLINEAGE_CONFIG" in err and "not a file" in err


def test_a_second_materialization_in_the_same_folder_says_one_is_running(tmp_path):
    import fcntl
    import os

    manifest = copy_project(tmp_path / "p")
    locks = tmp_path / "p" / ".dfg" / "locks"
    locks.mkdir(parents=True)
    fd = os.open(locks / "materialize.lock", os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        os.pwrite(fd, b"dfg demo (pid 4242)", 0)
        code, _out, err = run_dfg("demo", project=manifest, timeout=120)
    finally:
        os.close(fd)
    one_clear_line(code, err)
    assert "dfg demo (pid 4242) is already materializing this project" in err
