"""The GDPR rules (and those every regime shares: retention, processors, encryption, erasability).

The rules read declarations and the dependency graph only; they never touch data. Each rule is a
small function yielding `Finding`s, so a rule can be read, tested and switched off on its own.
"""

from __future__ import annotations

from collections.abc import Iterator

from dataflow_governance.lineage.graph import ColumnClass
from dataflow_governance.model import taxonomy
from dataflow_governance.model.spec import ERASABLE_FORMATS
from dataflow_governance.policy.context import Finding, PolicyContext, Rule


def legal_basis_missing(ctx: PolicyContext) -> Iterator[Finding]:
    for asset in sorted(ctx.upstream):
        facts = ctx.governance.get(asset)
        if facts is not None and (facts.pii_free or facts.legal_basis):
            continue
        sources = ctx.personal_sources(asset)
        if sources:
            yield Finding(
                asset, "legal-basis-missing", "error",
                f"{asset} receives personal data ({', '.join(ctx.categories_of(sources))}) from "
                f"{', '.join(sources)} but declares no legal basis",
                "declare legal_basis (" + ", ".join(taxonomy.LEGAL_BASES) + "), or declare pii_free with "
                "the anonymization that removes the personal data",
            )


def retention_missing(ctx: PolicyContext) -> Iterator[Finding]:
    for asset, facts in sorted(ctx.governance.items()):
        if facts.is_personal and facts.retention is None:
            yield Finding(
                asset, "retention-missing", "error",
                f"{asset} holds personal data ({', '.join(facts.personal_columns or facts.data_categories)}) "
                "with no retention period (GDPR Art. 5(1)(e) storage limitation)",
                "add retention: {keep: '2 years', action: delete|anonymize|aggregate}",
            )


def retention_unenforceable(ctx: PolicyContext) -> Iterator[Finding]:
    """A table's retention without the column that dates its rows: the sweep could never find a row
    past its time, and would say "0 rows older than …" forever."""
    for asset, facts in sorted(ctx.governance.items()):
        rule = facts.retention
        if rule is not None and facts.storage.kind in ("warehouse", "delta") and not rule.timestamp_column:
            columns = [c for c, spec in facts.columns.items() if (spec.type or "").lower().startswith(("timestamp", "date"))]
            yield Finding(
                asset, "retention-unenforceable", "error",
                f"{asset} declares retention ({rule.keep}) but no retention.timestamp_column: no row can ever be "
                "found past its time, so the sweep would remove nothing",
                "declare retention.timestamp_column" + (f" (e.g. {columns[0]})" if columns else
                                                        ", the column that dates each row"),
            )


def format_not_erasable(ctx: PolicyContext) -> Iterator[Finding]:
    """Personal data in S3 objects of a format erasure cannot search: its erasures never verify."""
    for asset, facts in sorted(ctx.governance.items()):
        fmt = facts.storage.format
        if facts.storage.kind == "s3" and facts.is_personal and fmt is not None and fmt not in ERASABLE_FORMATS \
                and not facts.subject_prefix and not facts.storage.snapshots:
            yield Finding(
                asset, "format-not-erasable", "warning",
                f"{asset} keeps personal data in {fmt} objects, which an erasure cannot search or rewrite: every "
                "erasure reaching it stays unverified, naming the objects",
                "store it as jsonl, csv or parquet, or keep one folder per subject (subject_prefix) so whole "
                "objects can go",
            )


def processor_without_dpa(ctx: PolicyContext) -> Iterator[Finding]:
    for asset, facts in sorted(ctx.governance.items()):
        if not facts.is_personal:
            continue
        for name in facts.processors:
            processor = ctx.processors.get(name)
            if processor is not None and processor.kind == "processor" and not processor.dpa:
                yield Finding(
                    asset, "processor-without-dpa", "error",
                    f"{asset} sends personal data to processor {name} which has no data processing "
                    "agreement (GDPR Art. 28(3))",
                    f"sign a DPA with {name} and set dpa: true, or stop sending it personal data",
                )


def transfer_without_safeguard(ctx: PolicyContext) -> Iterator[Finding]:
    for asset, facts in sorted(ctx.governance.items()):
        if not facts.is_personal or not facts.region:
            continue
        home = taxonomy.jurisdiction(facts.region)
        for name in facts.processors:
            processor = ctx.processors.get(name)
            if processor is None or taxonomy.jurisdiction(processor.region) == home or processor.transfer_mechanism:
                continue
            yield Finding(
                asset, "transfer-without-safeguard", "error",
                f"{asset} ({facts.region}) sends personal data to {name} in {processor.region}, a "
                f"transfer out of {home} with no safeguard (GDPR Chapter V)",
                f"set transfer_mechanism (adequacy, scc, bcr) on processor {name}, or use a processor in {home}",
            )


