"""The column graph as the lineage browser walks it: nodes, typed edges, facts, neighbourhoods,
"why" chains and impact lists, built once from the governance catalog.

Built from the catalog only (never Dagster, never the project's code), so that browsing a project
needs nothing but the file `dfg catalog build` writes. Every answer is bounded: a neighbourhood by
hops and nodes, a "why" tree by depth and size, a search by results; each says when it was cut.
"""

from __future__ import annotations

import difflib
from collections import deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from dataflow_governance.catalog.artifact import Catalog
from dataflow_governance.lineage.graph import TABLE_LEVEL, ColumnClass
from dataflow_governance.model import taxonomy
from dataflow_governance.model.levels import DEFAULT_LEVELS, data_level
from dataflow_governance.model.spec import table_of

# Edge kinds, as OpenLineage's column lineage facet names them (masking: a direct edge through a hash).
DIRECT_KINDS = ("identity", "transformation", "aggregation", "masking")
INDIRECT_KINDS = ("join", "filter", "group_by", "window", "conditional", "sort")
DEPENDENCY = "dependency"  # table view: an asset read as a whole (no column lineage between the two)
MAX_HOPS = 10
MAX_NODES = 600  # a neighbourhood past this is cut (and says so): a graph nobody can read is no answer
MAX_SEARCH = 50
MAX_WHY_NODES = 200
LABEL_CHARS = 80  # names are shown up to this length (a 10,000-character name stays in the data, not the layout)

Node = tuple[str, str]  # (asset, column)


def label(name: str) -> str:
    return name if len(name) <= LABEL_CHARS else name[:LABEL_CHARS - 1] + "…"


def direct_kind(kind: str) -> bool:
    return kind in DIRECT_KINDS


@dataclass(frozen=True)
class Edge:
    source: Node
    target: Node
    kind: str
    unverified: bool = False  # a source a partial schema did not list (bound by its qualifier)


@dataclass
class AssetFacts:
    """What colours an asset and its columns: its governance as the catalog holds it."""

    key: str
    known: bool  # governed or traced in the catalog (False: a table the SQL reads that no asset declares)
    level: str = "internal"
    categories: tuple[str, ...] = ()
    personal: bool = False
    pci: str = "out"  # cde | connected | out
    phi: bool = False
    tenancy: str | None = None  # row | schema | database, or "tenant key <col>"
    region: str | None = None
    processors: tuple[str, ...] = ()
    regimes: tuple[str, ...] = ()
    purposes: tuple[str, ...] = ()
    owner: str | None = None
    kind: str = "declared"  # sql | python | declared | external
    lineage_error: str | None = None
    warnings: tuple[str, ...] = ()
    columns: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {"key": self.key, "label": label(self.key), "known": self.known, "level": self.level,
                "categories": list(self.categories), "personal": self.personal, "pci": self.pci, "phi": self.phi,
                "tenancy": self.tenancy, "region": self.region, "processors": list(self.processors),
                "regimes": list(self.regimes), "purposes": list(self.purposes), "owner": self.owner, "kind": self.kind,
                "lineage_error": self.lineage_error, "warnings": list(self.warnings), "columns": len(self.columns)}


