"""`dfg init [--scan]`: a governed project scaffolded into an existing Dagster project; with `--scan`,
its governance proposed from the tables and S3 prefixes it already has, as a draft to review."""

from __future__ import annotations

import os
import re
from pathlib import Path

from dataflow_governance.cli.common import CliError, emit, positive


def register(subparsers, common) -> None:
    """The `init` family's commands and options."""
    p = subparsers.add_parser(
        "init", parents=[common], help="scaffold governance into an existing Dagster project (manifest, definitions, "
        "resources); --scan proposes it from the data", description="Writes dagster_project.yaml, a governed "
        "Definitions module and a resources module beside the project's Definitions. Never overwrites: for a file "
        "that exists it prints the diff of what it would write. With --scan, reads the warehouse's tables (and S3 "
        "prefixes) and proposes each column's categories, the subjects' identity and retention timestamps, with a "
        "confidence and masked evidence, into a draft manifest (`draft: true`) for review.")
    p.add_argument("--dir", default=".", help="the Dagster project's folder (default: here)")
    p.add_argument("--definitions", metavar="MODULE:ATTR",
                   help="the project's Definitions, when pyproject.toml does not say (shop.definitions:defs)")
    p.add_argument("--name", help="the project's name (default: the folder's)")
    p.add_argument("--region", default="eu-central-1", help="where the project's data is stored (default eu-central-1)")
    p.add_argument("--warehouse", metavar="FILE|DSN",
                   help="the project's warehouse: a DuckDB file, or a postgresql:// DSN (default: the manifest's, else none)")
    p.add_argument("--schema", help="the warehouse schema to scan (default: the engine's)")
    p.add_argument("--scan", action="store_true", help="propose the governance from the data (a draft, for review)")
    p.add_argument("--s3", action="append", metavar="s3://BUCKET[/PREFIX]", default=[],
                   help="also scan the datasets under this S3 prefix (repeatable; with --scan)")
    p.add_argument("--sample", type=positive, default=10_000, help="rows read per table or prefix (default 10,000)")
    p.add_argument("--dry-run", action="store_true", help="write nothing; print what would be written")
    p.set_defaults(handler="init:cmd_init", needs_project="never")


def cmd_init(args, _project) -> int:
    from dataflow_governance.scaffold.detect import find_code_location
    from dataflow_governance.scaffold.files import write_new
    from dataflow_governance.scaffold.templates import Scaffold, WarehouseChoice

    if args.s3 and not args.scan:
        raise CliError("--s3 names what --scan reads: add --scan")
    if not re.fullmatch(r"[a-z]{2}(-[a-z0-9]+)+", args.region):
        raise CliError(f"--region {args.region!r}: expected a region like eu-central-1")
    existing = _existing_manifest(Path(args.dir))
    location = find_code_location(Path(args.dir), args.definitions, existing.definitions if existing else None)
    root = location.root
    name = args.name or (existing.name if existing else root.name)
    warehouse, choice = _warehouse(args, root, existing)
    scaffold = Scaffold(location, name, args.region, choice or WarehouseChoice(),
                        buckets={b: c.region for b, c in existing.buckets.items()} if existing else {},
                        governed=existing is not None)
    report: dict = {"project": str(root), "definitions": location.definitions,
                    "found_in": location.declared_in}
    if args.scan:
        report["scan"] = _scan(args, scaffold, location, warehouse, existing)
    outcomes = write_new(scaffold.files(), root, dry_run=args.dry_run)
    if existing is None:
        outcomes += _pyproject_change(location)
    report["files"] = [o.to_dict(root) for o in outcomes]
    emit(args, report, _text(report, outcomes, root))
    return 0


def _existing_manifest(root: Path):
    """The manifest already in the folder (its warehouse and buckets are what a scan reads), or None."""
    from dataflow_governance.model.manifest import load_project

    return load_project(root / "dagster_project.yaml") if (root / "dagster_project.yaml").is_file() else None


def _warehouse(args, root: Path, existing):
    """The warehouse to scan (None: none to scan) and how the manifest names it."""
    from dataflow_governance.scaffold.templates import WarehouseChoice
    from dataflow_governance.storage.warehouse import Warehouse, WarehouseError

    target = args.warehouse
    if target is None:
        if existing is None or not args.scan:
            return None, None
        from dataflow_governance.dagster_ext.parts import warehouse_of

        return warehouse_of(existing), None
    try:
        if re.match(r"postgres(ql)?://", target):
            warehouse = Warehouse(kind="postgres", dsn=target, schema=args.schema)
            choice = WarehouseChoice(kind="postgres", path=None, schema=args.schema)
        else:
            path = Path(target).expanduser().resolve()
            if not path.is_file():
                raise CliError(f"--warehouse {target}: no DuckDB file there (give the file the project writes its tables to, "
                               "or a postgresql:// DSN)")
            warehouse = Warehouse(kind="duckdb", path=str(path), schema=args.schema)
            choice = WarehouseChoice(path=os.path.relpath(path, root / ".dfg"), schema=args.schema)
        warehouse.fetch("SELECT 1")
    except WarehouseError as exc:
        raise CliError(f"cannot reach the warehouse: {exc}; nothing was written") from None
    return warehouse, choice


