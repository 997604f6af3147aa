"""Scan targets for personal data: warehouse tables (prefilter pushed down), DataFrames, files, S3.

Every scan returns a `ScanReport`: rows scanned and, per column, how many rows each detector
matched, with masked examples only. Nothing raw leaves this module.
"""

from __future__ import annotations

import io
import itertools
import json
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
from sqlglot import exp

from dataflow_governance.detection import freetext
from dataflow_governance.detection.detectors import DETECTORS, Detector, combined_prefilter, unavailable
from dataflow_governance.errors import ScanError
from dataflow_governance.storage.objectstore import ObjectStore, s3_errors
from dataflow_governance.storage.warehouse import Warehouse, WarehouseError, column_expr, table_expr

MAX_EXAMPLES = 3
# Types that cannot hold the detectors' values (a float's digits are not a card number).
_SKIPPED_TYPES = ("BOOL", "DATE", "TIME", "INTERVAL", "UUID", "BLOB", "BYTEA", "DOUBLE", "FLOAT", "REAL", "DECIMAL", "NUMERIC")


# Column-level evidence needs this many candidate rows before it changes anything.
MIN_EVIDENCE = 20
DOMINANT_SHARE = 0.5  # "most values of the column are this kind"


@dataclass
class ColumnReport:
    rows_scanned: int = 0
    findings: dict[str, int] = field(default_factory=dict)
    examples: dict[str, list[str]] = field(default_factory=dict)
    estimated: dict[str, int] = field(default_factory=dict)  # detector → candidates validated
    candidates: dict[str, int] = field(default_factory=dict)  # rows with a value of the detector's shape
    weak: dict[str, int] = field(default_factory=dict)  # rows passing only the detector's weaker test
    weak_examples: dict[str, list[str]] = field(default_factory=dict)
    dismissed: dict[str, int] = field(default_factory=dict)  # checksum hits judged chance by the column
    cut_short: int = 0  # values longer than freetext.MAX_TEXT_CHARS, searched up to there only

    def record(self, detector: Detector, hits: list[str], rows: int = 1) -> None:
        self.findings[detector.name] = self.findings.get(detector.name, 0) + rows
        _add_examples(self.examples.setdefault(detector.name, []), detector, hits)

    def observe(self, detector: Detector, text: str, rows: int = 1) -> None:
        """Test one value: a validated hit, a weak one (kept aside), or nothing."""
        found = detector.candidates(text)
        if not found:
            return
        self.candidates[detector.name] = self.candidates.get(detector.name, 0) + rows
        hits = [c for c in found if detector.validate(c)]
        if hits:
            self.record(detector, hits, rows)
        elif detector.weak and (weak := [c for c in found if detector.weak(c)]):
            self.weak[detector.name] = self.weak.get(detector.name, 0) + rows
            _add_examples(self.weak_examples.setdefault(detector.name, []), detector, weak)

    def settle(self, detectors: Iterable[Detector]) -> None:
        """Apply column-level evidence once every value was seen.

        Where most of a column's values of a detector's shape validate, the column is of that kind
        and its weaker matches count too (a phone column's numbers in unassigned ranges). Where a
        checksum detector validates only a minority, its hits are the checksum's chance passes in a
        column of other numbers (order numbers pass Luhn 1 time in 10) and are dismissed.
        """
        for detector in detectors:
            name, seen = detector.name, self.candidates.get(detector.name, 0)
            if seen < MIN_EVIDENCE:
                continue
            share = self.findings.get(name, 0) / seen
            if share >= DOMINANT_SHARE and self.weak.get(name):
                self.findings[name] = self.findings.get(name, 0) + self.weak.pop(name)
                _add_examples(self.examples.setdefault(name, []), None, self.weak_examples.pop(name, []))
            elif share < DOMINANT_SHARE and detector.chance_hits and self.findings.get(name):
                self.dismissed[name] = self.findings.pop(name)
                self.examples.pop(name, None)

    def to_dict(self) -> dict:
        out = {"rows_scanned": self.rows_scanned, "findings": dict(self.findings), "examples": dict(self.examples)}
        if self.estimated:
            out["estimated_from"] = dict(self.estimated)
        if self.dismissed:
            out["dismissed_as_chance"] = dict(self.dismissed)
        if self.cut_short:
            out["cut_short"] = self.cut_short
        return out


