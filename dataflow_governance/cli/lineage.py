"""`dfg lineage`: column lineage of SQL (a statement or a script), of a project asset, or a column's impact."""

from __future__ import annotations

import json

from dataflow_governance.cli import render
from dataflow_governance.cli.common import CliError, emit, policy, read_text


def register(subparsers, common) -> None:
    """The `lineage` family's commands and options."""
    p = subparsers.add_parser("lineage", parents=[common], help="column lineage of SQL, an asset, or a column's impact")
    p.add_argument("--sql", help="SQL: one statement, or a script of several")
    p.add_argument("--file", help="a file of SQL: one statement, or a script (traced across its statements)")
    p.add_argument("--strict", action="store_true",
                   help="a table or column the --schema does not know is an error (else: a warning, and a "
                        "column it does not list is traced from its source and marked unverified)")
    p.add_argument("--schema", help="JSON: table → column → type (sqlglot's MappingSchema form)")
    p.add_argument("--dialect", default=None, help="sqlglot dialect: duckdb, postgres, snowflake, bigquery, trino, spark, …")
    p.add_argument("--asset", help="lineage of one of the project's SQL assets, with propagated categories")
    p.add_argument("--upstream", metavar="ASSET.COLUMN", help="every column this one is derived from")
    p.add_argument("--downstream", metavar="ASSET.COLUMN", help="every column derived from this one (impact)")
    p.set_defaults(handler="lineage:cmd_lineage", needs_project=False)


def cmd_lineage(args, project) -> int:
    if args.sql is not None or args.file is not None:
        return _sql_lineage(args)
    if project is None:
        raise CliError("give --sql or --file, or a project for --asset/--upstream/--downstream")
    graph = policy(project).column_graph
    if args.asset:
        if args.asset not in graph.lineage:
            known = ", ".join(sorted(graph.lineage)) or "(none)"
            why = graph.errors.get(args.asset)
            raise CliError(f"asset {args.asset!r} has no SQL lineage" + (f": {why}" if why else f"; SQL assets: {known}"))
        payload = graph.lineage[args.asset].to_dict()
        payload["classification"] = {
            column: {"categories": sorted(cls.categories), "personal": cls.personal, "pseudonymized": cls.pseudonymized,
                     "anonymous": cls.anonymous, "subject_linked": cls.subject_linked}
            for column, cls in graph.columns_of(args.asset).items()
        }
        emit(args, payload, render.asset_lineage(payload))
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
    emit(args, payload, render.column_walk(payload, direction))
    return 0


def _sql_lineage(args) -> int:
    from dataflow_governance.lineage.scripts import parse_script, script_lineage
    from dataflow_governance.lineage.sql import column_lineage

    sql = args.sql if args.sql is not None else read_text(args.file, "SQL file")
    schema = _schema(args.schema) if args.schema else None
    if len(parse_script(sql, args.dialect)) > 1:  # a script: per statement, then end to end
        script = script_lineage(sql, schema, args.dialect, strict=args.strict)
        emit(args, script.to_dict(), render.script_lineage(script))
        return 0
    result = column_lineage(sql, schema, args.dialect, strict=args.strict, strict_columns=args.strict)
    emit(args, result.to_dict(), "\n".join(render.statement_lineage(result)))
    return 0


def _schema(path: str) -> dict:
    try:
        schema = json.loads(read_text(path, "schema file", limit=50 << 20))
    except json.JSONDecodeError as exc:
        raise CliError(f"schema file {path}: not valid JSON ({exc})") from None
    except RecursionError:
        raise CliError(f"schema file {path}: nested too deeply (a schema is at most catalog.db.table.column)") from None
    if not _is_schema(schema):
        raise CliError(f"schema file {path}: expected {{table: {{column: type}}}} "
                       "(optionally nested by schema and catalog), with text types")
    return schema


def _is_schema(value, depth: int = 0) -> bool:
    """sqlglot's MappingSchema form: table → column → type, nested up to catalog.db.table."""
    if not isinstance(value, dict) or depth > 3:
        return False
    return all(isinstance(k, str) and (isinstance(v, str) or (isinstance(v, dict) and _is_schema(v, depth + 1)))
               for k, v in value.items())
