"""HIPAA Safe Harbor de-identification (45 CFR 164.514(b)(2)), statically: an asset declared
`deidentification: safe_harbor` holds none of the 18 identifiers, and reads none that no step on
the way removes or generalizes.

What counts as an identifier here: the direct identifiers (names, contact details, ids, numbers of
accounts, records, licences, devices; URLs, IPs, biometrics, photos), street, town and ZIP code
(geographic units smaller than a state), and dates related to the person (a birth date; any DATE or
TIMESTAMP column read from a PHI asset: admission, service, death). A column derived from one is
de-identified when the derivation masks it, aggregates it, or declares its Safe Harbor
generalization (`generalized: year | zip3 | age_90_plus | redacted`). The run-time check
(`safe_harbor_deidentified`) then proves it on the data itself.
"""

from __future__ import annotations

from collections.abc import Iterator

from dataflow_governance.model import taxonomy
from dataflow_governance.model.spec import AssetGovernance, table_of
from dataflow_governance.policy.context import Finding, PolicyContext

SMALLER_THAN_STATE = ("user.contact.address.street", "user.contact.address.city", "user.contact.address.postal_code")
IDENTIFIER_ROOTS = (*taxonomy.DIRECT_IDENTIFIER_ROOTS, *SMALLER_THAN_STATE, "user.contact.url",
                    "user.demographic.date_of_birth", "user.health_and_medical.record_id",
                    "user.health_and_medical.insurance_beneficiary_id", "user.government_id", "user.biometric")
_DATE_TYPES = ("DATE", "TIMESTAMP", "DATETIME")
RULE = "safe-harbor-identifier"


def identifier_categories(categories) -> list[str]:
    """The categories that are Safe Harbor identifiers (an address as a whole is one; its state or country is not)."""
    return sorted(c for c in categories if c == "user.contact.address"
                  or any(taxonomy.is_within(c, root) for root in IDENTIFIER_ROOTS))


def is_date_type(sql_type: str | None) -> bool:
    return bool(sql_type) and str(sql_type).upper().startswith(_DATE_TYPES)


def safe_harbor_identifiers(ctx: PolicyContext) -> Iterator[Finding]:
    for asset, gov in sorted(ctx.governance.items()):
        if gov.deidentification != "safe_harbor":
            continue
        for column, spec in gov.columns.items():
            kept = identifier_categories(spec.categories)
            if kept and not spec.anonymized:
                yield _finding(asset, f"{asset}.{column} is declared as {', '.join(kept)}, an identifier Safe Harbor removes",
                               f"remove {column}, or generalize it (safe_harbor_sql) and declare what is left")
        derived = {column for column, sources in _derivations(ctx, asset, gov) if sources}
        for column, spec in gov.columns.items():
            # (The asset's own time — when the extract was made, what retention counts from — is no
            # date of the person: a date column derived from nothing.)
            if is_date_type(spec.type) and (column in derived or column != own_time(gov)):
                yield _finding(asset, f"{asset}.{column} is a {spec.type}: Safe Harbor keeps no date element but the year",
                               f"keep the year only (method 'year' of safe_harbor_sql) and declare {column} as an integer")
        yield from _read_identifiers(ctx, asset, gov)


def own_time(gov: AssetGovernance) -> str | None:
    """The retention timestamp of a de-identified asset: allowed as a date when nothing is derived into it."""
    return gov.retention.timestamp_column if gov.retention else None


def _read_identifiers(ctx: PolicyContext, asset: str, gov: AssetGovernance) -> Iterator[Finding]:
    """Each column built from an identifier by a step that does not remove it."""
    for column, sources in _derivations(ctx, asset, gov):
        for source_asset, source_column, removed, how in sources:
            source_gov = ctx.governance.get(source_asset)
            spec = source_gov.columns.get(source_column) if source_gov is not None else None
            categories = set(spec.categories) if spec is not None else set()
            cls = ctx.column_graph.classes.get((source_asset, source_column))
            if cls is not None:
                categories |= cls.categories
            what = identifier_categories(categories)
            if not what and spec is not None and is_date_type(spec.type) and _holds_phi(ctx, source_asset):
                what = [f"a {spec.type} of the person's record"]
            if what and not removed:
                yield _finding(asset, f"{asset}.{column} reads {source_asset}.{source_column} ({', '.join(what)}) "
                               f"{how}, and no step removes or generalizes it",
                               "generalize it (safe_harbor_sql: year, zip3, age_90_plus; redact_personal for text) "
                               "and declare it in the lineage (generalized: …), or leave the column out")


def _derivations(ctx: PolicyContext, asset: str, gov: AssetGovernance):
    """column → [(source asset, source column, removed on the way, how it is read)]."""
    if gov.lineage:  # a Python asset: what it declares
        for column, derivation in gov.lineage.items():
            removed = derivation.masking or derivation.transformation == "aggregation" or derivation.generalized is not None
            how = "as it is" if derivation.transformation == "identity" else "through a transformation"
            yield column, [(a, c, removed, how) for a, c in derivation.upstream_columns()]
        return
    lineage = ctx.column_graph.lineage.get(asset)
    if lineage is None:
        return
    tables = {table_of(a, g): a for a, g in ctx.governance.items()}
    for column, item in lineage.columns.items():
        # From SQL, only a copy is surely not generalized; what a transformation did is the run-time check's to prove.
        yield column, [(tables.get(d.table, d.table), d.column, d.masking or d.transformation != "identity", "as it is")
                       for d in item.direct]


def _holds_phi(ctx: PolicyContext, asset: str) -> bool:
    from dataflow_governance.policy.hipaa import hipaa_assets

    return asset in hipaa_assets(ctx)


def _finding(asset: str, message: str, fix: str) -> Finding:
    return Finding(asset, RULE, "error", f"{message} (declared deidentification: safe_harbor; HIPAA 45 CFR 164.514(b)(2))",
                   fix)


SAFE_HARBOR_RULES = (safe_harbor_identifiers,)
