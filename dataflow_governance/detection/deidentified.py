"""Proof on the data that an asset declared `deidentification: safe_harbor` holds none of HIPAA's
18 identifiers: every detector over every column (names, addresses and birth dates in its free
text too), and what Safe Harbor generalizes checked for being generalized — no DATE or TIMESTAMP
column, no full date written in text, no five-digit ZIP code, no age over 89, no URL.

Counts per column only; the shapes are tested where the data is (one pushed-down query).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field

from sqlglot import exp

from dataflow_governance.detection.detectors import DETECTORS, allowing
from dataflow_governance.detection.scan import ScanReport, scan_table
from dataflow_governance.storage.warehouse import Warehouse, column_expr, table_expr

_MONTHS = "January|February|March|April|May|June|July|August|September|October|November|December"
# Shapes Safe Harbor must not leave, in the regex subset the engines share.
SHAPES = {
    "full dates in text": rf"[0-9]{{4}}-[0-9]{{2}}-[0-9]{{2}}|[0-9]{{1,2}}[./][0-9]{{1,2}}[./][0-9]{{4}}"
                          rf"|[0-9]{{1,2}} ({_MONTHS}) [0-9]{{4}}|({_MONTHS}) [0-9]{{1,2}}, [0-9]{{4}}",
    "five-digit ZIP codes": r"^[0-9]{5}(-[0-9]{4})?$",
    "URLs": r"https?://",
}
_TEXT = ("VARCHAR", "TEXT", "CHAR", "STRING")
_DATES = ("DATE", "TIMESTAMP", "DATETIME")
_NUMBERS = ("INT", "BIGINT", "SMALLINT", "TINYINT", "INTEGER", "DOUBLE", "FLOAT", "REAL", "DECIMAL", "NUMERIC", "HUGEINT")


@dataclass
class SafeHarborReport:
    table: str
    rows: int = 0
    problems: dict[str, dict[str, int]] = field(default_factory=dict)  # column → what is left → rows
    scan: ScanReport | None = None

    @property
    def passed(self) -> bool:
        return not self.problems and not (self.scan and self.scan.unavailable)

    def add(self, column: str, what: str, rows: int) -> None:
        if rows:
            self.problems.setdefault(column, {})[what] = rows


def check_safe_harbor(warehouse: Warehouse, table: str, allow: Iterable[str] = (), own_time: str | None = None) -> SafeHarborReport:
    """`own_time`: the asset's own timestamp (when the extract was made), not a date of the person;
    the policy rule makes sure nothing of the person is derived into it."""
    types = {c: t for c, t in warehouse.columns(table).items() if c != own_time}
    report = SafeHarborReport(table)
    report.scan = scan_table(warehouse, table, detectors=allowing(DETECTORS, allow), budget=None)
    report.rows = report.scan.rows_scanned
    for column, found in report.scan.findings_by_column().items():
        for detector, rows in found.items():
            report.add(column, detector, rows)
    counts: list[tuple[str, str, exp.Expr]] = []
    for column, kind in types.items():
        kind = kind.upper()
        col = column_expr(column)
        if kind.startswith(_DATES):
            counts.append((column, f"full dates (a {kind} column)", exp.Not(this=exp.Is(this=col, expression=exp.Null()))))
        elif kind.startswith(_TEXT):
            for what, shape in SHAPES.items():
                counts.append((column, what, exp.RegexpLike(this=col, expression=exp.Literal.string(shape))))
        elif kind.startswith(_NUMBERS) and re.search(r"(^|_)age($|_)", column.lower()):
            counts.append((column, "ages over 89", exp.GT(this=col, expression=exp.Literal.number(89))))
    if counts:
        sums = [exp.func("sum", exp.Case(ifs=[exp.If(this=condition, true=exp.Literal.number(1))], default=exp.Literal.number(0)))
                for _c, _w, condition in counts]
        row = warehouse.fetch(exp.select(*sums).from_(table_expr(table)))[0]
        for (column, what, _condition), rows in zip(counts, row):
            report.add(column, what, int(rows or 0))
    return report
