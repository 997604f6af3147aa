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
from datetime import UTC, datetime
from pathlib import Path
from typing import Protocol

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from dataflow_governance.crypto.hashing import create_key_file, destroy_key_file, fingerprint, read_key_file
from dataflow_governance.crypto.keyring import KeyBook, KeyRecord
from dataflow_governance.errors import KeyStoreError

WRAP_CONTEXT = b"dfg:data-key"  # associated data of every wrapped data key
KEK_BYTES = 32  # AES-256


class Kek(Protocol):
    def current_id(self) -> str: ...
    def new_data_key(self) -> tuple[bytes, bytes, str]:
        """A fresh 32-byte data key, it wrapped, and the id of the KEK that wrapped it."""
    def unwrap(self, kek_id: str, wrapped: bytes) -> bytes: ...
    def rewrap(self, kek_id: str, wrapped: bytes) -> tuple[bytes, str]:
        """The data key wrapped by the current KEK instead (and that KEK's id)."""
    def wrap(self, data_key: bytes) -> tuple[bytes, str]:
        """A data key in the clear wrapped by the newest KEK (and that KEK's id)."""
    def newest_id(self) -> str:
        """The current KEK as it is now (not as this object first saw it)."""
    def rotate(self) -> str:
        """Make a new KEK the current one; returns its id."""
    def retire(self, kek_ids: set[str]) -> list[str]:
        """Destroy these old KEKs (after every data key was re-wrapped); returns what was retired."""
    def retired_at(self, kek_id: str, now: datetime) -> str | None:
        """When the KEK was destroyed (its material gone for good), or None while it still exists."""


