"""The governance ledger on DuckDB and the real PostgreSQL server: appends, verification, and
every kind of tampering done by SQL straight against the table."""

import json
import subprocess
import sys

import pytest

from conftest import PG_DSN
from dataflow_governance import Warehouse
from dataflow_governance.ledger.chain import (
    GENESIS_HASH,
    LEDGER_TABLE,
    Anchor,
    Ledger,
    LedgerError,
    NewEntry,
    canonical_text,
    entry_hash,
)
from dataflow_governance.ledger.anchors import load_anchors, record_anchor
from dataflow_governance import open_warehouse


@pytest.fixture(params=["duckdb", "postgres"])
def warehouse(request, tmp_path):
    if request.param == "duckdb":
        return Warehouse(kind="duckdb", path=str(tmp_path / "ledger.duckdb"))
    return Warehouse(kind="postgres", dsn=PG_DSN, schema=request.getfixturevalue("pg_schema"))


def filled(warehouse, n=10) -> Ledger:
    ledger = Ledger(warehouse)
    ledger.append_many([NewEntry("job:sweep", "sweep.intent", f"table:t{i}", {"rows": i, "note": "Grüße"}) for i in range(n)])
    return ledger


def tamper(warehouse, *statements):
    """Run SQL as a DBA would: on PostgreSQL the append-only triggers are switched off first."""
    with warehouse.connect() as con:
        if warehouse.kind == "postgres":
            con.execute(f"ALTER TABLE {LEDGER_TABLE} DISABLE TRIGGER USER")
        for statement in statements:
            con.execute(statement)
        if warehouse.kind == "postgres":
            con.execute(f"ALTER TABLE {LEDGER_TABLE} ENABLE TRIGGER USER")


def check_both_ways(ledger, damage, seq, anchors=()):
    for independent in (False, True):
        result = ledger.verify(anchors, independent=independent)
        assert (result.ok, result.damage, result.first_bad_seq) == (False, damage, seq), (independent, result)


