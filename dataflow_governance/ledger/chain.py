"""The governance ledger: an append-only, hash-chained log of every governance action.

Each entry's hash is SHA-256 over its canonical serialization, which includes the previous
entry's hash, so changing, deleting, inserting or reordering any entry breaks the chain from there
on; anchors (the head recorded by every governance job, kept outside the database) also expose a
truncated tail.

Canonical serialization, byte for byte: the UTF-8 bytes of the JSON object

    {"action":A,"actor":B,"details":D,"prev_hash":"P","seq":N,"target":T,"ts":"S"}

with keys in that (sorted) order, no whitespace, strings as JSON strings without escaping
non-ASCII — exactly `json.dumps(entry, sort_keys=True, separators=(",", ":"), ensure_ascii=False)`.
`details` is itself canonical JSON of an object; `seq` starts at 1; `ts` is UTC ISO 8601 with
microseconds and a `Z`; the genesis entry's `prev_hash` is 64 zeros. Actor, action and target may
not contain quotes, backslashes or control characters, so their JSON form is the text in quotes.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlglot import exp, parse_one

from dataflow_governance.errors import LedgerError
from dataflow_governance.model.text import unsafe_character
from dataflow_governance.storage.warehouse import Warehouse, WarehouseError, table_expr

LEDGER_TABLE = "governance_ledger"
GENESIS_HASH = "0" * 64
_SAFE_TEXT = re.compile(r'^[^"\\\x00-\x1f\x7f]{1,512}$')
DAMAGE_KINDS = ("modified", "deleted", "inserted", "reordered", "truncated")


@dataclass(frozen=True)
class Entry:
    seq: int
    ts: str
    actor: str
    action: str
    target: str
    details: str  # canonical JSON of an object
    prev_hash: str
    hash: str

    def canonical(self) -> str:
        return canonical_text(self.seq, self.ts, self.actor, self.action, self.target, self.details, self.prev_hash)

    def details_dict(self) -> dict:
        return json.loads(self.details)

    def to_dict(self) -> dict:
        return {**asdict(self), "details": self.details_dict()}


@dataclass(frozen=True)
class Anchor:
    seq: int
    hash: str
    recorded_at: str = ""
    source: str = ""


@dataclass(frozen=True)
class Verification:
    ok: bool
    entries: int
    head_seq: int
    head_hash: str
    first_bad_seq: int | None = None
    damage: str | None = None
    explanation: str = ""
    anchors_checked: int = 0

    def to_dict(self) -> dict:
        data = {"ok": self.ok, "entries": self.entries, "head_seq": self.head_seq, "head_hash": self.head_hash,
                "anchors_checked": self.anchors_checked}
        if not self.ok:
            data.update(first_bad_seq=self.first_bad_seq, damage=self.damage, explanation=self.explanation)
        return data


def canonical_details(details: Mapping[str, Any] | None) -> str:
    return json.dumps(dict(details or {}), sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def canonical_text(seq: int, ts: str, actor: str, action: str, target: str, details: str, prev_hash: str) -> str:
    # Same bytes as json.dumps(..., sort_keys=True, separators=(",", ":"), ensure_ascii=False) for
    # the validated fields, built directly because verification does it once per entry.
    return (f'{{"action":"{action}","actor":"{actor}","details":{details},"prev_hash":"{prev_hash}",'
            f'"seq":{seq},"target":"{target}","ts":"{ts}"}}')


def entry_hash(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def utc_now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _check_text(name: str, value: str) -> str:
    if not isinstance(value, str) or not _SAFE_TEXT.match(value) or unsafe_character(value):
        raise LedgerError(f"ledger {name} must be 1–512 characters without quotes, backslashes, control or "
                          "invisible format characters")
    return value


@dataclass(frozen=True)
class NewEntry:
    actor: str
    action: str
    target: str
    details: Mapping[str, Any] = field(default_factory=dict)


# --- verification over entries in Python (used by `--independent`, and to explain damage) -------

def verify_entries(entries: Sequence[Entry], anchors: Iterable[Anchor] = ()) -> Verification:
    prev = GENESIS_HASH
    for position, entry in enumerate(entries, start=1):
        if entry.seq != position or entry.prev_hash != prev or entry_hash(entry.canonical()) != entry.hash:
            return _diagnose(entries, position)
        prev = entry.hash
    head_seq = entries[-1].seq if entries else 0
    return _check_anchors(len(entries), head_seq, prev, {e.seq: e.hash for e in entries}.get, anchors)


def verify_columns(columns: Sequence[Sequence], anchors: Iterable[Anchor] = ()) -> Verification:
    """`verify_entries` over column lists (seq, ts, actor, action, target, details, prev_hash, hash)
    in seq order: the fast path, with no object per entry; a break is explained from Entry objects."""
    sha256 = hashlib.sha256
    prev, expected = GENESIS_HASH, 1
    for seq, ts, actor, action, target, details, prev_hash, digest in zip(*columns):
        text = (f'{{"action":"{action}","actor":"{actor}","details":{details},"prev_hash":"{prev_hash}",'
                f'"seq":{seq},"target":"{target}","ts":"{ts}"}}')
        if seq != expected or prev_hash != prev or sha256(text.encode()).hexdigest() != digest:
            return verify_entries([Entry(int(row[0]), *row[1:]) for row in zip(*columns)], anchors)
        prev, expected = digest, expected + 1
    count = expected - 1
    return _check_anchors(count, count, prev, dict(zip(columns[0], columns[7])).get if count else (lambda s: None), anchors)


def _recomputes_with_seq(entry: Entry, seq: int) -> bool:
    return entry_hash(canonical_text(seq, entry.ts, entry.actor, entry.action, entry.target, entry.details,
                                     entry.prev_hash)) == entry.hash


def _diagnose(entries: Sequence[Entry], position: int) -> Verification:
    """Name the damage at the first position where the chain breaks (1-based)."""
    entry = entries[position - 1]
    expected_prev = entries[position - 2].hash if position > 1 else GENESIS_HASH
    position_of = {e.hash: i for i, e in enumerate(entries, start=1)}
    intact = entry_hash(entry.canonical()) == entry.hash
    linked_to = position_of.get(entry.prev_hash, 0 if entry.prev_hash == GENESIS_HASH else None)
    nxt = entries[position] if position < len(entries) else None

    def result(damage: str, seq: int, why: str) -> Verification:
        last = entries[-1]
        return Verification(False, len(entries), last.seq, last.hash, seq, damage, why)

    if intact and entry.seq > position and entry.prev_hash != expected_prev:
        return result("deleted", position, f"entries {position}..{entry.seq - 1} are missing; entry {entry.seq} follows {position - 1}")
    if linked_to is not None and linked_to > position - 1:
        return result("reordered", position, f"the entry at position {position} follows the entry at position {linked_to}")
    if not intact and _recomputes_with_seq(entry, entry.seq - 1) and linked_to == position - 2:
        return result("inserted", position - 1, f"entry {position - 1} was inserted; the entries after it were renumbered")
    if nxt is not None and nxt.prev_hash == expected_prev and _recomputes_with_seq(nxt, position):
        return result("inserted", position, f"entry {position} does not belong to the chain; entry {position + 1} follows {position - 1}")
    if intact and entry.prev_hash != expected_prev and linked_to is None:
        return result("inserted", position, f"entry {position} links to no entry of the chain")
    return result("modified", position, f"entry {position} no longer matches its hash")


def _check_anchors(count: int, head_seq: int, head_hash: str, hash_at, anchors: Iterable[Anchor]) -> Verification:
    anchors = sorted(anchors, key=lambda a: a.seq)
    last_good = 0
    for anchor in anchors:
        if anchor.seq > head_seq:
            return Verification(False, count, head_seq, head_hash, head_seq + 1, "truncated",
                                f"an anchor recorded entry {anchor.seq} ({anchor.source or 'anchor'}), the ledger ends at {head_seq}",
                                len(anchors))
        if hash_at(anchor.seq) != anchor.hash:
            return Verification(False, count, head_seq, head_hash, last_good + 1, "modified",
                                f"entry {anchor.seq} differs from its anchor; the chain was rewritten after entry {last_good}",
                                len(anchors))
        last_good = anchor.seq
    return Verification(True, count, head_seq, head_hash, anchors_checked=len(anchors))


# --- storage in the warehouse ----------------------------------------------------------------

_COLUMNS = ("seq", "ts", "actor", "action", "target", "details", "prev_hash", "hash")


class Ledger:
    """The ledger table in a warehouse (DuckDB or PostgreSQL), or in the project's store when the
    warehouse cannot keep it append-only (Spark: `Warehouse.store`)."""

    def __init__(self, warehouse: Warehouse, table: str = LEDGER_TABLE, lock_timeout_s: float = 60.0):
        self.warehouse = warehouse.governance_store
        self.table = table
        self.lock_timeout_s = lock_timeout_s
        self._ready = False

    # schema ------------------------------------------------------------------------------------
    def _create_sql(self) -> list[str]:
        target = self.warehouse.render(table_expr(self.table))
        create = (f"CREATE TABLE IF NOT EXISTS {target} (seq BIGINT PRIMARY KEY, ts TEXT NOT NULL, actor TEXT NOT NULL, "
                  "action TEXT NOT NULL, target TEXT NOT NULL, details TEXT NOT NULL, prev_hash TEXT NOT NULL, "
                  "hash TEXT NOT NULL)")
        return self.warehouse.engine.ledger_statements(table_expr(self.table), create)  # append-only guard too

    def ensure(self) -> None:
        if self._ready:
            return
        statements = self._create_sql()  # reads the catalog on its own connection: before writing
        with self._write_connection() as con:
            for statement in statements:
                con.execute(statement)
        self._ready = True

    def grant_writer(self, role: str) -> None:
        """Let `role` append and read, nothing else (where the engine has roles)."""
        try:
            with self._write_connection() as con:
                self.warehouse.engine.grant_append(con, table_expr(self.table), role)
        except WarehouseError as exc:
            raise LedgerError(str(exc)) from None

    # writing -----------------------------------------------------------------------------------
    @contextmanager
    def _write_connection(self) -> Iterator[Any]:
        """One writer at a time (the engine's lock), in one transaction."""
        with ExitStack() as stack:
            try:
                con = stack.enter_context(self.warehouse.engine.ledger_writer(self.lock_timeout_s))
            except WarehouseError as exc:
                raise LedgerError(f"cannot open the ledger for writing: {exc}") from None
            yield con

    def append(self, actor: str, action: str, target: str, details: Mapping[str, Any] | None = None) -> Entry:
        return self.append_many([NewEntry(actor, action, target, details or {})])[-1]

    def append_many(self, new_entries: Sequence[NewEntry]) -> list[Entry]:
        """Append in one transaction; concurrent writers are serialized, never forked."""
        for item in new_entries:
            _check_text("actor", item.actor), _check_text("action", item.action), _check_text("target", item.target)
        details = [canonical_details(item.details) for item in new_entries]
        self.ensure()
        target = self.warehouse.render(table_expr(self.table))
        with self._write_connection() as con:
            self.warehouse.engine.lock_for_append(con, table_expr(self.table))
            rows = con.execute(f"SELECT seq, hash FROM {target} ORDER BY seq DESC LIMIT 1").fetchall()
            seq, prev = (int(rows[0][0]), rows[0][1]) if rows else (0, GENESIS_HASH)
            ts = utc_now()
            written = []
            for item, detail in zip(new_entries, details):
                seq += 1
                text = canonical_text(seq, ts, item.actor, item.action, item.target, detail, prev)
                entry = Entry(seq, ts, item.actor, item.action, item.target, detail, prev, entry_hash(text))
                written.append(entry)
                prev = entry.hash
            self._insert(con, target, written)
        return written

    def _insert(self, con, target: str, entries: list[Entry]) -> None:
        rows = [tuple(getattr(e, c) for c in _COLUMNS) for e in entries]
        self.warehouse.engine.insert_rows(con, table_expr(self.table), _COLUMNS, rows)

    # reading -----------------------------------------------------------------------------------
    def _select(self) -> exp.Select:
        return exp.select(*_COLUMNS).from_(table_expr(self.table)).order_by("seq")

    def _rows(self, query: exp.Select, params: list | None = None) -> list[Entry]:
        if not self.warehouse.table_exists(self.table):
            return []
        return [Entry(int(r[0]), *r[1:]) for r in self.warehouse.fetch(query, params or None)]

    def entries(self, *, target: str | None = None, actor: str | None = None, action: str | None = None,
                action_prefix: str | None = None, since: str | None = None, until: str | None = None,
                limit: int | None = None) -> list[Entry]:
        query, params = self._select(), []  # every value bound, never pasted into the SQL
        if action_prefix:
            query = query.where(exp.func("starts_with", exp.column("action"), exp.Placeholder()))
            params.append(action_prefix)
        for column, value in (("target", target), ("actor", actor), ("action", action)):
            if value is not None:
                query = query.where(exp.column(column).eq(exp.Placeholder()))
                params.append(value)
        if since:
            query = query.where(exp.column("ts") >= exp.Placeholder())
            params.append(since)
        if until:
            query = query.where(exp.column("ts") < exp.Placeholder())
            params.append(until)
        if limit:
            query = query.limit(limit)
        return self._rows(query, params)

    def _columns(self) -> list[list]:
        """All entries as column lists in seq order (Arrow on DuckDB: no row objects)."""
        with self.warehouse.connect() as con:
            return self.warehouse.engine.fetch_columns(con, self.warehouse.render(self._select()), len(_COLUMNS))

    def head(self) -> Anchor:
        if not self.warehouse.table_exists(self.table):
            return Anchor(0, GENESIS_HASH)
        rows = self.warehouse.fetch(exp.select("seq", "hash").from_(table_expr(self.table)).order_by("seq DESC").limit(1))
        return Anchor(int(rows[0][0]), rows[0][1], utc_now()) if rows else Anchor(0, GENESIS_HASH)

    def guard_problems(self) -> list[dict]:
        """What weakens the table's append-only guard in the database (disabled triggers, an owner
        the pipeline writes as), each with a severity; none where the engine has no such guard."""
        if not self.warehouse.table_exists(self.table):
            return []
        return self.warehouse.engine.ledger_guard_problems(table_expr(self.table))

    # verification ------------------------------------------------------------------------------
    def verify(self, anchors: Iterable[Anchor] = (), independent: bool = False) -> Verification:
        """Recompute the chain; in the warehouse (one set-based query) unless `independent`.

        Only when something is wrong are the entries pulled into Python, to name the damage.
        """
        anchors = list(anchors)
        if not self.warehouse.table_exists(self.table):
            return _check_anchors(0, 0, GENESIS_HASH, lambda seq: None, anchors)
        if independent:
            return verify_columns(self._columns(), anchors)
        # One snapshot for every read: writers appending meanwhile can never make it report a head
        # it did not check (DuckDB: the file is this connection's alone while it is open).
        with self.warehouse.connect() as con:
            self.warehouse.engine.snapshot_reads(con)

            def fetch(query: exp.Expr) -> list[tuple]:
                return [tuple(r) for r in con.execute(self.warehouse.render(query)).fetchall()]

            count, first_seq, head_seq, first_bad = fetch(self._verify_query())[0]
            if first_bad is not None or (count and (first_seq != 1 or head_seq != count)):
                return verify_entries([Entry(int(r[0]), *r[1:]) for r in fetch(self._select())], anchors)
            seqs = sorted({a.seq for a in anchors if a.seq <= (head_seq or 0)} | ({head_seq} if head_seq else set()))
            hashes = {int(s): h for s, h in fetch(exp.select("seq", "hash").from_(table_expr(self.table)).where(
                exp.column("seq").isin(*[exp.Literal.number(s) for s in seqs])))} if seqs else {}
        head_hash = hashes.get(head_seq, GENESIS_HASH) if head_seq else GENESIS_HASH
        return _check_anchors(int(count), int(head_seq or 0), head_hash, hashes.get, anchors)

    def _verify_query(self) -> exp.Expr:
        """entries, first seq, last seq, and the first seq whose hash or link is wrong (or NULL).

        Each entry is joined to its predecessor by seq; one pass, no sort, no window.
        """
        text = ("'{\"action\":\"' || a.action || '\",\"actor\":\"' || a.actor || '\",\"details\":' || a.details || "
                "',\"prev_hash\":\"' || a.prev_hash || '\",\"seq\":' || CAST(a.seq AS TEXT) || "
                "',\"target\":\"' || a.target || '\",\"ts\":\"' || a.ts || '\"}'")
        digest = self.warehouse.engine.sha256_hex(text)
        table = self.warehouse.render(table_expr(self.table))
        sql = f"""
            SELECT COUNT(*), MIN(a.seq), MAX(a.seq),
                   MIN(CASE WHEN {digest} <> a.hash
                              OR a.prev_hash <> COALESCE(b.hash, CASE WHEN a.seq = 1 THEN '{GENESIS_HASH}' END, '')
                            THEN a.seq END)
            FROM {table} AS a LEFT JOIN {table} AS b ON b.seq = a.seq - 1"""
        return parse_one(sql, read=self.warehouse.dialect)
