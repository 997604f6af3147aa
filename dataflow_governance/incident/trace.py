"""Post-incident tracing: personal data of one category found where it should not be.

From the place it was found (an asset, or an S3 prefix the map knows) the trace goes
  - backward over lineage: which upstream columns and transformations carry the category there,
    or — when none does — that it entered through code or a source the map does not know, with
    the assets declaring that category as the candidates;
  - forward: which assets are derived from it, and which processors receive them;
  - to the exposure now: rows or objects holding it (a scan with the category's detectors), and
    since when (the oldest such object, or the oldest row, and the retention that bounds it);
  - to who can read each affected asset (declared owners; processors outside the platform);
and ends in a remediation plan: what to purge, with counts (what the next retention sweep
removes of it besides), and the declaration that makes the map catch it next time.
Counts, names and masked samples only; the trace itself is ledgered.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime

from sqlglot import exp

from dataflow_governance.detection.detectors import DETECTOR_CATEGORY, DETECTORS, Detector, combined_prefilter
from dataflow_governance.errors import IncidentError
from dataflow_governance.lineage.graph import TABLE_LEVEL
from dataflow_governance.model import taxonomy
from dataflow_governance.model.spec import table_of
from dataflow_governance.policy.context import PolicyContext
from dataflow_governance.storage.objectstore import ObjectStore, s3_errors, split_s3_uri
from dataflow_governance.storage.warehouse import Warehouse, column_expr, table_expr


@dataclass
class Exposure:
    measured: bool
    detectors: list[str]
    rows: int = 0
    objects: int = 0
    columns: dict[str, int] = field(default_factory=dict)
    examples: list[str] = field(default_factory=list)  # masked
    oldest: str | None = None
    note: str = ""


def detectors_for(category: str) -> tuple[Detector, ...]:
    """The detectors that find this category or a narrower one (`user.contact` → email and phone)."""
    return tuple(d for d in DETECTORS if d.name in DETECTOR_CATEGORY and (
        taxonomy.is_within(DETECTOR_CATEGORY[d.name], category) or taxonomy.is_within(category, DETECTOR_CATEGORY[d.name])))


def resolve_location(ctx: PolicyContext, where: str) -> str:
    """The asset named, or the asset whose S3 storage holds `s3://bucket/prefix`."""
    if not where.startswith("s3://"):
        if where in ctx.governance or where in ctx.upstream:
            return where
        raise IncidentError(f"--in {where!r} is neither an asset of the project nor an s3:// location")
    found = ctx.assets_at(s3=split_s3_uri(where))
    if found:
        return found[0]
    raise IncidentError(f"{where} is not the storage of any asset of the project: declare the asset that writes "
                        "there (its storage kind s3, bucket and prefix), then trace again")


def carrying_columns(ctx: PolicyContext, asset: str, category: str) -> list[str]:
    """The asset's columns that carry the category, declared or by lineage."""
    found = set()
    gov = ctx.governance.get(asset)
    if gov is not None:
        found |= {n for n, c in gov.columns.items() if any(taxonomy.is_within(k, category) for k in c.categories)}
        if any(taxonomy.is_within(k, category) for k in gov.data_categories):
            found.add(TABLE_LEVEL)
    if ctx.graph is not None:
        found |= {c for c, cls in ctx.column_graph.columns_of(asset).items()
                  if not cls.anonymous and any(taxonomy.is_within(k, category) for k in cls.categories)}
    return sorted(found)


def backward(ctx: PolicyContext, asset: str, category: str) -> dict:
    columns = carrying_columns(ctx, asset, category)
    paths = {}
    for column in columns:
        if ctx.graph is None:
            break
        origins = [f"{a}.{c}" for a, c, cats in ctx.column_graph.personal_origins(asset, column)
                   if any(taxonomy.is_within(k, category) for k in cats) and (a, c) != (asset, column)]
        via = sorted({a for a, _c in ctx.column_graph.upstream(asset, column) if a != asset})
        if origins:
            paths[column] = {"origins": origins, "through": via}
    upstream = _closure(ctx.upstream, asset)
    carriers = sorted(a for a in upstream if carrying_columns(ctx, a, category))
    holders = sorted(a for a in set(ctx.governance) - {asset} if carrying_columns(ctx, a, category))
    if paths:
        explanation = "lineage carries it here"
    elif carriers:
        explanation = f"upstream assets carry it ({', '.join(carriers)}) but no traced column maps it here: untraced code copies it"
    else:
        explanation = ("no upstream asset carries it: it enters through code or a source the map does not know; "
                       "the assets declaring it are the candidates")
    return {"columns": columns, "paths": paths, "upstream_carriers": carriers,
            "candidates": [] if (paths or carriers) else holders, "explanation": explanation}


