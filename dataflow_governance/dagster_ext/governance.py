"""Governance facts on Dagster assets: metadata, tags, owners, kinds and column schema, as a
`GovernanceTranslator` renders them.

The full validated model travels in the `dataflow_governance/spec` metadata entry, so the CLI and
checks read back exactly what was declared, whether in Python (`governed_asset`,
`governed_spec`) or in `dagster_project.yaml` (`apply_manifest_governance`).
"""

from __future__ import annotations

import inspect
import json
from collections.abc import Iterable, Mapping
from typing import Any, cast

import dagster as dg

from dataflow_governance.model import taxonomy
from dataflow_governance.model.levels import DEFAULT_LEVELS, data_level, highest
from dataflow_governance.model.spec import AssetGovernance, GovernanceError, build_governance

SPEC_KEY = "dataflow_governance/spec"
DECLARED_KEY = "dataflow_governance/declared"  # governance declared in Python, as written: defaults go under it
GOVERNANCE_KEY = "governance"  # the readable summary


def _tag_value(text: str) -> str:
    # Dagster tag values: [A-Za-z0-9_.-], at most 63 characters.
    return "".join(ch if ch.isalnum() or ch in "_.-" else "_" for ch in text)[:63]


def flag_tags(**flags: bool) -> dict[str, str]:
    """Column tags for the flags that are set: `identity`, `pseudonymized`, `anonymous`, …"""
    return {name: "true" for name, on in flags.items() if on}


# Models validated in this process, by the canonical JSON they were written as: reading a spec
# back costs a lookup instead of a second validation (JSON from elsewhere is validated).
_VALIDATED: dict[str, AssetGovernance] = {}


def _canonical(data: Mapping[str, Any]) -> str:
    return json.dumps(data, sort_keys=True, separators=(",", ":"))


