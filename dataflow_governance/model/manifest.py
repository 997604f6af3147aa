"""`dagster_project.yaml` → a validated `Project`.

The manifest holds what is true of the whole platform (warehouse, buckets and their regions,
MLflow, subjects, processors) and the governance facts of whole groups of assets. Group
`defaults` apply to each asset in the group unless the asset says otherwise. Environment
variables override connection settings so one manifest serves laptop, CI and production.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Annotated, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from dataflow_governance.errors import ManifestError
from dataflow_governance.model import taxonomy
from dataflow_governance.model.paths import StatePaths
from dataflow_governance.model.spec import IDENTIFIER, REGION, AssetGovernance, GovernanceError, Processor, build_governance
from dataflow_governance.model.systems import Classification

DEFAULT_MANIFEST = "dagster_project.yaml"


class _Section(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class WarehouseConfig(_Section):
    kind: str = Field(default="duckdb", description="a registered engine (see `engines`): duckdb, postgres, spark")
    path: str = Field(default="warehouse.duckdb", description="duckdb: the database file; spark without `remote`: "
                      "the local Spark server's directory (default `spark`)")
    dsn: str | None = None
    remote: str | None = Field(default=None, description="spark: a Spark Connect URL, sc://host:port")
    store: str = Field(default="governance.duckdb", description="engines that cannot keep the ledger (spark): the "
                       "DuckDB file of the ledger and the project's other own tables")
    schema_name: str | None = Field(default=None, alias="schema", pattern=IDENTIFIER,
                                    description="a plain identifier (letters, digits, _ and $)")
    region: str = Field(default="eu-central-1", pattern=REGION)


class BucketConfig(_Section):
    region: str = Field(pattern=REGION)
    versioned: bool = False
    object_lock: bool = Field(default=False, description="created with S3 Object Lock (versioned): objects written in "
                              "compliance mode cannot be deleted or overwritten by anyone until their retention ends")


class AnchorsConfig(_Section):
    """Where ledger heads are anchored outside the operator's reach: an S3 bucket with Object Lock,
    each anchor an object in compliance mode."""

    bucket: str
    prefix: str = "ledger-anchors/"
    retain: str = Field(default="7 years", description="how long each anchor object is locked")

    @field_validator("retain")
    @classmethod
    def _duration(cls, value: str) -> str:
        from dataflow_governance.model.spec import parse_duration_days

        if not 1 <= parse_duration_days(value) <= 36500:
            raise ValueError(f"retain {value!r}: from 1 day to 100 years")
        return value


class LedgerConfig(_Section):
    anchors: AnchorsConfig | None = None


def _http_url(value: str | None, what: str) -> str | None:
    from urllib.parse import urlsplit

    if value is None:
        return None
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"{what} {value!r} is not an http(s) URL with a host (e.g. https://s3.amazonaws.com)")
    return value


class ObjectStoreConfig(_Section):
    endpoint_url: str | None = None
    region: str = Field(default="eu-central-1", pattern=REGION)

    @field_validator("endpoint_url")
    @classmethod
    def _url(cls, value: str | None) -> str | None:
        return _http_url(value, "endpoint_url")


class MlflowConfig(_Section):
    tracking_uri: str | None = None
    experiment: str = "deep_water"


class OpenLineageSection(_Section):
    """Emit OpenLineage events for governed materializations (off unless this section is there)."""

    enabled: bool = True
    namespace: str | None = Field(default=None, description="the OpenLineage namespace of jobs (default: the project's name)")
    config: str | None = Field(default=None, description="an openlineage.yml, relative to the manifest; the client's "
                               "own settings (OPENLINEAGE_CONFIG, OPENLINEAGE_URL, OPENLINEAGE__*) win over it")


class BrowserConfig(_Section):
    """Where the lineage browser (`dfg serve`) is reached: the link on each asset's page in Dagster's UI."""

    url: str = Field(default="http://127.0.0.1:3001", pattern=r"^https?://[^\s/?#]+(/[^\s?#]*)?$",
                     description="the browser's base URL, as people reach it (DFG_BROWSER_URL overrides it)")


class KeysConfig(_Section):
    """Where the key-encryption key of the per-subject data keys lives (field-level encryption)."""

    provider: Literal["local", "aws-kms"] = Field(
        default="local", description="local: a KEK file in the state directory; aws-kms: a KMS key")
    kms_key_id: str | None = Field(default=None, description="aws-kms: the KMS key (id, ARN or alias/…)")
    kms_endpoint_url: str | None = Field(default=None, description="aws-kms: another endpoint than AWS's")
    kms_region: str = Field(default="eu-central-1", pattern=REGION)

    @field_validator("kms_endpoint_url")
    @classmethod
    def _url(cls, value: str | None) -> str | None:
        return _http_url(value, "kms_endpoint_url")

    @model_validator(mode="after")
    def _kms_key(self) -> KeysConfig:
        if self.provider == "aws-kms" and not self.kms_key_id:
            raise ValueError("provider aws-kms needs kms_key_id")
        return self


ROLE_NAME = r"^[a-z][a-z0-9_-]{0,31}$"


class ReviewRole(_Section):
    public_keys: tuple[Annotated[str, Field(pattern=r"^ed25519:[A-Za-z0-9+/]{43}=$")], ...] = Field(
        min_length=1, description="the role's reviewers' Ed25519 public keys, 'ed25519:<base64 of 32 bytes>' as "
        "`dfg review keygen` prints them")


class ReviewConfig(_Section):
    """Who signs off a change's data map: a role per sign-off, each with its reviewers' public keys."""

    roles: dict[str, ReviewRole] = Field(default_factory=dict)

    @field_validator("roles")
    @classmethod
    def _names(cls, value: dict[str, ReviewRole]) -> dict[str, ReviewRole]:
        import re

        for name in value:
            if not re.match(ROLE_NAME, name):
                raise ValueError(f"role {name!r}: lower-case letters, digits, _ and - only (at most 32)")
        return value


class SubjectConfig(_Section):
    data_subject: str = "customer"
    identity: str = Field(pattern=r"^[^.\s]+\.[^.\s]+$", description="the asset.column that holds the subject id")
    consents: dict[str, tuple[str, ...]] = Field(
        default_factory=dict, description="consent column of the identity asset → the data uses it covers")

    @field_validator("consents")
    @classmethod
    def _known_uses(cls, value: dict[str, tuple[str, ...]]) -> dict[str, tuple[str, ...]]:
        uses = taxonomy.data_uses()
        for column, covered in value.items():
            for use in covered:
                if use not in uses:
                    hint = taxonomy.suggest(use, uses)
                    raise ValueError(f"consent {column!r}: unknown data use {use!r} (not in the fideslang default taxonomy)"
                                     + (f"; did you mean {', '.join(hint)}?" if hint else ""))
        return value

    @property
    def identity_asset(self) -> str:
        return self.identity.split(".", 1)[0]

    @property
    def identity_column(self) -> str:
        return self.identity.split(".", 1)[1]

    def consents_covering(self, purpose: str) -> list[str]:
        """Consent columns whose data uses include `purpose` or one of its parents (fideslang)."""
        return [column for column, covered in self.consents.items()
                if any(purpose == use or purpose.startswith(use + ".") for use in covered)]


class TenantConfig(_Section):
    region: str = Field(pattern=REGION, description="where this tenant's data must stay (a region code, e.g. eu-central-1)")


class TenancyConfig(_Section):
    tenant: str | None = Field(default=None, pattern=r"^[^.\s]+\.[^.\s]+$",
                               description="the asset.column listing every tenant (the tenant entity)")
    region_column: str | None = Field(default=None, description="column of the tenant asset holding each tenant's region")
    tenants: dict[str, TenantConfig] = Field(default_factory=dict, description="tenant id → its pinning")
    role: str = Field(default="dfg_tenant", pattern=IDENTIFIER,
                      description="the database role row-level isolation confines to one tenant (with isolation: "
                      "role, the prefix of one role per tenant, <role>_<tenant>)")
    isolation: Literal["session", "role"] = Field(
        default="session", description="session: the application sets app.tenant_id (safe only when no "
        "tenant-supplied SQL runs under the role); role: a database role per tenant, which no session can change")
    reporting_role: str = Field(default="dfg_reporting", pattern=IDENTIFIER,
                                description="the role for cross-tenant reports: reads PII-free assets only")

    @property
    def tenant_asset(self) -> str | None:
        return self.tenant.split(".", 1)[0] if self.tenant else None

    @property
    def tenant_column(self) -> str | None:
        return self.tenant.split(".", 1)[1] if self.tenant else None


@dataclass(frozen=True)
class Project:
    name: str
    root: Path
    definitions: str
    state_dir: Path
    output_dir: Path
    warehouse: WarehouseConfig
    object_store: ObjectStoreConfig
    buckets: dict[str, BucketConfig]
    mlflow: MlflowConfig
    subjects: dict[str, SubjectConfig]
    processors: dict[str, Processor]
    governance: dict[str, AssetGovernance] = field(default_factory=dict)
    manifest_path: Path | None = None
    tenancy: TenancyConfig = field(default_factory=TenancyConfig)
    keys: KeysConfig = field(default_factory=KeysConfig)
    openlineage: OpenLineageSection | None = None
    defaults: dict = field(default_factory=dict)  # the project-wide facts; also under dbt's declarations
    review: ReviewConfig = field(default_factory=ReviewConfig)
    ledger: LedgerConfig = field(default_factory=LedgerConfig)
    draft: bool = False  # written by `dfg init --scan` and not reviewed yet
    systems: dict = field(default_factory=dict)  # `systems:` as declared (validated; see model.systems)
    flows: dict = field(default_factory=dict)  # `flows:` as declared
    sagas: dict = field(default_factory=dict)  # `sagas:` as declared (validated; see model.sagas)
    processes: dict = field(default_factory=dict)  # `processes:` as declared
    zones: dict[str, int] = field(default_factory=dict)  # zones beyond the defaults, with their trust (0 = none)
    classification: Classification = field(default_factory=Classification)
    browser: BrowserConfig = field(default_factory=BrowserConfig)

    @property
    def paths(self) -> StatePaths:
        """The state and output folders, and what lives in them."""
        return StatePaths(self.state_dir, self.output_dir)

    @property
    def identities(self) -> frozenset[str]:
        """`asset.column` of each subject kind's identity column."""
        return frozenset(s.identity for s in self.subjects.values())

    @property
    def warehouse_path(self) -> Path:
        return self._in_state(self.warehouse.path)

    def _in_state(self, path: str) -> Path:
        return Path(path) if Path(path).is_absolute() else self.state_dir / path

    @property
    def store_path(self) -> Path:
        return self._in_state(self.warehouse.store)

    @property
    def people(self) -> tuple[str, ...]:
        """The kinds of data subject (and the subjects' names): actors of a process that are no system."""
        return tuple(sorted({*self.subjects, *(s.data_subject for s in self.subjects.values())}))

    @property
    def mlflow_tracking_uri(self) -> str:
        return self.mlflow.tracking_uri or f"sqlite:///{self.state_dir / 'mlflow.db'}"


