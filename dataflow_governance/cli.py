"""`dataflow-governance` / `dfg`: every governance answer from the command line, text or --json.

Exit codes: 0 all good; 1 something was found or failed (an error-level finding, a failed
check); 2 the input could not be used (bad manifest, unknown taxonomy key, unreachable service).
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import re
import sys
from collections.abc import Callable
from pathlib import Path

from typing import TYPE_CHECKING

from .errors import DfgError

if TYPE_CHECKING:
    from .manifest import Project

# Each command imports what it needs when it runs: `dfg lineage --sql` must not pay for pandas,
# Dagster or MLflow.


class CliError(DfgError, RuntimeError):
    """A user-facing failure: printed as one line, exit 2."""


def _emit(args, payload: dict, text: str) -> None:
    print(json.dumps(payload, indent=2, default=str) if args.json else text)


def load_definitions(project: Project):
    """Import the project's Definitions (`module:attribute` in the manifest) from the project root."""
    if not project.definitions or ":" not in project.definitions:
        raise CliError(f"the manifest's `definitions` must be 'module:attribute' (got {project.definitions!r})")
    module_name, attribute = project.definitions.split(":", 1)
    if str(project.root) not in sys.path:
        sys.path.insert(0, str(project.root))
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name and module_name.startswith(exc.name):
            raise CliError(f"the manifest's definitions module {module_name!r} was not found under {project.root}") from None
        raise
    try:
        return getattr(module, attribute)
    except AttributeError:
        raise CliError(f"module {module_name!r} has no attribute {attribute!r}") from None


def build_catalog(project: Project):
    """Load the project's Definitions (Dagster is the catalog's producer here) and write the catalog."""
    from .dagster_ext import policy_context, write_catalog

    specs = list(load_definitions(project).resolve_all_asset_specs())
    return write_catalog(project, specs, policy_context(specs, project))


def project_catalog(project: Project):
    """The governance catalog; rebuilt (with a note on stderr) when missing or when an input changed."""
    from . import catalog

    path = catalog.catalog_path(project)
    if not path.exists():  # a first run: built quietly, as any later Definitions load would
        return build_catalog(project)
    try:
        current = catalog.read(path)
        changed = catalog.changed_inputs(project, current)
        if not changed:
            return current
        reason = f"stale ({', '.join(changed[:3])}{' …' if len(changed) > 3 else ''} changed)"
    except catalog.CatalogError as exc:
        reason = f"unreadable ({str(exc).split(' (')[0]})"
    print(f"governance catalog {reason}: rebuilding it from the Definitions", file=sys.stderr)
    return build_catalog(project)


def _policy(project: Project):
    return project_catalog(project).context


def cmd_catalog(args, project: Project) -> int:
    from . import catalog

    path = catalog.catalog_path(project)
    if args.action == "build":
        built = build_catalog(project)
        _emit(args, {"path": str(path), "fingerprint": built.fingerprint, "assets": len(built.governance)},
              f"governance catalog of {len(built.governance)} governed assets → {path}\nfingerprint {built.fingerprint}")
        return 0
    current = catalog.read(path)
    changed = catalog.changed_inputs(project, current)
    payload = {"path": str(path), "fingerprint": current.fingerprint, "generated_at": current.generated_at,
               "assets": len(current.governance), "fresh": not changed, "changed": changed}
    _emit(args, payload, f"{path}: {len(current.governance)} governed assets, built {current.generated_at}, "
          + ("fresh" if not changed else "STALE: changed " + ", ".join(changed) + "; run `dfg catalog build`"))
    return 0 if not changed else 1


def cmd_check(args, project: Project) -> int:
    from .policy import run_policy

    findings = run_policy(_policy(project))
    errors = sum(f.severity == "error" for f in findings)
    lines = [f"{f.severity.upper():7} {f.asset}: [{f.rule}] {f.message}\n        fix: {f.fix}" for f in findings]
    lines.append(f"{len(findings)} finding(s), {errors} error(s)")
    _emit(args, {"findings": [f.to_dict() for f in findings]}, "\n".join(lines))
    return 1 if errors else 0