class LocalKek:
    """KEK files in the state folder, each checked against the fingerprint recorded when it was made
    (with a `book`): a missing, cut-short or different KEK is an error, never replaced by a new one
    (that would leave every data key it wrapped unopenable)."""

    def __init__(self, state_dir: Path, book: KeyBook | None = None):
        self.folder = Path(state_dir) / "keys"
        self.book = book
        self._ciphers: dict[str, AESGCM] = {}  # KEK id → its cipher, read from its file once
        self._current: str | None = None

    @staticmethod
    def name_of(kek_id: str) -> str:
        """`local:3` → `kek-3`, the key's name in the ledger."""
        return f"kek-{kek_id.removeprefix('local:')}"

    def _versions(self) -> list[int]:
        return sorted(int(p.stem.split("-")[1]) for p in self.folder.glob("kek-*.bin") if p.stem.split("-")[1].isdigit())

    def _recorded_versions(self) -> dict[int, KeyRecord]:
        if self.book is None:
            return {}
        return {int(name.split("-")[1]): record for name, record in self.book.all_records().items()
                if name.startswith("kek-") and name.split("-")[1].isdigit()}

    def _path(self, version: int) -> Path:
        return self.folder / f"kek-{version}.bin"

    def _create(self, version: int) -> None:
        """Owner-only from the first byte, linked into place only if no other process made it first."""
        made = create_key_file(self._path(version), AESGCM.generate_key(bit_length=256))
        if self.book is not None and (made or self.book.recorded(f"kek-{version}") is None):
            key, _state = read_key_file(self._path(version), KEK_BYTES, hex_text=False)
            self.book.record(f"kek-{version}", "created", {"fingerprint": fingerprint(key), "source": f"keys/kek-{version}.bin"})

    def current_id(self) -> str:
        if self._current is None:
            live = sorted(v for v, r in self._recorded_versions().items() if r.action in ("created", "recreated"))
            versions = self._versions()
            if not live and not versions:
                self._create(1)  # a project's first KEK
                versions = self._versions()
            newest = max([*live, *versions])
            self._key(f"local:{newest}")  # checked before anything is wrapped with it
            self._current = f"local:{newest}"
        return self._current

    def _key(self, kek_id: str) -> AESGCM:
        if kek_id in self._ciphers:
            return self._ciphers[kek_id]
        version = kek_id.removeprefix("local:")
        if not version.isdigit():
            raise KeyStoreError(f"{kek_id!r} names no local key-encryption key")
        key, state = read_key_file(self._path(int(version)), KEK_BYTES, hex_text=False)
        record = self._record(self.name_of(kek_id))
        if record is not None and record.action in ("retired", "retirement_scheduled"):
            raise KeyStoreError(f"the key-encryption key {kek_id} was retired at {record.at}: the data keys it wrapped "
                                "were re-wrapped or destroyed")
        if key is None:
            known = f" (made at {record.at}, ledger entry {record.seq})" if record else ""
            raise KeyStoreError(f"the key-encryption key {kek_id} (keys/kek-{version}.bin){known} is {state}: the data "
                                "keys it wrapped cannot be opened; restore the state folder's keys/ from its backup")
        if self.book is not None:
            if record is None and self._recorded_versions():
                raise KeyStoreError(f"the key-encryption key {kek_id} (keys/kek-{version}.bin) was never recorded, "
                                    "although the project's other KEKs were: refusing a KEK that appeared on its own")
            if record is None:
                self.book.record(self.name_of(kek_id), "created", {"fingerprint": fingerprint(key),
                                                                   "source": f"keys/kek-{version}.bin", "first_seen": True})
            elif fingerprint(key) != record.fingerprint:
                raise KeyStoreError(f"the key-encryption key {kek_id} is not the one recorded at {record.at} (ledger "
                                    f"entry {record.seq}): refusing to wrap or open keys with it")
        self._ciphers[kek_id] = AESGCM(key)
        return self._ciphers[kek_id]

    def _record(self, name: str) -> KeyRecord | None:
        """The ledger's word on a KEK, read again when this process has none (another process may
        have made it since this one read the ledger)."""
        if self.book is None:
            return None
        record = self.book.recorded(name)
        if record is None:
            self.book.refresh()
            record = self.book.recorded(name)
        return record

    def state(self, version: int) -> str:
        """ok | missing | empty | truncated | malformed | different | unrecorded | retired | retired, still on disk"""
        key, state = read_key_file(self._path(version), KEK_BYTES, hex_text=False)
        record = self.book.recorded(f"kek-{version}") if self.book is not None else None
        if record is not None and record.action in ("retired", "retirement_scheduled"):
            return "retired" if state == "missing" else "retired, still on disk"
        if key is None:
            return state
        if self.book is not None and record is None:
            return "unrecorded"
        return "different" if record is not None and fingerprint(key) != record.fingerprint else "ok"

    def versions(self) -> list[int]:
        """Every KEK version on disk or in the records."""
        return sorted(set(self._versions()) | set(self._recorded_versions()))

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

    def wrap(self, data_key: bytes) -> tuple[bytes, str]:
        return self._wrap(data_key)

    def newest_id(self) -> str:
        self._current = None
        return self.current_id()

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
        versions = self.versions()
        self._create((versions[-1] if versions else 0) + 1)
        self._current = None
        return self.current_id()

    def retire(self, kek_ids: set[str]) -> list[str]:
        """Destroy every KEK but the current one (the caller re-wrapped every live key first), and
        record when; a version left over by an interrupted rotation goes too."""
        current = self.current_id()
        retired = []
        older = {f"local:{v}" for v in self._versions()} | set(kek_ids)
        for kek_id in sorted(older - {current}):
            version = kek_id.removeprefix("local:")
            if not version.isdigit():
                continue
            path = self._path(int(version))
            present = path.exists()
            destroy_key_file(path)
            self._ciphers.pop(kek_id, None)
            record = self.book.recorded(self.name_of(kek_id)) if self.book is not None else None
            if self.book is not None and (record is None or record.action not in ("retired",)):
                self.book.record(self.name_of(kek_id), "retired", {"kek": kek_id})
            if present:
                retired.append(kek_id)
        return retired

    def retired_at(self, kek_id: str, now: datetime) -> str | None:
        """When the KEK was destroyed, or None while it still exists."""
        version = kek_id.removeprefix("local:")
        if version.isdigit() and self._path(int(version)).exists():
            return None
        record = self.book.recorded(self.name_of(kek_id)) if self.book is not None else None
        return record.at if record is not None and record.action == "retired" else "before its retirement was recorded"