class LineageIndex:
    """Every asset and column of a catalog with the edges between them, both ways."""

    def __init__(self, catalog: Catalog, levels: Mapping[str, str] = DEFAULT_LEVELS):
        self.catalog = catalog
        self.levels = levels
        graph = catalog.graph
        self.graph = graph
        governance = catalog.governance
        self.asset_of_table = {table_of(a, g): a for a, g in governance.items()}
        self.asset_of_table.update({a: a for a in graph.sql})
        self.out_edges: dict[Node, list[Edge]] = {}
        self.in_edges: dict[Node, list[Edge]] = {}
        self.columns: dict[str, list[str]] = {}
        for (asset, column) in graph.classes:
            self._column(asset, column)
        for asset, lineage in graph.lineage.items():
            for column, item in lineage.columns.items():
                target = self._column(asset, column)
                unverified = set(item.unverified)
                for d in item.direct:
                    self._edge(self._column(self._asset(d.table), d.column), target,
                               "masking" if d.masking else d.transformation, (d.table, d.column) in unverified)
                for i in item.indirect:
                    self._edge(self._column(self._asset(i.table), i.column), target, i.kind,
                               (i.table, i.column) in unverified)
        for (asset, column), cls in graph.classes.items():
            if asset in graph.lineage:
                continue  # traced: its edges are the statement's, with their indirect kinds
            for derivation in cls.derived_from:
                self._edge(self._column(derivation.asset, derivation.column), (asset, column),
                           "masking" if derivation.source.masking else derivation.source.transformation)
        self.upstream = {a: set(deps) for a, deps in catalog.upstream.items()}
        self.downstream: dict[str, set[str]] = {}
        for asset, deps in self.upstream.items():
            for dep in deps:
                self.downstream.setdefault(dep, set()).add(asset)
        self.assets = self._facts()
        self._lower = sorted((key.lower(), key) for key in self.assets)

    # building ------------------------------------------------------------------------------------
    def _asset(self, table: str) -> str:
        return self.asset_of_table.get(table, table)

    def _column(self, asset: str, column: str) -> Node:
        names = self.columns.setdefault(asset, [])
        if column not in names:
            names.append(column)
        return (asset, column)

    def _edge(self, source: Node, target: Node, kind: str, unverified: bool = False) -> None:
        edge = Edge(source, target, kind, unverified)
        self.out_edges.setdefault(source, []).append(edge)
        self.in_edges.setdefault(target, []).append(edge)

    def _facts(self) -> dict[str, AssetFacts]:
        from dataflow_governance.policy.hipaa import hipaa_assets
        from dataflow_governance.policy.pci import pci_scope

        catalog, graph = self.catalog, self.graph
        ctx = catalog.context
        pci = {a: e.scope for a, e in pci_scope(ctx).entries.items()}
        phi = set(hipaa_assets(ctx))
        facts = {}
        for key in sorted({*catalog.governance, *catalog.upstream, *self.columns}):
            gov = catalog.governance.get(key)
            known = gov is not None or key in catalog.upstream
            classes = graph.columns_of(key)
            categories = set(gov.data_categories if gov else ()) | {c for cls in classes.values() if not cls.anonymous
                                                                    for c in cls.categories}
            anonymous = bool(classes) and all(cls.anonymous for cls in classes.values())
            lineage = graph.lineage.get(key)
            tenancy: str | None = None
            if gov is not None and (gov.tenant_strategy or gov.tenant_key):
                tenancy = str(gov.tenant_strategy or "row") + (f" (tenant key {gov.tenant_key})" if gov.tenant_key else "")
            regimes = set(gov.regime if gov else ()) | ({"hipaa"} if key in phi else set()) \
                | ({"pci"} if pci.get(key, "out") != "out" else set()) \
                | ({"gdpr"} if any(map(taxonomy.is_personal_category, categories)) else set())
            facts[key] = AssetFacts(
                key=key, known=known,
                level=data_level(categories, None, self.levels, anonymous=anonymous),
                categories=tuple(sorted(categories)),
                personal=any(map(taxonomy.is_personal_category, categories)),
                pci=pci.get(key, "out"), phi=key in phi, tenancy=tenancy,
                region=gov.region if gov else None, processors=tuple(gov.processors) if gov else (),
                regimes=tuple(sorted(regimes)), purposes=tuple(gov.purposes) if gov else (),
                owner=gov.owner if gov else None,
                kind="sql" if key in graph.sql else ("python" if lineage is not None else
                                                      ("declared" if known else "external")),
                lineage_error=graph.errors.get(key), warnings=lineage.warnings if lineage else (),
                columns=list(self.columns.get(key, [])))
        return facts

    # facts -----------------------------------------------------------------------------------------
    def column_class(self, asset: str, column: str) -> ColumnClass | None:
        return self.graph.classes.get((asset, column))

    def column_dict(self, node: Node) -> dict[str, Any]:
        asset, column = node
        cls = self.column_class(asset, column)
        facts = self.assets.get(asset)
        categories = sorted(cls.categories) if cls else []
        declared = self.catalog.governance.get(asset)
        sensitivity = declared.columns[column].sensitivity if declared and column in declared.columns else None
        return {"asset": asset, "column": column, "label": label(column), "asset_label": label(asset),
                "categories": categories,
                "personal": bool(cls and cls.personal), "pseudonymized": bool(cls and cls.pseudonymized),
                "anonymous": bool(cls and cls.anonymous), "subject_linked": bool(cls and cls.subject_linked),
                "level": data_level(categories, sensitivity, self.levels, anonymous=bool(cls and cls.anonymous)),
                "known": facts.known if facts else False}

    # search ----------------------------------------------------------------------------------------
    def search(self, text: str) -> dict[str, Any]:
        """Assets and columns whose name holds `text` (case-insensitive): exact, then prefix, then the rest."""
        needle = text.strip().lower()[:200]
        if not needle:
            return {"results": [], "more": False}
        found: list[tuple[int, str, str | None]] = []
        for lower, key in self._lower:
            if needle in lower:
                found.append((0 if lower == needle else 1 if lower.startswith(needle) else 2, key, None))
            for column in self.columns.get(key, ()):
                name = column.lower()
                qualified = f"{lower}.{name}"
                if needle in name or needle in qualified:
                    found.append((0 if needle in (name, qualified) else 1 if name.startswith(needle) else 2, key, column))
        # (All are ranked before any is cut: an exact match late in the alphabet still comes first.)
        found.sort(key=lambda f: (f[0], f[1], f[2] or ""))
        return {"results": [{"asset": a, "column": c, "label": label(a) + ("." + label(c) if c else "")}
                            for _rank, a, c in found[:MAX_SEARCH]],
                "more": len(found) > MAX_SEARCH}

    def suggestions(self, key: str) -> list[str]:
        return difflib.get_close_matches(key[:200], list(self.assets), n=5, cutoff=0.5)

    # neighbourhoods --------------------------------------------------------------------------------
    def neighbourhood(self, focus: Iterable[Node], hops: int, kinds: set[str]) -> dict[str, Any]:
        """The columns `hops` edges (of `kinds`) upstream and downstream of `focus`, with the edges
        among them; cut at MAX_HOPS and MAX_NODES, and saying so."""
        notes, hops = _bounded_hops(hops)

        def neighbours(node: Node, direction: int) -> list[Node]:
            edges = (self.in_edges if direction < 0 else self.out_edges).get(node, ())
            return [e.source if direction < 0 else e.target for e in edges if e.kind in kinds]

        seen, cut = _walk_both_ways(list(focus), hops, neighbours)
        if cut:
            notes.append(f"the neighbourhood holds more than {MAX_NODES} columns: the nearest {MAX_NODES} are shown; "
                         "ask for fewer hops or open a column")
        ids = {node: i for i, node in enumerate(seen)}
        edges = [{"source": ids[e.source], "target": ids[e.target], "kind": e.kind, **({"unverified": True} if e.unverified else {})}
                 for node in seen for e in self.out_edges.get(node, ()) if e.kind in kinds and e.target in ids]
        nodes = [{**self.column_dict(node), "id": ids[node], "distance": seen[node]} for node in seen]
        return {"view": "column", "nodes": nodes, "edges": edges,
                "assets": {a: self.assets[a].to_dict() for a in {n[0] for n in seen} if a in self.assets},
                "hops": hops, "bounded": notes}

    def table_neighbourhood(self, asset: str, hops: int, kinds: set[str]) -> dict[str, Any]:
        """Assets `hops` dependencies away, each edge with the column edge kinds between the two."""
        notes, hops = _bounded_hops(hops)
        between = self.asset_edges

        def neighbours(node: str, direction: int) -> list[str]:
            step = self.upstream if direction < 0 else self.downstream
            return [n for n in sorted(step.get(node, ()))
                    if self._shown(between.get((n, node) if direction < 0 else (node, n)), kinds)]

        seen, cut = _walk_both_ways([asset], hops, neighbours)
        if cut:
            notes.append(f"more than {MAX_NODES} assets: the nearest {MAX_NODES} are shown")
        ids = {a: i for i, a in enumerate(seen)}
        edges = []
        for a in seen:
            for b in sorted(self.downstream.get(a, ())):
                if b in ids and self._shown(between.get((a, b)), kinds):
                    edges.append({"source": ids[a], "target": ids[b], "kinds": sorted(between.get((a, b)) or {DEPENDENCY})})
        nodes = [{**self.assets[a].to_dict(), "id": ids[a], "distance": seen[a]} for a in seen if a in self.assets]
        return {"view": "table", "nodes": nodes, "edges": edges, "hops": hops, "bounded": notes}

    @staticmethod
    def _shown(kinds_between: set[str] | None, kinds: set[str]) -> bool:
        # An edge without column lineage (read as a whole) is a dependency: shown with the direct kinds.
        return bool(kinds_between & kinds) if kinds_between else bool(kinds & set(DIRECT_KINDS))

    @cached_property
    def asset_edges(self) -> dict[tuple[str, str], set[str]]:
        """(source asset, target asset) → the kinds of the column edges between them."""
        between: dict[tuple[str, str], set[str]] = {}
        for edges in self.out_edges.values():
            for e in edges:
                if e.source[0] != e.target[0]:
                    between.setdefault((e.source[0], e.target[0]), set()).add(e.kind)
        return between

    # why -------------------------------------------------------------------------------------------
    def why(self, asset: str, column: str) -> dict[str, Any]:
        """What makes a column personal (the `derived_from` chain to the declared columns its
        categories come from) or not (the masking, aggregation or declaration that stops them)."""
        cls = self.graph.class_of(asset, column)
        budget = [MAX_WHY_NODES]
        shown: set[Node] = set()
        tree = self._why_node((asset, column), None, 0, budget, shown) if cls is not None else None
        return {"column": self.column_dict((asset, column)), "verdict": self._verdict(cls),
                "reason": self._reason(asset, column, cls), "chain": tree, "cut": budget[0] <= 0}

    @staticmethod
    def _verdict(cls: ColumnClass | None) -> str:
        if cls is None:
            return "unclassified"
        if cls.anonymous:
            return "anonymous"
        if cls.personal:
            return "pseudonymized" if cls.pseudonymized else "personal"
        return "not personal"

    def _reason(self, asset: str, column: str, cls: ColumnClass | None) -> str:
        gov = self.catalog.governance.get(asset)
        if cls is None:
            return "no classification: the column is neither declared nor traced"
        declared = gov.columns.get(column) if gov else None
        personal = sorted(c for c in cls.categories if taxonomy.is_personal_category(c))
        if cls.anonymous:
            if declared is not None and declared.anonymized:
                return "declared anonymized on this asset"
            aggregated = [d for d in cls.derived_from if d.source.transformation == "aggregation" and not d.source.reveals_values]
            if aggregated:
                return "an aggregate that returns no input value, over a grouping that singles no one out: " + \
                    ", ".join(f"{d.asset}.{d.column}" for d in aggregated)
            lineage = self.graph.lineage.get(asset)
            if lineage is not None and lineage.grouped:
                return "a group key of an aggregation that singles no one out (one row per group, not per person)"
            if gov is not None and (gov.pii_free or gov.anonymization):
                return f"the asset declares its anonymization: {gov.anonymization or 'pii_free'}"
            return "every source is anonymous"
        if not personal:
            return "no personal category reaches it"
        if not cls.derived_from:
            return "declared on this asset: " + ", ".join(personal)
        masked = [d for d in cls.derived_from if d.source.masking]
        if cls.pseudonymized:
            return "personal, pseudonymized: a hash on the path (" + ", ".join(f"{d.asset}.{d.column}" for d in masked) + \
                ") hides the value but still singles the person out"
        return "personal by lineage: " + ", ".join(personal) + " flow in from the sources below"

    def _why_node(self, node: Node, via: dict | None, depth: int, budget: list[int], shown: set[Node]) -> dict[str, Any]:
        budget[0] -= 1
        asset, column = node
        cls = self.graph.class_of(asset, column)
        out: dict[str, Any] = {"asset": asset, "column": column, "label": f"{label(asset)}.{label(column)}",
                               "verdict": self._verdict(cls), "via": via,
                               "categories": sorted(c for c in (cls.categories if cls else ()) if taxonomy.is_personal_category(c)),
                               "declared": bool(cls is not None and not cls.derived_from), "children": []}
        if node in shown:
            out["repeated"] = True  # shown above: a diamond is drawn once
            return out
        shown.add(node)
        if cls is None or depth >= 40:
            return out
        for d in cls.derived_from:
            if budget[0] <= 0:
                break
            origin = self.graph.class_of(d.asset, d.column)
            if origin is None or not (origin.personal or origin.pseudonymized):
                continue  # only what carries personal data explains the verdict
            via_edge = {"kind": "masking" if d.source.masking else d.source.transformation,
                        "reveals_values": d.source.reveals_values}
            out["children"].append(self._why_node((d.asset, d.column), via_edge, depth + 1, budget, shown))
        return out

    # impact ----------------------------------------------------------------------------------------
    def impact(self, focus: Iterable[Node]) -> list[dict[str, Any]]:
        """Every column downstream of `focus` (all edge kinds), nearest first, with the facts that
        say what a change or a leak there would touch: categories, processors, regimes, region."""
        start = list(focus)
        seen = {n: 0 for n in start}
        via: dict[Node, str] = {}
        queue = deque(start)
        while queue:
            node = queue.popleft()
            for edge in self.out_edges.get(node, ()):
                if edge.target not in seen:
                    seen[edge.target] = seen[node] + 1
                    via[edge.target] = "direct" if direct_kind(edge.kind) else "indirect"
                    queue.append(edge.target)
                elif direct_kind(edge.kind) and via.get(edge.target) == "indirect":
                    via[edge.target] = "direct"
        rows = []
        for node, hops in sorted(seen.items(), key=lambda item: (item[1], item[0])):
            if hops == 0:
                continue
            facts = self.assets.get(node[0])
            cls = self.column_dict(node)
            rows.append({"asset": node[0], "column": node[1], "hops": hops, "via": via[node],
                         "categories": cls["categories"], "level": cls["level"], "personal": cls["personal"],
                         "processors": list(facts.processors) if facts else [],
                         "regimes": list(facts.regimes) if facts else [],
                         "region": facts.region if facts else None, "pci": facts.pci if facts else "out",
                         "phi": facts.phi if facts else False})
        return rows

    def focus_of(self, asset: str, column: str | None) -> list[Node]:
        if column is not None:
            return [(asset, column)]
        return [(asset, c) for c in self.columns.get(asset, [])] or [(asset, TABLE_LEVEL)]


def _bounded_hops(hops: int) -> tuple[list[str], int]:
    """At most MAX_HOPS are walked, and the answer says so when more were asked."""
    if hops > MAX_HOPS:
        return [f"{hops} hops asked; at most {MAX_HOPS} are walked"], MAX_HOPS
    return [], hops


def _walk_both_ways(start: list, hops: int, neighbours) -> tuple[dict, bool]:
    """Breadth first `hops` steps upstream (negative distances) then downstream (positive) of `start`
    over `neighbours(node, direction)`, nearest first, stopping at MAX_NODES: (node → distance, cut)."""
    seen = {node: 0 for node in start}
    cut = False
    for direction in (-1, 1):
        queue = deque((node, 0) for node in start)
        while queue and not cut:
            node, depth = queue.popleft()
            if depth >= hops:
                continue
            for nxt in neighbours(node, direction):
                if nxt in seen:
                    continue
                if len(seen) >= MAX_NODES:
                    cut = True
                    break
                seen[nxt] = direction * (depth + 1)
                queue.append((nxt, depth + 1))
    return seen, cut
