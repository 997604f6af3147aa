"""Field-level encryption with per-subject (or per-column) data keys, and its ledgered decryption.

A value becomes a self-describing token, `dfg1:<key id>:<base64url(nonce ‖ ciphertext ‖ tag)>`:
`dfg1` is the format (AES-256-GCM, 96-bit nonce), the key id names the data key, the associated
data binds the token to its asset and column (a token copied into another column does not open).
Text is sealed as its UTF-8 bytes, anything else as JSON, so values come back as they went in. A subject whose
key was shredded gets `dfg1:erased` for new data: nothing of it is stored again.

Keys are looked up once per batch (one query for all the batch's subjects), never per value.
Decryption is an explicit act: `decrypt_*` take who, why and which columns, and ledger it.
"""

from __future__ import annotations

import json
import math
from binascii import a2b_base64, b2a_base64
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from os import urandom

import pandas as pd
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from dataflow_governance.crypto.data_keys import DataKey, DataKeyStore
from dataflow_governance.errors import FieldCryptoError
from dataflow_governance.ledger.chain import Ledger

PREFIX = "dfg1:"
ERASED = "dfg1:erased"  # written instead of a shredded subject's value
SHREDDED = None  # what a token of a shredded key decrypts to


def _aad(asset: str, column: str) -> bytes:
    return f"{asset}\x1f{column}".encode()


def _encode(value: object) -> bytes:
    # Text as itself (most personal fields), anything else as JSON, so it comes back as it went in.
    return b"s" + value.encode() if type(value) is str else b"j" + json.dumps(value).encode()


def _decode(raw: bytes) -> object:
    return raw[1:].decode() if raw[:1] == b"s" else json.loads(raw[1:])


def seal(key: DataKey, asset: str, column: str, value: object, cipher: AESGCM | None = None) -> str:
    if key.key is None:
        return ERASED
    return _seal(cipher or AESGCM(key.key), key.key_id, _aad(asset, column), value)


def _seal(cipher: AESGCM, key_id: str, aad: bytes, value: object) -> str:
    nonce = urandom(12)
    return PREFIX + key_id + ":" + b2a_base64(nonce + cipher.encrypt(nonce, _encode(value), aad), newline=False).decode()


def key_id_of(token: object) -> str | None:
    """The key id a token names; None for anything else (plaintext, `dfg1:erased`, null)."""
    if not isinstance(token, str) or not token.startswith(PREFIX) or token == ERASED:
        return None
    parts = token.split(":", 2)
    return parts[1] if len(parts) == 3 else None


def is_token(value: object) -> bool:
    return isinstance(value, str) and value.startswith(PREFIX)


def unseal(keys: dict[str, bytes | None], asset: str, column: str, token: object,
           ciphers: dict[str, AESGCM] | None = None) -> object:
    """The value a token holds; `SHREDDED` (None) when its key was destroyed or it says erased.
    (`ciphers` caches one cipher per key id across a batch.)"""
    return _unseal(keys, {} if ciphers is None else ciphers, _aad(asset, column), token, asset, column)


def _unseal(keys: dict[str, bytes | None], ciphers: dict[str, AESGCM], aad: bytes, token: object, asset: str,
            column: str) -> object:
    parts = token.split(":") if type(token) is str else ()
    if len(parts) != 3 or parts[0] != "dfg1":
        if token == ERASED:
            return SHREDDED
        raise FieldCryptoError(f"{asset}.{column} holds a value that is not an encrypted token")
    _version, key_id, body = parts
    cipher = ciphers.get(key_id)
    if cipher is None:
        key = keys.get(key_id)
        if key is None:
            return SHREDDED
        cipher = ciphers[key_id] = AESGCM(key)
    try:
        raw = a2b_base64(body)
        return _decode(cipher.decrypt(raw[:12], raw[12:], aad))
    except (InvalidTag, ValueError):
        raise FieldCryptoError(f"a token in {asset}.{column} does not open with its key: altered, or copied "
                               "from another column") from None


# --- batches --------------------------------------------------------------------------------

def _missing(value: object) -> bool:
    """No value (None, or pandas' NaN/NaT): nothing to seal, stored as null."""
    return value is None or value is pd.NaT or (type(value) is float and math.isnan(value))


def subject_keys(store: DataKeyStore, subjects: Iterable[object]) -> dict[object, DataKey]:
    """subject id → its data key, made on first use (shredded subjects keep theirs shredded)."""
    owners = {subject: store.subject_owner(subject) for subject in set(subjects) if subject is not None}
    keys = store.keys_for(owners.values(), create=True)
    return {subject: keys[owner] for subject, owner in owners.items()}


