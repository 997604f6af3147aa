"""`dfg serve`: the lineage browser, a read-only web app over the governance catalog.

Routes (GET only; anything else is 405):
  /                                  the browser
  /asset/<key>[/column/<column>]     deep links: the browser opened on an asset or a column
  /api/search?q=                     assets and columns by name
  /api/graph?asset=&column=&view=column|table&hops=&kinds=a,b
  /api/why?asset=&column=            what makes a column personal, or not
  /api/impact.json|.csv?asset=[&column=]   everything downstream, with its categories and regimes
  /static/…                          the script, the style and the layout library (shipped, no CDN)

It serves what the catalog file says and nothing else: no Dagster, no project code, no warehouse.
"""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.trustedhost import TrustedHostMiddleware
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from dataflow_governance.browse.index import DIRECT_KINDS, INDIRECT_KINDS, LineageIndex
from dataflow_governance.browse.pages import browser_page, message_page
from dataflow_governance.browse.source import CatalogSource, Snapshot

STATIC = Path(__file__).parent / "static"
MAX_NAME = 4096  # longer asset keys or column names in a request are refused, not looked up
ALL_KINDS = (*DIRECT_KINDS, *INDIRECT_KINDS)
# The pages load only their own script and style: a name that slipped past escaping could still not run.
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
                               "connect-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}


class _Refused(Exception):
    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status
        self.message = message


def create_app(source: CatalogSource, allowed_hosts: list[str] | None = None) -> Starlette:
    """The browser's app over `source`; `allowed_hosts` guards against DNS rebinding (a page elsewhere
    reaching the local server under its own name): only these Host headers are answered."""

    def snapshot_or_page() -> Snapshot | HTMLResponse:
        snapshot = source.current()
        if snapshot.index is None:
            return html(message_page("The governance catalog cannot be read", snapshot.error or "unknown error",
                                     details="Nothing is shown from a catalog that cannot be read: build it again "
                                             "with `dfg catalog build`, then reload this page."), 503)
        return snapshot

    async def home(request: Request) -> Response:
        snapshot = snapshot_or_page()
        if isinstance(snapshot, Response):
            return snapshot
        return html(browser_page(snapshot.project, snapshot.generated_at, {}, snapshot.stale))

    async def asset_page(request: Request) -> Response:
        snapshot = snapshot_or_page()
        if isinstance(snapshot, Response):
            return snapshot
        index = snapshot.index
        assert index is not None
        path = request.path_params["path"]
        if len(path) > 2 * MAX_NAME:
            return html(message_page("No such asset", "The name in this link is too long to be an asset's."), 404)
        found = _resolve(index, path)
        if found is None:
            name = path.split("/column/")[0]
            return html(message_page("No such asset", f"The catalog of {snapshot.project} has no asset named “{name}”.",
                                     index.suggestions(name)), 404)
        asset, column = found
        return html(browser_page(snapshot.project, snapshot.generated_at,
                                 {"asset": asset, **({"column": column} if column is not None else {})}, snapshot.stale))

    async def search(request: Request) -> Response:
        index = _index()
        return data(index.search(request.query_params.get("q", "")))

    async def graph(request: Request) -> Response:
        index = _index()
        asset, column = _focus(index, request)
        hops = _hops(request.query_params.get("hops", "2"))
        kinds = _kinds(request.query_params.get("kinds"))
        if request.query_params.get("view", "column") == "table":
            return data(index.table_neighbourhood(asset, hops, kinds))
        return data(index.neighbourhood(index.focus_of(asset, column), hops, kinds))

    async def why(request: Request) -> Response:
        index = _index()
        asset, column = _focus(index, request)
        if column is None:
            raise _Refused(400, "why needs a column")
        return data(index.why(asset, column))

    async def impact(request: Request) -> Response:
        if request.path_params["format"] not in ("csv", "json"):
            raise _Refused(404, "impact lists are exported as .csv or .json")
        index = _index()
        asset, column = _focus(index, request)
        rows = index.impact(index.focus_of(asset, column))
        name = "impact-" + "".join(ch if ch.isalnum() or ch in "-_" else "_" for ch in f"{asset}-{column or 'all'}")[:80]
        if request.path_params["format"] == "csv":
            out = io.StringIO()
            fields = ["asset", "column", "hops", "via", "level", "personal", "categories", "processors", "regimes",
                      "region", "pci", "phi"]
            writer = csv.DictWriter(out, fields, extrasaction="ignore")
            writer.writeheader()
            for row in rows:
                writer.writerow({**row, **{k: ";".join(row[k]) for k in ("categories", "processors", "regimes")},
                                 **{k: _cell(row[k]) for k in ("asset", "column")}})
            return Response(out.getvalue(), media_type="text/csv; charset=utf-8", headers={
                **SECURITY_HEADERS, "Content-Disposition": f'attachment; filename="{name}.csv"'})
        body = {"of": {"asset": asset, "column": column}, "downstream": rows}
        return Response(json.dumps(body, indent=1, ensure_ascii=False), media_type="application/json", headers={
            **SECURITY_HEADERS, "Content-Disposition": f'attachment; filename="{name}.json"'})

    def _index() -> LineageIndex:
        snapshot = source.current()
        if snapshot.index is None:
            raise _Refused(503, snapshot.error or "the governance catalog cannot be read")
        return snapshot.index

    async def refused(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, _Refused)
        return JSONResponse({"error": exc.message}, exc.status, headers=SECURITY_HEADERS)

    async def not_found(request: Request, exc: Exception) -> Response:
        return html(message_page("Not found", "There is no page at this address."), 404)

    async def no_icon(request: Request) -> Response:
        return Response(status_code=204)

    routes = [
        Route("/", home),
        Route("/favicon.ico", no_icon),
        Route("/asset/{path:path}", asset_page),
        Route("/api/search", search),
        Route("/api/graph", graph),
        Route("/api/why", why),
        Route("/api/impact.{format:str}", impact),
        Mount("/static", app=StaticFiles(directory=STATIC), name="static"),
    ]
    hosts = allowed_hosts or ["127.0.0.1", "localhost", "::1"]
    return Starlette(routes=routes, exception_handlers={_Refused: refused, 404: not_found},
                     middleware=[Middleware(TrustedHostMiddleware, allowed_hosts=hosts)])


