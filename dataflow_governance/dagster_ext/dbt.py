"""dbt projects as governed assets, on dagster-dbt.

A dbt user declares governance where dbt keeps metadata: `config.meta.governance` (or `meta`) on
a model, seed or snapshot, and on each column (`columns[].config.meta.governance`, with the
column's `data_type` as its type). The facts are validated by the same model as the manifest's;
`storage` defaults to the model's relation. Each model's column lineage is traced from the SQL
dbt compiled (in `manifest.json`), with the target's database and schema qualifiers dropped so
that `ref()`s and `source()`s name the same tables as every other asset. From there propagation,
checks, retention and erasure treat a dbt model exactly like a SQL asset.

dbt writes where the project's warehouse is: the plugin writes the dbt profile from the
governance manifest (`<state_dir>/dbt/`), and compiles the project into the same folder when its
files change. On DuckDB the compile runs against a scratch file (compiling needs no data; the
warehouse may be in use) and a build holds the warehouse's file lock exclusively.
"""


import fcntl
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import uuid
import warnings
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from functools import cached_property
from pathlib import Path
from typing import Any

import dagster as dg
import yaml
from dagster_dbt import DagsterDbtTranslator, DagsterDbtTranslatorSettings, DbtCliResource, dbt_assets
from sqlglot import exp, parse_one
from sqlglot.errors import SqlglotError

from dataflow_governance.dagster_ext.governance import DEFAULT_TRANSLATOR, GovernanceTranslator, with_governance
from dataflow_governance.dagster_ext.parts import warehouse_of
from dataflow_governance.dagster_ext.resources import WarehouseResource
from dataflow_governance.dagster_ext.sql_assets import DIALECT_KEY, INPUT_FILES_KEY, SQL_KEY
from dataflow_governance.errors import DbtProjectError
from dataflow_governance.model.manifest import Project
from dataflow_governance.model.spec import AssetGovernance, GovernanceError, build_governance

NORMALIZED_FILE = "dfg_lineage_sql.json"  # beside dbt's manifest.json
SKIPPED_DIRS = {"target", "logs", ".venv", "__pycache__"}  # (installed packages are code: they count)
DIALECTS = {"duckdb": "duckdb", "postgres": "postgres", "redshift": "redshift", "snowflake": "snowflake",
            "bigquery": "bigquery", "databricks": "databricks", "spark": "spark", "trino": "trino"}


def governance_of(props: Mapping[str, Any]) -> dict | None:
    """A dbt node's declared facts: `config.meta.governance` (dbt ≥ 1.10), else `meta.governance`."""
    for meta in ((props.get("config") or {}).get("meta") or {}, props.get("meta") or {}):
        if isinstance(meta, Mapping) and meta.get("governance") is not None:
            return meta["governance"]
    return None


def governed_facts(props: Mapping[str, Any], target_schema: str, defaults: Mapping[str, Any] | None = None) -> dict | None:
    """The node's governance facts over the project's defaults, with its columns' and its relation
    as storage; None when it declares none."""
    node = governance_of(props)
    columns = {}
    for name, column in (props.get("columns") or {}).items():
        facts = governance_of(column)
        if facts is None:
            continue
        if not isinstance(facts, Mapping):
            raise GovernanceError(f"column {name}: meta.governance must be a mapping of column facts")
        columns[name] = {**({"type": column["data_type"]} if column.get("data_type") else {}), **facts}
    if node is None and not columns:
        return None
    if node is not None and not isinstance(node, Mapping):
        raise GovernanceError("meta.governance must be a mapping of governance facts")
    facts = {**(defaults or {}), **(node or {})}
    declared = dict(facts.get("columns") or {})
    twice = sorted(set(declared) & set(columns))
    if twice:
        raise GovernanceError(f"column(s) {', '.join(twice)} declared both on the model and on the column; keep one")
    # Columns without governance still have a type: the schema, and the columns a MERGE may need.
    for name, column in (props.get("columns") or {}).items():
        if name not in columns and name not in declared and column.get("data_type"):
            columns[name] = {"type": column["data_type"]}
    facts["columns"] = {**declared, **columns}
    schema, relation = props.get("schema"), props.get("alias") or props.get("identifier") or props["name"]
    facts.setdefault("storage", {"kind": "warehouse",
                                 "table": relation if schema in (None, target_schema) else f"{schema}.{relation}"})
    return facts