# libyaml's parser where PyYAML was built with it (reading the manifest is on every command's path).
_SafeLoader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class _StrictLoader(_SafeLoader):  # type: ignore[valid-type,misc]
    """Safe YAML where a key given twice is an error: silently letting the last one win hides a
    governance fact someone wrote down."""


def _mapping_without_duplicates(loader: _StrictLoader, node: yaml.MappingNode, deep: bool = False) -> dict:
    seen: set = set()
    for key_node, _value in node.value:
        key = loader.construct_object(key_node, deep=deep)
        if key in seen:
            mark = key_node.start_mark
            raise yaml.constructor.ConstructorError(None, None, f"duplicate key {key!r}", mark)
        seen.add(key)
    return loader.construct_mapping(node, deep=deep)


_StrictLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _mapping_without_duplicates)


def _yaml_problem(exc: yaml.YAMLError) -> str:
    mark = getattr(exc, "problem_mark", None)
    where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
    return where + (getattr(exc, "problem", None) or type(exc).__name__)


def load_project(path: str | os.PathLike | None = None) -> Project:
    manifest_path = Path(path or DEFAULT_MANIFEST).resolve()
    if manifest_path.is_dir():
        manifest_path = manifest_path / DEFAULT_MANIFEST  # --project may name the project's folder
    if not manifest_path.is_file():
        raise ManifestError(f"{manifest_path.name}: no such manifest (looked at {manifest_path}); pass --project PATH")
    from dataflow_governance.local.files import FileProblem, read_bounded

    try:
        text = read_bounded(manifest_path, "manifest", MANIFEST_LIMIT).decode("utf-8")
        raw = yaml.load(text, Loader=_StrictLoader) or {}
    except FileProblem as exc:
        raise ManifestError(str(exc)) from None
    except UnicodeDecodeError:
        raise ManifestError(f"{manifest_path.name}: not a text file (expected UTF-8 YAML)") from None
    except yaml.YAMLError as exc:
        if "maximum nesting depth" in str(exc):  # (libyaml's own limit; the Python parser recurses instead)
            raise ManifestError(f"{manifest_path.name}: nested too deeply to be a manifest") from None
        raise ManifestError(f"{manifest_path.name}: not valid YAML: {_yaml_problem(exc)}") from None
    except RecursionError:
        raise ManifestError(f"{manifest_path.name}: nested too deeply to be a manifest") from None
    if not isinstance(raw, dict):
        raise ManifestError(f"{manifest_path.name}: the top level must be a mapping")
    if _expanded_size(raw, MANIFEST_VALUES) > MANIFEST_VALUES:
        raise ManifestError(f"{manifest_path.name}: expands to more than {MANIFEST_VALUES:,} values (YAML aliases "
                            "that repeat each other?); a manifest is refused rather than expanded")
    return _build(manifest_path, raw)