class AwsKmsKek:
    """A KMS key as the KEK; `client` is a boto3 KMS client (any endpoint: AWS, or a local one).

    Retiring a KMS key is scheduling its deletion (KMS waits 7 to 30 days before deleting key
    material): until that date the key is pending retirement, and what it wrapped could still be
    opened by whoever can cancel the deletion. Rotation to a new key is possible when `key_id` is
    an alias (`alias/…`): the project creates the new key and moves the alias to it."""

    PENDING_WINDOW_DAYS = 7  # the shortest deletion window KMS allows

    def __init__(self, client, key_id: str, book: KeyBook | None = None):
        self.client, self.key_id, self.book = client, key_id, book

    def _describe(self, key_id: str) -> dict:
        try:
            return self.client.describe_key(KeyId=key_id)["KeyMetadata"]
        except Exception as exc:  # botocore's errors carry no values of ours
            raise KeyStoreError(f"KMS key {key_id} cannot be described: {type(exc).__name__}") from None

    def _usable(self, key_id: str) -> str:
        """The key's ARN, after checking it is enabled: a disabled or pending-deletion key is refused
        here even where an endpoint would still answer with it."""
        meta = self._describe(key_id)
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

    def wrap(self, data_key: bytes) -> tuple[bytes, str]:
        arn = self._usable(self.key_id)
        answer = self.client.encrypt(KeyId=arn, Plaintext=data_key, EncryptionContext={"purpose": WRAP_CONTEXT.decode()})
        return answer["CiphertextBlob"], arn

    def newest_id(self) -> str:
        return self.current_id()

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

    def rotate(self) -> str:
        """A new KMS key behind the configured alias; returns its ARN."""
        if not self.key_id.startswith("alias/"):
            raise KeyStoreError(f"keys.kms_key_id {self.key_id!r} is a key, not an alias: the project cannot move it "
                                "to a new key, so the old one cannot be retired. Name the KEK by an alias "
                                "(alias/…) pointing at it")
        try:
            new = self.client.create_key(Description="dataflow-governance key-encryption key",
                                         KeyUsage="ENCRYPT_DECRYPT")["KeyMetadata"]
            self.client.update_alias(AliasName=self.key_id, TargetKeyId=new["KeyId"])
        except Exception as exc:
            raise KeyStoreError(f"KMS could not make a new key behind {self.key_id}: {type(exc).__name__}") from None
        if self.book is not None:
            self.book.record(f"kms:{new['Arn']}", "created", {"kek": new["Arn"]})
        return new["Arn"]

    def retire(self, kek_ids: set[str]) -> list[str]:
        """Old KMS keys are scheduled for deletion (the shortest window KMS allows), and recorded."""
        current = self._usable(self.key_id)
        retired = []
        for kek_id in sorted(kek_ids - {current}):
            # (By key id: an ARN's last part; every endpoint takes that form.)
            key = kek_id.rsplit("/", 1)[-1] if kek_id.startswith("arn:") else kek_id
            try:
                answer = self.client.schedule_key_deletion(KeyId=key, PendingWindowInDays=self.PENDING_WINDOW_DAYS)
            except Exception as exc:
                raise KeyStoreError(f"KMS could not schedule the deletion of {kek_id}: {type(exc).__name__}") from None
            when = answer.get("DeletionDate")
            when = when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ") if hasattr(when, "astimezone") else str(when)
            if self.book is not None:
                self.book.record(f"kms:{kek_id}", "retirement_scheduled", {"kek": kek_id, "deletion_date": when})
            retired.append(kek_id)
        return retired

    def retired_at(self, kek_id: str, now: datetime) -> str | None:
        """When KMS deleted (or deletes) the key, once that moment has passed; None before."""
        try:
            meta = self.client.describe_key(KeyId=kek_id)["KeyMetadata"]
        except Exception as exc:
            if "NotFound" in type(exc).__name__ or "NotFound" in str(exc):
                return "before this check (KMS no longer knows the key)"
            raise KeyStoreError(f"KMS key {kek_id} cannot be described: {type(exc).__name__}") from None
        when = meta.get("DeletionDate")
        if meta.get("KeyState") != "PendingDeletion" or when is None:
            return None
        moment = when.astimezone(UTC).replace(tzinfo=None) if hasattr(when, "astimezone") else None
        if moment is None or moment > now:
            return None
        return moment.strftime("%Y-%m-%dT%H:%M:%SZ")

    def deletion_date(self, kek_id: str) -> str | None:
        meta = self._describe(kek_id)
        when = meta.get("DeletionDate")
        return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ") if hasattr(when, "astimezone") else None
