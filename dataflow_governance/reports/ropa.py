"""Reports generated from the declarations: the Art. 30 record and the data map.

Built from governance facts only, so they hold names and categories, never a personal value.
"""

from __future__ import annotations

import csv
import html
import io
import json
from pathlib import Path

from dataflow_governance.local.files import check_output_folder, write_safely
from dataflow_governance.model import taxonomy
from dataflow_governance.policy.context import PolicyContext
from dataflow_governance.reports.mermaid import mermaid_id, write_mermaid


def ropa_activities(ctx: PolicyContext) -> list[dict]:
    """One GDPR Art. 30(1) activity per asset that processes personal data."""
    activities = []
    for asset, gov in sorted(ctx.governance.items()):
        if not gov.is_personal:
            continue
        recipients, transfers = [], []
        home = taxonomy.jurisdiction(gov.region) if gov.region else None
        for name in gov.processors:
            processor = ctx.processors[name]
            recipients.append({"name": name, "kind": processor.kind, "purpose": processor.purpose,
                               "region": processor.region, "dpa": processor.dpa})
            if home and taxonomy.jurisdiction(processor.region) != home:
                transfers.append({"to": name, "region": processor.region,
                                  "safeguard": processor.transfer_mechanism or "none"})
        security = []
        if gov.encryption.at_rest:
            security.append(f"encryption at rest: {gov.encryption.at_rest}")
        if gov.encryption.in_transit:
            security.append(f"encryption in transit: {gov.encryption.in_transit}")
        pseudonymized = [n for n, c in gov.columns.items() if c.pseudonymized]
        if pseudonymized:
            security.append("pseudonymized: " + ", ".join(pseudonymized))
        if gov.subject_encrypted:  # Art. 32(1)(a), and erasure by destroying the subject's key
            security.append("field-level encryption with each subject's own key (crypto-shredding): "
                            + ", ".join(gov.subject_encrypted))
        keyed = [n for n, c in gov.columns.items() if c.encryption == "column_key"]
        if keyed:
            security.append("field-level encryption with a column key: " + ", ".join(keyed))
        if gov.tenant_scoped:  # Art. 32: one tenant's data kept from another's
            security.append(f"tenant isolation: {gov.tenant_strategy or 'row'} strategy"
                            + (f" on {gov.tenant_key}" if gov.tenant_key else "")
                            + (f", tenants {', '.join(gov.tenants)} only" if gov.tenants else ""))
        restricted = [n for n, c in gov.columns.items() if c.sensitivity == "restricted"]
        if restricted:
            security.append("restricted access: " + ", ".join(restricted))
        activities.append({
            "asset": asset,
            "owner": gov.owner,
            "description": gov.description,
            "purposes": list(gov.purposes),
            "legal_basis": f"{gov.legal_basis} ({gov.legal_basis_article})" if gov.legal_basis else None,
            "art9_condition": gov.art9_condition,
            "data_subjects": list(gov.data_subjects),
            "data_categories": [c for c in gov.all_categories if taxonomy.is_personal_category(c)],
            "recipients": recipients,
            "transfers": transfers,
            "retention": gov.retention.describe() if gov.retention else None,
            "security_measures": security,
            "region": gov.region,
        })
    return activities


_COLUMNS = ("asset", "purposes", "legal_basis", "data_subjects", "data_categories", "recipients",
            "transfers", "retention", "security_measures")


def _cell(value) -> str:
    if isinstance(value, list):
        return "; ".join(_cell(v) for v in value)
    if isinstance(value, dict):
        return value.get("name") or value.get("to") or json.dumps(value, sort_keys=True)
    return "" if value is None else str(value)