MANIFEST_LIMIT = 10 << 20  # bytes
MANIFEST_VALUES = 1_000_000  # values once YAML aliases are expanded


def _expanded_size(value, limit: int, memo: dict | None = None) -> int:
    """How many values the document holds with every alias expanded, counted without expanding
    (an alias is the same object as its anchor: its size is counted once and reused)."""
    memo = {} if memo is None else memo
    if id(value) in memo:
        return memo[id(value)]
    size = 1
    if isinstance(value, dict):
        items = [*value.keys(), *value.values()]
    elif isinstance(value, list):
        items = value
    else:
        items = []
    for item in items:
        size += _expanded_size(item, limit, memo)
        if size > limit:
            break
    memo[id(value)] = size
    return size


def _mapping(raw: dict, field_name: str, manifest: Path) -> dict:
    """A section that must be a mapping (or absent)."""
    value = raw.get(field_name)
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise ManifestError(f"{manifest.name}: {field_name}: must be a mapping of name → settings, "
                            f"not {type(value).__name__}")
    for name, body in value.items():
        if body is not None and not isinstance(body, dict):
            raise ManifestError(f"{manifest.name}: {field_name}.{name}: must be a mapping, not {type(body).__name__}")
    return value


def _folder(raw: dict, field_name: str, default: str, root: Path, manifest: Path) -> Path:
    value = raw.get(field_name, default)
    if not isinstance(value, str) or not value.strip():
        raise ManifestError(f"{manifest.name}: {field_name}: must be a folder path (text), got {value!r}")
    path = (root / value).resolve()
    if path.exists() and not path.is_dir():
        raise ManifestError(f"{manifest.name}: {field_name}: {path} exists and is not a folder")
    return path


