"""`dfg serve`: the lineage browser over the project's governance catalog (read-only, local by default)."""

from __future__ import annotations

import ipaddress
import logging
import sys
from pathlib import Path
from urllib.parse import urlsplit

from dataflow_governance.cli.common import CliError

DEFAULT_PORT = 3001


def register(subparsers, common) -> None:
    """The `serve` family's command and options."""
    p = subparsers.add_parser("serve", parents=[common], help="browse column lineage in a web browser (read-only)")
    p.add_argument("--host", default="127.0.0.1",
                   help="address to listen on (default 127.0.0.1: this machine only; the lineage names personal columns)")
    p.add_argument("--port", type=int, default=None,
                   help=f"port (default: the port of the manifest's browser.url, else {DEFAULT_PORT})")
    p.add_argument("--catalog", help="browse this catalog file instead of the project's (its inputs are not compared)")
    p.add_argument("--allow-host", action="append", default=[], metavar="NAME",
                   help="a host name people reach the browser by, besides 127.0.0.1 and localhost (repeatable)")
    p.set_defaults(handler="serve:cmd_serve", needs_project=False)


def cmd_serve(args, project) -> int:
    import uvicorn

    from dataflow_governance.browse.app import create_app
    from dataflow_governance.browse.source import CatalogSource

    if args.catalog is not None:
        source = CatalogSource(Path(args.catalog))
        port_default = DEFAULT_PORT
    else:
        if project is None:
            raise CliError("give --catalog, or run in a project (--project)")
        from dataflow_governance.dagster_ext.parts import origin_of

        source = CatalogSource(project.paths.catalog, origin_of(project), project.classification.mapping())
        port_default = urlsplit(project.browser.url).port or DEFAULT_PORT
    port = args.port if args.port is not None else port_default
    if not 0 < port < 65536:
        raise CliError(f"--port {port}: not a port")
    if not _loopback(args.host):
        print(f"warning: listening on {args.host}: anyone who reaches it can read the lineage (read-only); "
              "put it behind your own authentication", file=sys.stderr)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    snapshot = source.current()  # read now: a catalog that cannot be read is said before the first visit
    if snapshot.index is None:
        print(f"warning: {snapshot.error}", file=sys.stderr)
    hosts = ["127.0.0.1", "localhost", "::1", *([args.host] if not _loopback(args.host) else []), *args.allow_host]
    app = create_app(source, allowed_hosts=hosts)
    print(f"lineage browser on http://{'[' + args.host + ']' if ':' in args.host else args.host}:{port} "
          "(read-only; Ctrl-C stops it)", file=sys.stderr)
    uvicorn.run(app, host=args.host, port=port, log_level="warning", access_log=False)
    return 0


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
