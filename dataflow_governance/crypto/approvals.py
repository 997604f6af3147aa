"""Signed approvals of a data map: Ed25519 (from the `cryptography` library), one key pair per
reviewer, the public keys declared per role in the manifest (`review.roles.<role>.public_keys`).

An approval signs the exact fingerprint of the catalog it approves, with its role and commit, so a
ledger entry naming a role proves nothing unless its signature verifies with a key declared for
that role: whoever can write the ledger can no longer approve as the DPO.
"""

from __future__ import annotations

import base64
import os
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from dataflow_governance.errors import SigningError

PUBLIC_PREFIX = "ed25519:"


def message(fingerprint: str, role: str, commit: str) -> bytes:
    """What an approval signs: the catalog's fingerprint, the role and the commit, nothing else."""
    return f"dataflow-governance approval v1\ncatalog:{fingerprint}\nrole:{role}\ncommit:{commit}\n".encode()


def public_text(key: Ed25519PublicKey) -> str:
    raw = key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return PUBLIC_PREFIX + base64.b64encode(raw).decode()


def load_public(text: str) -> Ed25519PublicKey:
    """`ed25519:<base64 of the 32-byte key>`, as `dfg review keygen` prints it."""
    if not isinstance(text, str) or not text.startswith(PUBLIC_PREFIX):
        raise SigningError(f"a public key must read 'ed25519:<base64>' (as `dfg review keygen` prints it), "
                           f"not {str(text)[:24]!r}")
    try:
        raw = base64.b64decode(text[len(PUBLIC_PREFIX):], validate=True)
        return Ed25519PublicKey.from_public_bytes(raw)
    except ValueError:
        raise SigningError("a public key is not 32 bytes of base64 after 'ed25519:'") from None


def generate(path: Path) -> str:
    """A new key pair: the private key written to `path` (PEM, owner-only; an existing file is never
    replaced), the public key returned as the manifest declares it."""
    private = Ed25519PrivateKey.generate()
    pem = private.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        raise SigningError(f"{path} exists: a key file is never replaced") from None
    with os.fdopen(fd, "wb") as handle:
        handle.write(pem)
    return public_text(private.public_key())


def load_private(path: Path) -> Ed25519PrivateKey:
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise SigningError(f"cannot read the signing key {path}: {exc.strerror}") from None
    try:
        key = serialization.load_pem_private_key(data, password=None)
    except (ValueError, TypeError):
        raise SigningError(f"{path} is not an unencrypted PEM private key") from None
    if not isinstance(key, Ed25519PrivateKey):
        raise SigningError(f"{path} is not an Ed25519 key (make one with `dfg review keygen`)")
    return key


def sign(key: Ed25519PrivateKey, payload: bytes) -> str:
    return base64.b64encode(key.sign(payload)).decode()


def verifies(public: str, payload: bytes, signature: str) -> bool:
    try:
        load_public(public).verify(base64.b64decode(signature, validate=True), payload)
        return True
    except (SigningError, InvalidSignature, ValueError, TypeError):
        return False
