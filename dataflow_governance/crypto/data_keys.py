"""The key store: one AES-256 data key per subject (or per encrypted column), wrapped by the KEK,
in a table of the warehouse (`governance_subject_keys`).

A row names its owner by keyed hash only — the subject hash the ledger and certificates use, or
the hash of `column:<asset>.<column>` — never an id. Keys are made on first use; two writers
racing for a new subject both end with the one key the table kept. Shredding empties the wrapped
key and stamps `destroyed_at`; the row stays, so ciphertext that names the key id is known to be
shredded rather than lost. A shredded owner never gets a new key: data written for it afterwards
is written as erased.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cached_property
from typing import TypedDict

from sqlglot import exp

from dataflow_governance.crypto.hashing import keyed_hash
from dataflow_governance.crypto.kek import Kek, KeyStoreError
from dataflow_governance.crypto.keyring import Keyring
from dataflow_governance.model.ids import canonical_id
from dataflow_governance.storage.warehouse import Warehouse, WarehouseError, table_expr

KEYS_TABLE = "governance_subject_keys"
_CHUNK = 500
_WHOLE_TABLE = 2_000  # owners looked up at once above which reading the whole key table may be cheaper


class Rotation(TypedDict):
    """What a rotation did: live keys re-wrapped, and the KEKs destroyed once none named them."""

    rewrapped: int
    retired: list[str]


class KekRetirement(Rotation):
    """A rotation onto a new KEK (`kek`, now current)."""

    kek: str


@dataclass(frozen=True)
class DataKey:
    key_id: str
    key: bytes | None  # None: shredded


def _settled(write, done, attempts: int = 5) -> None:
    """Run `write`; when it fails, accept that another writer did the same thing first if `done()`
    says so, else try again a little later (a concurrent transaction doing the same write conflicts
    at commit, which ON CONFLICT does not cover), and raise the last failure."""
    for attempt in range(1, attempts + 1):
        try:
            write()
            return
        except WarehouseError:
            if done():
                return
            if attempt == attempts:
                raise
            time.sleep(0.05 * attempt)


def _now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


class DataKeyStore:
    """The per-subject (and per-column) data keys of field-level encryption, in the governance store."""

    def __init__(self, warehouse: Warehouse, kek: Kek, keyring: Keyring):
        self.warehouse, self.kek, self.keyring = warehouse.governance_store, kek, keyring
        self._ready = False
        self._opened: dict[str, bytes] = {}  # key id → data key, unwrapped once per store

    # owners ------------------------------------------------------------------------------------
    @cached_property
    def _owner_key(self) -> bytes:
        return self.keyring.key("subject")

    def subject_owner(self, subject_id: object) -> str:
        """The subject hash (`keys.subject_hash`): what the ledger and certificates call the subject."""
        return keyed_hash(self._owner_key, canonical_id(subject_id))

    def column_owner(self, asset: str, column: str) -> str:
        return keyed_hash(self._owner_key, f"column:{asset}.{column}")

    # the table ---------------------------------------------------------------------------------
    def ensure(self) -> None:
        if self._ready:
            return
        target = self.warehouse.render(table_expr(KEYS_TABLE))
        create = (f"CREATE TABLE IF NOT EXISTS {target} (key_id VARCHAR PRIMARY KEY, owner VARCHAR NOT NULL UNIQUE, "
                  f"kek VARCHAR, wrapped {self.warehouse.engine.binary_type}, created_at TIMESTAMP NOT NULL, "
                  "destroyed_at TIMESTAMP)")
        _settled(lambda: self.warehouse.execute(create), lambda: self.warehouse.table_exists(KEYS_TABLE))
        self._ready = True

    def _rows(self, column: str, values: Iterable[str]) -> list[tuple]:
        self.ensure()
        values, rows = sorted(set(values)), []
        columns = ("owner", "key_id", "kek", "wrapped")
        if len(values) > _WHOLE_TABLE and len(values) * 4 >= self.warehouse.row_count(KEYS_TABLE):
            # A batch that asks for a good share of all keys: one pass over the table beats many IN lists.
            wanted, index = set(values), columns.index(column)
            return [row for row in self.warehouse.fetch(exp.select(*columns).from_(table_expr(KEYS_TABLE)))
                    if row[index] in wanted]
        for i in range(0, len(values), _CHUNK):
            chunk = values[i:i + _CHUNK]
            query = exp.select(*columns).from_(table_expr(KEYS_TABLE)) \
                .where(exp.column(column).isin(*[exp.Placeholder() for _ in chunk]))
            rows += self.warehouse.fetch(query, chunk)
        return rows

    def _open(self, key_id: str, kek_id: str | None, wrapped) -> bytes | None:
        if wrapped is None:
            return None
        if key_id not in self._opened:
            self._opened[key_id] = self.kek.unwrap(kek_id, bytes(wrapped))
        return self._opened[key_id]

    # keys --------------------------------------------------------------------------------------
    def keys_for(self, owners: Iterable[str], create: bool = False) -> dict[str, DataKey]:
        """owner → its data key (key None when shredded); with `create`, owners without a key get one."""
        owners = set(owners)
        found = {owner: (key_id, kek_id, wrapped) for owner, key_id, kek_id, wrapped in self._rows("owner", owners)}
        missing = sorted(owners - set(found)) if create else []
        made: dict[str, tuple[str, bytes]] = {}  # owner → (key id, data key) of the keys this call made
        for i in range(0, len(missing), _CHUNK):
            chunk = missing[i:i + _CHUNK]
            _settled(lambda chunk=chunk: made.update(self._insert(chunk)),
                     lambda chunk=chunk: len(self._rows("owner", chunk)) == len(chunk))
        if missing:  # re-read: a racing writer's key wins over ours
            found.update({o: (k, kk, w) for o, k, kk, w in self._rows("owner", missing)})
            found.update(self._wrapped_with_newest(found, made))
        return {owner: DataKey(key_id, self._open(key_id, kek_id, wrapped))
                for owner, (key_id, kek_id, wrapped) in found.items()}

    def _insert(self, owners: list[str]) -> dict[str, tuple[str, bytes]]:
        """New keys for these owners in one statement; an owner that has one keeps it."""
        rows, params, made = [], [], {}
        for owner in owners:
            data_key, wrapped, kek_id = self.kek.new_data_key()
            key_id = secrets.token_hex(16)
            made[owner] = (key_id, data_key)
            rows.append(tuple(exp.Placeholder() for _ in range(5)))
            params += [key_id, owner, kek_id, wrapped, _now()]
        insert = exp.insert(exp.values(rows), table_expr(KEYS_TABLE),
                            columns=["key_id", "owner", "kek", "wrapped", "created_at"])
        insert.set("conflict", exp.OnConflict(action=exp.var("DO NOTHING")))  # (a racing writer made it)
        self.warehouse.execute(insert, params)
        return made

    def _wrapped_with_newest(self, found: dict[str, tuple], made: dict[str, tuple[str, bytes]]) -> dict[str, tuple]:
        """Keys this call made, wrapped again with the newest KEK where a rotation made a new one
        while they were being written (the rotation may already have retired the KEK that wrapped
        them, and only this call still holds them in the clear)."""
        newest = self.kek.newest_id()
        stale = [(owner, made[owner]) for owner, (key_id, kek_id, _w) in found.items()
                 if owner in made and made[owner][0] == key_id and kek_id != newest]
        if not stale:
            return {}
        updates, changed = [], {}
        for owner, (key_id, data_key) in stale:
            wrapped, kek_id = self.kek.wrap(data_key)
            updates.append((key_id, wrapped, kek_id))
            changed[owner] = (key_id, kek_id, wrapped)
            self._opened[key_id] = data_key
        self._set_wrapped(updates)
        return changed

    def keys_by_id(self, key_ids: Iterable[str]) -> dict[str, bytes | None]:
        """key id → data key (None when shredded) for decryption; unknown ids are left out."""
        wanted = set(key_ids) - set(self._opened)
        rows = self._rows("key_id", wanted) if wanted else []
        opened = {key_id: self._open(key_id, kek_id, wrapped) for _owner, key_id, kek_id, wrapped in rows}
        return {k: self._opened.get(k, opened.get(k)) for k in set(key_ids) if k in self._opened or k in opened}

    def known_ids(self, key_ids: Iterable[str]) -> set[str]:
        """Which of these key ids have a row (live or shredded), without opening any key."""
        return {key_id for _owner, key_id, _kek, _wrapped in self._rows("key_id", key_ids)}

    def key_id_of(self, owner: str) -> str | None:
        rows = self._rows("owner", [owner])
        return rows[0][1] if rows else None

    def is_live(self, owner: str) -> bool:
        rows = self._rows("owner", [owner])
        return bool(rows) and rows[0][3] is not None

    def counts(self) -> dict[str, int]:
        self.ensure()
        live = exp.func("count", exp.column("wrapped"))
        query = exp.select(live, exp.func("count", exp.Star()) - live).from_(table_expr(KEYS_TABLE))
        live_n, shredded = self.warehouse.fetch(query)[0]
        return {"live": int(live_n), "shredded": int(shredded)}

    # shredding and rotation --------------------------------------------------------------------
    def shred(self, owner: str) -> tuple[bytes, str] | None:
        """Destroy the owner's data key; returns the wrapped bytes it had (for the verification that
        they left the engine's files) and the KEK that wrapped it, None when there was no live key."""
        rows = self._rows("owner", [owner])
        if not rows or rows[0][3] is None:
            return None
        wrapped = bytes(rows[0][3])
        update = exp.update(table_expr(KEYS_TABLE), {"wrapped": exp.null(), "destroyed_at": exp.Placeholder()},
                            where=exp.column("owner").eq(exp.Placeholder()))
        self.warehouse.execute(update, [_now(), owner])
        self._opened.pop(rows[0][1], None)
        return wrapped, rows[0][2]

    def kek_of(self, owner: str) -> str | None:
        """The KEK that wrapped the owner's key last (a shredded key's row keeps it)."""
        rows = self._rows("owner", [owner])
        return rows[0][2] if rows else None

    def rotate(self) -> Rotation:
        """Re-wrap every live data key with the KEK's current version; no data is touched. Old
        KEKs are retired afterwards (they would still open wrapped keys left in freed pages, WAL,
        backups and replicas) — only once no live key names them: a writer that wrapped a new key
        with one meanwhile gets its key re-wrapped in the next pass."""
        self.ensure()
        current = self.kek.current_id()
        stale = exp.select("key_id", "kek", "wrapped").from_(table_expr(KEYS_TABLE)).where(
            exp.and_(exp.column("wrapped").is_(exp.null()).not_(), exp.column("kek").neq(exp.Placeholder())))
        old: set[str] = set()
        rewrapped = 0
        with self.warehouse.session():  # (a crash midway leaves every key openable: old KEKs retire last)
            while rows := self.warehouse.fetch(stale, [current]):
                old |= {kek_id for _k, kek_id, _w in rows}
                updates = []
                for key_id, kek_id, wrapped in rows:
                    new_wrapped, current = self.kek.rewrap(kek_id, bytes(wrapped))
                    updates.append((key_id, new_wrapped, current))
                self._set_wrapped(updates)
                rewrapped += len(rows)
        return {"rewrapped": rewrapped, "retired": self.kek.retire(old)}

    def _set_wrapped(self, updates: list[tuple[str, bytes, str]]) -> None:
        """New wrapped forms of many keys, a chunk of rows per statement (one transaction)."""
        with self.warehouse.connect() as con:
            for i in range(0, len(updates), _CHUNK):
                chunk = updates[i:i + _CHUNK]
                values = exp.values([tuple(exp.Placeholder() for _ in range(3)) for _ in chunk], alias="v",
                                    columns=["id", "w", "k"])
                update = exp.update(table_expr(KEYS_TABLE), {"wrapped": exp.column("w", "v"), "kek": exp.column("k", "v")},
                                    where=exp.column("key_id", KEYS_TABLE, quoted=True).eq(exp.column("id", "v")),
                                    from_=exp.From(this=values))
                con.execute(self.warehouse.render_bound(update), [value for row in chunk for value in row])

    def retire_kek(self) -> KekRetirement:
        """A new KEK, every live key re-wrapped with it, and every older KEK destroyed: what makes a
        shredded key's wrapped copies (in WAL, backups, replicas) useless. Returns the rotation's
        summary with the KEK now current."""
        new = self.kek.rotate()
        summary = self.rotate()
        return {"kek": new, "rewrapped": summary["rewrapped"], "retired": summary["retired"]}

    def row_states(self) -> list[dict]:
        """Each key row: its owner (a keyed hash), key id, KEK, and whether it is live, shredded, or
        unopenable (its KEK is gone or not the one recorded)."""
        self.ensure()
        rows = self.warehouse.fetch(exp.select("owner", "key_id", "kek", "wrapped", "destroyed_at")
                                    .from_(table_expr(KEYS_TABLE)).order_by("key_id"))
        states = []
        usable: dict[str, str | None] = {}
        for owner, key_id, kek_id, wrapped, destroyed in rows:
            if wrapped is None:
                state = "shredded"
            else:
                if kek_id not in usable:
                    try:
                        self.kek.unwrap(kek_id, bytes(wrapped))
                        usable[kek_id] = None
                    except (KeyStoreError, WarehouseError) as exc:
                        usable[kek_id] = str(exc)
                    except Exception as exc:
                        usable[kek_id] = type(exc).__name__
                state = "live" if usable[kek_id] is None else "unopenable"
            states.append({"owner": owner, "key_id": key_id, "kek": kek_id, "state": state,
                           **({"destroyed_at": str(destroyed)} if destroyed is not None else {})})
        return states


KeyStore = DataKeyStore  # (its name before the hashing keys and the data keys were told apart)
