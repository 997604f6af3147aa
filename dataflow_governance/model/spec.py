"""The governance model: what the platform declares about each asset and each column.

Plain pydantic over plain data, no Dagster. Whether facts are written in Python next to an asset
or in `dagster_project.yaml`, they are validated here into the same frozen objects, and a bad
value is a `GovernanceError` that names the asset, the field and what is allowed.
"""

from __future__ import annotations

import re
from functools import cache, cached_property
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from dataflow_governance.errors import GovernanceError
from dataflow_governance.model import taxonomy
from dataflow_governance.model.conditions import ConditionError, check_condition


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


_DURATION_UNITS = {"d": 1, "day": 1, "w": 7, "week": 7, "m": 30, "month": 30, "y": 365, "year": 365}
_SHORT = re.compile(r"^\s*(\d+)\s*(d|w|m|y|days?|weeks?|months?|years?)\s*$", re.IGNORECASE)
_ISO = re.compile(r"^P(?:(\d+)Y)?(?:(\d+)M)?(?:(\d+)W)?(?:(\d+)D)?$", re.IGNORECASE)


@cache  # the same few durations, parsed for every asset at each load
def parse_duration_days(text: str) -> int:
    """`30d`, `18 months`, `7 years` or ISO 8601 `P2Y6M` → days (a month is 30, a year 365)."""
    match = _SHORT.match(str(text)) if len(str(text)) <= 40 else None
    if match:
        unit = match.group(2).lower().rstrip("s") if len(match.group(2)) > 1 else match.group(2).lower()
        return _bounded(text, int(match.group(1)) * _DURATION_UNITS[unit])
    iso = _ISO.match(str(text).strip()) if len(str(text)) <= 40 else None
    if iso and any(iso.groups()):
        years, months, weeks, days = (int(g or 0) for g in iso.groups())
        return _bounded(text, years * 365 + months * 30 + weeks * 7 + days)
    raise ValueError(
        f"retention duration {text!r} is not a duration; write e.g. '30 days', '18 months', "
        "'7 years', '90d' or ISO 8601 'P2Y'"
    )


MAX_DURATION_DAYS = 1000 * 365  # past this no date arithmetic is meaningful (nor possible before year 1)


def _bounded(text: str, days: int) -> int:
    if days > MAX_DURATION_DAYS:
        raise ValueError(f"duration {text!r} is longer than 1000 years")
    return days


# What the project accepts as a schema or role name from configuration: it is still quoted by the generator.
IDENTIFIER = r"^[A-Za-z_][A-Za-z0-9_$]{0,62}$"


# A region as clouds name them (eu-central-1, us-east-1, europe-west1): lower-case words and digits
# joined by hyphens. It names buckets and folders and appears in reports: nothing else gets through.
REGION = r"^[a-z]{2,}[a-z0-9]*(-[a-z0-9]+){0,4}$"


# PCI DSS card data elements: the PAN (and what stands in for it) and sensitive authentication data,
# which must never be stored after authorization (PCI DSS 3.3.1): CVV2/CVC2, full track, PIN block.
CardData = Literal["pan", "truncated", "token", "brand", "expiry", "cardholder_name", "cvv", "track", "pin"]
SENSITIVE_AUTHENTICATION: frozenset[str] = frozenset({"cvv", "track", "pin"})
Regime = Literal["gdpr", "hipaa", "pci"]

AnonymizeMethod = Literal["nullify", "hash", "generalize_date", "generalize_ip", "generalize_postcode"]