class GovernanceTranslator:
    """How governance facts appear on a Dagster asset: tags, metadata, owners, kinds, description
    and column schema. Subclass and override any `get_*` (as with dagster-dbt's translator) and
    pass the instance to `governed_definitions`, `governed_asset`, `governed_spec` or `sql_asset`.
    The `dataflow_governance/spec` metadata entry is not the translator's: the catalog and the
    checks read the model back from it.

    `warehouse_kind` (`duckdb`, `postgres`, `spark`; `governed_definitions` passes the manifest's) is
    the kind shown for an asset stored as a warehouse table; `levels` (category → classification
    level, the manifest's `classification.levels` over the defaults) classifies assets and columns.
    """

    def __init__(self, warehouse_kind: str | None = None, levels: Mapping[str, str] | None = None):
        self.warehouse_kind = warehouse_kind
        self.levels = dict(levels or DEFAULT_LEVELS)

    def level(self, categories, declared: str | None = None, anonymous: bool = False) -> str:
        """The classification level of data of these categories (public, internal, confidential, restricted)."""
        return data_level(categories, declared if declared != "internal" else None, self.levels, anonymous)

    def get_tags(self, gov: AssetGovernance) -> dict[str, str]:
        """Filterable tags: the asset catalog can be filtered by pii, region, legal basis, category."""
        tags = {"pii": "true" if gov.is_personal else "false",
                "classification": self.level([*gov.all_categories, *(c for s in gov.columns.values() for c in s.categories)],
                                             highest(s.sensitivity for s in gov.columns.values()) if gov.columns else None,
                                             anonymous=gov.pii_free)}
        if gov.pii_free:
            tags["pii_free"] = "true"
        if gov.region:
            tags["region"] = _tag_value(gov.region)
            tags["jurisdiction"] = taxonomy.jurisdiction(gov.region)
        if gov.legal_basis:
            tags["legal_basis"] = gov.legal_basis
        for category in gov.all_categories:
            tags[f"category/{category}"] = ""
        for purpose in gov.purposes:
            tags[f"purpose/{purpose}"] = ""
        if gov.retention:
            tags["retention_days"] = str(gov.retention.keep_days)
        if gov.tenant_scoped:
            tags["tenant_scoped"] = "true"
            tags["tenant_strategy"] = gov.tenant_strategy or "row"
        if gov.immutable:
            tags["immutable"] = "true"
        for regime in gov.regime:
            tags[f"regime/{regime}"] = ""
        if gov.tokenized:
            tags["tokenized"] = "true"
        return tags

    def get_column_schema(self, gov: AssetGovernance, types: Mapping[str, str] | None = None) -> dg.TableSchema | None:
        """Declared columns (with their category and sensitivity tags) as Dagster's column schema."""
        names = list(types or {}) or list(gov.columns)
        if not names:
            return None
        columns = []
        for name in names:
            spec = gov.columns.get(name)
            tags: dict[str, str] = {}
            if spec is not None:
                for category in spec.categories:
                    tags[f"category/{category}"] = ""
                tags["sensitivity"] = spec.sensitivity
                tags["level"] = self.level(spec.categories, spec.sensitivity, spec.anonymized)
                tags.update(flag_tags(identity=spec.identity, pseudonymized=spec.pseudonymized, anonymized=spec.anonymized,
                                      tenant=name == gov.tenant_key))
                if spec.encryption:
                    tags["encryption"] = spec.encryption
                if spec.card_data:
                    tags["card_data"] = spec.card_data
            kind = (types or {}).get(name) or (spec.type if spec and spec.type else "unknown")
            columns.append(dg.TableColumn(name, str(kind).lower(), description=spec.description if spec else None, tags=tags))
        return dg.TableSchema(columns=columns)

    def get_metadata(self, gov: AssetGovernance) -> dict[str, Any]:
        """The facts an auditor asks about, as one readable table on the asset page (one entry, not a
        dozen: each metadata entry costs every Definitions load), and the declared column schema."""
        meta: dict[str, Any] = {GOVERNANCE_KEY: dg.MetadataValue.md(self.summary(gov))}
        schema = self.get_column_schema(gov)
        if schema is not None:
            meta["dagster/column_schema"] = schema
        return meta

    def summary(self, gov: AssetGovernance) -> str:
        """Markdown: fact | value, for the facts the asset declares."""
        rows = [
            ("legal basis", gov.legal_basis and f"{gov.legal_basis} ({gov.legal_basis_article})"),
            ("Art. 9 condition", gov.art9_condition and f"{gov.art9_condition} ({taxonomy.ART9_CONDITIONS[gov.art9_condition]})"),
            ("purposes", ", ".join(gov.purposes)),
            ("data subjects", ", ".join(gov.data_subjects)),
            ("data categories", ", ".join(gov.all_categories)),
            ("personal data", "no (declared pii_free)" if gov.pii_free else "yes" if gov.is_personal else "no"),
            ("region", gov.region),
            ("retention", gov.retention.describe() if gov.retention else "none declared"),
            ("processors", ", ".join(gov.processors)),
            ("encryption", f"at rest: {gov.encryption.at_rest or 'none'}; in transit: {gov.encryption.in_transit or 'none'}"
             + (f"; sealed per subject: {', '.join(gov.subject_encrypted)}" if gov.subject_encrypted else "")),
            ("immutable", gov.immutable and "yes: erased by destroying each subject's key"),
            ("regimes", ", ".join(r.upper() for r in gov.regime)),
            ("tokenization", gov.tokenized and "card numbers are replaced by tokens here (the PCI DSS boundary)"),
            ("anonymization", gov.anonymization),
            ("tenancy", gov.tenant_scoped and f"{gov.tenant_strategy or 'row'} strategy"
             + (f", tenant column {gov.tenant_key}" if gov.tenant_key else "")),
        ]
        return "| fact | value |\n|---|---|\n" + "\n".join(f"| {name} | {value} |" for name, value in rows if value)

    def get_kinds(self, gov: AssetGovernance, kinds: Iterable[str]) -> set[str]:
        table = gov.storage.kind == "warehouse" and bool(gov.storage.table or gov.columns)
        storage_kind = {"s3": "s3", "model": "mlflow", "delta": "delta"}.get(gov.storage.kind) or \
            (self.warehouse_kind if table else None)
        found = set(kinds)
        if storage_kind:
            found.add(storage_kind)
        if gov.is_personal:
            found.add("pii")
        return set(sorted(found)[:3])  # Dagster shows at most three kinds

    def get_owners(self, gov: AssetGovernance, owners: Iterable[str]) -> list[str]:
        return [gov.owner] if gov.owner else list(owners)

    def get_description(self, gov: AssetGovernance, description: str | None) -> str | None:
        """The asset's own description (docstring) and the manifest's, both kept when they differ."""
        parts = [text.strip() for text in (gov.description, description) if text and text.strip()]
        return "\n\n".join(dict.fromkeys(parts)) or None

    def attributes(self, gov: AssetGovernance, *, owners=(), tags=None, kinds=(), metadata=None,
                   description=None) -> dict:
        """Owners, tags, kinds, description and metadata of an asset, with its governance merged in."""
        data = gov.model_dump(mode="json", exclude_defaults=True)
        _VALIDATED[_canonical(data)] = gov
        return {
            "owners": self.get_owners(gov, owners or ()),
            "tags": {**(tags or {}), **self.get_tags(gov)},
            "kinds": self.get_kinds(gov, kinds or ()),
            "description": self.get_description(gov, description),
            "metadata": {**(metadata or {}), **self.get_metadata(gov), SPEC_KEY: dg.MetadataValue.json(data)},
        }