def _spark_defaults(warehouse: WarehouseConfig, raw: dict) -> WarehouseConfig:
    """Spark's connection is `remote` (kept as the engine's dsn); its local server's directory is `spark`."""
    if warehouse.kind != "spark":
        if warehouse.remote:
            raise ManifestError(f"warehouse: `remote` is for kind spark, not {warehouse.kind}")
        return warehouse
    update = {"dsn": warehouse.remote or warehouse.dsn}
    if "path" not in raw:
        update["path"] = "spark"
    return warehouse.model_copy(update=update)


def _section(model: type[BaseModel], raw, where: str, manifest: Path):
    try:
        return model.model_validate(raw or {})
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or '(section)'}: {e['msg'].removeprefix('Value error, ')}"
            for e in exc.errors()
        )
        raise ManifestError(f"{manifest.name}: {where}: {problems}") from None


def _build(manifest: Path, raw: dict) -> Project:
    known = {"project", "definitions", "state_dir", "output_dir", "warehouse", "object_store", "buckets",
             "mlflow", "subjects", "processors", "defaults", "groups", "tenancy", "keys", "openlineage", "review",
             "ledger", "draft", "systems", "flows", "zones", "classification", "browser", "sagas",
             "processes"}
    unknown = sorted(set(raw) - known)
    if unknown:
        raise ManifestError(f"{manifest.name}: unknown top-level field(s) {', '.join(unknown)}; allowed: {', '.join(sorted(known))}")
    root = manifest.parent
    sections = {name: _mapping(raw, name, manifest) for name in ("buckets", "subjects", "processors", "groups", "systems",
                                                                   "flows", "sagas", "processes")}
    if raw.get("defaults") is not None and not isinstance(raw["defaults"], dict):
        raise ManifestError(f"{manifest.name}: defaults: must be a mapping of governance facts")
    if not isinstance(raw.get("draft", False), bool):
        raise ManifestError(f"{manifest.name}: draft: must be true or false")
    state_dir = _folder(raw, "state_dir", ".dfg", root, manifest)
    if os.environ.get("DFG_STATE_DIR"):  # e.g. the throwaway state of a revision `dfg diff` builds
        state_dir = _folder({"state_dir": os.environ["DFG_STATE_DIR"]}, "state_dir", ".dfg", root, manifest)
    warehouse_raw = raw.get("warehouse") or {}
    if not isinstance(warehouse_raw, dict):
        raise ManifestError(f"{manifest.name}: warehouse: must be a mapping")
    # Environment overrides are validated exactly like the manifest's own values.
    if os.environ.get("DFG_WAREHOUSE_DSN"):
        warehouse_raw = {**warehouse_raw, "kind": "postgres", "dsn": os.environ["DFG_WAREHOUSE_DSN"]}
    if os.environ.get("DFG_SPARK_REMOTE"):
        warehouse_raw = {**warehouse_raw, "kind": "spark", "remote": os.environ["DFG_SPARK_REMOTE"]}
    if os.environ.get("DFG_WAREHOUSE_SCHEMA"):
        warehouse_raw = {**warehouse_raw, "schema": os.environ["DFG_WAREHOUSE_SCHEMA"]}
    warehouse = _section(WarehouseConfig, warehouse_raw, "warehouse (with DFG_WAREHOUSE_* overrides)", manifest)
    warehouse = _spark_defaults(warehouse, warehouse_raw)
    object_store_raw = raw.get("object_store") or {}
    if os.environ.get("DFG_S3_ENDPOINT_URL"):  # validated like the manifest's own value
        object_store_raw = {**(object_store_raw if isinstance(object_store_raw, dict) else {}),
                            "endpoint_url": os.environ["DFG_S3_ENDPOINT_URL"]}
    object_store = _section(ObjectStoreConfig, object_store_raw, "object_store (with DFG_S3_ENDPOINT_URL)", manifest)
    mlflow = _section(MlflowConfig, raw.get("mlflow"), "mlflow", manifest)
    browser_raw = raw.get("browser") or {}
    if os.environ.get("DFG_BROWSER_URL"):  # validated like the manifest's own value
        browser_raw = {**(browser_raw if isinstance(browser_raw, dict) else {}), "url": os.environ["DFG_BROWSER_URL"]}
    if os.environ.get("MLFLOW_TRACKING_URI"):
        mlflow = mlflow.model_copy(update={"tracking_uri": os.environ["MLFLOW_TRACKING_URI"]})
    buckets = {name: _section(BucketConfig, cfg, f"buckets.{name}", manifest) for name, cfg in sections["buckets"].items()}
    subjects = {name: _section(SubjectConfig, cfg, f"subjects.{name}", manifest) for name, cfg in sections["subjects"].items()}
    processors = {
        name: _section(Processor, {**(cfg or {}), "name": name}, f"processors.{name}", manifest)
        for name, cfg in sections["processors"].items()
    }
    project = Project(
        name=str(raw.get("project", root.name)),
        root=root,
        definitions=str(raw.get("definitions", "")),
        state_dir=state_dir,
        output_dir=_folder(raw, "output_dir", "out", root, manifest),
        warehouse=warehouse,
        object_store=object_store,
        buckets=buckets,
        mlflow=mlflow,
        subjects=subjects,
        processors=processors,
        manifest_path=manifest,
        tenancy=_section(TenancyConfig, raw.get("tenancy"), "tenancy", manifest),
        keys=_section(KeysConfig, raw.get("keys"), "keys", manifest),
        review=_section(ReviewConfig, raw.get("review"), "review", manifest),
        ledger=_section(LedgerConfig, raw.get("ledger"), "ledger", manifest),
        openlineage=_section(OpenLineageSection, raw["openlineage"] or {}, "openlineage", manifest)
        if "openlineage" in raw else None,
        defaults=dict(raw.get("defaults") or {}),
        draft=bool(raw.get("draft", False)),
        systems=sections["systems"],
        flows=sections["flows"],
        sagas=sections["sagas"],
        processes=sections["processes"],
        zones=_zones(raw, manifest),
        classification=_section(Classification, raw.get("classification"), "classification", manifest),
        browser=_section(BrowserConfig, browser_raw, "browser (with DFG_BROWSER_URL)", manifest),
    )
    _check_landscape(project, manifest)
    anchors = project.ledger.anchors
    if anchors is not None and not (anchors.bucket in buckets and buckets[anchors.bucket].object_lock):
        raise ManifestError(f"{manifest.name}: ledger.anchors.bucket: {anchors.bucket!r} must be a bucket declared under "
                            "buckets: with `object_lock: true` (an anchor the operator can delete anchors nothing)")
    governance = _group_governance(manifest, raw, buckets)
    try:
        check_processor_references(governance, processors)
    except GovernanceError as exc:
        raise ManifestError(f"{manifest.name}: {exc}") from None
    return replace(project, governance=governance)