class LegalHold(_Model):
    """Rows a retention rule or an erasure must keep (e.g. invoices kept 7 years for tax law)."""

    name: str
    reason: str
    keep: str = Field(description="how long the held rows are kept, e.g. '7 years'")
    where: str | None = Field(default=None, description="SQL condition selecting held rows; all rows if omitted")
    anonymize: dict[str, AnonymizeMethod] = Field(default_factory=dict)

    @field_validator("keep")
    @classmethod
    def _duration(cls, value: str) -> str:
        if parse_duration_days(value) <= 0:
            raise ValueError(f"legal hold keep {value!r} is zero: a hold that keeps nothing is no hold")
        return value

    @field_validator("where")
    @classmethod
    def _condition(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                check_condition(value, None)
            except ConditionError as exc:
                raise ValueError(f"legal hold where: {exc}") from None
        return value

    @property
    def keep_days(self) -> int:
        return parse_duration_days(self.keep)


class Retention(_Model):
    keep: str = Field(description="how long data is kept, e.g. '2 years'; zero only with `allow_zero: true`")
    allow_zero: bool = Field(default=False, description="`keep: 0 days` is meant: delete as soon as the sweep runs")
    action: Literal["delete", "anonymize", "aggregate"] = "delete"
    timestamp_column: str | None = None
    anonymize: dict[str, AnonymizeMethod] = Field(default_factory=dict)
    anonymize_after: str | None = Field(default=None, description="anonymize earlier, e.g. after '1 year', then `action` at `keep`")
    aggregate_into: str | None = None
    legal_holds: tuple[LegalHold, ...] = ()

    @field_validator("keep")
    @classmethod
    def _duration(cls, value: str) -> str:
        parse_duration_days(value)
        return value

    @model_validator(mode="after")
    def _action_needs(self) -> Retention:
        if self.keep_days == 0 and not self.allow_zero:
            raise ValueError(f"retention keep {self.keep!r} is zero, which deletes everything at the next sweep; "
                             "if that is meant, say `allow_zero: true`")
        if (self.action == "anonymize" or self.anonymize_after) and not self.anonymize:
            raise ValueError("retention action 'anonymize' (or anonymize_after) needs `anonymize: {column: method}`")
        if self.anonymize_after and parse_duration_days(self.anonymize_after) >= self.keep_days:
            raise ValueError("retention anonymize_after must be shorter than keep")
        if self.action == "aggregate" and not self.aggregate_into:
            raise ValueError("retention action 'aggregate' needs `aggregate_into: <asset>`")
        return self

    @property
    def keep_days(self) -> int:
        return parse_duration_days(self.keep)

    def describe(self) -> str:
        text = f"{self.keep}, then {self.action}"
        if self.legal_holds:
            text += "; holds: " + ", ".join(f"{h.name} ({h.keep})" for h in self.legal_holds)
        return text


class Processor(_Model):
    """A processor or recipient outside the platform that receives data (GDPR Art. 28)."""

    name: str
    purpose: str = ""
    region: str = Field(pattern=REGION)
    dpa: bool = Field(default=False, description="a data processing agreement is signed")
    transfer_mechanism: Literal["adequacy", "scc", "bcr", "derogation"] | None = None
    kind: Literal["processor", "recipient", "controller"] = "processor"
    baa: bool = Field(default=False, description="a HIPAA business associate agreement is signed (45 CFR 164.504(e))")


class Encryption(_Model):
    at_rest: str | None = Field(default=None, description="e.g. 'AES-256 (SSE-S3)'; None when unencrypted")
    in_transit: str | None = Field(default=None, description="e.g. 'TLS 1.2+'")


ERASABLE_FORMATS = ("jsonl", "csv", "parquet")  # the S3 object formats erasure searches and rewrites


class Storage(_Model):
    kind: Literal["warehouse", "s3", "delta", "external", "model"] = "warehouse"
    table: str | None = None
    path: str | None = Field(default=None, description="delta: the table's folder, relative to the state directory")
    bucket: str | None = None
    prefix: str | None = None
    snapshots: bool = Field(default=False, description="immutable, content-addressed dataset snapshots (S3); "
                            "erasure finds a subject in them through their membership index")
    format: Literal["jsonl", "csv", "parquet", "text", "avro", "orc", "pdf", "binary", "other"] | None = Field(
        default=None, description="S3: the objects' format where their keys do not say it (.jsonl, .csv, .parquet); "
        "erasure searches and rewrites jsonl, csv and parquet only")


class ColumnSpec(_Model):
    type: str | None = Field(default=None, description="SQL type, shown in Dagster's column schema")
    categories: tuple[str, ...] = ()
    identity: bool = Field(default=False, description="this column identifies the data subject")
    sensitivity: Literal["public", "internal", "confidential", "restricted"] = "internal"
    pseudonymized: bool = False
    anonymized: bool = False
    encryption: Literal["subject_key", "column_key"] | None = Field(
        default=None, description="field-level encryption: with the subject's own data key (erased by "
        "destroying the key) or with one key for the column")
    card_data: CardData | None = Field(
        default=None, description="PCI DSS: which card data element the column holds. A column of category "
        "user.financial.credit_card without it counts as a full card number (pan)")
    free_text: bool | None = Field(
        default=None, description="prose people wrote (tickets, notes, log messages), where others' names and "
        "contact details turn up: an erasure redacts the subject's identifiers in it. Default: a column of "
        "category user.content.*")
    description: str = ""

    @field_validator("categories", mode="before")
    @classmethod
    def _known_categories(cls, value):
        return _check_keys(value, taxonomy.data_categories(), "data category")

    @cached_property
    def is_personal(self) -> bool:
        return not self.anonymized and any(taxonomy.is_personal_category(c) for c in self.categories)

    @cached_property
    def holds_free_text(self) -> bool:
        if self.free_text is not None:
            return self.free_text
        return any(taxonomy.is_within(c, "user.content") and c != "user.content.self_image" for c in self.categories)

    @cached_property
    def holds_pan(self) -> bool:
        """A full primary account number: declared, or a card category not declared as something less."""
        if self.card_data is not None:
            return self.card_data == "pan"
        return not (self.pseudonymized or self.anonymized) and any(
            taxonomy.is_within(c, taxonomy.CARD_CATEGORY) for c in self.categories)


class ColumnDerivation(_Model):
    """Where a column of a Python asset comes from. SQL assets' lineage is traced from their SQL;
    a Python asset's code cannot be read, so it declares it: `{from: [users.email], masking: true}`,
    or just the list of upstream columns."""

    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)  # the catalog writes `sources`

    sources: tuple[str, ...] = Field(alias="from", min_length=1,
                                     description="the upstream columns it is computed from, as 'asset.column'")
    transformation: Literal["identity", "transformation", "aggregation"] = Field(
        default="transformation", description="identity: copied as is; aggregation: an aggregate over the rows")
    masking: bool = Field(default=False, description="a hash or keyed pseudonym on the way (the result is pseudonymous)")
    generalized: Literal["year", "zip3", "age_90_plus", "redacted"] | None = Field(
        default=None, description="HIPAA Safe Harbor: how an identifier was de-identified on the way (a date to its "
        "year, a ZIP code to its first three digits, ages over 89 grouped, free text redacted)")

    @model_validator(mode="before")
    @classmethod
    def _shorthand(cls, value):
        if isinstance(value, str):
            value = [value]
        return {"from": value} if isinstance(value, (list, tuple)) else value

    @field_validator("sources")
    @classmethod
    def _column_refs(cls, value):
        for ref in value:
            if not isinstance(ref, str) or "." not in ref.strip(".") or " " in ref:
                raise ValueError(f"{ref!r} is not an upstream column; write 'asset.column'")
        return value

    def upstream_columns(self) -> list[tuple[str, str]]:
        return [(asset, column) for asset, column in (ref.rsplit(".", 1) for ref in self.sources)]


