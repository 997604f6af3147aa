"""`dfg openlineage export|schema`: the whole data map as OpenLineage events, for a one-off import
into a lineage catalog (Marquez, DataHub, OpenMetadata, …); the governance facet's JSON schema."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

from .common import CliError, emit, project_catalog


def cmd_openlineage(args, project) -> int:
    from .. import openlineage

    if args.action == "schema":
        schema = openlineage.governance_facet_schema()
        print(json.dumps(schema, indent=2))
        return 0
    events = openlineage.catalog_events(project_catalog(project), project)
    if args.emit:
        if args.out:
            raise CliError("--emit sends the events through the OpenLineage client; --out writes them to a file: pick one")
        client = openlineage.client_for(project)
        sent = openlineage.emit(client, events)
        emit(args, {"events": sent, "transport": client.transport.kind},
             f"{sent} OpenLineage events sent through the {client.transport.kind} transport")
        return 0
    out = Path(args.out) if args.out else project.output_dir / "openlineage" / "catalog.ndjson"
    _write_lines(out, [openlineage.to_json(e) for e in events])
    emit(args, {"events": len(events), "path": str(out)}, f"{len(events)} OpenLineage events → {out}")
    return 0


def _write_lines(path: Path, lines: list[str]) -> None:
    """Atomically: a reader never sees half an export."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".openlineage-", suffix=".ndjson")
    except OSError as exc:
        raise CliError(f"cannot write {path}: {exc.strerror}") from None
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.writelines(line + "\n" for line in lines)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