def cmd_ropa(args, project: Project) -> int:
    from .reports import ropa_activities, write_ropa

    activities = ropa_activities(_policy(project))
    out = Path(args.out) if args.out else project.output_dir
    written = write_ropa(activities, out)
    _emit(args, {"activities": activities},
          f"record of processing: {len(activities)} activities → " + ", ".join(str(p) for p in written.values()))
    return 0


def cmd_map(args, project: Project) -> int:
    from .reports import data_map, write_data_map

    ctx = _policy(project)
    path = write_data_map(ctx, Path(args.out) if args.out else project.output_dir)
    _emit(args, {"path": str(path), "mermaid": data_map(ctx)}, f"data map → {path}")
    return 0


def local_status(project: Project) -> dict:
    from . import local_s3

    endpoint = local_s3.read_endpoint(project.state_dir)
    return {
        "warehouse": project.open_warehouse().describe(),
        "s3_endpoint_url": project.object_store.endpoint_url or (endpoint.url if endpoint else None),
        "s3_local_running": endpoint is not None,
        "mlflow_tracking_uri": project.mlflow_tracking_uri,
        "state_dir": str(project.state_dir),
    }


def cmd_local(args, project: Project) -> int:
    from . import local_s3

    if args.action == "stop":
        stopped = local_s3.stop(project.state_dir)
        _emit(args, {"stopped": stopped}, "local S3 endpoint stopped" if stopped else "local S3 endpoint was not running")
        return 0
    if args.action == "start":
        local_s3.ensure_running(project.state_dir)
    status = local_status(project)
    _emit(args, status, "\n".join(f"{k}: {v}" for k, v in status.items()))
    return 0


def _parse_anchor(text: str):
    from .ledger import Anchor

    seq, _, digest = text.partition(":")
    if not seq.isdigit() or not re.fullmatch(r"[0-9a-f]{64}", digest):
        raise CliError(f"--anchor {text!r}: expected SEQ:HASH (a sequence number and a 64-hex-digit hash)")
    return Anchor(int(seq), digest, source="--anchor")


def cmd_audit(args, project: Project) -> int:
    from .ledger import Ledger, load_anchors, verify_entries

    ledger = Ledger(project.open_warehouse())
    anchors = [*load_anchors(project.state_dir), *(_parse_anchor(a) for a in args.anchor or [])]
    if args.action == "verify":
        result = ledger.verify(anchors, independent=args.independent)
        if result.ok:
            text = f"{result.entries} entries verified, head {result.head_hash} (seq {result.head_seq}; {result.anchors_checked} anchors)"
        else:
            text = (f"LEDGER DAMAGED: {result.damage} at entry {result.first_bad_seq} — {result.explanation}\n"
                    f"{result.entries} entries read; restore the table from a verified export and investigate")
        _emit(args, result.to_dict(), text)
        return 0 if result.ok else 1
    entries = ledger.entries(since=_utc_time(args.since, "--since"), until=_utc_time(args.until, "--until"),
                             target=args.target, actor=args.actor)
    result = verify_entries(ledger.entries(), anchors) if entries else ledger.verify(anchors)
    payload = {"verification": result.to_dict(), "entries": [e.to_dict() for e in entries]}
    _emit(args, payload, "\n".join(f"{e.seq:>8} {e.ts} {e.actor:20} {e.action:24} {e.target}" for e in entries)
          + f"\n{len(entries)} entries; chain {'intact' if result.ok else 'DAMAGED: ' + str(result.damage)}")
    return 0 if result.ok else 1


def _utc_time(text: str | None, flag: str) -> str | None:
    """An ISO 8601 time as the ledger writes it (UTC, seconds); garbage is an error, not 'no entries'."""
    from datetime import datetime, timezone

    if text is None:
        return None
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise CliError(f"{flag} {text!r}: expected an ISO 8601 time such as 2026-01-31 or 2026-01-31T12:00:00Z") from None
    if moment.tzinfo is not None:
        moment = moment.astimezone(timezone.utc).replace(tzinfo=None)
    return moment.isoformat(timespec="seconds")


