"""The keyring: the project's hashing keys, each checked against the fingerprint recorded when it
was made, and never silently made again.

Two keys hash personal values: `pseudonym` (the keyed pseudonyms pseudonymizing assets write, which
erasure matches on) and `subject` (how the ledger, certificates and membership indexes name a
subject, and the suppression list recognizes one). Each comes from `DFG_<NAME>_KEY` or from
`keys/<name>.key` in the state folder (64 hex digits, owner-only).

When a key is first made its fingerprint (`keys.fingerprint`: a keyed hash, never the key) goes
into the ledger (`keys.created`, target `key:<name>`). From then on every use checks the key: a
missing, empty, cut-short or different key is an error naming what to do, never a new key made
in its place — a new pseudonym key would make every erasure "verify" with zero rows while the
subject's pseudonymized rows stay. Making a key again is an explicit, ledgered act
(`dfg keys recreate`). The KEK's files are checked the same way (see `kek.LocalKek`).
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from dataflow_governance.crypto.hashing import create_key_file, fingerprint, keyed_hash, read_key_file
from dataflow_governance.errors import KeyringError
from dataflow_governance.model.ids import canonical_id

if TYPE_CHECKING:
    from dataflow_governance.crypto.data_keys import DataKeyStore

HASHING_KEYS = ("pseudonym", "subject")
_HEX_DIGITS = 64
MIN_ENV_KEY = 32  # characters of a DFG_<NAME>_KEY


@dataclass(frozen=True)
class KeyRecord:
    """What the ledger says of a key: its fingerprint, and whether it was made, made again or retired."""

    name: str
    action: str  # created | recreated | retired | retirement_scheduled
    fingerprint: str | None
    seq: int
    at: str
    details: dict


class KeyBook(Protocol):
    """Where key fingerprints are recorded (the ledger)."""

    def recorded(self, name: str) -> KeyRecord | None: ...
    def record(self, name: str, action: str, details: dict) -> KeyRecord: ...
    def all_records(self) -> dict[str, KeyRecord]: ...
    def refresh(self) -> None: ...


class LedgerKeyBook:
    """Key records as ledger entries: `keys.<action>` on target `key:<name>`."""

    def __init__(self, ledger):
        self.ledger = ledger
        self._records: dict[str, KeyRecord] | None = None

    def all_records(self) -> dict[str, KeyRecord]:
        if self._records is None:
            records: dict[str, KeyRecord] = {}
            for entry in self.ledger.entries(action_prefix="keys."):
                if entry.target.startswith("key:"):
                    details = entry.details_dict()
                    name = entry.target.removeprefix("key:")
                    records[name] = KeyRecord(name, entry.action.removeprefix("keys."), details.get("fingerprint"),
                                              entry.seq, entry.ts, details)
            self._records = records
        return self._records

    def recorded(self, name: str) -> KeyRecord | None:
        return self.all_records().get(name)

    def refresh(self) -> None:
        self._records = None

    def record(self, name: str, action: str, details: dict) -> KeyRecord:
        entry = self.ledger.append("dfg:keys", f"keys.{action}", f"key:{name}", details)
        record = KeyRecord(name, action, details.get("fingerprint"), entry.seq, entry.ts, dict(details))
        self.all_records()[name] = record
        return record


def describe_record(record: KeyRecord) -> str:
    return f"recorded at {record.at} (ledger entry {record.seq}, fingerprint {str(record.fingerprint)[:12]}…)"


def derive(key: bytes, purpose: str) -> bytes:
    return keyed_hash(key, f"dataflow-governance derived key: {purpose}", 64).encode()


def peek_derived(state_dir: Path, purpose: str) -> bytes | None:
    """The derived key as the subject key on disk (or in DFG_SUBJECT_KEY) gives it, without the
    ledger's check and never making a key: for writing and reading the catalog's MAC where the
    ledger is not at hand. Commands that change data check the key first (`Keyring.derived`)."""
    env = os.environ.get("DFG_SUBJECT_KEY")
    if env:
        return derive(env.encode(), purpose) if len(env.strip()) >= MIN_ENV_KEY else None
    key, _state = read_key_file(Path(state_dir) / "keys" / "subject.key", _HEX_DIGITS, hex_text=True)
    return derive(key, purpose) if key is not None else None


class Keyring:
    """The project's keys: the hashing keys (keyed hashes and pseudonyms), checked on every use
    against the ledger's fingerprints, and — where it was opened with them — the per-subject data
    keys of field-level encryption (`data_keys`), wrapped by the key-encryption key.

    Args:
        state_dir: the state folder whose `keys/` holds the key files.
        book: where key fingerprints are recorded (the ledger); None only in tests of the files.
        data_keys: opens a data key store for this keyring (see `crypto.opening.keyring_for`).
    """

    def __init__(self, state_dir: Path, book: KeyBook | None,
                 data_keys: Callable[[Keyring], DataKeyStore] | None = None):
        self.state_dir = Path(state_dir)
        self.book = book
        self._checked: dict[str, tuple[object, bytes]] = {}  # name → (what was checked, the key)
        self._open_data_keys = data_keys

    def data_keys(self) -> DataKeyStore:
        """The data key store (subjects' and columns' encryption keys), opened anew on each call:
        the keys it unwraps live as long as that store, so a key shredded by another process is
        not still open in this one at its next task."""
        if self._open_data_keys is None:
            raise KeyringError("this keyring was opened without a key store (no warehouse or KEK given)")
        return self._open_data_keys(self)

    def path(self, name: str) -> Path:
        return self.state_dir / "keys" / f"{name}.key"

    # using keys ----------------------------------------------------------------------------------
    def key(self, name: str) -> bytes:
        """The checked key; made (and its fingerprint recorded) only when it never existed."""
        env = os.environ.get(f"DFG_{name.upper()}_KEY")
        if env:
            return self._from_env(name, env)
        path = self.path(name)
        try:
            stat = path.stat()
            signature = (stat.st_ino, stat.st_size, stat.st_mtime_ns)
        except FileNotFoundError:
            signature = None
        cached = self._checked.get(name)
        if cached is not None and signature is not None and cached[0] == signature:
            return cached[1]
        key, state = read_key_file(path, _HEX_DIGITS, hex_text=True)
        record = self._record(name)
        if state == "missing" and (record is None or record.action == "retired"):
            create_key_file(path, secrets.token_hex(32).encode())
            key, state = read_key_file(path, _HEX_DIGITS, hex_text=True)
            if key is not None and self.book is not None:
                self.book.record(name, "created", {"fingerprint": fingerprint(key), "source": f"keys/{name}.key"})
                record = self.book.recorded(name)
        if key is None:
            raise KeyringError(self._problem(name, state, record))
        if self.book is not None:
            if record is None:  # a key from before fingerprints were kept: recorded as first seen
                record = self.book.record(name, "created", {"fingerprint": fingerprint(key),
                                                            "source": f"keys/{name}.key", "first_seen": True})
            elif fingerprint(key) != record.fingerprint:
                self.book.refresh()  # (another process may have made it again since)
                record = self.book.recorded(name)
                if record is None or fingerprint(key) != record.fingerprint:
                    raise KeyringError(self._problem(name, "different", record))
        stat = path.stat()
        self._checked[name] = ((stat.st_ino, stat.st_size, stat.st_mtime_ns), key)
        return key

    def _record(self, name: str) -> KeyRecord | None:
        """The ledger's word on a key, read again when this process has none (another process may
        have made the key since this one read the ledger)."""
        if self.book is None:
            return None
        record = self.book.recorded(name)
        if record is None:
            self.book.refresh()
            record = self.book.recorded(name)
        return record

    def _from_env(self, name: str, value: str) -> bytes:
        variable = f"DFG_{name.upper()}_KEY"
        cached = self._checked.get(name)
        if cached is not None and cached[0] == ("env", value):
            return cached[1]
        key = value.encode()
        if len(value.strip()) < MIN_ENV_KEY:
            raise KeyringError(f"{variable} is shorter than {MIN_ENV_KEY} characters: not used as a key")
        if self.book is not None:
            record = self._record(name)
            if record is None or record.action == "retired":
                self.book.record(name, "created", {"fingerprint": fingerprint(key), "source": variable})
            elif fingerprint(key) != record.fingerprint:
                raise KeyringError(f"{variable} is not the {name} key {describe_record(record)}: refusing to use it "
                                   f"(pseudonyms and subject hashes made with it would match no one)")
        self._checked[name] = (("env", value), key)
        return key

    def _problem(self, name: str, state: str, record: KeyRecord | None) -> str:
        where = f"keys/{name}.key in the state folder {self.state_dir}"
        what = {"missing": "is missing", "empty": "is empty", "truncated": "is cut short",
                "malformed": "is not a key (64 hex digits)", "unreadable": "cannot be read",
                "different": "is not the key whose fingerprint the ledger recorded"}.get(state, state)
        known = f"; it was {describe_record(record)}" if record is not None else ""
        return (f"the {name} key ({where}) {what}{known}. Restore it from the state folder's backup; if it is "
                f"truly lost, `dfg keys recreate --key {name} --reason …` makes a new one, ledgered — "
                + ("data pseudonymized with the old key will then match no subject" if name == "pseudonym" else
                   "erasures recorded under the old key will then no longer be recognized"))

    def derived(self, purpose: str) -> bytes:
        """A key for one purpose (the catalog's MAC), derived from the checked subject key."""
        return derive(self.key("subject"), purpose)

    def hash(self, name: str, value: object) -> str:
        return keyed_hash(self.key(name), value)

    def subject_hash(self, subject_id: object) -> str:
        """How a subject appears in the ledger, reports, certificates and dataset membership indexes."""
        return keyed_hash(self.key("subject"), canonical_id(subject_id))

    def pseudonym(self, subject_id: object) -> str:
        """The project's keyed pseudonym of a subject, as pseudonymizing assets write it."""
        return keyed_hash(self.key("pseudonym"), canonical_id(subject_id))

    # looking without using -----------------------------------------------------------------------
    def state(self, name: str) -> dict:
        """What is true of one key now, without making or recording anything."""
        record = self.book.recorded(name) if self.book is not None else None
        env = os.environ.get(f"DFG_{name.upper()}_KEY")
        if env:
            key, state, source = env.encode(), ("ok" if len(env.strip()) >= MIN_ENV_KEY else "truncated"), \
                f"DFG_{name.upper()}_KEY"
        else:
            key, state = read_key_file(self.path(name), _HEX_DIGITS, hex_text=True)
            source = f"keys/{name}.key"
        if key is not None and state == "ok":
            if record is None:
                state = "unrecorded"
            elif fingerprint(key) != record.fingerprint:
                state = "different"
        elif state == "missing" and record is None:
            state = "not yet made"
        return {"key": name, "state": state, "source": source,
                "recorded": {"action": record.action, "at": record.at, "seq": record.seq,
                             "fingerprint": record.fingerprint} if record else None}

    def recreate(self, name: str, reason: str) -> dict:
        """A new key in place of a lost or damaged one: an explicit act, ledgered with its reason."""
        if name not in HASHING_KEYS:
            raise KeyringError(f"unknown key {name!r}; the hashing keys are {', '.join(HASHING_KEYS)}")
        if os.environ.get(f"DFG_{name.upper()}_KEY"):
            raise KeyringError(f"the {name} key comes from DFG_{name.upper()}_KEY: change it there")
        if self.book is None:
            raise KeyringError("a key can only be made again where its fingerprint is recorded (the ledger)")
        before = self.state(name)
        path = self.path(name)
        if path.exists():
            path.rename(path.with_name(f"{name}.key.replaced-{secrets.token_hex(4)}"))
        create_key_file(path, secrets.token_hex(32).encode())
        key, _state = read_key_file(path, _HEX_DIGITS, hex_text=True)
        self.book.record(name, "recreated", {"fingerprint": fingerprint(key), "source": f"keys/{name}.key",
                                             "reason": reason, "previous_state": before["state"]})
        self._checked.pop(name, None)
        return {"key": name, "previous_state": before["state"], "fingerprint": fingerprint(key)}
