"""The PCI DSS scope drawn: the cardholder data environment, the systems connected to it, what
lies past the tokenization boundary, and the service providers receiving card numbers (Mermaid)."""

from __future__ import annotations

from dataflow_governance.policy.context import PolicyContext
from dataflow_governance.policy.pci import CDE, CONNECTED, OUT, PciScope
from dataflow_governance.reports.mermaid import mermaid_id


def scope_mermaid(scope: PciScope, ctx: PolicyContext) -> str:
    """The CDE, its connected systems and its service providers as a Mermaid flowchart, the
    tokenization boundary drawn as a thick edge out of the CDE."""
    lines = ["flowchart LR"]
    titles = {CDE: "cardholder data environment (in scope)", CONNECTED: "connected-to systems (in scope)",
              OUT: "out of scope"}
    for kind in (CDE, CONNECTED, OUT):
        members = sorted(a for a, e in scope.entries.items() if e.scope == kind)
        if not members:
            continue
        lines.append(f'  subgraph pci_{kind}["{titles[kind]}"]')
        for asset in members:
            entry = scope.entries[asset]
            mark = " ⛔ PAN" if entry.pan_columns else (" ▣ tokenization" if entry.boundary else "")
            lines.append(f'    {mermaid_id(asset)}["{asset}{mark}"]')
        lines.append("  end")
    if scope.service_providers:
        lines.append('  subgraph pci_providers["service providers receiving PAN"]')
        for name in sorted(scope.service_providers):
            lines.append(f'    proc_{mermaid_id(name)}{{{{"{name}"}}}}')
        lines.append("  end")
    for asset, sources in sorted(ctx.upstream.items()):
        for source in sorted(sources):
            if source not in scope.entries or asset not in scope.entries:
                continue
            crossing = scope.entries[source].boundary and scope.entries[asset].scope != CDE
            arrow = "==>|tokens only|" if crossing else "-->"
            lines.append(f"  {mermaid_id(source)} {arrow} {mermaid_id(asset)}")
    for name, senders in sorted(scope.service_providers.items()):
        for asset in senders:
            lines.append(f"  {mermaid_id(asset)} -. PAN .-> proc_{mermaid_id(name)}")
    return "\n".join(lines) + "\n"