def _lineage_lines(result) -> list[str]:
    lines = [f"{column} ← " + (", ".join(f"{d.table}.{d.column} [{d.transformation}{', masked' if d.masking else ''}]"
                                       for d in item.direct) or "(no column)")
             + ("".join(f"\n    ambiguous: {a.column} in one of {', '.join(a.candidates)}" for a in item.ambiguous))
             + ("\n    influenced by " + ", ".join(f"{i.table}.{i.column} [{i.kind}]" for i in item.indirect)
                if item.indirect else "")
             for column, item in result.columns.items()]
    lines.append(f"tables: {', '.join(result.tables)}" + (f"  → {result.target}" if result.target else ""))
    return lines + [f"warning: {w}" for w in result.warnings]


def cmd_lineage(args, project: Project | None) -> int:
    from .lineage import column_lineage

    if args.sql is not None or args.file is not None:
        sql = args.sql if args.sql is not None else _read(args.file, "SQL file")
        schema = None
        if args.schema:
            try:
                schema = json.loads(_read(args.schema, "schema file"))
            except json.JSONDecodeError as exc:
                raise CliError(f"schema file {args.schema}: not valid JSON ({exc})") from None
            if not _is_schema(schema):
                raise CliError(f"schema file {args.schema}: expected {{table: {{column: type}}}} "
                               "(optionally nested by schema and catalog), with text types")
        from .scripts import parse_script, script_lineage

        if len(parse_script(sql, args.dialect)) > 1:  # a script: per statement, then end to end
            script = script_lineage(sql, schema, args.dialect, strict=args.strict)
            text = []
            for number, statement in zip(script.numbers, script.statements):
                text += [f"-- statement {number}" + (f": {statement.kind} {statement.target}" if statement.target else ""),
                         *_lineage_lines(statement)]
            text += [f"-- skipped {line}" for line in script.skipped]
            for table, columns in script.end_to_end.items():
                text += [f"-- end to end: {table}"] + [f"{name} ← " + (", ".join(f"{d.table}.{d.column}" for d in c.direct)
                                                                        or "(no column)") for name, c in columns.items()]
            _emit(args, script.to_dict(), "\n".join(text))
            return 0
        result = column_lineage(sql, schema, args.dialect, strict=args.strict)
        _emit(args, result.to_dict(), "\n".join(_lineage_lines(result)))
        return 0
    if project is None:
        raise CliError("give --sql or --file, or a project for --asset/--upstream/--downstream")
    ctx = _policy(project)
    graph = ctx.graph
    if args.asset:
        if args.asset not in graph.lineage:
            known = ", ".join(sorted(graph.lineage)) or "(none)"
            why = graph.errors.get(args.asset)
            raise CliError(f"asset {args.asset!r} has no SQL lineage" + (f": {why}" if why else f"; SQL assets: {known}"))
        lineage = graph.lineage[args.asset]
        payload = lineage.to_dict()
        payload["classification"] = {
            column: {"categories": sorted(cls.categories), "personal": cls.personal, "pseudonymized": cls.pseudonymized,
                     "anonymous": cls.anonymous, "subject_linked": cls.subject_linked}
            for column, cls in graph.columns_of(args.asset).items()
        }
        text = [f"{c}: {', '.join(d['table'] + '.' + d['column'] + ' [' + d['transformation'] + ']' for d in v['direct']) or '(no column)'}"
                f"  → {', '.join(payload['classification'][c]['categories']) or 'no categories'}"
                f"{' (anonymous)' if payload['classification'][c]['anonymous'] else ''}"
                for c, v in payload["columns"].items()]
        _emit(args, payload, "\n".join(text))
        return 0
    spot = args.upstream or args.downstream
    if not spot or "." not in spot:
        raise CliError("give --sql/--file, --asset KEY, or --upstream/--downstream ASSET.COLUMN")
    asset, column = spot.rsplit(".", 1)
    if (asset, column) not in graph.classes:
        raise CliError(f"no column {column!r} on asset {asset!r} in the column graph (declared or traced columns only)")
    nodes = graph.upstream(asset, column) if args.upstream else graph.downstream(asset, column)
    direction = "upstream" if args.upstream else "downstream"
    payload = {"column": spot, direction: [{"asset": a, "column": c} for a, c in nodes]}
    _emit(args, payload, f"{direction} of {spot}:\n" + ("\n".join(f"  {a}.{c}" for a, c in nodes) or "  (nothing)"))
    return 0


