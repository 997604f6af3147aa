"""What every command shares: the error it raises, output, argument parsing helpers, and the
project's governance catalog (loaded from its file, or rebuilt from the Definitions)."""

from __future__ import annotations

import argparse
import importlib
import json
import sys
import traceback
from datetime import UTC
from pathlib import Path
from typing import TYPE_CHECKING

from dataflow_governance.errors import CliError, DfgError

if TYPE_CHECKING:
    from dataflow_governance.catalog.artifact import Catalog
    from dataflow_governance.model.manifest import Project
    from dataflow_governance.policy.context import PolicyContext


def emit(args, payload: dict, text: str) -> None:
    """The command's answer: JSON with --json, else the rendered text."""
    print(json.dumps(payload, indent=2, default=str) if args.json else text)


def read_text(path: str, what: str, limit: int = 10 << 20) -> str:
    """A regular file's UTF-8 text, at most `limit` bytes (never a device, FIFO or folder)."""
    from dataflow_governance.local.files import read_text_bounded

    return read_text_bounded(path, what, limit)


def utc_time(text: str | None, flag: str) -> str | None:
    """An ISO 8601 time as the ledger writes it (UTC, seconds), from 1900 to 9999; garbage is an
    error, not 'no entries'."""
    from datetime import datetime

    if text is None:
        return None
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
        if moment.tzinfo is not None:
            moment = moment.astimezone(UTC).replace(tzinfo=None)
    except ValueError:
        raise CliError(f"{flag} {text!r}: expected an ISO 8601 time such as 2026-01-31 or 2026-01-31T12:00:00Z") from None
    except OverflowError:
        raise CliError(f"{flag} {text!r}: outside the range of dates this can compare (1900 to 9999)") from None
    if moment.year < 1900:
        raise CliError(f"{flag} {text!r}: before 1900, outside the range of dates this compares")
    return moment.isoformat(timespec="seconds")


def positive(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"expected a positive whole number, got {text!r}")
    return int(text)


def uses_s3(ctx: PolicyContext) -> bool:
    return any(g.storage.kind == "s3" for g in ctx.governance.values())


# --- the project's Definitions and catalog ------------------------------------------------------

def load_definitions(project: Project):
    """Import the project's Definitions (`module:attribute` in the manifest) from the project root."""
    if not project.definitions or ":" not in project.definitions:
        raise CliError(f"the manifest's `definitions` must be 'module:attribute' (got {project.definitions!r})")
    return import_definitions(project.root, project.definitions, "the manifest's definitions module")


def import_definitions(root: Path, reference: str, what: str = "the definitions module"):
    """`module:attribute` imported with `root` on the path; every failure a CliError naming the file and line."""
    module_name, attribute = reference.split(":", 1)
    if str(root) not in sys.path:
        sys.path.insert(0, str(root))
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name and module_name.startswith(exc.name):
            raise CliError(f"{what} {module_name!r} was not found under {root}") from None
        raise CliError(f"loading the Definitions ({reference}) failed: {_located(exc, root)}") from None
    except DfgError:
        raise
    except Exception as exc:
        raise CliError(f"loading the Definitions ({reference}) failed: {_located(exc, root)}; "
                       f"`dagster definitions validate -m {module_name}` shows the traceback") from None
    try:
        return getattr(module, attribute)
    except AttributeError:
        raise CliError(f"module {module_name!r} has no attribute {attribute!r}") from None


def _located(exc: BaseException, root: Path) -> str:
    """The exception's type and first line, and the project file and line it came from."""
    from dataflow_governance.storage.warehouse import first_line_redacted

    root = Path(root).resolve()
    if isinstance(exc, SyntaxError) and exc.filename:
        places = [(exc.filename, exc.lineno)]
    else:
        frames = [(f.filename, f.lineno) for f in traceback.extract_tb(exc.__traceback__)]
        places = [p for p in frames if Path(p[0]).resolve().is_relative_to(root)] or frames
    text = f"{type(exc).__name__}: {first_line_redacted(exc)}"
    if not places:
        return text
    file, line = Path(places[-1][0]).resolve(), places[-1][1]
    return f"{text} ({file.relative_to(root) if file.is_relative_to(root) else file.name}, line {line})"


def build_catalog(project: Project) -> Catalog:
    """Load the project's Definitions (Dagster is the catalog's producer here) and write the catalog."""
    from dataflow_governance.dagster_ext import policy_context, write_catalog

    specs = list(load_definitions(project).resolve_all_asset_specs())
    return write_catalog(project, specs, policy_context(specs, project), force=True)


def catalog_key(project: Project, checked: bool) -> bytes | None:
    """The key of the catalog's MAC: checked against the ledger's fingerprint (for commands that
    change or export data), or as it is on disk (for the others; None before the project has one)."""
    from dataflow_governance.crypto.keyring import peek_derived

    if checked:
        from dataflow_governance.dagster_ext.parts import keyring_of

        return keyring_of(project).derived("catalog")
    return peek_derived(project.state_dir, "catalog")


def project_catalog(project: Project, checked: bool = False) -> Catalog:
    """The governance catalog; rebuilt (with a note on stderr) when missing, when an input changed,
    or when it is not authentic (its MAC does not verify with the project's key: edited by hand).
    `checked`: the key is checked against its fingerprint in the ledger first (commands that change
    or export data may not rest on a catalog the key on disk vouches for, if the key was swapped)."""
    from dataflow_governance.catalog import artifact as catalog
    from dataflow_governance.dagster_ext.parts import origin_of

    path = project.paths.catalog
    key = catalog_key(project, checked)
    if not path.exists():  # a first run: built quietly, as any later Definitions load would
        return build_catalog(project)
    try:
        current = catalog.read(path, key)
        changed = catalog.changed_inputs(origin_of(project), current)
        if not changed:
            return current
        reason = f"stale ({', '.join(changed[:3])}{' …' if len(changed) > 3 else ''} changed)"
    except catalog.UnauthenticCatalog:
        reason = "not authentic (its MAC does not verify: edited, or written without the project's key)"
    except catalog.CatalogError as exc:
        reason = f"unreadable ({str(exc).split(' (')[0]})"
    print(f"governance catalog {reason}: rebuilding it from the Definitions", file=sys.stderr)
    return build_catalog(project)


def policy(project: Project, checked: bool = False) -> PolicyContext:
    return project_catalog(project, checked).context