def forward(ctx: PolicyContext, asset: str) -> dict:
    reached = sorted(_closure(ctx.downstream, asset))
    processors = sorted({p for a in [asset, *reached] if a in ctx.governance for p in ctx.governance[a].processors})
    return {"assets": reached, "processors": processors}


def _closure(edges, start: str) -> set[str]:
    seen, stack = set(), list(edges.get(start, ()))
    while stack:
        node = stack.pop()
        if node not in seen:
            seen.add(node)
            stack.extend(edges.get(node, ()))
    return seen


def measure(ctx: PolicyContext, asset: str, category: str, warehouse: Warehouse | None,
            store: ObjectStore | None, where: str | None = None) -> Exposure:
    """Rows or objects holding the category now, with masked samples (under `where`, when it is
    an S3 location narrower than the asset's prefix)."""
    detectors = detectors_for(category)
    names = [d.name for d in detectors]
    if not detectors:
        return Exposure(False, [], note=f"no detector finds {category}: exposure not measured; scan by hand")
    gov = ctx.governance.get(asset)
    kind = gov.storage.kind if gov is not None else "warehouse"
    if kind == "s3" and store is not None:
        bucket, prefix = gov.storage.bucket, gov.storage.prefix or ""
        if where and where.startswith(f"s3://{bucket}/{prefix}"):
            prefix = where[len(f"s3://{bucket}/"):]
        return _measure_s3(store, bucket, prefix, detectors)
    if kind == "warehouse" and warehouse is not None:
        table = table_of(asset, gov)
        if not warehouse.table_exists(table):
            return Exposure(False, names, note=f"table {table} does not exist (not materialized yet)")
        from dataflow_governance.detection.scan import scan_table  # (with pandas: only for a table)

        report = scan_table(warehouse, table, detectors=detectors, budget=None)
        hit_columns = {c: sum(r.findings.values()) for c, r in report.columns.items() if r.findings}
        exposure = Exposure(True, names, rows=max(hit_columns.values(), default=0), columns=hit_columns,
                            examples=[e for r in report.columns.values() for v in r.examples.values() for e in v][:3])
        if gov is not None and gov.retention and gov.retention.timestamp_column and hit_columns:
            oldest = warehouse.fetch(exp.select(exp.func("min", column_expr(gov.retention.timestamp_column)))
                                     .from_(table_expr(table)))[0][0]
            exposure.oldest = str(oldest) if oldest is not None else None
        return exposure
    return Exposure(False, names, note=f"storage kind {kind} is not scanned here; scan it with its own tools")


def _records(key: str, body, prefilter: re.Pattern) -> Iterable[dict]:
    """An object's records that may hold the category, each with its fields. JSON lines and text
    logs are read here line by line, and only a line the prefilter catches is parsed (no data
    frame: an incident scan must be quick); Parquet and CSV go through the scanner's reader."""
    if key.endswith((".parquet", ".csv")):
        from dataflow_governance.detection.scan import object_frame

        yield from object_frame(key, body).to_dict("records")
        return
    for raw in body.iter_lines():
        line = raw.decode("utf-8", errors="replace")
        if not line.strip() or not prefilter.search(line):
            continue
        try:
            record = json.loads(line) if key.endswith((".jsonl", ".json", ".ndjson")) else None
        except json.JSONDecodeError:
            record = None
        yield record if isinstance(record, dict) else {"line": line}


def _hits(text: str, detectors: tuple[Detector, ...], prefilter: re.Pattern) -> list[tuple[Detector, str]]:
    if not prefilter.search(text):
        return []
    return [(d, value) for d in detectors for value in d.candidates(text) if d.validate(value)]


def _measure_s3(store: ObjectStore, bucket: str, prefix: str, detectors: Iterable[Detector]) -> Exposure:
    """Objects and records holding the category, validated value by value (the column-level
    evidence of `dfg scan`, which dismisses chance checksum hits in number columns, is not applied)."""
    detectors = tuple(detectors)
    prefilter = re.compile(combined_prefilter(detectors))
    exposure = Exposure(True, [d.name for d in detectors])
    client = store.client()
    oldest: datetime | None = None
    def records_of(item: dict) -> list[dict]:
        return list(_records(item["Key"], client.get_object(Bucket=bucket, Key=item["Key"])["Body"], prefilter))

    with s3_errors(f"scan s3://{bucket}/{prefix}", store), ThreadPoolExecutor(max_workers=4) as pool:
        for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
            items = page.get("Contents", [])
            # Objects are fetched four at a time (S3 answers each request slowly; the client is thread-safe).
            for item, records in zip(items, pool.map(records_of, items)):
                hit_records = 0
                for record in records:
                    found = False
                    for column, value in record.items():
                        hits = _hits(value if isinstance(value, str) else json.dumps(value, default=str),
                                     detectors, prefilter) if value is not None else []
                        if hits:
                            found = True
                            exposure.columns[str(column)] = exposure.columns.get(str(column), 0) + 1
                            for detector, text in hits:
                                masked = detector.mask(text)
                                if len(exposure.examples) < 3 and masked not in exposure.examples:
                                    exposure.examples.append(masked)
                    hit_records += found
                if hit_records:
                    exposure.objects += 1
                    exposure.rows += hit_records
                    modified = item["LastModified"].replace(tzinfo=None)
                    oldest = modified if oldest is None or modified < oldest else oldest
    exposure.oldest = oldest.isoformat(timespec="seconds") if oldest else None
    return exposure


