"""The column-level graph over all assets, and classification propagated along it.

Declared columns carry their own categories; a column computed by SQL inherits the categories of
its direct sources, with three exceptions that change what it is:
  - a hash on the path (keyed or not) → the column is *pseudonymized*: still personal data;
  - an aggregate that does not return input values (count, sum, avg…) over a grouping with no
    column that is the subject or singles one person out (an email; `taxonomy.is_direct_identifier`)
    → *anonymous*; the group keys of such a query are anonymous too;
  - an aggregate that returns input values (max(ssn) is an SSN) is not anonymization.
Subject links follow identity columns through every derivation that is not anonymizing.

A Python asset's code cannot be read: it may declare its column lineage (`lineage:` in its
governance), which is propagated like traced SQL. Without one, its whole (the column `*`) is
conservatively derived from every column of every asset it reads: every personal category of its
inputs flows into it, unless it is declared pii_free or declares its anonymization.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from dataflow_governance.errors import LineageError
from dataflow_governance.lineage.statements import ColumnLineage, DirectSource, StatementLineage
from dataflow_governance.model import taxonomy
from dataflow_governance.model.spec import AssetGovernance, GovernanceError, table_of

TABLE_LEVEL = "*"  # the node of an asset whose columns are not traced: the asset as a whole


@dataclass(frozen=True)
class SqlDefinition:
    asset: str
    sql: str
    dialect: str = "duckdb"


@dataclass(frozen=True)
class Derivation:
    """One direct edge into a column: which upstream column, how."""

    asset: str
    column: str
    source: DirectSource


@dataclass
class ColumnClass:
    categories: set[str] = field(default_factory=set)
    subject_linked: bool = False
    pseudonymized: bool = False
    anonymous: bool = False
    derived_from: list[Derivation] = field(default_factory=list)

    @property
    def personal(self) -> bool:
        return not self.anonymous and any(taxonomy.is_personal_category(c) for c in self.categories)


class ColumnClasses(dict[tuple[str, str], ColumnClass]):
    """(asset, column) → its class, with each asset's columns indexed as they are set: rules ask
    for one asset's columns, for every asset (a scan of all classes each time is quadratic)."""

    def __init__(self, items: Mapping[tuple[str, str], ColumnClass] | None = None):
        super().__init__()
        self.by_asset: dict[str, dict[str, ColumnClass]] = {}
        for key, value in (items or {}).items():
            self[key] = value

    def __setitem__(self, key: tuple[str, str], value: ColumnClass) -> None:
        super().__setitem__(key, value)
        self.by_asset.setdefault(key[0], {})[key[1]] = value

    def __delitem__(self, key: tuple[str, str]) -> None:
        super().__delitem__(key)
        del self.by_asset[key[0]][key[1]]


@dataclass
class ColumnGraph:
    lineage: dict[str, StatementLineage] = field(default_factory=dict)
    classes: ColumnClasses = field(default_factory=ColumnClasses)
    errors: dict[str, str] = field(default_factory=dict)  # asset → why its SQL could not be traced
    sql: dict[str, SqlDefinition] = field(default_factory=dict)  # asset → the SQL that builds it

    def class_of(self, asset: str, column: str) -> ColumnClass | None:
        """A column's class; a struct field path (`address.city`) is classed as its column, and a
        column of an asset whose columns are not traced as the asset as a whole."""
        found = self.classes.get((asset, column))
        if found is None and "." in column:
            found = self.classes.get((asset, column.split(".", 1)[0]))
        if found is None:
            found = self.classes.get((asset, TABLE_LEVEL))
        return found

    def __post_init__(self) -> None:
        if not isinstance(self.classes, ColumnClasses):
            self.classes = ColumnClasses(self.classes)

    def columns_of(self, asset: str) -> dict[str, ColumnClass]:
        return dict(self.classes.by_asset.get(asset, {}))

    def personal_origins(self, asset: str, column: str) -> list[tuple[str, str, list[str]]]:
        """The declared personal columns this column is derived from: (asset, column, categories)."""
        found, seen, stack = [], set(), [(asset, column)]
        while stack:
            node = stack.pop()
            if node in seen:
                continue
            seen.add(node)
            cls = self.classes.get(node)
            if cls is None:
                continue
            if not cls.derived_from and cls.personal:
                found.append((node[0], node[1], sorted(c for c in cls.categories if taxonomy.is_personal_category(c))))
            stack.extend((d.asset, d.column) for d in cls.derived_from)
        return sorted(found)

    def upstream(self, asset: str, column: str) -> list[tuple[str, str]]:
        return self._walk((asset, column), lambda node: [(d.asset, d.column) for d in self.classes[node].derived_from]
                          if node in self.classes else [])

    def downstream(self, asset: str, column: str) -> list[tuple[str, str]]:
        children: dict[tuple[str, str], list[tuple[str, str]]] = {}
        for node, cls in self.classes.items():
            for d in cls.derived_from:
                children.setdefault((d.asset, d.column), []).append(node)
        return self._walk((asset, column), lambda node: children.get(node, []))

    @staticmethod
    def _walk(start, step) -> list[tuple[str, str]]:
        seen, order, stack = {start}, [], [start]
        while stack:
            for nxt in step(stack.pop()):
                if nxt not in seen:
                    seen.add(nxt)
                    order.append(nxt)
                    stack.append(nxt)
        return sorted(order)


