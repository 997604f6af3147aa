"""Keys and field-level encryption.

- `hashing`: keyed hashes, key files;
- `keyring`: the hashing keys (pseudonyms, subject hashes), checked against their fingerprints in
  the ledger, and the way to the data keys;
- `kek`: the key-encryption keys (a local file, or a KMS key);
- `data_keys`: the per-subject data keys — made on first use, shredded on erasure, re-wrapped on rotation;
- `fields`: the token format; encrypting frames and records, ledgered decryption;
- `opening`: a state folder's keyring and KEK, as the manifest's `keys:` section says;
- `approvals`: signed approvals of reviews.
"""

from dataflow_governance.lazy import lazy_exports

_PUBLIC = {
    "AwsKmsKek": "kek", "Kek": "kek", "KeyStoreError": "kek", "LocalKek": "kek",
    "HASHING_KEYS": "keyring", "Keyring": "keyring", "KeyringError": "keyring", "LedgerKeyBook": "keyring",
    "KEYS_TABLE": "data_keys", "DataKey": "data_keys", "DataKeyStore": "data_keys", "KeyStore": "data_keys",
    "keyring_for": "opening", "open_kek": "opening",
}
__all__ = sorted(_PUBLIC)
__getattr__, __dir__ = lazy_exports(__name__, _PUBLIC, globals())