class ScanSettings(_Model):
    allow: tuple[str, ...] = Field(default=(), description="values the PII scans pass over here, compared without "
                                   "case: a product or company that reads as a person's name, a support address")


class AssetGovernance(_Model):
    """Everything an auditor asks about one asset."""

    asset: str
    description: str = ""
    owner: str | None = None
    group: str | None = None
    purposes: tuple[str, ...] = ()
    legal_basis: str | None = None
    art9_condition: str | None = None
    data_subjects: tuple[str, ...] = ()
    data_categories: tuple[str, ...] = Field(default=(), description="asset-level categories, for data without columns")
    region: str | None = Field(default=None, pattern=REGION)
    storage: Storage = Storage()
    retention: Retention | None = None
    processors: tuple[str, ...] = ()
    encryption: Encryption = Encryption()
    pii_free: bool = False
    anonymization: str | None = Field(default=None, description="how personal inputs are de-identified here")
    tenant_key: str | None = Field(default=None, description="column holding each row's tenant")
    tenants: tuple[str, ...] = Field(default=(), description="only these tenants' rows are stored here "
                                     "(checked at run time); empty: any tenant's")
    tenant_strategy: Literal["row", "schema", "database"] | None = Field(
        default=None, description="how tenants are kept apart: rows with a tenant column, or a schema or "
        "database per tenant; declaring it (or tenant_key) makes the asset tenant-scoped")
    region_column: str | None = Field(default=None, description="column holding each row's country or region")
    blocking_checks: bool = Field(default=False, description="a failing PII/residency check stops downstream assets")
    immutable: bool = Field(default=False, description="append-only (an event log, a write-once archive): rows and "
                            "objects are never deleted or rewritten; personal fields must be encrypted per subject")
    subject_prefix: str | None = Field(default=None, description="S3 key template holding one subject's objects, with {subject_id}")
    tenant_prefix: str | None = Field(default=None, description="S3 key template holding one tenant's objects, with {tenant_id}")
    multi_tenant: bool = Field(default=False, description="a topic or event log carrying several tenants' events; "
                               "`tenant_key` names the field each event carries its tenant in")
    tenant_filter: Literal["tenant_key", "per_tenant_destination", "single_tenant"] | None = Field(
        default=None, description="how a consumer of a multi-tenant topic keeps tenants apart: it keeps and filters on "
        "the tenant (tenant_key), writes each tenant to a place of its own (per_tenant_destination), or serves one tenant")
    columns: dict[str, ColumnSpec] = Field(default_factory=dict)
    lineage: dict[str, ColumnDerivation] = Field(
        default_factory=dict, description="a Python asset's column lineage: column → the upstream columns it comes from")
    regime: tuple[Regime, ...] = Field(default=(), description="regulations beyond GDPR whose rules apply here: "
                                       "hipaa (PHI), pci (cardholder data)")
    tokenized: bool = Field(default=False, description="PCI DSS: card numbers are replaced by tokens here, the "
                            "tokenization boundary; what it emits must hold no PAN")
    scan: ScanSettings = ScanSettings()
    deidentification: Literal["safe_harbor"] | None = Field(
        default=None, description="HIPAA de-identification: safe_harbor means the 18 identifiers are removed or "
        "generalized (checked at run time, and in the lineage by the policy)")

    @field_validator("regime", mode="before")
    @classmethod
    def _one_or_more(cls, value):
        return (value,) if isinstance(value, str) else value

    @field_validator("purposes", mode="before")
    @classmethod
    def _known_uses(cls, value):
        return _check_keys(value, taxonomy.data_uses(), "data use")

    @field_validator("data_subjects", mode="before")
    @classmethod
    def _known_subjects(cls, value):
        return _check_keys(value, taxonomy.data_subjects(), "data subject")

    @field_validator("data_categories", mode="before")
    @classmethod
    def _known_categories(cls, value):
        return _check_keys(value, taxonomy.data_categories(), "data category")

    @field_validator("legal_basis")
    @classmethod
    def _lawful_basis(cls, value):
        return _check_choice(value, taxonomy.LEGAL_BASES, "legal basis")

    @field_validator("art9_condition")
    @classmethod
    def _art9(cls, value):
        return _check_choice(value, taxonomy.ART9_CONDITIONS, "Art. 9 condition")

    @field_validator("owner")
    @classmethod
    def _owner(cls, value):
        # Dagster accepts an email address or `team:name` as owner.
        if value is not None and not (value.startswith("team:") or re.match(r"^[^@\s]+@[^@\s]+$", value)):
            raise ValueError(f"owner {value!r} must be an email address or 'team:<name>'")
        return value

    @model_validator(mode="after")
    def _coherent(self) -> AssetGovernance:
        categories = self.all_categories
        personal = self.is_personal
        if self.pii_free and personal:
            cols = [n for n, c in self.columns.items() if c.is_personal]
            raise ValueError(f"declared pii_free but declares personal data ({', '.join(cols) or ', '.join(categories)})")
        if personal and not self.legal_basis:
            raise ValueError(
                "holds personal data but has no legal_basis; allowed: " + ", ".join(taxonomy.LEGAL_BASES)
            )
        if any(taxonomy.is_special_category(c) for c in categories) and not self.art9_condition:
            raise ValueError(
                "holds special-category data (Art. 9) but has no art9_condition; allowed: "
                + ", ".join(taxonomy.ART9_CONDITIONS)
            )
        named = {c: f for c, f in ((self.tenant_key, "tenant_key"), (self.region_column, "region_column")) if c}
        if self.retention:
            named.update({c: "retention.anonymize" for c in self.retention.anonymize})
            named.update({c: "retention.legal_holds.anonymize" for h in self.retention.legal_holds for c in h.anonymize})
            if self.retention.timestamp_column:
                named[self.retention.timestamp_column] = "retention.timestamp_column"
        missing = [(c, f) for c, f in sorted(named.items()) if c not in self.columns] if self.columns else []
        if missing:
            raise ValueError("; ".join(f"{f} names column {c!r}, which the asset does not declare in `columns`"
                                       + _did_you_mean(c, self.columns) for c, f in missing))
        for hold in self.retention.legal_holds if self.retention else ():
            if hold.where and self.columns:
                try:
                    check_condition(hold.where, set(self.columns))
                except ConditionError as exc:
                    raise ValueError(f"legal hold {hold.name!r} where: {exc}") from None
        for name, template, placeholder in (("subject_prefix", self.subject_prefix, "{subject_id}"),
                                             ("tenant_prefix", self.tenant_prefix, "{tenant_id}")):
            if template is not None:
                _check_key_template(name, template, placeholder)
        self._check_tenant_placement()
        if self.storage.kind == "delta" and not self.storage.path:
            raise ValueError("storage kind delta needs path: the Delta table's folder (relative to state_dir)")
        if self.tokenized and self.pan_columns:
            raise ValueError(f"declared tokenized (card numbers replaced by tokens) but column(s) "
                             f"{', '.join(self.pan_columns)} hold a full card number; declare them card_data: token")
        if self.subject_encrypted and not self.identity_columns:
            raise ValueError(f"column(s) {', '.join(self.subject_encrypted)} are encrypted per subject "
                             "(encryption: subject_key) but no column is the subject's identity (identity: true)")
        return self

    def _check_tenant_placement(self) -> None:
        """A schema (database) per tenant is a warehouse table whose schema (database) part names
        the tenant: `ws_{tenant_id}.tickets` (`ws_{tenant_id}.main.tickets`); nothing else is templated."""
        table = self.storage.table or ""
        if self.tenant_strategy in ("schema", "database"):
            parts = table.split(".")
            where = -2 if self.tenant_strategy == "schema" else -3
            if self.storage.kind != "warehouse" or len(parts) < -where or table.count("{tenant_id}") != 1 \
                    or "{tenant_id}" not in parts[where]:
                example = "ws_{tenant_id}.tickets" if self.tenant_strategy == "schema" else "ws_{tenant_id}.main.tickets"
                raise ValueError(f"tenant_strategy {self.tenant_strategy} needs a warehouse table whose "
                                 f"{self.tenant_strategy} names the tenant once, e.g. storage.table: {example!r}")
        elif "{tenant_id}" in table:
            raise ValueError("storage.table names {tenant_id}, which only tenant_strategy schema or database expands")
        if self.tenant_prefix is not None and self.storage.kind != "s3":
            raise ValueError("tenant_prefix is an S3 key template: it needs storage.kind s3")

    @property
    def per_tenant_table(self) -> bool:
        """The table is a template expanded per tenant (a schema or database per tenant)."""
        return "{tenant_id}" in (self.storage.table or "")

    @cached_property
    def all_categories(self) -> tuple[str, ...]:
        seen = dict.fromkeys(self.data_categories)
        for column in self.columns.values():
            seen.update(dict.fromkeys(column.categories))
        return tuple(seen)

    @cached_property
    def personal_columns(self) -> tuple[str, ...]:
        return tuple(name for name, column in self.columns.items() if column.is_personal)

    @cached_property
    def subject_encrypted(self) -> tuple[str, ...]:
        """Columns sealed with their subject's own key: erased by shredding it."""
        return tuple(name for name, column in self.columns.items() if column.encryption == "subject_key")

    @cached_property
    def free_text_columns(self) -> tuple[str, ...]:
        return tuple(name for name, column in self.columns.items() if column.holds_free_text)

    @cached_property
    def pan_columns(self) -> tuple[str, ...]:
        return tuple(name for name, column in self.columns.items() if column.holds_pan)

    @cached_property
    def identity_columns(self) -> tuple[str, ...]:
        return tuple(name for name, column in self.columns.items() if column.identity)

    @cached_property
    def is_personal(self) -> bool:
        asset_level = any(taxonomy.is_personal_category(c) for c in self.data_categories)
        return asset_level or bool(self.personal_columns)

    @property
    def tenant_scoped(self) -> bool:
        return self.tenant_key is not None or self.tenant_strategy is not None or self.tenant_prefix is not None

    @property
    def legal_basis_article(self) -> str | None:
        return taxonomy.LEGAL_BASES.get(self.legal_basis) if self.legal_basis else None


