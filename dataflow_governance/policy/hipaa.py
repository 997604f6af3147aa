"""HIPAA: where protected health information (PHI) is, and the static rules for it.

PHI is health data (fideslang's health categories) in an asset under the HIPAA regime: declared
`regime: hipaa` (on the asset or its group's defaults), or holding health data that lineage traces
back to such an asset — PHI stays PHI wherever the platform copies it.
"""

from __future__ import annotations

from collections.abc import Iterator

from dataflow_governance.lineage.graph import TABLE_LEVEL
from dataflow_governance.model import taxonomy
from dataflow_governance.model.spec import table_of
from dataflow_governance.policy.context import Finding, PolicyContext

# Uses of PHI that need the individual's written authorization (45 CFR 164.508(a)(3), (a)(4)).
AUTHORIZATION_USES = ("marketing", "sales", "third_party_sharing")


def phi_columns(ctx: PolicyContext, asset: str) -> tuple[str, ...]:
    """Columns carrying health data, declared or by lineage (`*`: the asset as a whole)."""
    gov = ctx.governance.get(asset)
    found: set[str] = set()
    if gov is not None:
        found |= {name for name, column in gov.columns.items()
                  if not column.anonymized and any(map(taxonomy.is_health_category, column.categories))}
        if any(map(taxonomy.is_health_category, gov.data_categories)):
            found.add(TABLE_LEVEL)
    if ctx.graph is not None:
        found |= {column for column, cls in ctx.column_graph.columns_of(asset).items()
                  if cls.personal and any(map(taxonomy.is_health_category, cls.categories))}
    return tuple(sorted(found))


def hipaa_assets(ctx: PolicyContext) -> dict[str, list[str]]:
    """Each asset under HIPAA → the declared HIPAA assets its PHI comes from (itself, if declared)."""
    declared = {a for a, g in ctx.governance.items() if "hipaa" in g.regime}
    found: dict[str, list[str]] = {a: [a] for a in declared}
    # De-identified data is not PHI (45 CFR 164.514(a)): what proves it is the Safe Harbor rule and check.
    deidentified = {a for a, g in ctx.governance.items() if g.deidentification == "safe_harbor"}
    for asset in sorted(set(ctx.upstream) | set(ctx.governance)):
        if asset in declared or asset in deidentified:
            continue
        columns = phi_columns(ctx, asset)
        if not columns:
            continue
        if ctx.graph is not None and any((asset, c) in ctx.column_graph.classes for c in columns):
            origins = {origin for c in columns for origin, _col, _cats in ctx.column_graph.personal_origins(asset, c)}
        else:
            origins = set(ctx.personal_sources(asset))
        if origins & declared:
            found[asset] = sorted(origins & declared)
    return found


def _phi_holders(ctx: PolicyContext) -> Iterator[tuple[str, tuple[str, ...]]]:
    for asset in sorted(hipaa_assets(ctx)):
        columns = phi_columns(ctx, asset)
        if columns:
            yield asset, columns


def _shown(columns) -> str:
    return ", ".join("the asset as a whole" if c == TABLE_LEVEL else c for c in columns)


def processor_without_baa(ctx: PolicyContext) -> Iterator[Finding]:
    for asset, columns in _phi_holders(ctx):
        for name in ctx.governance[asset].processors if asset in ctx.governance else ():
            processor = ctx.processors.get(name)
            if processor is not None and processor.kind == "processor" and not processor.baa:
                yield Finding(
                    asset, "processor-without-baa", "error",
                    f"{asset} sends PHI ({_shown(columns)}) to {name}, a business associate with no business "
                    "associate agreement (HIPAA, 45 CFR 164.502(e), 164.504(e))",
                    f"sign a BAA with {name} and set baa: true on the processor, or stop sending it PHI")


def phi_use_needs_authorization(ctx: PolicyContext) -> Iterator[Finding]:
    for asset, columns in _phi_holders(ctx):
        gov = ctx.governance.get(asset)
        if gov is None or gov.legal_basis == "consent":
            continue  # consent here is the individual's authorization
        uses = [p for p in gov.purposes if any(taxonomy.is_within(p, root) for root in AUTHORIZATION_USES)]
        if uses:
            yield Finding(
                asset, "phi-use-needs-authorization", "error",
                f"{asset} uses PHI ({_shown(columns)}) for {', '.join(uses)}, which HIPAA allows only with the "
                "individual's written authorization (45 CFR 164.508(a)(3), (a)(4))",
                "record the authorization (legal_basis: consent, with the consent column) or keep PHI out of this use")


def minimum_necessary(ctx: PolicyContext) -> Iterator[Finding]:
    """PHI columns an asset keeps that nothing downstream uses, where every reader's use is known."""
    for asset, columns in _phi_holders(ctx):
        gov = ctx.governance.get(asset)
        readers = ctx.downstream.get(asset, frozenset())
        if not readers or (gov is not None and gov.processors) or not all(ctx.traced(r) for r in readers):
            continue  # a report read by people, data sent out, or a reader whose use cannot be seen
        table = table_of(asset, gov)
        used = {source.column for r in readers for item in ctx.column_graph.lineage[r].columns.values()
                for source in item.sources() if source.table in (table, asset)}
        unused = [c for c in columns if c != TABLE_LEVEL and c not in used]
        if unused:
            yield Finding(
                asset, "minimum-necessary", "warning",
                f"{asset} keeps PHI ({', '.join(unused)}) that none of its readers ({', '.join(sorted(readers))}) "
                "uses: HIPAA's minimum necessary standard (45 CFR 164.502(b), 164.514(d))",
                f"drop {', '.join(unused)} from {asset}, or say which use needs it")


HIPAA_RULES = (processor_without_baa, phi_use_needs_authorization, minimum_necessary)
