"""The map beyond the assets: systems, the flows between them, and the controls at each boundary.

A project declares `systems:` (what sits around its assets: browsers, gateways, services, queues,
caches, logs, backups, third-party APIs, webhook sources) and `flows:` (who sends what to whom, by
which protocol, with which controls). The warehouse, the buckets, Delta, the model registry and the
processors it already declares are systems without a declaration (`derived_systems`), so an
existing project gets a map with nothing added. Everything is validated here, and a bad value names
the manifest key it came from.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from dataflow_governance.errors import GovernanceError
from dataflow_governance.model.levels import DEFAULT_LEVELS, LEVELS
from dataflow_governance.model.sagas import Process, Saga
from dataflow_governance.model.spec import REGION, AssetGovernance, Processor, parse_duration_days
from dataflow_governance.model.validation import validated

SystemKind = Literal["person", "client", "gateway", "service", "datastore", "queue", "cache", "log", "backup",
                     "external_api", "webhook_source"]
HOLDING_KINDS = ("datastore", "queue", "cache", "log", "backup")  # the places data rests in
# Zones, from the least trusted: where a system runs decides who can reach it.
DEFAULT_ZONES = {"public": 0, "third_party": 0, "edge": 1, "application": 2, "data": 3}
PLAIN_PROTOCOLS = {"http", "smtp", "ftp", "telnet", "sql", "kafka", "amqp", "hl7", "jdbc", "redis", "grpc"}
ENCRYPTED_PROTOCOLS = {"https", "tls", "mtls", "sftp", "smtps", "ssh", "grpcs", "kafka+tls", "sql+tls", "hl7+tls",
                       "amqps", "rediss", "s3"}


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Controls(_Model):
    """What guards one flow. Absent means not there: a control nobody declared is missing."""

    validation: bool = Field(default=False, description="the receiver validates the payload against a schema")
    authentication: Literal["jwt", "mtls", "service_token", "oauth", "api_key", "password", "none"] = "none"
    authorization: Literal["user_context", "service_only", "none"] = "none"
    encryption_in_transit: bool | None = Field(default=None, description="default: from the protocol")
    audit_log: bool = Field(default=False, description="the caller and the subject of each call are logged")
    rate_limit: bool = False
    signature: bool = Field(default=False, description="webhooks: the sender's signature is verified")
    replay_protection: bool = Field(default=False, description="webhooks: a timestamp or nonce window")
    idempotency: bool = Field(default=False, description="a repeated delivery changes nothing twice")
    scrubbing: bool = Field(default=False, description="logs: personal values are removed before they are written")
    minimization: bool = Field(default=False, description="only the declared fields are sent")
    parameterized: bool = Field(default=False, description="datastores: queries bind values, never splice them")
    least_privilege: bool = Field(default=False, description="datastores: a role that can do only what the flow needs")
    secrets: Literal["vault", "kms", "secrets_manager", "env", "code", "none"] = Field(
        default="none", description="where the credentials of the flow live")


class SystemEncryption(_Model):
    at_rest: str | None = None
    field_level: Literal["kms", "hsm", "local"] | None = Field(
        default=None, description="restricted data is sealed per field, with keys held in a KMS, an HSM or locally")
    key: Literal["primary", "separate"] | None = Field(default=None, description="backups: the key is the primary's or separate")


class System(_Model):
    name: str
    kind: SystemKind
    zone: str
    owner: str | None = None
    region: str | None = Field(default=None, pattern=REGION)
    holds: tuple[str, ...] = Field(default=(), description="assets, or s3://bucket/prefix, the place holds")
    location: str | None = Field(default=None, description="backups: where they are written (s3://bucket/prefix)")
    retention: str | None = Field(default=None, description="logs and backups: how long they are kept")
    encryption: SystemEncryption = SystemEncryption()
    access_audit: bool = Field(default=False, description="every access to the data is audited (who, which subject)")
    access_logged: bool = Field(default=False, description="access is logged")
    components: tuple[str, ...] = ()
    derived: bool = Field(default=False, description="made from the project's other declarations, not declared")

    @field_validator("retention")
    @classmethod
    def _retention(cls, value: str | None) -> str | None:
        if value is not None:
            parse_duration_days(value)
        return value

    @model_validator(mode="after")
    def _backup_has_a_location(self) -> System:
        if self.kind == "backup" and not self.location:
            raise ValueError("a backup must say where it is written (location: s3://bucket/prefix)")
        return self


class Flow(_Model):
    name: str
    source: str = Field(alias="from")
    target: str = Field(alias="to")
    data: tuple[str, ...] = Field(default=(), description="fideslang categories, or asset.column")
    protocol: str = "https"
    controls: Controls = Controls()
    derived: bool = False

    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)

    @property
    def encrypted(self) -> bool:
        if self.controls.encryption_in_transit is not None:
            return self.controls.encryption_in_transit
        return self.protocol.lower() in ENCRYPTED_PROTOCOLS


Level = Literal["public", "internal", "confidential", "restricted"]
ZoneControl = Literal["at_rest", "field_level", "access_audit", "access_logged"]


class Classification(_Model):
    """`levels`: category (or a parent of categories) → level, over the defaults; `zones`: level → the
    controls a place holding data of that level must have, replacing the default list."""

    levels: dict[str, Level] = Field(default_factory=dict)
    zones: dict[Level, tuple[ZoneControl, ...]] = Field(default_factory=dict)

    def mapping(self) -> dict[str, str]:
        return {**DEFAULT_LEVELS, **self.levels}


def build_landscape(systems: Mapping[str, dict], flows: Mapping[str, dict], zones: Mapping[str, int] | None = None,
                    known: Mapping[str, System] | None = None) -> tuple[dict[str, System], dict[str, Flow]]:
    """The declared systems (over the derived ones, `known`, which a declaration may complete) and
    flows, validated; a GovernanceError names the key (`systems.api.zone`, `flows.checkout.to`)."""
    zones = {**DEFAULT_ZONES, **(zones or {})}
    found: dict[str, System] = dict(known or {})
    for name, body in systems.items():
        base = found.get(name)
        # A declaration completes a derived system (the warehouse's encryption), which stays derived.
        raw = {**(base.model_dump() if base else {}), **(body or {}), "name": name}
        found[name] = _validated(System, raw, f"systems.{name}")
        if found[name].zone not in zones:
            raise GovernanceError(f"systems.{name}.zone: unknown zone {found[name].zone!r}; zones: {', '.join(zones)}")
    result: dict[str, Flow] = {}
    for name, body in flows.items():
        flow = _validated(Flow, {**(body or {}), "name": name}, f"flows.{name}")
        for end, system in (("from", flow.source), ("to", flow.target)):
            if system not in found:
                raise GovernanceError(f"flows.{name}.{end}: unknown system {system!r}; systems: {', '.join(sorted(found))}")
        if flow.source == flow.target:
            raise GovernanceError(f"flows.{name}: a flow from {flow.source!r} to itself")
        result[name] = flow
    return found, result


def _validated(model: type[BaseModel], raw: dict, where: str):
    return validated(model, raw, where, {"controls": f"controls: {', '.join(Controls.model_fields)}"})


def check_flow_data(flows: Mapping[str, Flow], governance: Mapping[str, AssetGovernance], where: str = "flows") -> None:
    """Each item a declared flow carries is an asset, an `asset.column` of a declared column, or a
    fideslang category; anything else names the flow and the item."""
    from dataflow_governance.model import taxonomy

    for name, flow in flows.items():
        for item in flow.data:
            asset, _, column = item.partition(".")
            if item in governance or (asset in governance and (not governance[asset].columns or column in governance[asset].columns)):
                continue
            if item not in taxonomy.data_categories():
                near = taxonomy.suggest(item, taxonomy.data_categories() | frozenset(governance))
                raise GovernanceError(f"{where}.{name}.data: {item!r} is no asset, asset.column or fideslang category"
                                      + (f" (did you mean {', '.join(near)}?)" if near else ""))


@dataclass(frozen=True)
class Landscape:
    """Every system and flow of the project, derived and declared; `declared` says whether the
    project declared any (the boundary rules hold a project to what it declared it has)."""

    systems: Mapping[str, System] = field(default_factory=dict)
    flows: Mapping[str, Flow] = field(default_factory=dict)
    zones: Mapping[str, int] = field(default_factory=lambda: dict(DEFAULT_ZONES))
    classification: Classification = field(default_factory=Classification)
    declared: bool = False
    sagas: Mapping[str, Saga] = field(default_factory=dict)  # flows designed to fail (model.sagas)
    processes: Mapping[str, Process] = field(default_factory=dict)  # declared multi-actor flows

    def to_dict(self) -> dict:
        return {"systems": {n: s.model_dump(mode="json", exclude_defaults=True) for n, s in sorted(self.systems.items())},
                "flows": {n: f.model_dump(mode="json", by_alias=True, exclude_defaults=True) for n, f in sorted(self.flows.items())},
                "zones": dict(self.zones), "classification": self.classification.model_dump(mode="json"),
                "declared": self.declared,
                "sagas": {n: s.model_dump(mode="json") for n, s in sorted(self.sagas.items())},
                "processes": {n: p.model_dump(mode="json", by_alias=True) for n, p in sorted(self.processes.items())}}

    @classmethod
    def from_dict(cls, data: Mapping) -> Landscape:
        return cls({n: System.model_validate(s) for n, s in data["systems"].items()},
                   {n: Flow.model_validate(f) for n, f in data["flows"].items()}, dict(data["zones"]),
                   Classification.model_validate(data["classification"]), bool(data["declared"]),
                   {n: Saga.model_validate(s) for n, s in data.get("sagas", {}).items()},
                   {n: Process.model_validate(p) for n, p in data.get("processes", {}).items()})


PIPELINE = "pipeline"  # the data platform itself: Dagster running the project's assets


def derived_systems(governance: Mapping[str, AssetGovernance], processors: Mapping[str, Processor],
                    warehouse_region: str, bucket_regions: Mapping[str, str]) -> dict[str, System]:
    """What a project declares already, as systems: the pipeline, the warehouse, each bucket, Delta,
    the model registry and each processor, each holding the assets stored there."""
    holds: dict[str, list[str]] = {}
    for asset, gov in sorted(governance.items()):
        kind = gov.storage.kind
        place = {"warehouse": "warehouse", "delta": "delta", "model": "model_registry"}.get(kind)
        if kind == "s3" and gov.storage.bucket:
            place = f"bucket:{gov.storage.bucket}"
        if place:
            holds.setdefault(place, []).append(asset)
    def store(name: str, region: str) -> System:
        held = tuple(holds.get(name, ()))
        # Encrypted at rest when every asset it holds says so (the asset's declaration is the evidence).
        at_rest = {governance[a].encryption.at_rest for a in held}
        return System(name=name, kind="datastore", zone="data", region=region, holds=held, derived=True,
                      encryption=SystemEncryption(at_rest=next(iter(at_rest)) if len(at_rest) == 1 else
                                                  ("declared per asset" if held and None not in at_rest else None)))

    systems = {PIPELINE: System(name=PIPELINE, kind="service", zone="application", region=warehouse_region, derived=True),
               "warehouse": store("warehouse", warehouse_region)}
    for bucket, region in sorted(bucket_regions.items()):
        systems[f"bucket:{bucket}"] = store(f"bucket:{bucket}", region)
    for place in ("delta", "model_registry"):
        if holds.get(place):
            systems[place] = store(place, warehouse_region)
    for name, processor in sorted(processors.items()):
        systems[name] = System(name=name, kind="external_api", zone="third_party", region=processor.region, derived=True)
    return systems


def derived_flows(governance: Mapping[str, AssetGovernance], systems: Mapping[str, System]) -> dict[str, Flow]:
    """The pipeline writing each store, and sending each processor what the assets that name it hold."""
    flows: dict[str, Flow] = {}
    for name, system in systems.items():
        if system.derived and system.kind == "datastore" and system.holds:
            protocol = "sql" if name == "warehouse" else "s3" if name.startswith("bucket:") else "file"
            flows[f"{PIPELINE}->{name}"] = Flow.model_validate({"name": f"{PIPELINE}->{name}", "from": PIPELINE, "to": name,
                                                                "protocol": protocol, "data": system.holds, "derived": True})
    for asset, gov in sorted(governance.items()):
        for processor in gov.processors:
            if processor in systems:
                key = f"{asset}->{processor}"
                flows[key] = Flow.model_validate({"name": key, "from": PIPELINE, "to": processor, "data": (asset,), "derived": True,
                                                  "controls": {"encryption_in_transit": bool(gov.encryption.in_transit)}})
    return flows


def check_saga_data(sagas: Mapping[str, Saga], governance: Mapping[str, AssetGovernance]) -> None:
    """Each item a saga's step sends or gets back is an asset, an `asset.column` of a declared
    column, or a fideslang category (as a flow's data is); an error names `sagas.<saga>.steps[i]`."""
    for saga in sagas.values():
        for i, step in enumerate(saga.steps):
            items = (*step.sends, *step.returns)
            if items:
                check_flow_data({f"{saga.name}.steps[{i}]": Flow.model_validate(
                    {"name": step.name, "from": "saga", "to": step.participant, "data": items})}, governance, "sagas")


__all__ = ["HOLDING_KINDS", "LEVELS", "Classification", "Controls", "Flow", "Landscape", "System", "build_landscape",
           "check_flow_data", "check_saga_data",
           "derived_flows", "derived_systems"]
