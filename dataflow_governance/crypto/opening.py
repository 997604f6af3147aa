"""Opening a state folder's keys: the keyring (hashing keys, fingerprints in the ledger) with its
data key store, wrapped by the KEK the manifest's `keys:` section names."""

from __future__ import annotations

from pathlib import Path

from dataflow_governance.crypto.data_keys import DataKeyStore
from dataflow_governance.crypto.kek import AwsKmsKek, Kek, LocalKek
from dataflow_governance.crypto.keyring import KeyBook, Keyring, LedgerKeyBook
from dataflow_governance.ledger.chain import Ledger
from dataflow_governance.model.manifest import KeysConfig
from dataflow_governance.storage.warehouse import Warehouse

_KEYRINGS: dict[tuple, Keyring] = {}


def open_kek(state_dir: Path, config: KeysConfig, book: KeyBook | None = None) -> Kek:
    """The key-encryption key the `keys:` section names: local files in the state folder, or a KMS key.

    Args:
        state_dir: the state folder (where a local KEK's files are).
        config: the manifest's `keys:` section.
        book: where the KEK's fingerprints and retirements are recorded (the ledger).
    """
    if config.provider == "aws-kms":
        import boto3

        client = boto3.client("kms", endpoint_url=config.kms_endpoint_url, region_name=config.kms_region)
        return AwsKmsKek(client, config.kms_key_id, book)
    return LocalKek(state_dir, book)


def keyring_for(state_dir: Path, warehouse: Warehouse, keys: KeysConfig | None = None) -> Keyring:
    """The keyring of a state folder, its fingerprints in the ledger of `warehouse`, its data keys
    in the warehouse's governance store; one per process and place (it re-reads a key file when the
    file changes, so a deleted key is noticed at its next use).

    Args:
        state_dir: the state folder (`keys/` holds the hashing keys and a local KEK).
        warehouse: the warehouse whose governance store holds the ledger and the data keys.
        keys: the manifest's `keys:` section (the local KEK when None).

    Returns:
        The keyring (`keyring.data_keys()` opens its data key store).
    """
    keys = keys or KeysConfig()
    place = (Path(state_dir).resolve(), warehouse.governance_store, keys)
    if place not in _KEYRINGS:
        def data_keys(keyring: Keyring) -> DataKeyStore:
            return DataKeyStore(warehouse, open_kek(Path(state_dir), keys, keyring.book), keyring)

        _KEYRINGS[place] = Keyring(Path(state_dir), LedgerKeyBook(Ledger(warehouse)), data_keys)
    return _KEYRINGS[place]