def _zones(raw: dict, manifest: Path) -> dict[str, int]:
    zones = raw.get("zones") or {}
    if not isinstance(zones, dict) or not all(isinstance(k, str) and isinstance(v, int) and 0 <= v <= 9
                                              and not isinstance(v, bool) for k, v in zones.items()):
        raise ManifestError(f"{manifest.name}: zones: a mapping of zone name → its trust, 0 (none, like public) to 9")
    return dict(zones)


def _check_landscape(project: Project, manifest: Path) -> None:
    """The declared systems and flows, validated against the systems the project has already (its
    warehouse, buckets, processors, Delta and model registry)."""
    if not (project.systems or project.flows or project.sagas or project.processes):
        return
    from dataflow_governance.model.sagas import build_processes, build_sagas
    from dataflow_governance.model.systems import System, build_landscape, derived_systems

    known = derived_systems({}, project.processors, project.warehouse.region,
                            {b: c.region for b, c in project.buckets.items()})
    known |= {name: System(name=name, kind="datastore", zone="data", derived=True) for name in ("delta", "model_registry")}
    try:
        systems, _flows = build_landscape(project.systems, project.flows, project.zones, known)
        build_sagas(project.sagas, systems)  # (their assets are checked once the Definitions declare them all)
        build_processes(project.processes, systems, people=project.people)
    except GovernanceError as exc:
        raise ManifestError(f"{manifest.name}: {exc}") from None


