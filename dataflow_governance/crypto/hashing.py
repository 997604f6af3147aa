"""Key material on disk and keyed hashing: the primitives under the keyring (`crypto.keyring`).

A key file is written owner-only from its first byte and linked into place only if no other
process made it first, so every process ends up with the same key. A key is never trusted for
being there: `read_key_file` says whether it is missing, empty or cut short, and `fingerprint`
gives what the ledger records of a key without revealing it.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
from pathlib import Path

_FINGERPRINT_MESSAGE = b"dataflow-governance key fingerprint v1"


def keyed_hash(key: bytes, value: object, length: int = 32) -> str:
    """HMAC-SHA256 of the value's text, hex, truncated to `length` characters."""
    return hmac.new(key, str(value).encode(), hashlib.sha256).hexdigest()[:length]


def fingerprint(key: bytes) -> str:
    """A keyed hash of a fixed message under the key: equal for the same key, and telling nothing
    of it (it is what the ledger records when a key is made, and what every use is checked against)."""
    return hmac.new(key, _FINGERPRINT_MESSAGE, hashlib.sha256).hexdigest()[:32]


def create_key_file(path: Path, content: bytes) -> bool:
    """Write `content` to `path` owner-only, unless a file is there already (another process made it
    first: its key wins). Returns whether this call made the file."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    tmp = path.with_name(f"{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(content)
        handle.flush()
        os.fsync(handle.fileno())
    try:
        os.link(tmp, path)
        return True
    except FileExistsError:
        return False
    finally:
        tmp.unlink()


def destroy_key_file(path: Path) -> None:
    """Overwrite the key's bytes, then remove the file. (On copy-on-write file systems and SSDs the
    old blocks may survive the overwrite: what makes a destroyed key useless is that no backup of
    the key folder is kept — see the README's key handling.)"""
    try:
        size = path.stat().st_size
        with open(path, "r+b") as handle:
            handle.write(b"\0" * size)
            handle.flush()
            os.fsync(handle.fileno())
    except FileNotFoundError:
        return
    path.unlink(missing_ok=True)


def read_key_file(path: Path, expected: int, hex_text: bool) -> tuple[bytes | None, str]:
    """(the key, "ok") or (None, what is wrong: missing, empty, truncated, malformed).

    `hex_text`: the file holds `expected` hex digits (the key is that text); otherwise `expected`
    raw bytes."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return None, "missing"
    except OSError:
        return None, "unreadable"
    if hex_text:
        raw = raw.strip()
    if not raw:
        return None, "empty"
    if hex_text and any(c not in b"0123456789abcdef" for c in raw):
        return None, "malformed"
    if len(raw) < expected:
        return None, "truncated"
    if len(raw) > expected:
        return None, "malformed"
    return raw, "ok"
