"""Credentials in code, found by a maintained secret detector (detect-secrets, the `review` extra):
which file, which line, which kind of secret — never the secret."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path


class SecretScanUnavailable(RuntimeError):
    """detect-secrets is not installed: the scan was not run (and is never reported as clean)."""


@dataclass(frozen=True, order=True)
class SecretFound:
    path: str  # relative to the scanned root
    line: int
    kind: str  # the detector's name: "AWS Access Key", "Secret Keyword", …

    def to_dict(self) -> dict:
        return {"path": self.path, "line": self.line, "kind": self.kind}


def scan_for_secrets(root: Path, files: Iterable[str]) -> list[SecretFound]:
    """Every secret detect-secrets finds in `files` (paths relative to `root`; missing ones skipped)."""
    try:
        from detect_secrets import SecretsCollection
        from detect_secrets.settings import default_settings
    except ImportError:
        raise SecretScanUnavailable("the secret scan needs detect-secrets: pip install 'dataflow-governance[review]'") from None
    found: set[SecretFound] = set()
    with default_settings():
        collection = SecretsCollection(root=str(root))
        for name in files:
            if (root / name).is_file():
                collection.scan_file(str(root / name))
        for filename, secret in collection:
            found.add(SecretFound(str(Path(filename).relative_to(root)) if Path(filename).is_absolute() else filename,
                                  int(secret.line_number or 0), secret.type))
    return sorted(found)
