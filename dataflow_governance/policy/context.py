"""What a static rule sees and what it says: the policy context and its findings.

Kept apart from the rules so that families of rules (`policy`, `tenancy`) build on it side by side.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import asdict, dataclass
from functools import cached_property
from typing import TYPE_CHECKING

from dataflow_governance.lineage.graph import ColumnClass, ColumnGraph
from dataflow_governance.model import taxonomy
from dataflow_governance.model.spec import AssetGovernance, Processor, table_of

if TYPE_CHECKING:
    from dataflow_governance.model.manifest import TenancyConfig
    from dataflow_governance.model.systems import Landscape


@dataclass(frozen=True, order=True)
class Finding:
    asset: str
    rule: str
    severity: str  # "error" | "warning"
    message: str
    fix: str = ""

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class PolicyContext:
    governance: Mapping[str, AssetGovernance]
    upstream: Mapping[str, frozenset[str]]  # asset → the assets it reads
    processors: Mapping[str, Processor]
    graph: ColumnGraph | None = None  # column lineage, where assets are defined by SQL
    tenancy: TenancyConfig | None = None  # the tenant entity and tenants' pinning
    landscape: Landscape | None = None  # the systems and flows around the assets, derived and declared

    @cached_property
    def downstream(self) -> Mapping[str, frozenset[str]]:
        """asset → the assets that read it (the upstream graph turned round)."""
        readers: dict[str, set[str]] = {}
        for asset, sources in self.upstream.items():
            for source in sources:
                readers.setdefault(source, set()).add(asset)
        return {asset: frozenset(found) for asset, found in readers.items()}

    def assets_at(self, table: str | None = None, s3: tuple[str, str] | None = None) -> list[str]:
        """The assets stored in a warehouse table, or in an S3 location (its prefix inside or around theirs)."""
        found = []
        for asset, gov in sorted(self.governance.items()):
            if table is not None and gov.storage.kind == "warehouse" and table_of(asset, gov) == table:
                found.append(asset)
            elif s3 is not None and gov.storage.kind == "s3" and gov.storage.bucket == s3[0]:
                mine = gov.storage.prefix or ""
                if mine.startswith(s3[1]) or s3[1].startswith(mine):
                    found.append(asset)
        return found

    @cached_property
    def column_graph(self) -> ColumnGraph:
        """The column lineage; empty where no asset is defined by SQL."""
        return self.graph if self.graph is not None else ColumnGraph()

    def traced(self, asset: str) -> bool:
        return asset in self.column_graph.lineage

    def personal_columns(self, asset: str) -> dict[str, ColumnClass]:
        """Columns of a SQL-defined asset that carry personal data, by lineage."""
        return {c: cls for c, cls in self.column_graph.columns_of(asset).items() if cls.personal} if self.traced(asset) else {}

    def personal_sources(self, asset: str) -> list[str]:
        """Declared personal assets whose data reaches `asset`, through ungoverned assets too.

        Where the asset's SQL is traced, only upstream assets whose personal columns flow into
        it count; otherwise every upstream asset does. A pii_free asset stops the walk: what it
        emits is declared free of personal data (and checked at run time by the PII scans).
        """
        if self.traced(asset):
            return sorted({origin for column in self.personal_columns(asset)
                           for origin, _c, _cats in self.column_graph.personal_origins(asset, column)} - {asset})
        found: list[str] = []
        seen: set[str] = set()
        stack = list(self.upstream.get(asset, ()))
        while stack:
            source = stack.pop()
            if source in seen:
                continue
            seen.add(source)
            facts = self.governance.get(source)
            if facts is not None and facts.pii_free:
                continue
            if facts is not None and facts.is_personal:
                found.append(source)
                continue
            stack.extend(self.upstream.get(source, ()))
        return sorted(found)

    def categories_of(self, assets: Iterable[str]) -> list[str]:
        return sorted({c for a in assets for c in self.governance[a].all_categories if taxonomy.is_personal_category(c)})


Rule = Callable[[PolicyContext], Iterator[Finding]]