def build_column_graph(governance: Mapping[str, AssetGovernance], sql: Iterable[SqlDefinition],
                       upstream: Mapping[str, Iterable[str]]) -> ColumnGraph:
    """Trace every SQL asset, take every Python asset's declared lineage, derive every other asset
    that reads something as a whole (upstream first), and propagate classifications column by column."""
    graph = ColumnGraph()
    sql_by_asset = {s.asset: s for s in sql}
    graph.sql = dict(sql_by_asset)
    asset_of_table = {table_of(a, g): a for a, g in governance.items()}
    asset_of_table.update({a: a for a in sql_by_asset})
    schema: dict[str, dict[str, str]] = {}
    for asset, gov in governance.items():
        if gov.lineage and asset in sql_by_asset:
            raise GovernanceError(f"asset {asset!r}, field lineage: {asset} is a SQL asset, whose column lineage "
                                  "is traced from its SQL; declare lineage only on Python assets")
        if gov.columns and asset not in sql_by_asset:
            schema[table_of(asset, gov)] = {name: col.type or "text" for name, col in gov.columns.items()}
            for name, col in gov.columns.items():
                graph.classes[(asset, name)] = ColumnClass(
                    categories=set(col.categories), subject_linked=col.identity,
                    pseudonymized=col.pseudonymized, anonymous=col.anonymized)
    everything = set(upstream) | set(governance) | set(sql_by_asset)
    columns_of: dict[str, list[str]] = {}  # asset → its classified columns so far (a scan of every class per asset is quadratic)
    for owner, column in graph.classes:
        columns_of.setdefault(owner, []).append(column)
    for asset in _topological(everything, upstream):
        gov = governance.get(asset)
        if asset in sql_by_asset:
            _trace_sql(graph, sql_by_asset[asset], gov, schema, asset_of_table)
        elif gov is not None and gov.lineage:
            _take_declared(graph, asset, gov, governance, frozenset(upstream.get(asset, ())), asset_of_table)
            schema[table_of(asset, gov)] = {**schema.get(table_of(asset, gov), {}),
                                            **{name: "text" for name in gov.lineage}}
        elif upstream.get(asset):
            _derive_whole(graph, asset, gov, upstream[asset], governance, columns_of)
        added = list(graph.lineage[asset].columns) if asset in graph.lineage else []
        if (asset, TABLE_LEVEL) in graph.classes:
            added.append(TABLE_LEVEL)
        columns_of[asset] = sorted({*columns_of.get(asset, ()), *added})
    return graph


def _trace_sql(graph: ColumnGraph, definition: SqlDefinition, gov: AssetGovernance | None,
               schema: dict[str, dict[str, str]], asset_of_table: Mapping[str, str]) -> None:
    asset = definition.asset
    known = {t: cols for t, cols in schema.items()}
    if gov is not None and gov.columns:  # a MERGE or UPDATE reads the table it writes
        known.setdefault(table_of(asset, gov), {name: col.type or "text" for name, col in gov.columns.items()})
    try:
        from dataflow_governance.lineage.sql import LineageAnalyzer  # (sqlglot's optimizer: only where SQL is traced)

        lineage = LineageAnalyzer(known or None, definition.dialect).column_lineage(definition.sql)
    except LineageError as exc:
        graph.errors[asset] = str(exc)
        return
    graph.lineage[asset] = lineage
    schema[table_of(asset, gov)] = {name: "text" for name in lineage.columns}
    for column, item in lineage.columns.items():
        cls = _classify(graph, item, lineage, asset_of_table)
        declared = gov.columns.get(column) if gov is not None else None
        if declared is not None:
            cls.categories |= set(declared.categories)
            cls.subject_linked |= declared.identity
        graph.classes[(asset, column)] = cls