def _scan(args, scaffold, location, warehouse, existing) -> dict:
    """Classify every table (and the S3 prefixes asked for), and put the draft into the scaffold."""
    import time

    from dataflow_governance.detection.classify import classify_prefix, classify_table, data_tables, top_prefixes
    from dataflow_governance.scaffold.draft import governance_yaml

    if warehouse is None and not args.s3:
        raise CliError("--scan needs data to read: --warehouse FILE|DSN (or a manifest here that names one), or --s3")
    started = time.monotonic()
    tables = [classify_table(warehouse, t, args.sample) for t in data_tables(warehouse)] if warehouse else []
    prefixes = []
    if args.s3:
        store = _object_store(existing)
        for uri in args.s3:
            if not uri.startswith("s3://") or not uri[5:].split("/", 1)[0]:
                raise CliError(f"--s3 {uri!r}: expected s3://bucket[/prefix]")
            bucket, _, prefix = uri[5:].partition("/")
            prefixes += [classify_prefix(store, bucket, p, args.sample) for p in top_prefixes(store, bucket, prefix)]
    places = _asset_places(location, tables)
    scaffold.governance_yaml = governance_yaml(tables, places, prefixes)
    scaffold.draft = True
    proposals = [p for t in tables for c in t.columns.values() for p in c.wanted()]
    return {"tables": [t.to_dict() for t in tables], "s3": [p.to_dict() for p in prefixes],
            "rows_read": sum(t.rows_read for t in tables) + sum(p.rows_read for p in prefixes),
            "proposed": sum(p.level == "proposed" for p in proposals),
            "uncertain": sum(p.level == "uncertain" for p in proposals),
            "seconds": round(time.monotonic() - started, 2)}


def _object_store(existing):
    from dataflow_governance.storage.objectstore import open_object_store

    if existing is not None:
        from dataflow_governance.dagster_ext.parts import object_store

        return object_store(existing)
    return open_object_store(os.environ.get("DFG_S3_ENDPOINT_URL"), os.environ.get("AWS_REGION", "eu-central-1"),
                             Path(".dfg"), use_local=False)


def _asset_places(location, tables) -> dict:
    """Table → the asset of the project's Definitions that writes it (an asset named after the table)."""
    from dataflow_governance.cli.common import import_definitions
    from dataflow_governance.scaffold.draft import AssetPlace

    defs = import_definitions(location.root, location.definitions)
    if not hasattr(defs, "resolve_all_asset_specs"):
        raise CliError(f"{location.definitions} is not a Dagster Definitions object")
    specs = {spec.key.to_user_string(): spec for spec in defs.resolve_all_asset_specs()}
    places = {}
    for proposal in tables:
        table = proposal.table
        for key in (table, table.replace(".", "/"), table.rsplit(".", 1)[-1]):
            if key in specs:
                places[table] = AssetPlace(key, specs[key].group_name or "default")
                break
    return places


def _pyproject_change(location):
    """pyproject.toml's code location moved to the governed Definitions: shown as a diff, never written."""
    import difflib

    from dataflow_governance.scaffold.files import FileOutcome
    from dataflow_governance.scaffold.templates import DEFINITIONS_MODULE

    path = location.root / "pyproject.toml"
    if not path.is_file():
        return []
    text = path.read_text()
    governed, _ = location.module_path(DEFINITIONS_MODULE)
    changed = re.sub(r'(?m)^(module_name\s*=\s*)"[^"]*"', rf'\1"{governed}"', text, count=1)
    if changed == text:
        return []
    diff = "".join(difflib.unified_diff(text.splitlines(keepends=True), changed.splitlines(keepends=True),
                                        "pyproject.toml (yours)", "pyproject.toml (dfg init)"))
    return [FileOutcome(path, "exists", diff)]


def _text(report: dict, outcomes, root: Path) -> str:
    lines = [f"Dagster project {report['project']}: Definitions {report['definitions']} (from {report['found_in']})"]
    scan = report.get("scan")
    if scan:
        tables = scan["tables"]
        lines.append(f"scanned {len(tables)} table(s) and {len(scan['s3'])} S3 prefix(es), {scan['rows_read']} rows read "
                     f"in {scan['seconds']} s: {scan['proposed']} categories proposed, {scan['uncertain']} uncertain (REVIEW)")
        for table in tables:
            if table["rows_read"] < table["rows"]:
                lines.append(f"  {table['table']}: sampled {table['rows_read']} of {table['rows']} rows")
    for outcome in outcomes:
        name = outcome.path.relative_to(root)
        if outcome.status == "exists":
            lines += [f"{name}: exists, left as it is; what dfg init would write differs:", outcome.diff.rstrip()]
        else:
            lines.append(f"{name}: {outcome.status}")
    if scan:
        lines.append("the manifest is a DRAFT (draft: true): review it, then `dfg check`")
    return "\n".join(lines)