def encrypt_frame(frame: pd.DataFrame, asset: str, columns: Sequence[str], subject_column: str,
                  store: DataKeyStore) -> pd.DataFrame:
    """A copy of the frame with `columns` sealed, each row with its subject's key (the subject is
    read from `subject_column`, which may itself be one of the sealed columns)."""
    subjects = frame[subject_column].tolist()
    keys = subject_keys(store, subjects)
    ciphers = {k.key_id: AESGCM(k.key) for k in keys.values() if k.key is not None}
    # Per row: its subject's key id and cipher (None: shredded), looked up once.
    per_row = [(keys[s].key_id, ciphers.get(keys[s].key_id)) if not _missing(s) else None for s in subjects]
    out = frame.copy()
    for column in columns:
        aad = _aad(asset, column)
        out[column] = [None if row is None or _missing(v) else ERASED if row[1] is None else _seal(row[1], row[0], aad, v)
                       for row, v in zip(per_row, frame[column].tolist())]
    return out


def encrypt_records(records: Sequence[dict], asset: str, fields: Sequence[str], subject_field: str,
                    store: DataKeyStore) -> list[dict]:
    """JSON-serializable records with `fields` sealed with each record's subject's key."""
    keys = subject_keys(store, [r.get(subject_field) for r in records])
    ciphers = {k.key_id: AESGCM(k.key) for k in keys.values() if k.key is not None}
    sealed = []
    for record in records:
        key = keys.get(record.get(subject_field))
        sealed.append({name: (seal(key, asset, name, value, ciphers.get(key.key_id))
                              if name in fields and key is not None and not _missing(value) else value)
                       for name, value in record.items()})
    return sealed


def column_key(store: DataKeyStore, asset: str, column: str) -> DataKey:
    """The one data key of a `column_key` column (restricted data that belongs to no subject)."""
    owner = store.column_owner(asset, column)
    return store.keys_for([owner], create=True)[owner]


def encrypt_column(frame: pd.DataFrame, asset: str, column: str, store: DataKeyStore) -> pd.DataFrame:
    """A copy with `column` sealed with the column's own key (`encryption: column_key`); it opens
    with `decrypt_frame` like any sealed column."""
    key = column_key(store, asset, column)
    cipher, aad = AESGCM(key.key), _aad(asset, column)
    out = frame.copy()
    out[column] = [None if _missing(v) else _seal(cipher, key.key_id, aad, v) for v in frame[column].tolist()]
    return out


@dataclass
class Decryption:
    values: int = 0
    shredded: int = 0


def _keys_for_tokens(store: DataKeyStore, tokens: Iterable[object]) -> dict[str, bytes | None]:
    return store.keys_by_id({key_id for token in tokens if (key_id := key_id_of(token))})


def decrypt_frame(frame: pd.DataFrame, asset: str, columns: Sequence[str], store: DataKeyStore, *, actor: str,
                  purpose: str, ledger: Ledger | None = None) -> pd.DataFrame:
    """A copy with `columns` opened (None where the subject was shredded), ledgered: who, which
    asset and columns, why, and counts."""
    _require_purpose(purpose)
    tokens = {column: frame[column].tolist() for column in columns}
    keys = _keys_for_tokens(store, (t for values in tokens.values() for t in values))
    ciphers: dict[str, AESGCM] = {}
    out, tally = frame.copy(), Decryption()
    for column in columns:
        aad = _aad(asset, column)
        values: list = []
        for token in tokens[column]:
            if type(token) is not str and _missing(token):
                values.append(None)  # no value was sealed here
                continue
            values.append(_unseal(keys, ciphers, aad, token, asset, column))
            tally.values += 1
            tally.shredded += values[-1] is SHREDDED
        out[column] = values
    _ledger_decryption(ledger or Ledger(store.warehouse), actor, asset, columns, purpose, tally)
    return out


def decrypt_records(records: Sequence[dict], asset: str, fields: Sequence[str], store: DataKeyStore, *, actor: str,
                    purpose: str, ledger: Ledger | None = None) -> list[dict]:
    _require_purpose(purpose)
    keys = _keys_for_tokens(store, (r.get(f) for r in records for f in fields))
    ciphers: dict[str, AESGCM] = {}
    tally, out = Decryption(), []
    for record in records:
        opened = dict(record)
        for name in fields:
            if is_token(record.get(name)):
                opened[name] = unseal(keys, asset, name, record[name], ciphers)
                tally.values += 1
                tally.shredded += opened[name] is SHREDDED
        out.append(opened)
    _ledger_decryption(ledger or Ledger(store.warehouse), actor, asset, fields, purpose, tally)
    return out


def _require_purpose(purpose: str) -> None:
    if not isinstance(purpose, str) or not purpose.strip():
        raise FieldCryptoError("decryption needs a purpose: say why these values are read")


def _ledger_decryption(ledger: Ledger, actor: str, asset: str, columns: Sequence[str], purpose: str,
                       tally: Decryption) -> None:
    ledger.append(actor, "fields.decrypted", f"asset:{asset}",
                  {"columns": list(columns), "purpose": purpose, "values": tally.values, "shredded": tally.shredded})