def test_append_chain_and_canonical_form(warehouse):
    ledger = filled(warehouse, 3)
    entries = ledger.entries()
    assert [e.seq for e in entries] == [1, 2, 3]
    assert entries[0].prev_hash == GENESIS_HASH and entries[1].prev_hash == entries[0].hash
    first = entries[0]
    standard = json.dumps({"seq": first.seq, "ts": first.ts, "actor": first.actor, "action": first.action,
                           "target": first.target, "details": json.loads(first.details),
                           "prev_hash": first.prev_hash}, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    assert first.canonical() == standard and entry_hash(standard) == first.hash
    assert first.ts.endswith("Z")
    result = ledger.verify()
    assert result.ok and result.entries == 3 and result.head_hash == entries[-1].hash
    assert ledger.head() .seq == 3


def test_read_by_target_actor_and_time(warehouse):
    ledger = filled(warehouse, 4)
    ledger.append("user:dpo", "erasure.requested", "subject:ab12")
    assert [e.action for e in ledger.entries(actor="user:dpo")] == ["erasure.requested"]
    assert [e.seq for e in ledger.entries(target="table:t2")] == [3]
    last = ledger.entries()[-1]
    assert [e.seq for e in ledger.entries(since=last.ts)] == [5]
    assert ledger.entries(until="2000-01-01T00:00:00Z") == []


def test_unsafe_text_is_refused_and_nothing_written(warehouse):
    ledger = filled(warehouse, 2)
    with pytest.raises(LedgerError, match="actor"):
        ledger.append_many([NewEntry("ok", "a", "t"), NewEntry('bad"actor', "a", "t")])
    assert ledger.head().seq == 2


def test_modified(warehouse):
    ledger = filled(warehouse)
    tamper(warehouse, f"UPDATE {LEDGER_TABLE} SET details = '{{\"rows\":999}}' WHERE seq = 5")
    check_both_ways(ledger, "modified", 5)


def test_deleted(warehouse):
    ledger = filled(warehouse)
    tamper(warehouse, f"DELETE FROM {LEDGER_TABLE} WHERE seq = 4")
    check_both_ways(ledger, "deleted", 4)


def test_inserted_with_a_correctly_hashed_forgery(warehouse):
    ledger = filled(warehouse)
    before = ledger.entries()[3]  # seq 4
    text = canonical_text(5, before.ts, "user:mallory", "erasure.executed", "subject:x", "{}", before.hash)
    tamper(
        warehouse,
        f"UPDATE {LEDGER_TABLE} SET seq = seq + 1000 WHERE seq >= 5",
        f"UPDATE {LEDGER_TABLE} SET seq = seq - 999 WHERE seq >= 1000",
        f"INSERT INTO {LEDGER_TABLE} VALUES (5, '{before.ts}', 'user:mallory', 'erasure.executed', 'subject:x', "
        f"'{{}}', '{before.hash}', '{entry_hash(text)}')",
    )
    check_both_ways(ledger, "inserted", 5)


def test_reordered(warehouse):
    ledger = filled(warehouse)
    tamper(
        warehouse,
        f"UPDATE {LEDGER_TABLE} SET seq = 1006 WHERE seq = 6",
        f"UPDATE {LEDGER_TABLE} SET seq = 6 WHERE seq = 7",
        f"UPDATE {LEDGER_TABLE} SET seq = 7 WHERE seq = 1006",
    )
    check_both_ways(ledger, "reordered", 6)


def test_truncated_tail_is_caught_by_an_anchor(warehouse, tmp_path):
    ledger = filled(warehouse)
    record_anchor(tmp_path, ledger.head(), source="test")
    tamper(warehouse, f"DELETE FROM {LEDGER_TABLE} WHERE seq > 7")
    anchors = load_anchors(tmp_path)
    assert ledger.verify().ok  # without the anchor the shorter chain is self-consistent
    check_both_ways(ledger, "truncated", 8, anchors)


def test_rewritten_chain_is_caught_by_an_anchor(warehouse):
    ledger = filled(warehouse, 6)
    anchor = Anchor(3, ledger.entries()[2].hash)
    tamper(warehouse, f"DELETE FROM {LEDGER_TABLE} WHERE seq >= 2")
    forged = Ledger(warehouse)
    forged.append_many([NewEntry("job:sweep", "sweep.intent", f"table:x{i}") for i in range(5)])
    check_both_ways(forged, "modified", 1, [anchor])


def test_postgres_rejects_update_delete_truncate(pg_schema):
    import psycopg

    warehouse = Warehouse(kind="postgres", dsn=PG_DSN, schema=pg_schema)
    filled(warehouse, 2)
    for statement in (f"UPDATE {LEDGER_TABLE} SET actor = 'x'", f"DELETE FROM {LEDGER_TABLE}", f"TRUNCATE {LEDGER_TABLE}"):
        with pytest.raises(psycopg.errors.RaiseException, match="append-only"):
            with warehouse.connect() as con:
                con.execute(statement)
    assert Ledger(warehouse).verify().entries == 2


def test_clean_chain_of_100k_entries_verifies(tmp_path):
    warehouse = Warehouse(kind="duckdb", path=str(tmp_path / "big.duckdb"))
    ledger = Ledger(warehouse)
    for start in range(0, 100_000, 25_000):
        ledger.append_many([NewEntry("bench", "event", f"t{i}", {"i": i}) for i in range(start, start + 25_000)])
    result = ledger.verify()
    assert result.ok and result.entries == 100_000 and result.head_seq == 100_000


WRITER = """
import sys
from dataflow_governance import Warehouse
from dataflow_governance.ledger import Ledger
kind, where, schema, name = sys.argv[1:5]
wh = Warehouse(kind="duckdb", path=where) if kind == "duckdb" else Warehouse(kind="postgres", dsn=where, schema=schema)
ledger = Ledger(wh)
for i in range(60):
    ledger.append(name, "concurrent.append", f"item:{i}", {"i": i})
"""


def test_concurrent_writers_never_fork_the_chain(warehouse):
    Ledger(warehouse).ensure()
    where = warehouse.path if warehouse.kind == "duckdb" else PG_DSN
    procs = [subprocess.Popen([sys.executable, "-c", WRITER, warehouse.kind, where, warehouse.schema or "", f"writer{n}"])
             for n in range(3)]
    assert [p.wait(timeout=300) for p in procs] == [0, 0, 0]
    ledger = Ledger(warehouse)
    entries = ledger.entries()
    assert [e.seq for e in entries] == list(range(1, 181))
    assert {e.actor for e in entries} == {"writer0", "writer1", "writer2"}
    assert ledger.verify().ok


def test_verify_reads_one_snapshot_while_writers_append(pg_schema):
    """The head it reports is the head it checked, and the hash it gives is that entry's."""
    warehouse = Warehouse(kind="postgres", dsn=PG_DSN, schema=pg_schema)
    Ledger(warehouse).ensure()
    writer = subprocess.Popen([sys.executable, "-c", WRITER, "postgres", PG_DSN, pg_schema, "writer"])
    ledger, seen = Ledger(warehouse), []
    while writer.poll() is None:
        result = ledger.verify()
        assert result.ok and result.head_seq == result.entries, result
        if result.head_seq:
            assert ledger.entries()[result.head_seq - 1].hash == result.head_hash
        seen.append(result.head_seq)
    assert writer.wait() == 0 and len(set(seen)) > 2


def test_readme_auditor_script_verifies_an_export(tmp_path):
    """The twenty lines in the README, run as an auditor would, on a real export."""
    import re

    from conftest import REPO, copy_project, run_dfg
    from dataflow_governance import load_project

    script = re.search(r"<!-- auditor-script -->\n```python[^\n]*\n(.*?)```", (REPO / "README.md").read_text(), re.S).group(1)
    (tmp_path / "audit.py").write_text(script)
    manifest = copy_project(tmp_path / "p")
    ledger = Ledger(open_warehouse(load_project(manifest)))
    ledger.append_many([NewEntry("job:sweep", "sweep.result", f"table:t{i}", {"deleted": i, "note": "Grüße"}) for i in range(30)])
    code, out, _ = run_dfg("audit", "export", "--json", project=manifest)
    (tmp_path / "ledger.json").write_text(out)
    proc = subprocess.run([sys.executable, str(tmp_path / "audit.py"), str(tmp_path / "ledger.json")], capture_output=True, text=True)
    assert proc.stdout.strip() == f"30 entries verified, head {ledger.head().hash}"
    with ledger.warehouse.connect() as con:
        con.execute(f"UPDATE {LEDGER_TABLE} SET actor = 'job:other' WHERE seq = 9")
    code, out, _ = run_dfg("audit", "export", "--json", project=manifest)
    (tmp_path / "ledger.json").write_text(out)
    proc = subprocess.run([sys.executable, str(tmp_path / "audit.py"), str(tmp_path / "ledger.json")], capture_output=True, text=True)
    assert proc.returncode == 1 and "chain broken at entry 9" in proc.stderr