def readers(ctx: PolicyContext, assets: Iterable[str]) -> dict[str, dict]:
    found = {}
    for asset in assets:
        gov = ctx.governance.get(asset)
        found[asset] = {"owner": gov.owner if gov is not None and gov.owner else "undeclared",
                        "processors": list(gov.processors) if gov is not None else []}
    return found


def first_detected(ledger, ctx: PolicyContext, asset: str, category: str) -> str | None:
    """When a PII check first found the category in the asset, from the ledger (its scans' results)."""
    gov = ctx.governance.get(asset)
    if gov is None:
        return None
    target = (f"s3://{gov.storage.bucket}/{gov.storage.prefix or ''}" if gov.storage.kind == "s3"
              else f"table:{table_of(asset, gov)}")
    names = {d.name for d in detectors_for(category)}
    for entry in ledger.entries(action="pii_scan.result", target=target):
        found = entry.details_dict().get("findings") or {}
        if any(names & set(by_detector) for by_detector in found.values()):
            return entry.ts
    return None


def sweep_step(sweep: dict) -> list[str]:
    """The plan's step for what the next retention sweep removes of the affected assets anyway."""
    due = {a: v["affected"] for a, v in sorted(sweep.items()) if v.get("affected")}
    return ["the next retention sweep removes besides: " + ", ".join(f"{a} {n} row(s)" for a, n in due.items())] if due else []


def remediation(ctx: PolicyContext, asset: str, category: str, exposure: Exposure, trace: dict,
                reached: list[str], where: str) -> list[str]:
    gov = ctx.governance.get(asset)
    steps = []
    if exposure.measured and (exposure.rows or exposure.objects):
        held = f"{exposure.objects} object(s), {exposure.rows} record(s)" if exposure.objects else f"{exposure.rows} row(s)"
        steps.append(f"purge: {held} in {where} hold {category} (column(s) {', '.join(sorted(exposure.columns))}): "
                     "delete or redact them; `dfg scan` shows masked samples to confirm")
    elif not exposure.measured:
        steps.append(f"purge: {exposure.note}")
    else:
        steps.append(f"purge: nothing in {where} holds {category} now (scanned with {', '.join(exposure.detectors)})")
    found_now = not exposure.measured or exposure.rows or exposure.objects
    undeclared = [a for a in reached if not carrying_columns(ctx, a, category)]
    if undeclared and found_now:
        steps.append(f"purge downstream: {', '.join(undeclared)} are derived from {asset} and do not declare "
                     f"{category}; rebuild them once {asset} is clean")
    if gov is not None and gov.pii_free and not gov.blocking_checks:
        steps.append(f"rule: {asset} is declared pii_free; set blocking_checks: true so its PII check stops "
                     f"downstream assets the next time it finds {category}")
    elif gov is not None and not gov.pii_free and not trace["columns"]:
        steps.append(f"rule: declare {category} on the column(s) of {asset} that hold it, or declare {asset} pii_free "
                     "with blocking_checks: true so the PII check catches it")
    if not trace["paths"]:
        steps.append(f"lineage: find the code that writes {category} into {asset} and declare that flow "
                     f"({'candidates: ' + ', '.join(trace['candidates']) if trace['candidates'] else trace['explanation']})")
    return steps


def trace_incident(ctx: PolicyContext, category: str, where: str, warehouse: Warehouse | None,
                   store: ObjectStore | None) -> dict:
    if category not in taxonomy.data_categories():
        hint = taxonomy.suggest(category, taxonomy.data_categories())
        raise IncidentError(f"unknown data category {category!r}" + (f"; did you mean {', '.join(hint)}?" if hint else ""))
    asset = resolve_location(ctx, where)
    trace = backward(ctx, asset, category)
    onward = forward(ctx, asset)
    exposure = measure(ctx, asset, category, warehouse, store, where)
    gov = ctx.governance.get(asset)
    retention = gov.retention.describe() if gov is not None and gov.retention else None
    return {
        "category": category, "found_in": where, "asset": asset,
        "backward": trace, "forward": onward,
        "exposure": {**exposure.__dict__, "retention": retention},
        "readers": readers(ctx, [asset, *onward["assets"]]),
        "plan": remediation(ctx, asset, category, exposure, trace, onward["assets"], where),
    }