def lineage_sql(compiled: str, dialect: str, target_schema: str) -> str:
    """dbt's compiled SQL with the target's qualifiers dropped: `"db"."main"."orders"` → `orders`,
    the name every other asset's lineage uses. Other schemas stay (`"raw"."orders"` → `raw.orders`)."""
    try:
        tree = parse_one(compiled, dialect=dialect)
    except SqlglotError:
        return compiled  # the lineage step reports it, with the asset's name
    for table in tree.find_all(exp.Table):
        table.set("catalog", None)
        if table.db == target_schema:
            table.set("db", None)
    return tree.sql(dialect=dialect, copy=False)  # the tree is ours: no copy


class GovernedDbtTranslator(DagsterDbtTranslator):
    """dagster-dbt's translator, plus each node's governance, compiled SQL and input files.

    Governance goes in through dagster-dbt's own getters (metadata, tags, owners, description),
    so each model's AssetSpec is built once: building specs is most of a large project's load."""

    def __init__(self, project_dir: Path, target_schema: str, governance_translator: GovernanceTranslator | None = None,
                 settings: DagsterDbtTranslatorSettings | None = None, defaults: Mapping[str, Any] | None = None,
                 normalized_sql: Mapping[str, str] | None = None, adapter: str = "duckdb"):
        super().__init__(settings)
        self.project_dir = project_dir
        self.normalized_sql = dict(normalized_sql or {})  # unique_id → lineage_sql(), computed at compile time
        self.defaults = dict(defaults or {})
        self.target_schema = target_schema
        self.adapter = adapter
        self.governance_translator = governance_translator or DEFAULT_TRANSLATOR
        self._governance: dict[str, AssetGovernance | None] = {}
        self._attributes: dict[str, dict] = {}

    def governance(self, props: Mapping[str, Any]) -> AssetGovernance | None:
        """The node's validated governance (None for undeclared nodes, tests and sources)."""
        uid = props["unique_id"]
        if uid not in self._governance:
            gov = None
            if props.get("resource_type") in ("model", "seed", "snapshot"):
                key = self.get_asset_key(props).to_user_string()
                try:
                    facts = governed_facts(props, self.target_schema, self.defaults)
                    gov = build_governance(key, facts) if facts is not None else None
                except GovernanceError as exc:
                    where = props.get("original_file_path") or uid
                    raise GovernanceError(f"dbt {props['resource_type']} {key} ({where}): {exc}") from None
            self._governance[uid] = gov
        return self._governance[uid]

    def _governed(self, props: Mapping[str, Any]) -> dict | None:
        """Tags, kinds, description and metadata of a governed node: dagster-dbt's, governance merged in."""
        gov = self.governance(props)
        if gov is None:
            return None
        uid = props["unique_id"]
        if uid not in self._attributes:
            self._attributes[uid] = self.governance_translator.attributes(
                gov, tags=super().get_tags(props), kinds={"dbt", self.adapter},
                metadata={**super().get_metadata(props), **self._extra_metadata(props)},
                description=super().get_description(props))
        return self._attributes[uid]

    def _extra_metadata(self, props: Mapping[str, Any]) -> dict[str, Any]:
        where = props.get("original_file_path") or props["unique_id"]
        # The whole project is an input of every model's facts and lineage: dbt_project.yml, sources,
        # schema files, macros, packages (the catalog hashes the folder as one input).
        files = [self.project_dir / where, self.project_dir]
        if props.get("patch_path"):
            files.append(self.project_dir / str(props["patch_path"]).split("://", 1)[-1])
        extra: dict[str, Any] = {INPUT_FILES_KEY: dg.MetadataValue.json(sorted({str(f) for f in files}))}
        if props.get("schema"):  # the relation without the database it was compiled against (a scratch file on DuckDB)
            extra["dagster/table_name"] = f"{props['schema']}.{props.get('alias') or props['name']}"
        if props.get("resource_type") == "model" and props.get("compiled_code"):
            dialect = DIALECTS.get(self.adapter, self.adapter)
            extra[SQL_KEY] = self.normalized_sql.get(props["unique_id"]) or \
                lineage_sql(props["compiled_code"], dialect, self.target_schema)
            extra[DIALECT_KEY] = dialect
        return extra

    def get_metadata(self, props: Mapping[str, Any]) -> Mapping[str, Any]:
        governed = self._governed(props)
        if governed is not None:
            return governed["metadata"]
        base = super().get_metadata(props)
        if props.get("resource_type") in ("model", "seed", "snapshot"):
            return {**base, **self._extra_metadata(props)}
        return base

    def get_tags(self, props: Mapping[str, Any]) -> Mapping[str, str]:
        governed = self._governed(props)
        if governed is None:
            return super().get_tags(props)
        # dagster-dbt sets the kinds dbt and the adapter; governance's own (pii, …) go in as kind tags.
        return {**governed["tags"], **{f"dagster/kind/{k}": "" for k in governed["kinds"] - {"dbt", self.adapter}}}

    def get_description(self, props: Mapping[str, Any]) -> str:
        governed = self._governed(props)
        return super().get_description(props) if governed is None else (governed["description"] or "")

    def get_owners(self, props: Mapping[str, Any]) -> Sequence[str] | None:
        # dagster-dbt passes a group's owners in props here; a declared owner wins over them.
        gov = self.governance(props) if props.get("unique_id") else None
        owners = super().get_owners(props)
        return owners if gov is None else self.governance_translator.get_owners(gov, owners or ())