def cmd_scan(args, project: Project | None) -> int:
    from .objectstore import split_s3_uri
    from .scan import DEFAULT_VALIDATION_BUDGET, scan_file, scan_s3, scan_table

    if args.file:
        report = scan_file(args.file, sample=args.sample)
    elif args.table:
        report = scan_table(project.open_warehouse(), args.table, sample=args.sample,
                            budget=None if args.exact else DEFAULT_VALIDATION_BUDGET)
    else:
        if not args.s3.startswith("s3://"):
            raise CliError(f"--s3 {args.s3!r}: expected s3://bucket/prefix")
        bucket, prefix = split_s3_uri(args.s3)
        report = scan_s3(_object_store(project), bucket, prefix, sample=args.sample)
    lines = [f"{report.target}: {report.rows_scanned} rows scanned" + (f" (sample {report.sample})" if report.sample else "")]
    for column, col in report.columns.items():
        if col.findings:
            lines.append(f"  {column}: " + ", ".join(f"{d} {n} rows (e.g. {', '.join(col.examples.get(d, []))})"
                                                     for d, n in col.findings.items()))
    lines.append(f"{report.total_findings} finding(s)")
    _emit(args, report.to_dict(), "\n".join(lines))
    return 1 if args.fail_on_findings and report.total_findings else 0


def _object_store(project: Project):
    from .objectstore import open_object_store

    return open_object_store(project.object_store.endpoint_url, project.object_store.region, project.state_dir, True)


def cmd_residency(args, project: Project) -> int:
    from .policy import region_crossing
    from .residency import residency_report

    ctx = _policy(project)
    uses_s3 = any(g.storage.kind == "s3" for g in ctx.governance.values())
    results = residency_report(ctx.governance, _object_store(project) if uses_s3 else None,
                               project.open_warehouse(), project.warehouse.region)
    flows = [f.to_dict() for f in region_crossing(ctx)]
    payload = {"assets": [r.to_dict() for r in results], "flows": flows,
               "ok": all(r.passed for r in results) and not flows}
    lines = [f"{'ok  ' if r.passed else 'FAIL'} {r.asset} [{r.check}] {r.message}" for r in results]
    lines += [f"FAIL {f['asset']} [region-crossing] {f['message']}" for f in flows]
    _emit(args, payload, "\n".join(lines) or "no asset declares a region")
    return 0 if payload["ok"] or not args.fail_on_findings else 1


def _erasure_inputs(project: Project):
    ctx = _policy(project)
    uses_s3 = any(g.storage.kind == "s3" for g in ctx.governance.values())
    return dict(ctx.governance), ctx.graph, project.open_warehouse(), (_object_store(project) if uses_s3 else None)


