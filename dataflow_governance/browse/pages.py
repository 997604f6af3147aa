"""The browser's HTML: one page shell that the script fills, and the pages that say what is wrong.

Every name that reaches HTML is escaped here and shortened for display; the focus the script opens
travels as JSON in a data block (never as markup), with `<`, `>` and `&` escaped so that no name can
close the block.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from html import escape

from dataflow_governance.browse.index import label

VERSION_TAG = "1"  # bumped when the static files change, so a browser does not keep old ones


def _data_block(value: dict) -> str:
    text = json.dumps(value, ensure_ascii=False)
    return text.replace("&", "\\u0026").replace("<", "\\u003c").replace(">", "\\u003e")


def _head(title: str) -> str:
    return (f'<!doctype html><html lang="en"><head><meta charset="utf-8"><title>{escape(title)}</title>'
            '<meta name="viewport" content="width=device-width, initial-scale=1">'
            f'<link rel="stylesheet" href="/static/browse.css?v={VERSION_TAG}"></head>')


def _banner(stale: list[str]) -> str:
    if not stale:
        return ""
    shown = ", ".join(label(name) for name in stale[:8]) + (f" and {len(stale) - 8} more" if len(stale) > 8 else "")
    return (f'<div class="banner stale" role="alert">This catalog is <strong>stale</strong>: {escape(shown)} changed '
            'since it was built, so what you see may not be what runs. Run <code>dfg catalog build</code>.</div>')


def browser_page(project: str, generated_at: str, focus: dict, stale: list[str]) -> str:
    """The lineage browser, opened on `focus` ({asset, column} or {})."""
    title = "Column lineage · " + label(project) + (" · " + label(focus["asset"]) if focus.get("asset") else "")
    return (_head(title) + '<body>'
            f'<header><a class="home" href="/">Column lineage</a><span class="project">{escape(label(project))}</span>'
            '<form id="search-form" role="search"><input id="search" type="search" autocomplete="off" '
            'placeholder="Search assets and columns" aria-label="Search assets and columns"><ul id="results"></ul></form>'
            f'<span class="built">catalog built {escape(generated_at or "(unknown)")}</span></header>'
            + _banner(stale) +
            '<main><section id="canvas-pane"><div id="controls">'
            '<label>View <select id="view"><option value="column">columns</option><option value="table">tables</option>'
            '</select></label>'
            '<label>Hops <input id="hops" type="number" min="1" max="10" value="2"></label>'
            '<label>Colour by <select id="colour">'
            '<option value="level">classification level</option><option value="category">category</option>'
            '<option value="pci">PCI scope</option><option value="phi">PHI</option><option value="tenancy">tenancy</option>'
            '<option value="region">region</option><option value="processors">processors</option></select></label>'
            '<fieldset id="kinds"><legend>Edges</legend></fieldset></div>'
            '<div id="notes" role="status"></div>'
            '<div id="graph"><p class="hint">Search for an asset or a column to see its lineage.</p></div>'
            '<div id="legend"></div></section>'
            '<aside id="panel"><div id="details"></div><div id="why"></div><div id="impact"></div></aside></main>'
            f'<script type="application/json" id="focus">{_data_block(focus)}</script>'
            f'<script src="/static/vendor/dagre.min.js?v={VERSION_TAG}"></script>'
            f'<script src="/static/browse.js?v={VERSION_TAG}"></script></body></html>')


def message_page(title: str, message: str, suggestions: Sequence[str] = (), details: str = "") -> str:
    """A page that says what went wrong in words (an unknown asset, a catalog that cannot be read)."""
    links = "".join(f'<li><a href="/asset/{escape(_path(s))}">{escape(label(s))}</a></li>' for s in suggestions)
    return (_head(title) + '<body class="message"><header><a class="home" href="/">Column lineage</a></header><main>'
            f'<h1>{escape(title)}</h1><p>{escape(message)}</p>'
            + (f'<p>Did you mean:</p><ul class="suggestions">{links}</ul>' if links else "")
            + (f'<p class="details">{escape(details)}</p>' if details else "")
            + '</main></body></html>')


def _path(key: str) -> str:
    from urllib.parse import quote

    return quote(key, safe="/")
