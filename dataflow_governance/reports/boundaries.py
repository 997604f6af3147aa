"""The trust-boundary catalog as a report: every crossing of the map, its threats (STRIDE), the
levels of data that cross it, and its controls present and missing, in Markdown and HTML."""

from __future__ import annotations

import html
from pathlib import Path

from dataflow_governance.local.files import check_output_folder, write_safely

_COLUMNS = ("flow", "from → to", "zones", "kind", "level", "threats (STRIDE)", "controls", "missing")


def _row(crossing: dict) -> list[str]:
    zones = " → ".join(crossing["zones"]) if crossing["crosses_zone"] else f"within {crossing['zones'][0]}"
    return [crossing["flow"] + ("" if crossing["declared"] else " (derived)"),
            f"{crossing['from']} → {crossing['to']} ({crossing['protocol']})", zones, crossing["kind"], crossing["level"],
            ", ".join(crossing["threats"]), ", ".join(crossing["controls"]) or "none",
            ", ".join(crossing["missing"]) or "none"]


def render_boundaries(crossings: list[dict], fmt: str) -> str:
    rows = [_row(c) for c in crossings]
    title = "Trust boundaries: every crossing, its threats and its controls"
    if fmt == "md":
        head = "| " + " | ".join(_COLUMNS) + " |\n|" + "---|" * len(_COLUMNS) + "\n"
        body = "".join("| " + " | ".join(cell.replace("|", "\\|") for cell in row) + " |\n" for row in rows)
        return f"# {title}\n\nDerived flows are what the project's other declarations say; their other controls are unknown.\n\n" \
            + head + body
    if fmt == "html":
        head = "".join(f"<th>{html.escape(c)}</th>" for c in _COLUMNS)
        body = "".join("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in row) + "</tr>" for row in rows)
        return (f"<!doctype html><meta charset='utf-8'><title>{title}</title><h1>{title}</h1>"
                f"<table border='1'><tr>{head}</tr>{body}</table>\n")
    raise ValueError(f"unknown format {fmt!r}; allowed: md, html")


def write_boundaries(crossings: list[dict], out_dir: Path) -> list[Path]:
    out_dir = check_output_folder(out_dir)
    return [write_safely(out_dir / f"boundaries.{fmt}", render_boundaries(crossings, fmt)) for fmt in ("md", "html")]