# --- the project: profile, compile, run -------------------------------------------------------

def _writable(folder: Path) -> Path:
    """The dbt state folder, or — when the state dir cannot be written — a private temporary one,
    so that loading the Definitions still works (as the catalog does, with a warning)."""
    try:
        folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        return folder
    except OSError as exc:
        fallback = Path(tempfile.mkdtemp(prefix="dfg-dbt-"))
        warnings.warn(f"dbt state not written to {folder} ({exc.strerror}); compiling in {fallback}", stacklevel=3)
        return fallback


def dbt_executable() -> str:
    """The dbt installed beside this Python (a virtual environment's), else the one on PATH."""
    beside = Path(sys.executable).with_name("dbt")
    found = str(beside) if beside.exists() else shutil.which("dbt")
    if found is None:
        raise DbtProjectError("dbt is not installed: install the project's `dbt` extra (dbt-core and an adapter)")
    return found


class GovernedDbtProject:
    """A dbt project writing to the governance manifest's warehouse."""

    def __init__(self, project: Project, project_dir: str | os.PathLike):
        self.project = project
        self.project_dir = Path(project_dir).resolve()
        config = self.project_dir / "dbt_project.yml"
        try:
            self.config = yaml.safe_load(config.read_text(encoding="utf-8")) or {}
        except OSError:
            raise DbtProjectError(f"no dbt project at {self.project_dir} (dbt_project.yml is missing)") from None
        if not isinstance(self.config, Mapping) or not self.config.get("name"):
            raise DbtProjectError(f"{config}: not a dbt project file (it names no project)")
        self.state = _writable(self.project.state_dir / "dbt" / str(self.config["name"]))

    @cached_property
    def warehouse(self):
        return warehouse_of(self.project)

    @property
    def profile(self) -> str:
        return str(self.config.get("profile") or self.config["name"])

    @property
    def target_schema(self) -> str:
        return str(self.warehouse.engine.dbt_target()["schema"])

    def profiles_dir(self, purpose: str) -> Path:
        """A profiles.yml for `compile` (a scratch database where the engine has one) or `run`."""
        scratch = self.state / "scratch.duckdb" if purpose == "compile" else None
        target = self.warehouse.engine.dbt_target(scratch)
        folder = self.state / purpose
        folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        text = yaml.safe_dump({self.profile: {"target": "governed", "outputs": {"governed": target}}})
        path = folder / "profiles.yml"
        if not path.exists() or path.read_text(encoding="utf-8") != text:
            fd, tmp = tempfile.mkstemp(dir=folder, prefix=".profiles-")  # owner-only: it may hold a password
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                handle.write(text)
            os.replace(tmp, path)
        return folder

    def _fingerprint(self, profiles: Path) -> str:
        digest = hashlib.sha256()
        for path in sorted(self.project_dir.rglob("*")):
            relative = path.relative_to(self.project_dir)
            if path.is_file() and not SKIPPED_DIRS & set(relative.parts):
                digest.update(relative.as_posix().encode() + b"\0" + path.read_bytes() + b"\0")
        digest.update((profiles / "profiles.yml").read_bytes())
        return digest.hexdigest()

    @contextmanager
    def _compiling(self) -> Iterator[None]:
        """One process at a time compiles or reads the compiled project: a code server and the run
        workers load the Definitions at the same moment."""
        fd = os.open(self.state / "compile.lock", os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)

    def compiled(self) -> tuple[dict, dict[str, str]]:
        """dbt's manifest (compiled again when the project changed) and each model's lineage SQL."""
        with self._compiling():
            path = self._compile_if_stale()
            return json.loads(path.read_text(encoding="utf-8")), self.normalized_sql(path)

    def compiled_manifest(self) -> Path:
        """The path of dbt's manifest.json, compiled again when the project changed."""
        with self._compiling():
            return self._compile_if_stale()

    def _compile_if_stale(self) -> Path:
        profiles = self.profiles_dir("compile")
        target = self.state / "target"
        manifest, stamp = target / "manifest.json", target / "dfg_inputs.sha256"
        fingerprint = self._fingerprint(profiles)
        if manifest.exists() and stamp.exists() and stamp.read_text() == fingerprint:
            return manifest
        command = [dbt_executable(), "compile", "--project-dir", str(self.project_dir),
                   "--profiles-dir", str(profiles), "--target-path", str(target), "--log-path", str(self.state / "logs"),
                   "--no-use-colors", "--quiet"]
        env = {**os.environ, "DBT_SEND_ANONYMOUS_USAGE_STATS": "false"}
        done = subprocess.run(command, capture_output=True, text=True, env=env, timeout=600)
        if done.returncode != 0 or not manifest.exists():
            why = [line for line in (done.stdout + done.stderr).splitlines() if line.strip()][-3:]
            raise DbtProjectError(f"dbt compile of {self.project_dir.name} failed: " + " / ".join(why or ["no output"]))
        self._normalize(manifest)
        stamp.write_text(fingerprint)
        return manifest

    def _normalize(self, manifest: Path) -> None:
        """Each model's SQL as lineage reads it, once per compile rather than at every load."""
        data = json.loads(manifest.read_text(encoding="utf-8"))
        dialect = DIALECTS.get(data.get("metadata", {}).get("adapter_type") or "duckdb", "duckdb")
        normalized = {uid: lineage_sql(node["compiled_code"], dialect, self.target_schema)
                      for uid, node in data.get("nodes", {}).items()
                      if node.get("resource_type") == "model" and node.get("compiled_code")}
        (manifest.parent / NORMALIZED_FILE).write_text(json.dumps(normalized), encoding="utf-8")

    def normalized_sql(self, manifest: Path) -> dict[str, str]:
        try:
            return json.loads((manifest.parent / NORMALIZED_FILE).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return {}  # normalized at load instead

    def cli(self) -> DbtCliResource:
        return DbtCliResource(project_dir=str(self.project_dir), profiles_dir=str(self.profiles_dir("run")),
                              profile=self.profile, target="governed", dbt_executable=dbt_executable())

    def run_target(self, run_id: str) -> Path:
        return self.state / "runs" / f"{run_id}-{uuid.uuid4().hex[:8]}"


def governed_dbt_assets(project: Project, project_dir: str | os.PathLike, *, select: str = "fqn:*",
                        exclude: str | None = None, name: str | None = None, args: Sequence[str] = ("build",),
                        translator: GovernanceTranslator | None = None,
                        settings: DagsterDbtTranslatorSettings | None = None) -> dg.AssetsDefinition:
    """The dbt project's models as governed assets (`@dbt_assets` with the governed translator).
    Materializing runs `dbt <args>` (default `build`: models and their tests) on the project's warehouse."""
    dbt = GovernedDbtProject(project, project_dir)
    # A dict, not a path: dagster-dbt caches manifests by path for the process's lifetime.
    manifest, normalized = dbt.compiled()
    governed = GovernedDbtTranslator(dbt.project_dir, dbt.target_schema, translator, settings, project.defaults,
                                     normalized, manifest.get("metadata", {}).get("adapter_type") or "duckdb")

    @dbt_assets(manifest=manifest, dagster_dbt_translator=governed, select=select, exclude=exclude,
                name=name or f"dbt_{dbt.config['name']}")
    def _dbt(context: dg.AssetExecutionContext, warehouse: WarehouseResource):
        with warehouse.get().engine.external_writer():
            yield from dbt.cli().cli(list(args), context=context, target_path=dbt.run_target(context.run_id)).stream()

    return _dbt


def governed_dbt_sources(project: Project, project_dir: str | os.PathLike,
                         translator: GovernanceTranslator | None = None) -> list[dg.AssetSpec]:
    """The dbt project's sources that declare governance (`meta.governance`, on the table or its
    columns), as governed external assets — for tables loaded outside the project. A source that
    is another asset of the project names it instead (`meta: {dagster: {asset_key: [...]}}`)."""
    dbt = GovernedDbtProject(project, project_dir)
    manifest, _normalized = dbt.compiled()
    keys = DagsterDbtTranslator()
    specs = []
    for props in manifest.get("sources", {}).values():
        key = keys.get_asset_key(props)
        try:
            facts = governed_facts(props, dbt.target_schema, project.defaults)
            if facts is None:
                continue
            gov = build_governance(key.to_user_string(), facts)
        except GovernanceError as exc:
            raise GovernanceError(f"dbt source {props['source_name']}.{props['name']} "
                                  f"({props.get('original_file_path')}): {exc}") from None
        spec = dg.AssetSpec(key, description=props.get("description") or None, kinds={"dbt"},
                            metadata={INPUT_FILES_KEY: dg.MetadataValue.json([str(dbt.project_dir)])})
        specs.append(with_governance(spec, gov, translator))
    return specs