def _add_examples(shown: list[str], detector: Detector | None, values: list[str]) -> None:
    for value in values:
        masked = detector.mask(value) if detector else value  # (already masked when moved over)
        if len(shown) < MAX_EXAMPLES and masked not in shown:
            shown.append(masked)


@dataclass
class ScanReport:
    target: str
    rows_scanned: int = 0
    columns: dict[str, ColumnReport] = field(default_factory=dict)
    sample: int | None = None
    unavailable: dict[str, str] = field(default_factory=dict)  # detector → why it could not run (not installed)

    @property
    def total_findings(self) -> int:
        return sum(sum(c.findings.values()) for c in self.columns.values())

    def settle(self, detectors: Iterable[Detector]) -> ScanReport:
        detectors = tuple(detectors)
        for column in self.columns.values():
            column.settle(detectors)
        return self

    def findings_by_column(self) -> dict[str, dict[str, int]]:
        return {name: dict(c.findings) for name, c in self.columns.items() if c.findings}

    def to_dict(self) -> dict:
        out = {"target": self.target, "rows_scanned": self.rows_scanned,
               "columns": {name: c.to_dict() for name, c in self.columns.items()}}
        if self.sample is not None:
            out["sample"] = self.sample
        if self.unavailable:
            out["detectors_not_installed"] = dict(self.unavailable)
        return out


def usable(detectors: Iterable[Detector], report: ScanReport) -> tuple[Detector, ...]:
    """The detectors that can run here; the others are named in the report, never skipped silently."""
    detectors = tuple(detectors)
    report.unavailable = unavailable(detectors)
    return tuple(d for d in detectors if d.name not in report.unavailable)


def scan_values(values: Iterable, detectors: Iterable[Detector] = DETECTORS, report: ColumnReport | None = None,
                weight_of=None) -> ColumnReport:
    """Each value counts once per detector that matched in it (free text included). A value longer
    than `freetext.MAX_TEXT_CHARS` is searched up to there and counted as cut short."""
    report = report or ColumnReport()
    detectors = tuple(detectors)
    values = list(values)
    texts = [None if v is None or (isinstance(v, float) and pd.isna(v)) else str(v)[:freetext.MAX_TEXT_CHARS] for v in values]
    if any(d.name == "person_name" for d in detectors):
        freetext.prepare(t for t in texts if t)
    for value, text in zip(values, texts):
        weight = weight_of(value) if weight_of else 1
        report.rows_scanned += weight
        if text is None:
            continue
        if len(str(value)) > freetext.MAX_TEXT_CHARS:
            report.cut_short += weight
        for detector in detectors:
            report.observe(detector, text, weight)
    return report


def scan_dataframe(frame: pd.DataFrame, target: str = "dataframe", columns: Iterable[str] | None = None,
                   sample: int | None = None, detectors: Iterable[Detector] = DETECTORS) -> ScanReport:
    if sample is not None and len(frame) > sample:
        frame = frame.sample(n=sample, random_state=0)
    report = ScanReport(target=target, rows_scanned=len(frame), sample=sample)
    detectors = usable(detectors, report)
    for column in columns or frame.columns:
        report.columns[str(column)] = scan_values(frame[column].tolist(), detectors)
    return report.settle(detectors)


CHUNK_ROWS = 20_000  # rows held at once while a file is scanned: memory stays bounded


def read_file(path: Path, limit: int | None = None) -> Iterator[pd.DataFrame]:
    """CSV, Parquet, JSON lines, or plain text (one `line` per row), in chunks of rows, stopping
    after `limit` rows: a sample of a 200 MB file reads only what it samples."""
    suffix = path.suffix.lower()
    try:
        if suffix == ".csv":
            yield from pd.read_csv(path, dtype=str, keep_default_na=False, chunksize=CHUNK_ROWS, nrows=limit)
        elif suffix == ".parquet":
            import pyarrow.parquet as pq

            left = limit
            for batch in pq.ParquetFile(path).iter_batches(batch_size=CHUNK_ROWS):
                frame = batch.to_pandas()
                if left is not None:
                    frame, left = frame.head(left), left - len(frame)
                yield frame
                if left is not None and left <= 0:
                    return
        else:
            with open(path, encoding="utf-8", errors="replace") as handle:
                lines = itertools.islice(handle, limit)
                while chunk := [line.rstrip("\n") for line in itertools.islice(lines, CHUNK_ROWS)]:
                    if suffix in (".jsonl", ".ndjson"):
                        yield pd.DataFrame(_json_lines(chunk))
                    else:
                        yield pd.DataFrame({"line": chunk})
    except (OSError, ValueError, UnicodeDecodeError) as exc:
        raise ScanError(f"cannot read {path}: {exc.__class__.__name__}") from None


