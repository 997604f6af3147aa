"""What a statement's column lineage is, as values: each output column's direct and indirect
sources. Kept apart from the tracer (`lineage.sql`) so that reading lineage back from the catalog
imports no SQL optimizer.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, order=True)
class DirectSource:
    table: str
    column: str
    transformation: str = "identity"
    masking: bool = False
    reveals_values: bool = False  # an aggregate that returns input values (max, first, string_agg)

    def to_dict(self) -> dict:
        out = {"table": self.table, "column": self.column, "transformation": self.transformation, "masking": self.masking}
        if self.reveals_values:
            out["reveals_values"] = True
        return out


@dataclass(frozen=True, order=True)
class IndirectSource:
    table: str
    column: str
    kind: str

    def to_dict(self) -> dict:
        return {"table": self.table, "column": self.column, "kind": self.kind}


@dataclass(frozen=True, order=True)
class AmbiguousSource:
    """An unqualified column read where several sources could hold it and no schema says which."""
    column: str
    candidates: tuple[str, ...]

    def to_dict(self) -> dict:
        return {"column": self.column, "candidates": list(self.candidates)}


@dataclass(frozen=True)
class ColumnLineage:
    direct: tuple[DirectSource, ...] = ()
    indirect: tuple[IndirectSource, ...] = ()
    ambiguous: tuple[AmbiguousSource, ...] = ()
    # Sources (table, column) a partial schema does not list: bound by their qualifier or as the one
    # possible source, not confirmed by the schema.
    unverified: tuple[tuple[str, str], ...] = ()

    def sources(self) -> tuple[DirectSource | IndirectSource, ...]:
        """Every column this one is computed from or filtered by."""
        return (*self.direct, *self.indirect)

    def to_dict(self) -> dict:
        out: dict[str, Any] = {"direct": [d.to_dict() for d in self.direct], "indirect": [i.to_dict() for i in self.indirect]}
        if self.ambiguous:
            out["ambiguous"] = [a.to_dict() for a in self.ambiguous]
        if self.unverified:
            out["unverified"] = [{"table": t, "column": c} for t, c in self.unverified]
        return out

    @classmethod
    def from_dict(cls, data: dict) -> ColumnLineage:
        return cls(tuple(DirectSource(**d) for d in data["direct"]), tuple(IndirectSource(**i) for i in data["indirect"]),
                   tuple(AmbiguousSource(a["column"], tuple(a["candidates"])) for a in data.get("ambiguous", ())),
                   tuple((u["table"], u["column"]) for u in data.get("unverified", ())))


@dataclass(frozen=True)
class StatementLineage:
    columns: dict[str, ColumnLineage]
    tables: tuple[str, ...]
    target: str | None = None
    grouped: bool = False  # one output row per group (GROUP BY or aggregates), not per input row
    kind: str = "select"  # select | insert | create | update | merge; python: declared by a Python asset
    deletes: bool = False  # a MERGE that deletes target rows
    warnings: tuple[str, ...] = ()  # what a partial schema left to best effort

    def to_dict(self) -> dict:
        out: dict[str, Any] = {"columns": {name: c.to_dict() for name, c in self.columns.items()}, "tables": list(self.tables)}
        if self.target:
            out["target"] = self.target
        if self.kind != "select":
            out["kind"] = self.kind
        if self.deletes:
            out["deletes"] = True
        if self.grouped:
            out["grouped"] = True
        if self.warnings:
            out["warnings"] = list(self.warnings)
        return out

    @classmethod
    def from_dict(cls, data: dict) -> StatementLineage:
        """The inverse of `to_dict` (the governance catalog stores lineage this way)."""
        return cls({name: ColumnLineage.from_dict(c) for name, c in data["columns"].items()}, tuple(data["tables"]),
                   data.get("target"), data.get("grouped", False), data.get("kind", "select"),
                   data.get("deletes", False), tuple(data.get("warnings", ())))


# --- trace results inside one statement ------------------------------------------------------