def _group_governance(manifest: Path, raw: dict, buckets: dict[str, BucketConfig]) -> dict[str, AssetGovernance]:
    project_defaults = raw.get("defaults") or {}
    governance: dict[str, AssetGovernance] = {}
    for group, body in (raw.get("groups") or {}).items():
        body = body or {}
        for part in ("defaults", "assets"):
            if body.get(part) is not None and not isinstance(body[part], dict):
                raise ManifestError(f"{manifest.name}: groups.{group}.{part}: must be a mapping")
        defaults = {**project_defaults, **(body.get("defaults") or {})}
        for asset, facts in (body.get("assets") or {}).items():
            if facts is not None and not isinstance(facts, dict):
                raise ManifestError(f"{manifest.name}: groups.{group}.assets.{asset}: must be a mapping of facts")
            if asset in governance:
                raise ManifestError(f"{manifest.name}: asset {asset!r} is declared in two groups")
            merged = {**defaults, **(facts or {}), "group": group}
            storage = merged.get("storage") or {}
            # An S3 asset lives where its bucket lives unless it says otherwise.
            if storage.get("kind") == "s3" and storage.get("bucket") in buckets and "region" not in (facts or {}):
                merged["region"] = buckets[storage["bucket"]].region
            try:
                governance[asset] = build_governance(asset, merged)
            except GovernanceError as exc:
                raise ManifestError(f"{manifest.name}: group {group!r}: {exc}") from None
    return governance


def check_processor_references(governance: dict[str, AssetGovernance], processors: dict[str, Processor]) -> None:
    """Processors named by Python-declared assets must exist in the manifest too."""
    for asset, facts in governance.items():
        for name in facts.processors:
            if name not in processors:
                raise GovernanceError(
                    f"asset {asset!r}, field processors: unknown processor {name!r}; "
                    f"declared processors: {', '.join(processors) or '(none)'}"
                )