def _json_lines(lines: Iterable[str]) -> Iterator[dict]:
    for line in lines:
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            yield {"line": line}
            continue
        if isinstance(record, dict):
            yield {k: (json.dumps(v) if isinstance(v, (dict, list)) else v) for k, v in record.items()}
        else:
            yield {"line": line}


def scan_file(path: str | Path, sample: int | None = None, detectors: Iterable[Detector] = DETECTORS) -> ScanReport:
    """Scan a file chunk by chunk; `sample` scans its first N rows only."""
    path = Path(path)
    if not path.is_file():
        raise ScanError(f"no such file: {path}")
    if sample is not None and sample < 1:
        raise ScanError(f"sample must be a positive number of rows (got {sample})")
    report = ScanReport(target=str(path), sample=sample)
    detectors = usable(detectors, report)
    for chunk in read_file(path, limit=sample):
        for column in chunk.columns:
            # A JSON key first seen in a later chunk was absent (null) in the rows before it.
            column_report = report.columns.setdefault(str(column), ColumnReport(rows_scanned=report.rows_scanned))
            scan_values(chunk[column].tolist(), detectors, report=column_report)
        report.rows_scanned += len(chunk)
        for column_report in report.columns.values():
            column_report.rows_scanned = report.rows_scanned  # absent keys count as scanned nulls
    return report.settle(detectors)


# --- warehouse tables: the prefilter runs in the engine ----------------------------------------

DEFAULT_VALIDATION_BUDGET = 2_000  # candidate rows per column validated in Python


def _count_when(condition: exp.Expr) -> exp.Expr:
    return exp.func("sum", exp.Case(ifs=[exp.If(this=condition, true=exp.Literal.number(1))], default=exp.Literal.number(0)))


def scan_table(warehouse: Warehouse, table: str, sample: int | None = None,
               detectors: Iterable[Detector] = DETECTORS, budget: int | None = DEFAULT_VALIDATION_BUDGET) -> ScanReport:
    """Scan a table where it lives.

    One set-based pass tests every value once against all detectors' prefilters combined and
    counts the candidate rows per column; then per column at most `budget` candidate rows come
    back (distinct values, with counts) and are validated exactly. When a column has more
    candidates than that, each detector's count is the candidate count scaled by its validated
    share of the budget, and the report says so (`estimated_from`: rows validated).
    `budget=None` validates every candidate.
    """
    detectors = tuple(detectors)
    missing = unavailable(detectors)
    detectors = tuple(d for d in detectors if d.name not in missing)
    try:
        types = warehouse.columns(table)
    except WarehouseError as exc:
        raise ScanError(str(exc)) from None
    source: exp.Expr = table_expr(table)
    if sample is not None:  # the first N rows the engine returns
        source = exp.select("*").from_(table_expr(table)).limit(sample).subquery("sampled")
    pattern = exp.Literal.string(combined_prefilter(detectors))
    scanned = [c for c, kind in types.items() if not kind.upper().startswith(_SKIPPED_TYPES)]
    wanted = {c: exp.RegexpLike(this=exp.cast(column_expr(c), "TEXT"), expression=pattern) for c in scanned}
    row = warehouse.fetch(exp.select(exp.func("count", exp.Star()), *[_count_when(wanted[c]) for c in scanned]).from_(source))[0]
    report = ScanReport(target=f"table:{table}", rows_scanned=int(row[0]), sample=sample, unavailable=missing)
    candidates = {c: int(n or 0) for c, n in zip(scanned, row[1:])}
    for column in types:
        column_report = report.columns[column] = ColumnReport(rows_scanned=report.rows_scanned)
        if candidates.get(column):
            _validate_candidates(warehouse, source, column, wanted[column], candidates[column], detectors, budget, column_report)
    return report


