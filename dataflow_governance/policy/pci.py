"""PCI DSS: the cardholder data environment computed from lineage, and the rules that keep it small.

A column holds a full card number (PAN) when it is declared so (`card_data: pan`, or a card
category declared as nothing less), or when lineage copies or transforms one into it without a
hash or keyed token on the way. From there every asset is placed:

  - **cde** — it stores PAN, or processes it (its SQL reads a PAN column, or an untraced asset
    reads an asset that stores PAN). A tokenization step (`tokenized: true`) processes PAN, so it
    is in the CDE itself; it is the boundary.
  - **connected** — it holds no PAN but reads from, or feeds, an asset in the CDE (PCI DSS's
    "connected-to" systems, in scope for the controls that protect the CDE).
  - **out** — neither; an asset that reads only tokens from the boundary says so.

Processors that receive an asset's PAN are the CDE's service providers.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from functools import cached_property

from dataflow_governance.lineage.graph import TABLE_LEVEL
from dataflow_governance.model.spec import SENSITIVE_AUTHENTICATION, table_of
from dataflow_governance.policy.context import Finding, PolicyContext

CDE, CONNECTED, OUT = "cde", "connected", "out"


@dataclass(frozen=True)
class ScopeEntry:
    asset: str
    scope: str  # cde | connected | out
    reasons: tuple[str, ...]
    pan_columns: tuple[str, ...] = ()
    boundary: bool = False  # a tokenization step

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class CardData:
    """Where PAN is in a project: per column, by declaration and lineage."""

    ctx: PolicyContext
    _pan: dict[tuple[str, str], bool] = field(default_factory=dict)

    def column_holds_pan(self, asset: str, column: str) -> bool:
        key = (asset, column)
        if key not in self._pan:
            self._pan[key] = False  # a cycle in lineage proves nothing
            self._pan[key] = self._holds_pan(asset, column)
        return self._pan[key]

    def _holds_pan(self, asset: str, column: str) -> bool:
        gov = self.ctx.governance.get(asset)
        declared = gov.columns.get(column) if gov is not None else None
        cls = self.ctx.graph.class_of(asset, column) if self.ctx.graph is not None else None
        if declared is not None and declared.holds_pan:
            return True
        if cls is None or not cls.derived_from:
            return False  # a source column: what it declares is all there is
        if cls.anonymous or cls.pseudonymized:
            return False  # aggregated away, or a hash / keyed token on every path
        carried = [d for d in cls.derived_from if not d.source.masking
                   and not (d.source.transformation == "aggregation" and not d.source.reveals_values)]
        if not any(self.column_holds_pan(d.asset, d.column) for d in carried):
            return False
        # Declared as less than a PAN (last four digits, a brand) and computed, not copied: believed.
        less = declared is not None and declared.card_data not in (None, "pan")
        return not (less and all(d.source.transformation != "identity" for d in carried))

    def pan_columns(self, asset: str) -> tuple[str, ...]:
        gov = self.ctx.governance.get(asset)
        found = set(gov.pan_columns) if gov is not None else set()
        if self.ctx.graph is not None:
            found |= {c for c in self.ctx.column_graph.columns_of(asset) if self.column_holds_pan(asset, c)}
        return tuple(sorted(found))

    def pan_read(self, asset: str) -> list[str]:
        """The upstream PAN columns an asset reads (`asset.column`), whether or not it emits them."""
        graph = self.ctx.column_graph
        read: set[str] = set()
        if self.ctx.traced(asset):
            lineage = graph.lineage[asset]
            asset_of_table = {table_of(a, self.ctx.governance.get(a)): a for a in self.ctx.upstream.get(asset, ())}
            for item in lineage.columns.values():
                for source in item.sources():
                    upstream = asset_of_table.get(source.table, source.table)
                    if upstream != asset and self.column_holds_pan(upstream, source.column):
                        read.add(f"{upstream}.{source.column}")
            return sorted(read)
        for upstream in self.ctx.upstream.get(asset, ()):
            read |= {f"{upstream}.{c}" for c in self.pan_columns(upstream)}
        return sorted(read)

    def through_boundary(self, asset: str, column: str) -> list[str]:
        """The tokenization steps a PAN column's data passed through on its way here."""
        if self.ctx.graph is None:
            return []
        return sorted({a for a, _c in self.ctx.column_graph.upstream(asset, column)
                       if a != asset and self._tokenized(a)})

    def _tokenized(self, asset: str) -> bool:
        gov = self.ctx.governance.get(asset)
        return gov is not None and gov.tokenized


@dataclass(frozen=True)
class PciScope:
    entries: dict[str, ScopeEntry]
    service_providers: dict[str, tuple[str, ...]]  # processor → the CDE assets sending it PAN

    @cached_property
    def in_scope(self) -> list[str]:
        return sorted(a for a, e in self.entries.items() if e.scope != OUT)

    def to_dict(self) -> dict:
        return {"assets": [e.to_dict() for e in sorted(self.entries.values(), key=lambda e: (e.scope, e.asset))],
                "service_providers": {p: list(a) for p, a in sorted(self.service_providers.items())},
                "boundary": sorted(a for a, e in self.entries.items() if e.boundary),
                "summary": {s: sum(e.scope == s for e in self.entries.values()) for s in (CDE, CONNECTED, OUT)}}