def _did_you_mean(name: str, candidates) -> str:
    import difflib

    found = difflib.get_close_matches(name, list(candidates), n=1, cutoff=0.6)
    return f" (did you mean {found[0]!r}?)" if found else f" (declared: {', '.join(candidates)})"


def _check_key_template(name: str, template: str, placeholder: str) -> None:
    if template.count(placeholder) != 1:
        raise ValueError(f"{name} must contain {placeholder!r} once")
    if not template.split(placeholder, 1)[1].startswith("/"):
        # Without a delimiter `attachments/{subject_id}` for subject 3 is a prefix of 34, 305, …
        raise ValueError(f"{name}: {placeholder!r} must be followed by the delimiter '/', "
                         f"e.g. 'attachments/{placeholder}/'")


def _check_keys(value, allowed: frozenset[str], what: str):
    if value is None:
        return ()
    if isinstance(value, str):
        value = [value]
    for key in value:
        if key not in allowed:
            hint = taxonomy.suggest(key, allowed)
            raise ValueError(
                f"unknown {what} {key!r} (not in the fideslang default taxonomy)"
                + (f"; did you mean {', '.join(hint)}?" if hint else f"; see the {len(allowed)} keys of fideslang")
            )
    return tuple(value)


def _check_choice(value, allowed: dict[str, str], what: str):
    if value is None:
        return None
    if value in allowed:
        return value
    by_article = {article.lower(): name for name, article in allowed.items()}
    normalized = str(value).lower().replace(" ", "")
    for article, name in by_article.items():
        if normalized in (article.replace(" ", ""), article.replace("art.", "").replace(" ", "")):
            return name
    raise ValueError(
        f"unknown {what} {value!r}; allowed: " + ", ".join(f"{k} ({v})" for k, v in allowed.items())
    )


def build_governance(asset: str, facts: dict) -> AssetGovernance:
    """Validate raw facts for one asset; any problem is a GovernanceError naming asset and field."""
    try:
        return AssetGovernance.model_validate({**facts, "asset": asset})
    except ValidationError as exc:
        raise GovernanceError(_describe(asset, exc)) from None


def _describe(asset: str, exc: ValidationError) -> str:
    lines = []
    for error in exc.errors():
        field = ".".join(str(part) for part in error["loc"]) or "(asset)"
        message = error["msg"].removeprefix("Value error, ")
        if error["type"] == "literal_error":
            message = f"got {error.get('input')!r}; {message}"
        elif error["type"] == "extra_forbidden":
            message = f"unknown field {field.rsplit('.', 1)[-1]!r}"
        lines.append(f"asset {asset!r}, field {field}: {message}")
    return "\n".join(lines)


def table_of(asset: str, gov: AssetGovernance | None) -> str:
    """The warehouse table an asset is stored in: its declared `storage.table`, else its key."""
    return gov.storage.table if gov is not None and gov.storage.table else asset
