"""Field-level encryption and crypto-shredding: per-subject data keys wrapped by a key-encryption key.

- `kek`: the key-encryption keys (a local file, or a KMS key);
- `subject_keys`: the key store table — keys made on first use, shredded on erasure, re-wrapped on rotation;
- `fields`: the token format; encrypting frames and records, ledgered decryption;
- `open_key_store`: the project's key store, as its manifest's `keys:` section says.
"""

from __future__ import annotations

from pathlib import Path

from ..manifest import KeysConfig, Project
from ..warehouse import Warehouse
from .kek import AwsKmsKek, Kek, KeyStoreError, LocalKek
from .subject_keys import KEYS_TABLE, DataKey, KeyStore

__all__ = ["AwsKmsKek", "DataKey", "KEYS_TABLE", "Kek", "KeyStore", "KeyStoreError", "LocalKek", "open_kek",
           "open_key_store"]


def open_kek(state_dir: Path, config: KeysConfig) -> Kek:
    if config.provider == "aws-kms":
        import boto3

        client = boto3.client("kms", endpoint_url=config.kms_endpoint_url, region_name=config.kms_region)
        return AwsKmsKek(client, config.kms_key_id)
    return LocalKek(state_dir)


def open_key_store(project: Project, warehouse: Warehouse | None = None) -> KeyStore:
    return KeyStore(warehouse or project.open_warehouse(), open_kek(project.state_dir, project.keys), project.state_dir)