def cmd_erase(args, project: Project) -> int:
    from .erasure import erase

    if args.queue:
        from .requests import file_request

        request_id = file_request(project.open_warehouse(), args.subject_id)
        _emit(args, {"request_id": request_id},
              f"erasure request {request_id} filed; run erase_subject_job with ops.erase_subject.config.request_id")
        return 0
    governance, graph, warehouse, store = _erasure_inputs(project)
    result = erase(project, governance, graph, args.subject_id, warehouse=warehouse, store=store,
                   immediately=args.now, dry_run=args.dry_run, cancel=args.cancel, grace_days=args.grace_days,
                   vacuum_full=args.vacuum_full)
    lines = [f"erasure of subject {result.subject}: {result.status}" + (f" (due {result.due})" if result.due else "")]
    lines += [f"  {t.system:9} {t.target:45} {t.action:9} {t.count:>6}"
              + ("" if t.verified is None else ("  verified" if t.verified else "  NOT VERIFIED")) for t in result.targets]
    lines.append(f"ledger head {result.ledger_head}")
    _emit(args, result.to_dict(), "\n".join(lines))
    return 1 if result.status == "executed" else 0


def cmd_sweep(args, project: Project) -> int:
    from .retention import run_sweep

    governance, graph, warehouse, store = _erasure_inputs(project)
    result = run_sweep(project, governance, warehouse, store, graph=graph, dry_run=args.dry_run)
    lines = [f"{'plan' if args.dry_run else 'sweep'}{' (resumed)' if result['resumed'] else ''}:"]
    lines += [f"  {asset:24} {v['action']:9} {v['affected']:>8} rows/objects older than {v['cutoff']}"
              + (f", {v['held']} held" if v["held"] else "") + (f"  ({v['skipped']})" if v.get("skipped") else "")
              for asset, v in result["assets"].items()]
    lines += [f"  {asset:24} suppressed {n:>6} record(s) of erased subjects that had come back"
              for asset, n in result["suppressed"].items()]
    lines.append(f"ledger head {result['ledger_head']}")
    _emit(args, result, "\n".join(lines))
    return 0


def cmd_access(args, project: Project) -> int:
    from .erasure import access_export

    governance, graph, warehouse, store = _erasure_inputs(project)
    export = access_export(project, governance, graph, args.subject_id, warehouse, store)
    text = "\n".join(f"{asset}: {len(v['records'])} record(s) via {' '.join(v['lineage'])}" for asset, v in export["assets"].items())
    _emit(args, export, text)
    return 0


def _model_ref(text: str) -> tuple[str, str | None]:
    name, _, version = text.partition(":")
    if not name or (version and not version.isdigit()):
        raise CliError(f"--model takes NAME or NAME:VERSION (a version number), got {text!r}")
    return name, version or None


def _dataset_lines(datasets: list[dict]) -> list[str]:
    return [f"  dataset {d['asset']}: {d['rows']} rows, {d['digest']}\n    snapshot {d['snapshot_uri']}"
            + (f" (version {d['version_id']})" if d.get("version_id") else "")
            + (f"\n    DELETED by erasure (ledger entry {d['deleted']['seq']})" if d.get("deleted") else "")
            + (f"\n    sources: {', '.join(d['sources'])}" if d.get("sources") else "")
            + (f"\n    upstream: {', '.join(d['upstream'])}" if d.get("upstream") else "") for d in datasets]


def _model_lines(models: list[dict]) -> list[str]:
    return [f"  model {m['model']}:{m['version']} (run {m['mlflow_run_id']})"
            + ("  NEEDS RETRAINING" if m.get("needs_retraining") else "") for m in models]


def _verify_snapshots(project: Project, warehouse, datasets: list[dict]) -> list[str]:
    """Check each listed snapshot against its ledger record (an erased one is gone by design)."""
    from .datasets import records_by_digest, verify_snapshot
    from .ledger import Ledger

    records, store, problems = records_by_digest(Ledger(warehouse)), _object_store(project), []
    for dataset in datasets:
        record = records.get(dataset.get("digest"))
        found = ["no record in the ledger"] if record is None else [] if record.deleted else verify_snapshot(store, record)
        dataset["problems"] = found
        problems += found
    return problems