def html(text: str, status: int = 200) -> HTMLResponse:
    return HTMLResponse(text, status, headers=SECURITY_HEADERS)


def data(value: dict) -> JSONResponse:
    return JSONResponse(value, headers=SECURITY_HEADERS)


def _resolve(index: LineageIndex, path: str) -> tuple[str, str | None] | None:
    """`<key>` or `<key>/column/<column>`; a key may hold slashes (Dagster's `a/b`), so the split is
    where what comes before is a known asset."""
    if path in index.assets:  # (the server hands the path over percent-decoded)
        return path, None
    start = 0
    while (at := path.find("/column/", start)) >= 0:
        asset, column = path[:at], path[at + len("/column/"):]
        if asset in index.assets and column in index.columns.get(asset, ()):
            return asset, column
        start = at + 1
    return None


def _focus(index: LineageIndex, request: Request) -> tuple[str, str | None]:
    asset = request.query_params.get("asset", "")
    column = request.query_params.get("column")
    if not asset or len(asset) > MAX_NAME or (column is not None and len(column) > MAX_NAME):
        raise _Refused(400, "give an asset (and a column) by name")
    if asset not in index.assets:
        raise _Refused(404, "no such asset in the catalog")
    if column is not None and column not in index.columns.get(asset, ()):
        raise _Refused(404, "the asset has no such column in the catalog")
    return asset, column


def _hops(text: str) -> int:
    try:
        hops = int(text)
    except ValueError:
        raise _Refused(400, "hops is a whole number") from None
    if hops < 1:
        raise _Refused(400, "hops is at least 1")
    return min(hops, 1000)  # the index says when it walks fewer than asked


def _kinds(text: str | None) -> set[str]:
    if text is None:
        return set(ALL_KINDS)
    kinds = {k for k in text.split(",") if k}
    unknown = kinds - set(ALL_KINDS)
    if unknown:
        raise _Refused(400, f"unknown edge kinds; known: {', '.join(ALL_KINDS)}")
    return kinds


def _cell(value: str) -> str:
    """A CSV cell a spreadsheet will not run as a formula (a name may start with `=`)."""
    return "'" + value if value[:1] in ("=", "+", "-", "@", "\t", "\r") else value
