"""What a change does to personal data: the difference between two governance catalogs.

Two catalogs (the base and the head of a change, e.g. a pull request) are compared as a reviewer
would read them: new flows of personal data column by column (over lineage), assets that start
or stop holding it, changed categories, legal bases, purposes, retention, regions, processors and
transfers, and the policy findings the change introduces or resolves (region crossings, PII-free
assets reading personal data, tenant joins, …). Declarations and lineage only: no data is read,
so no personal value can appear in a review.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from dataflow_governance.catalog.artifact import Catalog
from dataflow_governance.lineage.graph import TABLE_LEVEL
from dataflow_governance.model import taxonomy
from dataflow_governance.model.spec import AssetGovernance, parse_duration_days
from dataflow_governance.policy.rules import run_policy

SEVERITIES = ("error", "warning", "info")


@dataclass(frozen=True, order=True)
class Change:
    """One thing the change does; `severity`: error (a rule now fails), warning (needs a reviewer's
    eye: personal data goes somewhere new), info (less personal data, or a resolved finding)."""

    severity_rank: int
    kind: str
    subject: str  # the asset (or processor) it is about
    message: str

    @property
    def severity(self) -> str:
        return SEVERITIES[self.severity_rank]

    def to_dict(self) -> dict:
        return {"severity": self.severity, "kind": self.kind, "subject": self.subject, "message": self.message}


def _change(severity: str, kind: str, subject: str, message: str) -> Change:
    return Change(SEVERITIES.index(severity), kind, subject, message)


def diff_catalogs(base: Catalog, head: Catalog) -> list[Change]:
    """Every governance-relevant difference from `base` to `head`, most severe first."""
    flows = _new_flows(base, head)
    transfers = _transfers(head) - _transfers(base)
    # One line per thing a reviewer must judge: a new personal column that lineage explains is
    # reported as its flow, and a processor that takes data abroad as that transfer.
    explained = {(asset, column): {cat for _a, _c, cats in origins for cat in cats}
                 for (asset, column), origins in flows.items()}
    abroad = {(asset, name) for asset, name, _home, _there in transfers}
    changes = [*_asset_changes(base, head, explained, abroad), *_processor_changes(base, head),
               *_flow_changes(head, flows), *_transfer_changes(head, transfers), *_scope_changes(base, head),
               *_finding_changes(base, head)]
    return sorted(set(changes))


def worst(changes: list[Change]) -> str | None:
    return min(changes).severity if changes else None


def fails(changes: list[Change], fail_on: str) -> bool:
    """Whether the change should fail a gate set at `fail_on` (error, warning, or never)."""
    if fail_on == "never":
        return False
    return any(c.severity_rank <= SEVERITIES.index(fail_on) for c in changes)


# --- the parts ------------------------------------------------------------------------------------

def _personal(categories) -> set[str]:
    return {c for c in categories if taxonomy.is_personal_category(c)}


def _asset_changes(base: Catalog, head: Catalog, explained: dict, abroad: set) -> Iterator[Change]:
    for asset in sorted(set(base.governance) | set(head.governance)):
        old, new = base.governance.get(asset), head.governance.get(asset)
        if old is None:
            held = sorted(_personal(new.all_categories))
            if held:
                yield _change("warning", "asset", asset, f"new asset {asset} holds personal data ({', '.join(held)})")
            continue
        if new is None:
            if old.is_personal:
                yield _change("info", "asset", asset, f"{asset} no longer exists or is no longer governed")
            continue
        yield from _fact_changes(asset, old, new, explained, abroad)


def _fact_changes(asset: str, old: AssetGovernance, new: AssetGovernance, explained: dict,
                  abroad: set) -> Iterator[Change]:
    flowed = {cat for (a, _c), cats in explained.items() if a == asset for cat in cats}
    added = _personal(new.all_categories) - _personal(old.all_categories) - flowed
    dropped = _personal(old.all_categories) - _personal(new.all_categories)
    if added:
        yield _change("warning", "categories", asset, f"{asset} now declares {', '.join(sorted(added))}")
    if dropped:
        yield _change("info", "categories", asset, f"{asset} no longer declares {', '.join(sorted(dropped))}")
    for name in sorted(set(new.columns) - set(old.columns)):
        cats = sorted(_personal(new.columns[name].categories))
        if cats and (asset, name) not in explained:
            yield _change("warning", "column", asset, f"new column {asset}.{name} ({', '.join(cats)})")
    if old.legal_basis != new.legal_basis:
        yield _change("warning", "legal_basis", asset,
                      f"{asset}'s legal basis {old.legal_basis or 'none'} → {new.legal_basis or 'none'}")
    new_purposes = sorted(set(new.purposes) - set(old.purposes))
    if new_purposes:
        yield _change("warning", "purpose", asset, f"{asset} is now also used for {', '.join(new_purposes)}")
    gone_purposes = sorted(set(old.purposes) - set(new.purposes))
    if gone_purposes:
        yield _change("info", "purpose", asset, f"{asset} is no longer used for {', '.join(gone_purposes)}")
    yield from _retention_change(asset, old, new)
    if old.region != new.region:
        yield _change("warning", "region", asset, f"{asset} moves from {old.region or 'no region'} to {new.region or 'no region'}")
    if old.pii_free != new.pii_free:
        yield _change("warning" if old.pii_free else "info", "pii_free", asset,
                      f"{asset} is {'no longer' if old.pii_free else 'now'} declared PII-free")
    for name in sorted(set(new.processors) - set(old.processors) - {n for a, n in abroad if a == asset}):
        yield _change("warning", "processor", asset, f"{asset} now sends data to processor {name}")
    for regime in sorted(set(old.regime) ^ set(new.regime)):
        yield _change("info" if regime in new.regime else "warning", "regime", asset,
                      f"{asset} is {'now' if regime in new.regime else 'no longer'} under {regime.upper()}")
    if old.tokenized != new.tokenized:
        yield _change("info" if new.tokenized else "warning", "tokenization", asset,
                      f"{asset} is {'now' if new.tokenized else 'no longer'} a tokenization step")


def _scope_changes(base: Catalog, head: Catalog) -> Iterator[Change]:
    """Assets the change brings into PCI DSS scope (the cardholder data environment or connected to
    it), or takes out: scope is what an assessor audits."""
    from dataflow_governance.policy.pci import OUT, pci_scope

    before, after = pci_scope(base.context).entries, pci_scope(head.context).entries
    for asset in sorted(after):
        was = before[asset].scope if asset in before else OUT
        now = after[asset].scope
        if was != now:
            grows = (was, now) in ((OUT, "connected"), (OUT, "cde"), ("connected", "cde"))
            yield _change("warning" if grows else "info", "pci_scope", asset,
                          f"{asset} moves {'into' if grows else 'out of'} PCI DSS scope: {was} → {now} "
                          f"({'; '.join(after[asset].reasons)})")


def _retention_change(asset: str, old: AssetGovernance, new: AssetGovernance) -> Iterator[Change]:
    before, after = old.retention, new.retention
    if before == after:
        return
    if after is None:
        yield _change("warning", "retention", asset, f"{asset} no longer declares retention (was {before.keep})")
        return
    if before is None:
        yield _change("info", "retention", asset, f"{asset} now keeps data {after.keep}, then {after.action}")
        return
    longer = parse_duration_days(after.keep) > parse_duration_days(before.keep)
    if (before.keep, before.action) != (after.keep, after.action):
        yield _change("warning" if longer or before.action != after.action else "info", "retention", asset,
                      f"{asset}'s retention {before.keep} then {before.action} → {after.keep} then {after.action}")
    elif before.legal_holds != after.legal_holds:
        yield _change("warning", "retention", asset, f"{asset}'s legal holds changed")


def _processor_changes(base: Catalog, head: Catalog) -> Iterator[Change]:
    for name in sorted(set(head.processors) - set(base.processors)):
        p = head.processors[name]
        safeguards = ", ".join(filter(None, ["DPA" if p.dpa else "no DPA", p.transfer_mechanism]))
        yield _change("warning", "processor", name,
                      f"new {p.kind} {name} in {p.region} ({taxonomy.jurisdiction(p.region)}; {safeguards})")
    for name in sorted(set(base.processors) & set(head.processors)):
        old, new = base.processors[name], head.processors[name]
        for field in ("region", "dpa", "baa", "transfer_mechanism", "kind"):
            if getattr(old, field) != getattr(new, field):
                yield _change("warning", "processor", name,
                              f"processor {name}'s {field} {getattr(old, field)} → {getattr(new, field)}")


def personal_flows(catalog: Catalog) -> dict[tuple[str, str], set[tuple[str, str, tuple[str, ...]]]]:
    """Every column holding personal data, with the declared personal columns it is derived from."""
    flows = {}
    for (asset, column), cls in catalog.graph.classes.items():
        if not cls.personal or not cls.derived_from:
            continue
        origins = {(a, c, tuple(cats)) for a, c, cats in catalog.graph.personal_origins(asset, column) if a != asset}
        if origins:
            flows[(asset, column)] = origins
    return flows


def _new_flows(base: Catalog, head: Catalog) -> dict[tuple[str, str], set[tuple[str, str, tuple[str, ...]]]]:
    before = personal_flows(base)
    found = {}
    for node, origins in personal_flows(head).items():
        new = origins - before.get(node, set())
        if new:
            found[node] = new
    return found


def _flow_changes(head: Catalog, flows: dict) -> Iterator[Change]:
    for (asset, column), new in sorted(flows.items()):
        where = f"{asset} (as a whole: no column lineage)" if column == TABLE_LEVEL else f"{asset}.{column}"
        sources = "; ".join(f"{a}.{c} ({', '.join(cats)})" for a, c, cats in sorted(new))
        crossing = _crossing(head, asset, {a for a, _c, _cats in new})
        yield _change("warning", "flow", asset, f"personal data now flows into {where} from {sources}{crossing}")


def _crossing(catalog: Catalog, asset: str, sources: set[str]) -> str:
    here = catalog.governance.get(asset)
    if here is None or not here.region:
        return ""
    home = taxonomy.jurisdiction(here.region)
    away = sorted({taxonomy.jurisdiction(catalog.governance[s].region) for s in sources
                   if s in catalog.governance and catalog.governance[s].region} - {home})
    return f", crossing from {', '.join(away)} to {home}" if away else ""


def _transfers(catalog: Catalog) -> set[tuple[str, str, str, str]]:
    """(asset, processor, from, to) for personal data sent to a processor in another jurisdiction."""
    found = set()
    for asset, gov in catalog.governance.items():
        if not gov.is_personal or not gov.region:
            continue
        for name in gov.processors:
            processor = catalog.processors.get(name)
            if processor is None:
                continue
            home, there = taxonomy.jurisdiction(gov.region), taxonomy.jurisdiction(processor.region)
            if home != there:
                found.add((asset, name, home, there))
    return found


def _transfer_changes(head: Catalog, transfers: set) -> Iterator[Change]:
    for asset, name, home, there in sorted(transfers):
        mechanism = head.processors[name].transfer_mechanism
        yield _change("warning", "transfer", asset, f"personal data of {asset} now leaves {home} for {there} "
                                                    f"through {name} ({mechanism or 'no safeguard declared'})")


def _finding_changes(base: Catalog, head: Catalog) -> Iterator[Change]:
    def keyed(catalog: Catalog):
        return {(f.asset, f.rule, f.message): f for f in run_policy(catalog.context)}

    before, after = keyed(base), keyed(head)
    for key in sorted(set(after) - set(before)):
        f = after[key]
        yield _change(f.severity if f.severity in SEVERITIES else "warning", f"finding:{f.rule}", f.asset,
                      f"{f.message}. Fix: {f.fix}")
    for key in sorted(set(before) - set(after)):
        f = before[key]
        yield _change("info", f"resolved:{f.rule}", f.asset, f"resolved: {f.message}")
