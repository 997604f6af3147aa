"""The governance catalog: one JSON file with everything the project declares and derives.

Like dbt's `target/manifest.json`, it is written when the project's Definitions load (and by
`dfg catalog build`) and read by every command that needs the whole picture, so those commands
need neither Dagster nor the project's asset modules. Other tools may read it too; the format is
documented in the README ("The governance catalog").

It holds, per governed asset: the validated governance facts, the assets it reads, its SQL and
dialect (for SQL assets), its column lineage and each column's propagated classification; plus
the manifest's processors, and a fingerprint of every input it was built from (the manifest, the
asset modules, the SQL files, the plugin version). A catalog whose inputs changed is stale.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import re
import sys
import tempfile
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dataflow_governance.errors import CatalogError, UnauthenticCatalog
from dataflow_governance.model.spec import AssetGovernance, Processor, build_governance

if TYPE_CHECKING:
    from dataflow_governance.lineage.graph import ColumnGraph, SqlDefinition
    from dataflow_governance.model.manifest import TenancyConfig
    from dataflow_governance.model.systems import Landscape
    from dataflow_governance.policy.context import PolicyContext

FORMAT_VERSION = 2  # 2: the landscape (systems and flows)


@dataclass(frozen=True)
class Origin:
    """What a catalog is built from besides the assets: the project's name and folder, its manifest
    (an input), and the project-wide declarations the catalog carries.

    Args:
        project: the project's name.
        root: the project's folder (input files are named relative to it).
        manifest: the manifest file, hashed as an input (None: no manifest).
        processors: the manifest's processors.
        tenancy: the manifest's tenancy section.
    """

    project: str
    root: Path
    manifest: Path | None = None
    processors: Mapping[str, Processor] = field(default_factory=dict)
    tenancy: TenancyConfig | None = None
    landscape: Landscape | None = None


@dataclass(frozen=True)
class Catalog:
    """The project's governed assets, their lineage and classification, and the processors."""

    project: str
    governance: Mapping[str, AssetGovernance]
    upstream: Mapping[str, frozenset[str]]
    processors: Mapping[str, Processor]
    graph: ColumnGraph
    inputs: Mapping[str, str]  # input file (relative to the project root) → its sha256
    fingerprint: str
    generated_at: str = ""
    tenancy: TenancyConfig | None = None
    landscape: Landscape | None = None

    @cached_property
    def context(self) -> PolicyContext:
        from dataflow_governance.policy.context import PolicyContext

        return PolicyContext(governance=self.governance, upstream=self.upstream, processors=self.processors,
                             tenancy=self.tenancy, graph=self.graph, landscape=self.landscape)

    def to_dict(self) -> dict:
        assets = {}
        for key in sorted(set(self.governance) | set(self.upstream)):
            gov = self.governance.get(key)
            definition = self.graph.sql.get(key)
            entry: dict[str, Any] = {
                "governance": gov.model_dump(mode="json", exclude_defaults=True, exclude={"asset"}) if gov else None,
                "upstream": sorted(self.upstream.get(key, ())),
                "sql": {"text": definition.sql, "dialect": definition.dialect} if definition else None,
            }
            if key in self.graph.lineage:
                entry["lineage"] = self.graph.lineage[key].to_dict()
            if key in self.graph.errors:
                entry["lineage_error"] = self.graph.errors[key]
            columns = self.graph.columns_of(key)
            if columns:
                entry["columns"] = {name: _class_dict(cls) for name, cls in columns.items()}
            assets[key] = entry
        body = {"processors": {name: p.model_dump(mode="json") for name, p in sorted(self.processors.items())},
                "tenancy": self.tenancy.model_dump(mode="json") if self.tenancy else None,
                "landscape": self.landscape.to_dict() if self.landscape else None,
                "assets": assets}
        return {
            "dfg_catalog_version": FORMAT_VERSION,
            "project": self.project,
            "generated_at": self.generated_at,
            "fingerprint": self.fingerprint,
            "content_sha256": content_hash(body),
            "inputs": dict(sorted(self.inputs.items())),
            **body,
        }

    @classmethod
    def from_dict(cls, data: dict) -> Catalog:
        from dataflow_governance.lineage.graph import ColumnGraph, SqlDefinition
        from dataflow_governance.lineage.statements import StatementLineage

        if data.get("dfg_catalog_version") != FORMAT_VERSION:
            raise CatalogError(f"catalog format {data.get('dfg_catalog_version')!r} is not {FORMAT_VERSION}: "
                               "run `dfg catalog build`")
        if data.get("content_sha256") != content_hash({k: data.get(k) for k in ("processors", "tenancy", "landscape", "assets")}):
            # Edited by hand or damaged: a plan built from it could miss a place that holds personal data.
            raise CatalogError("the governance catalog's content does not match its checksum (edited or damaged); "
                               "it is built from the manifest and the code, never edited: run `dfg catalog build`")
        graph = ColumnGraph()
        governance, upstream = {}, {}
        for key, entry in data["assets"].items():
            if entry.get("governance") is not None:
                governance[key] = build_governance(key, entry["governance"])
            upstream[key] = frozenset(entry["upstream"])
            if entry.get("sql"):
                graph.sql[key] = SqlDefinition(key, entry["sql"]["text"], entry["sql"]["dialect"])
            if "lineage" in entry:
                graph.lineage[key] = StatementLineage.from_dict(entry["lineage"])
            if "lineage_error" in entry:
                graph.errors[key] = entry["lineage_error"]
            for name, value in entry.get("columns", {}).items():
                graph.classes[(key, name)] = _class_from(value)
        processors = {name: Processor.model_validate(p) for name, p in data["processors"].items()}
        from dataflow_governance.model.manifest import TenancyConfig
        from dataflow_governance.model.systems import Landscape

        tenancy = TenancyConfig.model_validate(data["tenancy"]) if data.get("tenancy") else None
        landscape = Landscape.from_dict(data["landscape"]) if data.get("landscape") else None
        return cls(data["project"], governance, upstream, processors, graph, data["inputs"], data["fingerprint"],
                   data.get("generated_at", ""), tenancy, landscape)


