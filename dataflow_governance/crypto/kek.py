"""Key-encryption keys (KEKs): what wraps the per-subject data keys, and where it lives.

- `LocalKek`: AES-256 keys in files of the state directory (`keys/kek-<n>.bin`, owner-only), the
  embedded default. The newest wraps; older ones unwrap until a rotation has re-wrapped every data
  key, then they are deleted (an old KEK would still open wrapped keys left in freed pages).
- `AwsKmsKek`: a KMS key. Data keys come from `GenerateDataKey`, are unwrapped with `Decrypt` and
  re-wrapped to a new KMS key with `ReEncrypt`. The key's state is checked before it is used: a
  disabled or pending-deletion key is refused here, whatever the KMS endpoint answers.

Wrapping is AES-256-GCM from the `cryptography` library; no cryptography is written here.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path
from typing import Protocol

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from ..errors import DfgError

WRAP_CONTEXT = b"dfg:data-key"  # associated data of every wrapped data key


class KeyStoreError(DfgError, RuntimeError):
    """A key cannot be made, unwrapped or used; nothing was written with it."""


class Kek(Protocol):
    def current_id(self) -> str: ...
    def new_data_key(self) -> tuple[bytes, bytes, str]:
        """A fresh 32-byte data key, it wrapped, and the id of the KEK that wrapped it."""
    def unwrap(self, kek_id: str, wrapped: bytes) -> bytes: ...
    def rewrap(self, kek_id: str, wrapped: bytes) -> tuple[bytes, str]:
        """The data key wrapped by the current KEK instead (and that KEK's id)."""
    def retire(self, kek_ids: set[str]) -> list[str]:
        """Destroy these old KEKs (after every data key was re-wrapped); returns what was retired."""


class LocalKek:
    def __init__(self, state_dir: Path):
        self.folder = Path(state_dir) / "keys"
        self._ciphers: dict[str, AESGCM] = {}  # KEK id → its cipher, read from its file once
        self._current: str | None = None

    def _versions(self) -> list[int]:
        return sorted(int(p.stem.split("-")[1]) for p in self.folder.glob("kek-*.bin") if p.stem.split("-")[1].isdigit())

    def _path(self, version: int) -> Path:
        return self.folder / f"kek-{version}.bin"

    def _create(self, version: int) -> None:
        """Owner-only from the first byte, linked into place only if no other process made it first."""
        self.folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        tmp = self.folder / f"kek-{version}.{os.getpid()}.{secrets.token_hex(4)}.tmp"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as handle:
            handle.write(AESGCM.generate_key(bit_length=256))
            handle.flush()
            os.fsync(handle.fileno())
        try:
            os.link(tmp, self._path(version))
        except FileExistsError:
            pass
        finally:
            tmp.unlink()

    def current_id(self) -> str:
        if self._current is None:
            versions = self._versions()
            if not versions:
                self._create(1)
                versions = self._versions()
            self._current = f"local:{versions[-1]}"
        return self._current

    def _key(self, kek_id: str) -> AESGCM:
        if kek_id in self._ciphers:
            return self._ciphers[kek_id]
        version = kek_id.removeprefix("local:")
        path = self._path(int(version)) if version.isdigit() else None
        if path is None or not path.exists():
            raise KeyStoreError(f"the key-encryption key {kek_id} is not in the state directory: the data keys it "
                            "wrapped cannot be opened (restore the state directory's keys/ folder)")
        self._ciphers[kek_id] = AESGCM(path.read_bytes())
        return self._ciphers[kek_id]

    def _wrap(self, data_key: bytes) -> tuple[bytes, str]:
        # Wrap with the newest KEK on disk, not one cached before a rotation in another process
        # (a key wrapped with a KEK being retired would become unopenable).
        self._current = None
        kek_id = self.current_id()
        nonce = os.urandom(12)
        return nonce + self._key(kek_id).encrypt(nonce, data_key, WRAP_CONTEXT), kek_id

    def new_data_key(self) -> tuple[bytes, bytes, str]:
        data_key = AESGCM.generate_key(bit_length=256)
        wrapped, kek_id = self._wrap(data_key)
        return data_key, wrapped, kek_id

    def unwrap(self, kek_id: str, wrapped: bytes) -> bytes:
        try:
            return self._key(kek_id).decrypt(wrapped[:12], wrapped[12:], WRAP_CONTEXT)
        except InvalidTag:
            raise KeyStoreError(f"a data key does not open with the key-encryption key {kek_id} (altered or not its "
                            "key)") from None

    def rewrap(self, kek_id: str, wrapped: bytes) -> tuple[bytes, str]:
        return self._wrap(self.unwrap(kek_id, wrapped))

    def rotate(self) -> str:
        """Make a new KEK the current one; returns its id."""
        versions = self._versions()
        self._create((versions[-1] if versions else 0) + 1)
        self._current = None
        return self.current_id()

    def retire(self, kek_ids: set[str]) -> list[str]:
        current = self.current_id()
        retired = []
        for kek_id in sorted(kek_ids - {current}):
            version = kek_id.removeprefix("local:")
            if version.isdigit() and self._path(int(version)).exists():
                self._path(int(version)).unlink()
                self._ciphers.pop(kek_id, None)
                retired.append(kek_id)
        return retired


class AwsKmsKek:
    """A KMS key as the KEK; `client` is a boto3 KMS client (any endpoint: AWS, or a local one)."""

    def __init__(self, client, key_id: str):
        self.client, self.key_id = client, key_id

    def _usable(self, key_id: str) -> str:
        """The key's ARN, after checking it is enabled: a disabled or pending-deletion key is refused
        here even where an endpoint would still answer with it."""
        try:
            meta = self.client.describe_key(KeyId=key_id)["KeyMetadata"]
        except Exception as exc:  # botocore's errors carry no values of ours
            raise KeyStoreError(f"KMS key {key_id} cannot be described: {type(exc).__name__}") from None
        if meta.get("KeyState") != "Enabled" or not meta.get("Enabled", False):
            raise KeyStoreError(f"KMS key {key_id} is {meta.get('KeyState', 'not enabled')}: refusing to use it")
        return meta["Arn"]

    def current_id(self) -> str:
        return self._usable(self.key_id)

    def new_data_key(self) -> tuple[bytes, bytes, str]:
        arn = self._usable(self.key_id)
        answer = self.client.generate_data_key(KeyId=arn, KeySpec="AES_256",
                                               EncryptionContext={"purpose": WRAP_CONTEXT.decode()})
        return answer["Plaintext"], answer["CiphertextBlob"], arn

    def unwrap(self, kek_id: str, wrapped: bytes) -> bytes:
        self._usable(kek_id)
        try:
            return self.client.decrypt(CiphertextBlob=wrapped, KeyId=kek_id,
                                       EncryptionContext={"purpose": WRAP_CONTEXT.decode()})["Plaintext"]
        except Exception as exc:
            raise KeyStoreError(f"KMS could not unwrap a data key with {kek_id}: {type(exc).__name__}") from None

    def rewrap(self, kek_id: str, wrapped: bytes) -> tuple[bytes, str]:
        arn = self._usable(self.key_id)
        self._usable(kek_id)
        context = {"purpose": WRAP_CONTEXT.decode()}
        answer = self.client.re_encrypt(CiphertextBlob=wrapped, SourceKeyId=kek_id, DestinationKeyId=arn,
                                        SourceEncryptionContext=context, DestinationEncryptionContext=context)
        return answer["CiphertextBlob"], arn

    def retire(self, kek_ids: set[str]) -> list[str]:
        """Old KMS keys are disabled (their deletion is scheduled by whoever owns them)."""
        current = self._usable(self.key_id)
        for kek_id in sorted(kek_ids - {current}):
            # (By key id: an ARN's last part; every endpoint takes that form.)
            self.client.disable_key(KeyId=kek_id.rsplit("/", 1)[-1] if kek_id.startswith("arn:") else kek_id)
        return sorted(kek_ids - {current})