def _reproduce(args, project: Project, warehouse, name: str, version: str | None) -> int:
    from .provenance import reproduce

    if str(project.root) not in sys.path:
        sys.path.insert(0, str(project.root))  # the recorded trainer is the project's own code
    result = reproduce(project, warehouse, _object_store(project), name, version)
    text = [f"{name}:{result['version']} retrained on verified snapshot(s) (run {result['reproduced_run_id']})",
            *(f"  {d['asset']}: {d['digest']} verified" for d in result["datasets"]),
            "  metrics " + ("match the recorded run" if result["metrics_match"] else "DIFFER from the recorded run")
            + ": " + ", ".join(f"{k}={v:g}" for k, v in sorted(result["metrics"].items())),
            "  the fitted model is " + ("identical to" if result["identical"] else "NOT identical to")
            + f" the recorded one ({result['model_fingerprint']})"]
    _emit(args, result, "\n".join(text))
    return 0 if result["identical"] and result["metrics_match"] else 1


def cmd_provenance(args, project: Project) -> int:
    from . import provenance

    warehouse = project.open_warehouse()
    if args.reproduce and not args.model:
        raise CliError("--reproduce needs --model NAME:VERSION")
    if args.model and args.reproduce:
        return _reproduce(args, project, warehouse, *_model_ref(args.model))
    if args.model:
        name, version = _model_ref(args.model)
        result = provenance.model_provenance(project, warehouse, name, version)
        graph = _policy(project).graph
        for dataset in result["datasets"]:  # past the dataset's own SQL, back to where each column starts
            dataset["upstream"] = sorted({f"{a}.{c}" for source in dataset["sources"]
                                          for a, c in graph.upstream(*source.split(".", 1))} - set(dataset["sources"]))
        text = [f"model {name}:{result['version']}  run {result['mlflow_run_id']}  code {result['code_version']}"
                + ("  NEEDS RETRAINING" if result["needs_retraining"] else ""),
                "  params: " + ", ".join(f"{k}={v}" for k, v in sorted(result["params"].items()))]
    elif args.dataset:
        result = provenance.dataset_models(warehouse, args.dataset)
        text = [f"dataset {args.dataset}: {len(result['datasets'])} materialization(s), {len(result['models'])} model(s)"]
    else:
        result = provenance.subject_provenance(project, warehouse, args.subject_id)
        text = [f"subject {result['subject']}: in {len(result['datasets'])} dataset snapshot(s), "
                f"{len(result['models'])} model(s) trained on them"]
    problems = _verify_snapshots(project, warehouse, result["datasets"]) if args.verify else []
    text += [*_dataset_lines(result["datasets"]), *_model_lines(result.get("models", [])),
             *(f"  PROBLEM: {p}" for p in problems)]
    if args.verify:
        text.append(f"{len(problems)} problem(s) found" if problems else
                    f"verified: {len(result['datasets'])} snapshot(s) intact (bytes, digest, version)")
    _emit(args, result, "\n".join(text))
    return 1 if problems else 0


def _is_schema(value, depth: int = 0) -> bool:
    """sqlglot's MappingSchema form: table → column → type, nested up to catalog.db.table."""
    if not isinstance(value, dict) or depth > 3:
        return False
    return all(isinstance(k, str) and (isinstance(v, str) or (isinstance(v, dict) and _is_schema(v, depth + 1)))
               for k, v in value.items())


def _read(path: str, what: str) -> str:
    try:
        return Path(path).read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise CliError(f"cannot read {what} {path}: not UTF-8 text") from None
    except OSError as exc:
        raise CliError(f"cannot read {what} {path}: {exc.strerror}") from None