def content_hash(body: dict) -> str:
    return hashlib.sha256(json.dumps(body, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


MAC_FIELDS = ("dfg_catalog_version", "project", "fingerprint", "content_sha256", "inputs")


def mac_of(data: dict, key: bytes) -> str:
    """HMAC-SHA256 over the catalog's identity: its format, project, fingerprint, inputs and the hash
    of its content. A plain checksum can be recomputed by whoever edits the file; this cannot be
    without the project's key."""
    text = json.dumps({k: data.get(k) for k in MAC_FIELDS}, sort_keys=True, separators=(",", ":"))
    return hmac.new(key, text.encode(), hashlib.sha256).hexdigest()


def _class_dict(cls) -> dict:
    out = {"categories": sorted(cls.categories), "personal": cls.personal, "subject_linked": cls.subject_linked,
           "pseudonymized": cls.pseudonymized, "anonymous": cls.anonymous}
    if cls.derived_from:
        out["derived_from"] = [{"asset": d.asset, **d.source.to_dict()} for d in cls.derived_from]
    return out


def _class_from(value: dict):
    from dataflow_governance.lineage.graph import ColumnClass, Derivation
    from dataflow_governance.lineage.statements import DirectSource

    derived = [Derivation(d["asset"], d["column"], DirectSource(**{k: v for k, v in d.items() if k != "asset"}))
               for d in value.get("derived_from", ())]
    return ColumnClass(set(value["categories"]), value["subject_linked"], value["pseudonymized"], value["anonymous"],
                       derived)


# --- building -----------------------------------------------------------------------------------

def build(origin: Origin, governance: Mapping[str, AssetGovernance], upstream: Mapping[str, frozenset[str]],
          sql: Iterable[SqlDefinition], source_files: Iterable[Path] = ()) -> Catalog:
    """Trace the SQL, propagate classifications, fingerprint the inputs: what any producer calls.

    Args:
        origin: the project's name, folder, manifest and project-wide declarations.
        governance: asset → its validated governance.
        upstream: asset → the assets it reads.
        sql: the SQL assets' definitions, traced for column lineage.
        source_files: the files the assets were read from (hashed as inputs).
    """
    from dataflow_governance.lineage.graph import build_column_graph

    return assemble(origin, governance, upstream, build_column_graph(governance, sql, upstream), source_files)


def assemble(origin: Origin, governance: Mapping[str, AssetGovernance], upstream: Mapping[str, frozenset[str]],
             graph: ColumnGraph, source_files: Iterable[Path] = ()) -> Catalog:
    """A catalog of an already traced graph (the Dagster producer traced it to build the Definitions)."""
    inputs = input_hashes(origin, source_files)
    return Catalog(origin.project, dict(governance), dict(upstream), dict(origin.processors), graph, inputs,
                   fingerprint_of(inputs), datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"), origin.tenancy,
                   origin.landscape)


def written_fingerprint(path: Path) -> str | None:
    """The fingerprint of the catalog file at `path`, read from its head without parsing it all."""
    try:
        with open(path, encoding="utf-8") as handle:
            head = handle.read(4096)
    except OSError:
        return None
    found = re.search(r'"fingerprint":\s*"(sha256:[0-9a-f]{64})"', head)
    return found.group(1) if found else None


def project_modules(root: Path) -> list[Path]:
    """The Python files of every module imported from under the project root (the asset modules,
    the project's resources): what a Definitions load just read, outside installed packages."""
    root = Path(root).resolve()
    found = set()
    for module in list(sys.modules.values()):
        file = getattr(module, "__file__", None)
        if not file:
            continue
        path = Path(file).resolve()
        if path.is_relative_to(root) and "site-packages" not in path.parts and not any(
                part.startswith(".") for part in path.relative_to(root).parts):
            found.add(path)
    return sorted(found)


def input_hashes(origin: Origin, files: Iterable[Path]) -> dict[str, str]:
    """sha256 of the manifest and each input file, keyed by its path relative to the project root."""
    root = Path(origin.root).resolve()
    paths = {Path(origin.manifest).resolve()} if origin.manifest else set()
    paths |= {Path(f).resolve() for f in files}
    hashes = {}
    for path in sorted(paths):
        name = path.relative_to(root).as_posix() if path.is_relative_to(root) else str(path)
        hashes[name + ("/" if path.is_dir() else "")] = _file_hash(path)
    return hashes


# What a folder input (a dbt project) holds that is not an input: build output, logs, caches.
_NOT_INPUTS = {"target", "logs", "__pycache__", ".git"}


def _file_hash(path: Path) -> str:
    """sha256 of a file's bytes; of a folder (a dbt project: dbt_project.yml, sources, schema files,
    profiles, packages and the installed packages' code), of every file's relative path and bytes."""
    try:
        if path.is_dir():
            digest = hashlib.sha256()
            for item in sorted(path.rglob("*")):
                relative = item.relative_to(path)
                if item.is_file() and not _NOT_INPUTS & set(relative.parts) and not any(
                        part.startswith(".") for part in relative.parts):
                    digest.update(relative.as_posix().encode() + b"\0" + item.read_bytes() + b"\0")
            return digest.hexdigest()
        return hashlib.sha256(path.read_bytes()).hexdigest()
    except OSError:
        return "missing"


def fingerprint_of(inputs: Mapping[str, str]) -> str:
    from dataflow_governance import __version__

    text = json.dumps({"format": FORMAT_VERSION, "plugin": __version__, "inputs": dict(sorted(inputs.items()))},
                      sort_keys=True)
    return "sha256:" + hashlib.sha256(text.encode()).hexdigest()


def changed_inputs(origin: Origin, catalog: Catalog) -> list[str]:
    """Inputs whose content differs from when the catalog was built (the manifest included)."""
    root = Path(origin.root).resolve()
    current = input_hashes(origin, ())
    changed = [name for name, digest in current.items() if catalog.inputs.get(name) != digest]
    for name, digest in catalog.inputs.items():
        if name not in current:
            path = Path(name.rstrip("/")) if Path(name).is_absolute() else root / name.rstrip("/")
            if _file_hash(path) != digest:
                changed.append(name)
    return sorted(changed)


# --- the file -------------------------------------------------------------------------------------

def write(catalog: Catalog, path: Path, mac_key: bytes | None = None) -> Path:
    """Atomically (temporary file, rename): concurrent Definitions loads never leave half a file.
    With `mac_key`, the file carries a MAC (`mac`) that readers holding the key check."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    data = catalog.to_dict()
    if mac_key is not None:
        data["mac"] = mac_of(data, mac_key)
    text = json.dumps(data, indent=1, sort_keys=False, ensure_ascii=False)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".catalog-", suffix=".json")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def read(path: Path, mac_key: bytes | None = None) -> Catalog:
    """The catalog at `path`; with `mac_key`, only if its MAC says it was written with that key."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise CatalogError(f"no governance catalog at {path}: run `dfg catalog build`") from None
    except (OSError, ValueError) as exc:
        raise CatalogError(f"governance catalog {path} cannot be read ({type(exc).__name__}): "
                           "run `dfg catalog build`") from None
    if mac_key is not None and not (isinstance(data, dict) and isinstance(data.get("mac"), str)
                                    and hmac.compare_digest(data["mac"], mac_of(data, mac_key))):
        raise UnauthenticCatalog(f"governance catalog {path} is not authentic (its MAC is "
                                 f"{'wrong' if isinstance(data, dict) and data.get('mac') else 'missing'}): it is "
                                 "built from the manifest and the code, never edited; run `dfg catalog build`")
    try:
        return Catalog.from_dict(data)
    except (KeyError, TypeError, AttributeError, ValueError) as exc:
        raise CatalogError(f"governance catalog {path} is malformed ({type(exc).__name__}: {str(exc).splitlines()[0]}): "
                           "run `dfg catalog build`") from None