def _validate_candidates(warehouse, source, column, wanted, caught, detectors, budget, report: ColumnReport) -> None:
    value = exp.cast(column_expr(column), "TEXT")
    rows_query = exp.select(value.as_("v")).from_(source).where(wanted)
    if budget is not None:
        rows_query = rows_query.limit(budget)
    query = exp.select("v", exp.func("count", exp.Star()).as_("n")).from_(rows_query.subquery("c")).group_by("v")
    rows = [(text, int(n)) for text, n in warehouse.fetch(query)]
    validated = sum(n for _text, n in rows)
    # A detector that runs a model validates a smaller share of the budget (its own), scaled up alike.
    limited = [d for d in detectors if budget is not None and d.budget is not None and d.budget < len(rows)]
    scan_values([text for text, _n in rows], [d for d in detectors if d not in limited], report, weight_of=dict(rows).get)
    report.rows_scanned -= validated  # (counted by the table's pass already)
    seen = dict.fromkeys((d.name for d in detectors), validated)
    for detector in limited:
        part = rows[:detector.budget]
        seen[detector.name] = sum(n for _text, n in part)
        own = scan_values([text for text, _n in part], (detector,), ColumnReport(), weight_of=dict(part).get)
        if own.findings.get(detector.name):
            report.findings[detector.name] = round(validated * own.findings[detector.name] / seen[detector.name])
            report.examples[detector.name] = own.examples[detector.name]
        report.cut_short = max(report.cut_short, own.cut_short)
    report.settle(detectors)  # on the validated rows: shares are the same in the budget as in the column
    for name, valid in list(report.findings.items()):  # more candidates than were validated: scale each share
        if seen[name] < caught:
            report.findings[name] = round(caught * valid / validated)
            report.estimated[name] = seen[name]


# --- S3 prefixes: objects streamed, paginated ----------------------------------------------------

def scan_s3(store: ObjectStore, bucket: str, prefix: str = "", sample: int | None = None,
            detectors: Iterable[Detector] = DETECTORS) -> ScanReport:
    """JSON-lines objects by key, text logs by line, CSV by column; `sample` caps rows read."""
    report = ScanReport(target=f"s3://{bucket}/{prefix}", sample=sample)
    detectors = usable(detectors, report)
    client = store.client()
    paginator = client.get_paginator("list_objects_v2")
    with s3_errors(f"scan s3://{bucket}/{prefix}", store):
        for page in paginator.paginate(Bucket=bucket, Prefix=prefix):
            for item in page.get("Contents", []):
                if sample is not None and report.rows_scanned >= sample:
                    return report.settle(detectors)
                body = client.get_object(Bucket=bucket, Key=item["Key"])["Body"]
                frame = object_frame(item["Key"], body)
                if sample is not None:
                    frame = frame.head(sample - report.rows_scanned)
                report.rows_scanned += len(frame)
                for column in frame.columns:
                    scan_values(frame[column].tolist(), detectors, report.columns.setdefault(str(column), ColumnReport()))
    return report.settle(detectors)


def object_frame(key: str, body) -> pd.DataFrame:
    if key.endswith(".parquet"):
        return pd.read_parquet(io.BytesIO(body.read()))
    if key.endswith(".csv"):
        return pd.read_csv(io.BytesIO(body.read()), dtype=str, keep_default_na=False)
    lines = (raw.decode("utf-8", errors="replace") for raw in body.iter_lines())
    if key.endswith((".jsonl", ".json", ".ndjson")):
        return pd.DataFrame(_json_lines(lines))
    return pd.DataFrame({"line": list(lines)})


# --- findings against declarations --------------------------------------------------------------

def undeclared_findings(report: ScanReport, declared: Mapping[str, Iterable[str]]) -> dict[str, dict[str, int]]:
    """Column → detector → rows, for personal data a column's declared categories do not cover."""
    from dataflow_governance.detection.detectors import DETECTOR_CATEGORY
    from dataflow_governance.model import taxonomy

    out: dict[str, dict[str, int]] = {}
    for column, col_report in report.columns.items():
        categories = tuple(declared.get(column, ()))
        for detector, rows in col_report.findings.items():
            if not any(taxonomy.is_within(DETECTOR_CATEGORY[detector], c) for c in categories):
                out.setdefault(column, {})[detector] = rows
    return out


def absent_declarations(report: ScanReport, declared: Mapping[str, Iterable[str]]) -> dict[str, list[str]]:
    """Column → detectable categories it declares but whose data the scan never saw."""
    from dataflow_governance.detection.detectors import DETECTOR_CATEGORY

    out: dict[str, list[str]] = {}
    for column, categories in declared.items():
        seen = report.columns.get(column)
        if seen is None or not seen.rows_scanned:
            continue
        for detector, category in DETECTOR_CATEGORY.items():
            if category in categories and not seen.findings.get(detector):
                out.setdefault(column, []).append(category)
    return out
