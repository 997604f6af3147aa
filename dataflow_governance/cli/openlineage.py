"""`dfg openlineage export|schema`: the whole data map as OpenLineage events, for a one-off import
into a lineage catalog (Marquez, DataHub, OpenMetadata, …); the governance facet's JSON schema."""

from __future__ import annotations

import json
from pathlib import Path

from dataflow_governance.cli.common import CliError, emit, project_catalog


def register(subparsers, common) -> None:
    """The `openlineage` family's commands and options."""
    p = subparsers.add_parser("openlineage", parents=[common],
                       help="OpenLineage: export the whole catalog's events; the governance facet's JSON schema")
    p.add_argument("action", choices=["export", "schema"])
    p.add_argument("--out", help="export: the NDJSON file to write (default: <output_dir>/openlineage/catalog.ndjson)")
    p.add_argument("--emit", action="store_true",
                   help="export: send the events through the configured OpenLineage client instead of writing a file")
    p.set_defaults(handler="openlineage:cmd_openlineage")


def cmd_openlineage(args, project) -> int:
    from dataflow_governance.reports import openlineage

    if args.action == "schema":
        schema = openlineage.governance_facet_schema()
        print(json.dumps(schema, indent=2))
        return 0
    from dataflow_governance.dagster_ext.parts import dataset_names

    events = openlineage.catalog_events(project_catalog(project), dataset_names(project))
    if args.emit:
        if args.out:
            raise CliError("--emit sends the events through the OpenLineage client; --out writes them to a file: pick one")
        client = openlineage.client_for(project.openlineage, project.root)
        sent = openlineage.emit(client, events)
        emit(args, {"events": sent, "transport": client.transport.kind},
             f"{sent} OpenLineage events sent through the {client.transport.kind} transport")
        return 0
    out = Path(args.out) if args.out else project.output_dir / "openlineage" / "catalog.ndjson"
    _write_lines(out, [openlineage.to_json(e) for e in events])
    emit(args, {"events": len(events), "path": str(out)}, f"{len(events)} OpenLineage events → {out}")
    return 0


def _write_lines(path: Path, lines: list[str]) -> None:
    """Atomically (a reader never sees half an export), to a regular file or a new path only."""
    from dataflow_governance.local.files import write_safely

    write_safely(path, "".join(line + "\n" for line in lines), "OpenLineage export")