DEFAULT_TRANSLATOR = GovernanceTranslator()
governance_tags = DEFAULT_TRANSLATOR.get_tags
column_schema = DEFAULT_TRANSLATOR.get_column_schema


def governance_metadata(gov: AssetGovernance) -> dict[str, Any]:
    """The metadata the default translator attaches, the model included."""
    return DEFAULT_TRANSLATOR.attributes(gov)["metadata"]


def governance_attributes(gov: AssetGovernance, *, translator: GovernanceTranslator | None = None,
                          declared: bool = False, **given) -> dict:
    """`declared`: governance written in Python next to the asset, which `governed_definitions` later
    puts the manifest's defaults under (what was written, explicit nulls included, is kept)."""
    attributes = (translator or DEFAULT_TRANSLATOR).attributes(gov, **given)
    if declared:
        attributes["metadata"][DECLARED_KEY] = dg.MetadataValue.json(
            gov.model_dump(mode="json", exclude_unset=True, exclude={"asset"}))
    return attributes


def with_governance(spec: dg.AssetSpec, gov: AssetGovernance, translator: GovernanceTranslator | None = None) -> dg.AssetSpec:
    return spec.replace_attributes(**governance_attributes(
        gov, translator=translator, owners=spec.owners, tags=spec.tags, kinds=spec.kinds, metadata=spec.metadata,
        description=spec.description,
    ))


def governed_spec(key: str, governance: Mapping[str, Any] | AssetGovernance, *,
                  translator: GovernanceTranslator | None = None, **spec_kwargs) -> dg.AssetSpec:
    """An AssetSpec carrying validated governance (for assets materialized elsewhere)."""
    gov = governance if isinstance(governance, AssetGovernance) else build_governance(key, dict(governance))
    spec = dg.AssetSpec(key, **spec_kwargs)
    return spec.replace_attributes(**governance_attributes(
        gov, translator=translator, declared=True, owners=spec.owners, tags=spec.tags, kinds=spec.kinds,
        metadata=spec.metadata, description=spec.description))


def governed_asset(*, governance: Mapping[str, Any] | AssetGovernance, translator: GovernanceTranslator | None = None,
                   **asset_kwargs):
    """`@dg.asset` with governance declared next to the code; validation happens at import time."""

    def decorate(fn) -> dg.AssetsDefinition:
        key = _decorated_key(fn, asset_kwargs).to_user_string()
        gov = governance if isinstance(governance, AssetGovernance) else build_governance(key, dict(governance))
        attributes = governance_attributes(
            gov, translator=translator, declared=True, owners=asset_kwargs.pop("owners", None),
            tags=asset_kwargs.pop("tags", None),
            kinds=asset_kwargs.pop("kinds", None), metadata=asset_kwargs.pop("metadata", None),
            description=asset_kwargs.pop("description", None) or inspect.cleandoc(fn.__doc__ or ""),
        )
        # Passed straight to @asset: building the definition once is what keeps load time flat.
        return dg.asset(**asset_kwargs, **attributes)(fn)

    return decorate


def _decorated_key(fn, asset_kwargs: Mapping[str, Any]) -> dg.AssetKey:
    if asset_kwargs.get("key") is not None:
        return dg.AssetKey.from_coercible(asset_kwargs["key"])
    prefix = asset_kwargs.get("key_prefix") or []
    prefix = [prefix] if isinstance(prefix, str) else list(prefix)
    return dg.AssetKey([*prefix, asset_kwargs.get("name") or fn.__name__])