def pii_free_fix(asset: str, column: str, cls: ColumnClass) -> str:
    """What would make this column of a PII-free asset anonymous, for how it is derived now (never the
    thing already done: a column that is already an aggregate is not told to aggregate)."""
    sources = [d.source for d in cls.derived_from]
    source = sources[0].column if sources else column
    count = f"count(DISTINCT {source})"
    govern = f"or keep it and govern {asset} as personal data"
    if cls.pseudonymized or any(s.masking for s in sources):
        return (f"{column} is already a hash of {source}, which still singles a person out (pseudonymized, not anonymous): "
                f"drop it from {asset}'s SQL or replace it with {count}, {govern} (pseudonymized)")
    if any(s.reveals_values for s in sources):
        return (f"{column} is an aggregate that returns one of the {source} values themselves (like max or string_agg): "
                f"replace it with {count} if a number is what {asset} needs, or drop it; {govern}")
    if any(s.transformation == "aggregation" for s in sources):
        return (f"{column} aggregates {source} and still carries it: replace it with {count}, or drop it; {govern}")
    if any(s.transformation == "transformation" for s in sources):
        return (f"{column} is computed from {source} and stays personal: drop it, aggregate it ({count} per group), "
                f"or replace it with a keyed hash and govern {asset} as personal data (pseudonymized)")
    return (f"{column} copies {source}: drop it from {asset}'s SQL, aggregate it ({count} per group), "
            f"or replace it with a keyed hash and govern {asset} as personal data (pseudonymized)")


def pii_free_reads_personal(ctx: PolicyContext) -> Iterator[Finding]:
    for asset, facts in sorted(ctx.governance.items()):
        if not facts.pii_free:
            continue
        if ctx.traced(asset):  # lineage decides, column by column, whatever anonymization is claimed
            for column, cls in sorted(ctx.personal_columns(asset).items()):
                origins = ctx.column_graph.personal_origins(asset, column)
                paths = "; ".join(f"{a}.{c} ({', '.join(cats)})" for a, c, cats in origins)
                how = "pseudonymized, still personal data" if cls.pseudonymized else "not anonymized"
                yield Finding(
                    asset, "pii-free-downstream-of-personal", "error",
                    f"{asset}.{column} is derived from {paths} ({how}) but {asset} is declared PII-free",
                    pii_free_fix(asset, column, cls),
                )
            continue
        if facts.anonymization:
            continue
        sources = ctx.personal_sources(asset)
        if sources:
            yield Finding(
                asset, "pii-free-downstream-of-personal", "error",
                f"{asset} is declared PII-free but reads personal data ({', '.join(ctx.categories_of(sources))}) "
                f"from {', '.join(sources)} and declares no anonymization",
                "declare anonymization (e.g. 'aggregation without identity columns', 'keyed hash') or "
                "drop pii_free and govern it as personal data",
            )


def region_crossing(ctx: PolicyContext) -> Iterator[Finding]:
    for asset, facts in sorted(ctx.governance.items()):
        if facts.pii_free or not facts.region:
            continue  # only aggregated / anonymized data may cross
        here = taxonomy.jurisdiction(facts.region)
        for source in ctx.personal_sources(asset):
            origin = ctx.governance[source].region
            if origin and taxonomy.jurisdiction(origin) != here:
                yield Finding(
                    asset, "region-crossing", "error",
                    f"personal data flows from {source} ({origin}) into {asset} ({facts.region}), "
                    f"crossing from {taxonomy.jurisdiction(origin)} to {here}",
                    f"keep {asset} in {taxonomy.jurisdiction(origin)}, or aggregate/anonymize before it crosses and declare it pii_free",
                )


def purpose_limitation(ctx: PolicyContext) -> Iterator[Finding]:
    for asset, facts in sorted(ctx.governance.items()):
        if facts.pii_free or not facts.purposes:
            continue
        for source in ctx.personal_sources(asset):
            origin = ctx.governance[source]
            if origin.legal_basis != "consent" or not origin.purposes:
                continue
            beyond = [p for p in facts.purposes if not any(taxonomy.is_within(p, c) for c in origin.purposes)]
            if beyond:
                yield Finding(
                    asset, "purpose-limitation", "error",
                    f"{asset} uses consent-based data from {source} (consented for {', '.join(origin.purposes)}) "
                    f"for {', '.join(beyond)} (GDPR Art. 5(1)(b))",
                    f"restrict {asset} to the consented purposes, obtain consent for {', '.join(beyond)}, or anonymize first",
                )


def encryption_missing(ctx: PolicyContext) -> Iterator[Finding]:
    for asset, facts in sorted(ctx.governance.items()):
        if facts.is_personal and not facts.encryption.at_rest:
            yield Finding(
                asset, "encryption-missing", "warning",
                f"{asset} holds personal data with no encryption at rest declared (GDPR Art. 32)",
                "declare encryption: {at_rest: ..., in_transit: ...}",
            )


def immutable_personal_unencrypted(ctx: PolicyContext) -> Iterator[Finding]:
    """Personal data in an append-only store can never be deleted; only a destroyed key erases it."""
    for asset, facts in sorted(ctx.governance.items()):
        if not facts.immutable:
            continue
        exposed = [c for c in facts.personal_columns if c not in facts.subject_encrypted]
        exposed += [c for c in facts.identity_columns if c not in facts.subject_encrypted and c not in exposed]
        if not facts.columns and facts.is_personal:
            exposed = list(facts.data_categories)
        if exposed:
            yield Finding(
                asset, "immutable-personal-unencrypted", "error",
                f"{asset} is immutable and holds personal data in plain form ({', '.join(exposed)}): it could "
                "never be erased (GDPR Art. 17)",
                "declare each personal field `encryption: subject_key` (erased by destroying the subject's key), "
                "or keep personal data out of the immutable store",
            )


GDPR_RULES: tuple[Rule, ...] = (
    legal_basis_missing,
    retention_missing,
    retention_unenforceable,
    format_not_erasable,
    processor_without_dpa,
    transfer_without_safeguard,
    pii_free_reads_personal,
    region_crossing,
    purpose_limitation,
    encryption_missing,
    immutable_personal_unencrypted,
)