def cmd_demo(args, project: Project) -> int:
    from .dagster_ext.demo import run_demo

    summary = run_demo(project, load_definitions(project))
    text = [
        f"materialized {summary['materialized']} of {summary['assets']} assets "
        f"({'ok' if summary['run_success'] else 'FAILED'})",
        f"checks: {summary['checks_passed']} passed, {summary['checks_failed']} failed",
        f"policy findings: {summary['findings']} ({summary['finding_errors']} errors)",
        f"warehouse: {summary['warehouse']}",
        f"s3 endpoint: {summary['s3_endpoint_url']}",
        f"ledger: {summary['ledger_entries']} entries, head {summary['ledger_head']}",
        *(f"model {m['model']}:{m['version']} registered (MLflow run {m['mlflow_run_id']})" for m in summary["models"]),
        f"reports in {summary['output_dir']}: " + ", ".join(Path(p).name for p in summary["reports"]),
    ]
    _emit(args, summary, "\n".join(text))
    return 0 if summary["run_success"] and not summary["checks_failed"] and not summary["finding_errors"] else 1


def _positive(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"expected a positive whole number, got {text!r}")
    return int(text)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="dfg", description=__doc__.split("\n")[0])
    parser.add_argument("--project", default=os.environ.get("DFG_PROJECT"),
                        help="governance manifest (default ./dagster_project.yaml)")
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--json", action="store_true", help="machine-readable output")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("demo", parents=[common], help="materialize the example project, run checks, write reports")
    p.set_defaults(handler=cmd_demo)
    p = sub.add_parser("check", parents=[common], help="static policy rules; exit 1 on any error finding")
    p.set_defaults(handler=cmd_check)
    p = sub.add_parser("ropa", parents=[common], help="GDPR Art. 30 record (md, html, csv, json)")
    p.add_argument("--out", help="output folder (default: the manifest's output_dir)")
    p.set_defaults(handler=cmd_ropa)
    p = sub.add_parser("map", parents=[common], help="Mermaid data map with regions and processors")
    p.add_argument("--out", help="output folder (default: the manifest's output_dir)")
    p.set_defaults(handler=cmd_map)
    p = sub.add_parser("lineage", parents=[common], help="column lineage of SQL, an asset, or a column's impact")
    p.add_argument("--sql", help="SQL: one statement, or a script of several")
    p.add_argument("--file", help="a file of SQL: one statement, or a script (traced across its statements)")
    p.add_argument("--strict", action="store_true",
                   help="a table or column the --schema does not know is an error, not a warning")
    p.add_argument("--schema", help="JSON: table → column → type (sqlglot's MappingSchema form)")
    p.add_argument("--dialect", default=None, help="sqlglot dialect: duckdb, postgres, snowflake, bigquery, trino, spark, …")
    p.add_argument("--asset", help="lineage of one of the project's SQL assets, with propagated categories")
    p.add_argument("--upstream", metavar="ASSET.COLUMN", help="every column this one is derived from")
    p.add_argument("--downstream", metavar="ASSET.COLUMN", help="every column derived from this one (impact)")
    p.set_defaults(handler=cmd_lineage, needs_project=False)
    p = sub.add_parser("scan", parents=[common], help="scan a file, table or S3 prefix for personal data")
    target = p.add_mutually_exclusive_group(required=True)
    target.add_argument("--file", help="CSV, Parquet, JSON lines or text file")
    target.add_argument("--table", help="a warehouse table (the prefilter runs in the warehouse)")
    target.add_argument("--s3", help="s3://bucket/prefix (JSON lines, text logs, CSV, Parquet objects)")
    p.add_argument("--sample", type=_positive, help="scan at most N rows (files: the first N)")
    p.add_argument("--exact", action="store_true",
                   help="tables: validate every candidate instead of a budget of 2,000 per column")
    p.add_argument("--fail-on-findings", action="store_true", help="exit 1 when anything is found")
    p.set_defaults(handler=cmd_scan, needs_project=False)
    p = sub.add_parser("residency", parents=[common], help="declared vs actual regions, per-row regions, crossings")
    p.add_argument("--fail-on-findings", action="store_true", help="exit 1 on any violation")
    p.set_defaults(handler=cmd_residency)
    p = sub.add_parser("erase", parents=[common], help="erase a subject everywhere (GDPR Art. 17), verify, certify")
    p.add_argument("--subject-id", required=True)
    p.add_argument("--dry-run", action="store_true", help="print the exact plan with counts; change nothing")
    p.add_argument("--now", action="store_true", help="skip the grace period")
    p.add_argument("--cancel", action="store_true", help="cancel a pending request")
    p.add_argument("--grace-days", type=int, default=30, help="days before a request is carried out (0 to 3650)")
    p.add_argument("--vacuum-full", action="store_true",
                   help="PostgreSQL: VACUUM FULL the touched tables, rewriting their files (locks them meanwhile)")
    p.add_argument("--queue", action="store_true",
                   help="file a request for the Dagster erase_subject_job instead (prints its request id)")
    p.set_defaults(handler=cmd_erase)
    p = sub.add_parser("sweep", parents=[common], help="apply every retention rule (warehouse and S3), ledgered")
    p.add_argument("--dry-run", action="store_true", help="print the exact plan with counts; change nothing")
    p.set_defaults(handler=cmd_sweep)
    p = sub.add_parser("access", parents=[common], help="export everything held about a subject (Art. 15/20)")
    p.add_argument("--subject-id", required=True)
    p.set_defaults(handler=cmd_access)
    p = sub.add_parser("provenance", parents=[common], help="which data trained a model; which models saw a dataset or subject")
    asked = p.add_mutually_exclusive_group(required=True)
    asked.add_argument("--model", metavar="NAME[:VERSION]", help="a registered model (latest version if none given)")
    asked.add_argument("--dataset", metavar="ASSET", help="an audited training dataset")
    asked.add_argument("--subject-id", help="a subject: the datasets and models that included them")
    p.add_argument("--reproduce", action="store_true", help="with --model: verify the snapshot's digest and retrain")
    p.add_argument("--verify", action="store_true", help="check the snapshots are intact (bytes, digest, version)")
    p.set_defaults(handler=cmd_provenance)
    p = sub.add_parser("audit", parents=[common], help="the governance ledger: verify the chain, export entries")
    p.add_argument("action", choices=["verify", "export"])
    p.add_argument("--anchor", action="append", help="an extra anchor SEQ:HASH to check against (repeatable)")
    p.add_argument("--independent", action="store_true", help="verify in Python instead of in the warehouse")
    p.add_argument("--since", help="export entries at or after this UTC time (ISO 8601)")
    p.add_argument("--until", help="export entries before this UTC time")
    p.add_argument("--target", help="export only entries about this target")
    p.add_argument("--actor", help="export only entries by this actor")
    p.set_defaults(handler=cmd_audit)
    p = sub.add_parser("catalog", parents=[common], help="the governance catalog file every command reads: build, status")
    p.add_argument("action", choices=["build", "status"])
    p.set_defaults(handler=cmd_catalog)
    p = sub.add_parser("local", parents=[common], help="the embedded services: status, start, stop")
    p.add_argument("action", choices=["status", "start", "stop"])
    p.set_defaults(handler=cmd_local)
    return parser


def main(argv: list[str] | None = None) -> int:
    # Everything this process and its children write (warehouse, object store, keys, run storage,
    # certificates) may hold personal data or keys: owner-only, whatever the shell's umask.
    os.umask(0o077)
    args = build_parser().parse_args(argv)
    # MLflow's progress lines ("Created version …") would mix into the command's own output.
    os.environ.setdefault("MLFLOW_LOGGING_LEVEL", "WARNING")
    handler: Callable = args.handler
    try:
        standalone = getattr(args, "needs_project", True) is False and (
            getattr(args, "sql", None) is not None or getattr(args, "file", None) is not None)
        project = None
        if not standalone:
            from .manifest import DEFAULT_MANIFEST, load_project

            args.project = args.project or DEFAULT_MANIFEST
            # The project's own modules (and Dagster run processes) find the manifest through this.
            os.environ["DFG_PROJECT"] = str(Path(args.project).resolve())
            project = load_project(args.project)
        return handler(args, project)
    except DfgError as exc:
        if getattr(args, "json", False):
            print(json.dumps({"error": str(exc)}))
        print(f"error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
