"""Field-level encryption and crypto-shredding: per-subject data keys wrapped by a key-encryption key.

- `kek`: the key-encryption keys (a local file, or a KMS key);
- `subject_keys`: the key store table — keys made on first use, shredded on erasure, re-wrapped on rotation;
- `fields`: the token format; encrypting frames and records, ledgered decryption;
- `open_key_store`: the project's key store, as its manifest's `keys:` section says.
"""

from __future__ import annotations

from pathlib import Path

from dataflow_governance.model.manifest import KeysConfig, Project
from dataflow_governance.storage.warehouse import Warehouse
from dataflow_governance.crypto.kek import AwsKmsKek, Kek, KeyStoreError, LocalKek
from dataflow_governance.crypto.keyring import HASHING_KEYS, Keyring, KeyringError, LedgerKeyBook
from dataflow_governance.crypto.data_keys import KEYS_TABLE, DataKey, KeyStore
from dataflow_governance.storage.warehouse import open_warehouse

__all__ = ["AwsKmsKek", "DataKey", "HASHING_KEYS", "KEYS_TABLE", "Kek", "KeyStore", "KeyStoreError", "Keyring",
           "KeyringError", "LocalKek", "keyring_for", "open_kek", "open_key_store", "open_keyring"]

_KEYRINGS: dict[tuple[Path, Warehouse], Keyring] = {}


def keyring_for(state_dir: Path, warehouse: Warehouse) -> Keyring:
    """The keyring of a state folder, its fingerprints in the ledger of `warehouse`; one per process
    (it re-reads a key file when the file changes, so a deleted key is noticed at its next use)."""
    from dataflow_governance.ledger.chain import Ledger

    place = (Path(state_dir).resolve(), warehouse.store)
    if place not in _KEYRINGS:
        _KEYRINGS[place] = Keyring(Path(state_dir), LedgerKeyBook(Ledger(warehouse)))
    return _KEYRINGS[place]


def open_keyring(project: Project, warehouse: Warehouse | None = None) -> Keyring:
    return keyring_for(project.state_dir, warehouse or open_warehouse(project))


def open_kek(state_dir: Path, config: KeysConfig, keyring: Keyring | None = None) -> Kek:
    book = keyring.book if keyring is not None else None
    if config.provider == "aws-kms":
        import boto3

        client = boto3.client("kms", endpoint_url=config.kms_endpoint_url, region_name=config.kms_region)
        return AwsKmsKek(client, config.kms_key_id, book)
    return LocalKek(state_dir, book)


def open_key_store(project: Project, warehouse: Warehouse | None = None) -> KeyStore:
    warehouse = warehouse or open_warehouse(project)
    keyring = open_keyring(project, warehouse)
    return KeyStore(warehouse, open_kek(project.state_dir, project.keys, keyring), keyring)