def _take_declared(graph: ColumnGraph, asset: str, gov: AssetGovernance, governance: Mapping[str, AssetGovernance],
                   reads: frozenset[str], asset_of_table: Mapping[str, str]) -> None:
    """A Python asset's declared column lineage, checked against what it reads, as a traced statement."""
    columns = {}
    for column, derivation in gov.lineage.items():
        direct = []
        for source_asset, source_column in derivation.upstream_columns():
            if source_asset not in reads:
                raise GovernanceError(
                    f"asset {asset!r}, field lineage.{column}: {source_asset}.{source_column} is not read by "
                    f"{asset} (it reads {', '.join(sorted(reads)) or 'nothing'}); add {source_asset} to its deps")
            known = {c for (a, c) in graph.classes if a == source_asset and c != TABLE_LEVEL}
            if known and source_column not in known:
                raise GovernanceError(
                    f"asset {asset!r}, field lineage.{column}: {source_asset} has no column {source_column!r} "
                    f"(it has {', '.join(sorted(known))})")
            direct.append(DirectSource(table_of(source_asset, governance.get(source_asset)), source_column,
                                       derivation.transformation, derivation.masking))
        columns[column] = ColumnLineage(direct=tuple(sorted(direct)))
    lineage = StatementLineage(columns=columns, tables=tuple(sorted({d.table for c in columns.values() for d in c.direct})),
                               target=table_of(asset, gov), kind="python")
    graph.lineage[asset] = lineage
    for column, item in columns.items():
        cls = _classify(graph, item, lineage, asset_of_table)
        declared = gov.columns.get(column)
        if declared is not None:  # the code cannot be read: what it declares about the result stands
            cls.categories |= set(declared.categories)
            cls.subject_linked |= declared.identity
            cls.pseudonymized |= declared.pseudonymized
            cls.anonymous |= declared.anonymized
        graph.classes[(asset, column)] = cls


def _derive_whole(graph: ColumnGraph, asset: str, gov: AssetGovernance | None, reads: Iterable[str],
                  governance: Mapping[str, AssetGovernance], columns_of: Mapping[str, list[str]]) -> None:
    """An untraced asset as a whole, derived from every column of every asset it reads."""
    whole = ColumnClass()
    for source in sorted(reads):
        table = table_of(source, governance.get(source))
        for column in columns_of.get(source, ()):
            origin = graph.classes[(source, column)]
            whole.derived_from.append(Derivation(source, column, DirectSource(table, column, "transformation")))
            if origin.personal:
                whole.categories |= origin.categories
                whole.subject_linked |= origin.subject_linked
    if not whole.derived_from:
        return
    declared_free = gov is not None and (gov.pii_free or bool(gov.anonymization))
    whole.anonymous = declared_free
    graph.classes[(asset, TABLE_LEVEL)] = whole


def _topological(assets: Iterable[str], upstream: Mapping[str, Iterable[str]]) -> list[str]:
    order, done = [], set()
    wanted = set(assets)

    def visit(asset: str, path: tuple = ()) -> None:
        if asset in done or asset in path:
            return
        for dep in upstream.get(asset, ()):
            if dep in wanted:
                visit(dep, (*path, asset))
        done.add(asset)
        order.append(asset)

    for asset in sorted(wanted):
        visit(asset)
    return order


def _singles_out(cls: ColumnClass) -> bool:
    return cls.subject_linked or (not cls.anonymous and any(taxonomy.is_direct_identifier(c) for c in cls.categories))


def _classify(graph: ColumnGraph, item, lineage: StatementLineage, asset_of_table: Mapping[str, str]) -> ColumnClass:
    cls = ColumnClass()
    group_keys = [(asset_of_table.get(i.table, i.table), i.column) for i in item.indirect if i.kind == "group_by"]
    # Grouping by a column that is the subject, or that singles one person out (an email), keeps
    # one row per person: nothing in such a query is anonymous.
    grouped_by_subject = any(_singles_out(graph.classes.get(key, ColumnClass())) for key in group_keys)
    aggregated_query = lineage.grouped
    contributions = []
    for source in item.direct:
        upstream_asset = asset_of_table.get(source.table, source.table)
        cls.derived_from.append(Derivation(upstream_asset, source.column, source))
        origin = graph.class_of(upstream_asset, source.column)
        if origin is None or origin.anonymous:
            continue
        anonymizing = (source.transformation == "aggregation" and not source.reveals_values and not grouped_by_subject)
        is_group_key = (aggregated_query and source.transformation != "aggregation"
                        and (upstream_asset, source.column) in group_keys and not _singles_out(origin))
        if anonymizing or is_group_key:
            continue
        contributions.append((origin, source.masking))
        cls.categories |= origin.categories
        cls.subject_linked |= origin.subject_linked
    if item.direct and not contributions:
        cls.anonymous = any(graph.class_of(asset_of_table.get(s.table, s.table), s.column) for s in item.direct)
    cls.pseudonymized = bool(contributions) and all(masked or origin.pseudonymized for origin, masked in contributions)
    return cls
