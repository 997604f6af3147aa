"""Secret keys for keyed hashing (pseudonyms, subject ids in the ledger): from env, never in code.

`DFG_<NAME>_KEY` wins (hex or text); otherwise a random key is made once and kept, readable by
the owner only, in the project's state directory, so hashes stay stable across runs.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
from pathlib import Path


def project_key(state_dir: Path, name: str) -> bytes:
    from_env = os.environ.get(f"DFG_{name.upper()}_KEY")
    if from_env:
        return from_env.encode()
    path = Path(state_dir) / "keys" / f"{name}.key"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        # Created owner-only (never readable for a moment), then linked into place only if no other
        # process made the key first: every process ends up with the same key.
        tmp = path.with_name(f"{name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(secrets.token_hex(32))
            handle.flush()
            os.fsync(handle.fileno())
        try:
            os.link(tmp, path)
        except FileExistsError:
            pass
        finally:
            tmp.unlink()
    return path.read_text().strip().encode()


def keyed_hash(key: bytes, value: object, length: int = 32) -> str:
    """HMAC-SHA256 of the value's text, hex, truncated to `length` characters."""
    return hmac.new(key, str(value).encode(), hashlib.sha256).hexdigest()[:length]


def subject_hash(state_dir: Path, subject_id: object) -> str:
    """How a subject appears in the ledger, reports, certificates and dataset membership indexes."""
    return keyed_hash(project_key(state_dir, "subject"), subject_id)