def _columns(columns) -> str:
    return ", ".join("the asset as a whole" if c == TABLE_LEVEL else c for c in columns)


def pci_scope(ctx: PolicyContext) -> PciScope:
    card = CardData(ctx)
    assets = sorted(set(ctx.upstream) | set(ctx.governance))
    cde: dict[str, list[str]] = {}
    pans: dict[str, tuple[str, ...]] = {}
    for asset in assets:
        reasons = []
        pans[asset] = card.pan_columns(asset)
        if pans[asset]:
            reasons.append(f"stores PAN ({_columns(pans[asset])})")
        read = card.pan_read(asset)
        if read and not pans[asset]:
            reasons.append(f"processes PAN: reads {', '.join(read)}")
        if reasons:
            cde[asset] = reasons
    entries: dict[str, ScopeEntry] = {}
    for asset in assets:
        gov = ctx.governance.get(asset)
        boundary = gov is not None and gov.tokenized
        if asset in cde:
            reasons = cde[asset] + (["tokenization step: the boundary of the CDE"] if boundary else [])
            entries[asset] = ScopeEntry(asset, CDE, tuple(reasons), pans[asset], boundary)
            continue
        sources = set(ctx.upstream.get(asset, ()))
        tokens_from = sorted(s for s in sources & set(cde) if ctx.governance.get(s) and ctx.governance[s].tokenized)
        reads_cde = sorted(s for s in sources & set(cde) if s not in tokens_from)
        feeds_cde = sorted(ctx.downstream.get(asset, frozenset()) & set(cde))
        if reads_cde or feeds_cde:
            why = ([f"reads {', '.join(reads_cde)} (in the CDE) but receives no PAN"] if reads_cde else []) + \
                  ([f"feeds {', '.join(feeds_cde)} (in the CDE)"] if feeds_cde else [])
            entries[asset] = ScopeEntry(asset, CONNECTED, tuple(why), (), boundary)
        elif tokens_from:
            entries[asset] = ScopeEntry(asset, OUT, (f"past the tokenization boundary ({', '.join(tokens_from)}): "
                                                      "tokens only",), (), boundary)
        else:
            entries[asset] = ScopeEntry(asset, OUT, ("no card data reaches it",), (), boundary)
    providers: dict[str, list[str]] = {}
    for asset in sorted(cde):
        gov = ctx.governance.get(asset)
        if gov is not None and pans[asset]:
            for name in gov.processors:
                providers.setdefault(name, []).append(asset)
    return PciScope(entries, {p: tuple(a) for p, a in providers.items()})


# --- rules ---------------------------------------------------------------------------------------

def pan_past_tokenization(ctx: PolicyContext) -> Iterator[Finding]:
    card = CardData(ctx)
    for asset in sorted(set(ctx.upstream) | set(ctx.governance)):
        gov = ctx.governance.get(asset)
        for column in card.pan_columns(asset):
            if gov is not None and gov.tokenized:
                yield Finding(asset, "pan-past-tokenization", "error",
                              f"{asset} is the tokenization step but {asset}.{_columns([column])} still holds a full "
                              "card number: PAN leaves the boundary (PCI DSS 3.4)",
                              f"emit a token (a keyed hash or the vault's token) in place of {column}, or drop it")
                continue
            crossed = card.through_boundary(asset, column)
            if crossed:
                yield Finding(asset, "pan-past-tokenization", "error",
                              f"{asset}.{_columns([column])} holds a full card number that passed the tokenization "
                              f"boundary ({', '.join(crossed)}): everything downstream is pulled into PCI DSS scope",
                              f"tokenize {column} in {', '.join(crossed)} (and check its lineage), or read tokens only")


def cardholder_data_unencrypted(ctx: PolicyContext) -> Iterator[Finding]:
    card = CardData(ctx)
    for asset in sorted(ctx.governance):
        gov = ctx.governance[asset]
        if gov.encryption.at_rest or gov.storage.kind in ("model", "external"):
            continue
        exposed = [c for c in card.pan_columns(asset) if not (c in gov.columns and gov.columns[c].encryption)]
        if exposed:
            yield Finding(asset, "cardholder-data-unencrypted", "error",
                          f"{asset} stores full card numbers ({_columns(exposed)}) with no encryption at rest "
                          "(PCI DSS 3.5: PAN is rendered unreadable wherever it is stored)",
                          "declare encryption.at_rest (and use it), encrypt the column (encryption: column_key), "
                          "or store a token instead")


def sensitive_authentication_stored(ctx: PolicyContext) -> Iterator[Finding]:
    for asset, gov in sorted(ctx.governance.items()):
        for name, column in sorted(gov.columns.items()):
            if column.card_data in SENSITIVE_AUTHENTICATION:
                yield Finding(asset, "sensitive-authentication-stored", "error",
                              f"{asset}.{name} stores {column.card_data} data: sensitive authentication data must "
                              "never be stored after authorization, encrypted or not (PCI DSS 3.3.1)",
                              f"drop {name}: pass it to the payment processor at authorization and keep nothing")


PCI_RULES = (pan_past_tokenization, cardholder_data_unencrypted, sensitive_authentication_stored)