def apply_manifest_governance(assets: Iterable, governance: Mapping[str, AssetGovernance],
                              translator: GovernanceTranslator | None = None) -> list:
    """Attach the manifest's facts to the assets they name; a fact declared twice is an error."""
    assets = list(assets)
    declared = {spec.key.to_user_string() for spec in _specs(assets)}
    unknown = sorted(set(governance) - declared)
    if unknown:
        raise GovernanceError(
            f"dagster_project.yaml declares governance for asset(s) {', '.join(unknown)} that the "
            f"project does not define; defined assets: {', '.join(sorted(declared))}"
        )

    def attach(spec: dg.AssetSpec) -> dg.AssetSpec:
        key = spec.key.to_user_string()
        if key not in governance:
            return spec
        if SPEC_KEY in spec.metadata:
            raise GovernanceError(f"asset {key!r} declares governance both in Python and in dagster_project.yaml; keep one")
        return with_governance(spec, governance[key], translator)

    return list(dg.map_asset_specs(attach, assets))


def with_project_defaults(facts: Mapping[str, Any], defaults: Mapping[str, Any], buckets: Mapping[str, Any]) -> dict:
    """An asset's declared facts over the manifest's `defaults`, as the manifest's own groups get
    them; an S3 asset lives where its bucket lives unless it says otherwise."""
    merged = {**defaults, **facts}
    storage = merged.get("storage") or {}
    bucket = storage.get("bucket") if isinstance(storage, Mapping) else None
    if storage.get("kind") == "s3" and bucket in buckets and "region" not in facts:
        merged["region"] = getattr(buckets[bucket], "region", merged.get("region"))
    return merged


def apply_project_defaults(assets: Iterable, defaults: Mapping[str, Any], buckets: Mapping[str, Any],
                           translator: GovernanceTranslator | None = None) -> list:
    """Governance declared in Python (`governed_asset`, `governed_spec`, `sql_asset`) validated again
    over the manifest's `defaults`: the same asset declared in the manifest or in code ends with
    the same facts (data subjects, region, encryption, owner)."""
    assets = list(assets)
    if not defaults and not buckets:
        return assets

    def attach(spec: dg.AssetSpec) -> dg.AssetSpec:
        raw = spec.metadata.get(DECLARED_KEY)
        if raw is None:  # (the manifest's and dbt's governance has its defaults already)
            return spec
        declared = dict(raw.value if isinstance(raw, dg.JsonMetadataValue) else raw)
        key = spec.key.to_user_string()
        old = read_governance([spec])[key]
        gov = build_governance(key, with_project_defaults(declared, defaults, buckets))
        metadata = {k: v for k, v in spec.metadata.items() if k != DECLARED_KEY}
        if gov == old:
            return spec.replace_attributes(metadata=metadata)
        # The code's own description, without the governance's that was merged into it.
        own = (spec.description or "").removeprefix(old.description).strip() or None
        return spec.replace_attributes(**governance_attributes(
            gov, translator=translator, owners=spec.owners, tags=spec.tags, kinds=spec.kinds, metadata=metadata,
            description=own))

    return list(dg.map_asset_specs(attach, assets))


def _specs(assets: Iterable) -> Iterable[dg.AssetSpec]:
    for item in assets:
        if isinstance(item, dg.AssetSpec):
            yield item
        elif isinstance(item, dg.AssetsDefinition):
            yield from item.specs


def read_governance(specs: Iterable[dg.AssetSpec]) -> dict[str, AssetGovernance]:
    """The validated model of every governed asset, read back from its metadata."""
    result = {}
    for spec in specs:
        raw = spec.metadata.get(SPEC_KEY)
        if raw is None:
            continue
        value = raw.value if isinstance(raw, dg.JsonMetadataValue) else raw
        known = _VALIDATED.get(_canonical(cast(Mapping[str, Any], value)))
        if known is not None:
            result[spec.key.to_user_string()] = known
        else:
            data = dict(value)
            result[spec.key.to_user_string()] = build_governance(data.pop("asset"), data)
    return result


def upstream_graph(specs: Iterable[dg.AssetSpec]) -> dict[str, frozenset[str]]:
    return {spec.key.to_user_string(): frozenset(d.asset_key.to_user_string() for d in spec.deps) for spec in specs}