def render_ropa(activities: list[dict], fmt: str) -> str:
    if fmt == "json":
        return json.dumps({"activities": activities}, indent=2)
    rows = [[_cell(a[c]) for c in _COLUMNS] for a in activities]
    if fmt == "csv":
        buffer = io.StringIO()
        writer = csv.writer(buffer)
        writer.writerow(_COLUMNS)
        writer.writerows(rows)
        return buffer.getvalue()
    if fmt == "md":
        head = "| " + " | ".join(_COLUMNS) + " |\n|" + "---|" * len(_COLUMNS) + "\n"
        body = "".join("| " + " | ".join(c.replace("|", "\\|") for c in row) + " |\n" for row in rows)
        return "# Record of processing activities (GDPR Art. 30)\n\n" + head + body
    if fmt == "html":
        head = "".join(f"<th>{html.escape(c)}</th>" for c in _COLUMNS)
        body = "".join("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in row) + "</tr>" for row in rows)
        return ("<!doctype html><meta charset='utf-8'><title>Record of processing activities</title>"
                f"<h1>Record of processing activities (GDPR Art. 30)</h1><table border='1'><tr>{head}</tr>{body}</table>\n")
    raise ValueError(f"unknown format {fmt!r}; allowed: json, csv, md, html")


def write_ropa(activities: list[dict], out_dir: Path) -> dict[str, Path]:
    out_dir = check_output_folder(out_dir)
    return {fmt: write_safely(out_dir / f"ropa.{fmt}", render_ropa(activities, fmt)) for fmt in ("md", "html", "csv", "json")}


def data_map(ctx: PolicyContext) -> str:
    """A Mermaid flowchart: regions as boundaries, processors outside the trust boundary."""
    by_region: dict[str, list[str]] = {}
    for asset in sorted(ctx.upstream):
        gov = ctx.governance.get(asset)
        region = gov.region if gov and gov.region else "undeclared"
        by_region.setdefault(region, []).append(asset)
    lines = ["flowchart LR"]
    for region, assets in sorted(by_region.items()):
        label = f"{taxonomy.jurisdiction(region)} · {region}" if region != "undeclared" else "region undeclared"
        lines.append(f'  subgraph region_{mermaid_id(region)}["{label}"]')
        for asset in assets:
            gov = ctx.governance.get(asset)
            marker = " 🔒 personal" if gov and gov.is_personal else (" ✓ pii-free" if gov and gov.pii_free else "")
            lines.append(f'    {mermaid_id(asset)}["{asset}{marker}"]')
        lines.append("  end")
    used = sorted({p for gov in ctx.governance.values() for p in gov.processors})
    if used:
        lines.append('  subgraph external["outside the trust boundary"]')
        for name in used:
            processor = ctx.processors[name]
            dpa = "DPA" if processor.dpa else "no DPA"
            lines.append(f'    proc_{mermaid_id(name)}{{{{"{name} ({processor.region}, {dpa})"}}}}')
        lines.append("  end")
    for asset, sources in sorted(ctx.upstream.items()):
        for source in sorted(sources):
            lines.append(f"  {mermaid_id(source)} --> {mermaid_id(asset)}")
    for asset, gov in sorted(ctx.governance.items()):
        for name in gov.processors:
            lines.append(f"  {mermaid_id(asset)} -. sends .-> proc_{mermaid_id(name)}")
    if ctx.landscape is not None and ctx.landscape.sagas:
        from dataflow_governance.reports.saga_paths import flowchart_lines

        lines += flowchart_lines(dict(ctx.landscape.sagas), lambda p: f"proc_{mermaid_id(p)}" if p in used else None)
    return "\n".join(lines) + "\n"


def write_data_map(ctx: PolicyContext, out_dir: Path) -> Path:
    return write_mermaid(out_dir, "data_map", "Data map", data_map(ctx))


def findings_report(findings: list, out_dir: Path) -> Path:
    return write_safely(check_output_folder(out_dir) / "findings.json",
                        json.dumps({"findings": [f.to_dict() for f in findings]}, indent=2))


__all__ = ["data_map", "findings_report", "render_ropa", "ropa_activities", "write_data_map", "write_ropa"]
