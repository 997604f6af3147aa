"""The pre-implementation review of a change, as a checklist: the data elements it adds or changes,
classified; the flows it adds or changes and the boundaries they cross with their controls; red
flags; and who must sign it off. Built from the catalogs of the change's two revisions."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from dataflow_governance.catalog.artifact import Catalog
from dataflow_governance.model.levels import rank
from dataflow_governance.policy.boundaries import boundary_catalog
from dataflow_governance.policy.levels import column_level, system_level
from dataflow_governance.policy.rules import run_policy
from dataflow_governance.subjects.plan import plan_erasure
from dataflow_governance.subjects.scope import Scope

DEFAULT_ROLES = ("security", "legal", "engineering_lead")


def _columns(catalog: Catalog) -> dict[tuple[str, str], tuple[str, ...]]:
    found: dict[tuple[str, str], tuple[str, ...]] = {}
    for asset, gov in catalog.governance.items():
        for column, spec in gov.columns.items():
            found[(asset, column)] = tuple(sorted(spec.categories))
        for column, cls in catalog.graph.columns_of(asset).items():
            if column != "*":
                found[(asset, column)] = tuple(sorted(cls.categories))
    return found


def data_elements(base: Catalog, head: Catalog) -> list[dict]:
    """The columns the change adds, or whose categories it changes, with their level."""
    before, after = _columns(base), _columns(head)
    ctx = head.context
    return [{"asset": asset, "column": column, "categories": list(categories), "level": column_level(ctx, asset, column),
             "change": "added" if (asset, column) not in before else "changed"}
            for (asset, column), categories in sorted(after.items()) if before.get((asset, column)) != categories]


def changed_flows(base: Catalog, head: Catalog) -> list[dict]:
    """The declared flows the change adds or changes, as crossings (zones, controls present, missing)."""
    old = base.landscape.flows if base.landscape else {}
    new = head.landscape.flows if head.landscape else {}
    changed = {name for name, flow in new.items() if not flow.derived and old.get(name) != flow}
    return [c for c in boundary_catalog(head.context) if c["flow"] in changed]


def red_flags(head: Catalog, secrets: Sequence[dict] | None) -> list[dict]:
    """What a reviewer must not miss: personal data in logs, a boundary without validation, secrets in
    the changed code, a third party nobody owns, personal data no erasure reaches."""
    ctx = head.context
    flags: list[dict] = []
    for finding in run_policy(ctx):
        if finding.rule in ("log-unscrubbed", "boundary-inbound-unguarded"):
            flags.append({"flag": "sensitive data in logs" if finding.rule == "log-unscrubbed" else "a boundary without validation",
                          "where": finding.asset, "detail": finding.message})
    if secrets is None:
        flags.append({"flag": "secret scan not run", "where": "changed files",
                      "detail": "detect-secrets is not installed (pip install 'dataflow-governance[review]')"})
    flags += [{"flag": "credentials in the changed code", "where": f"{s['path']}:{s['line']}", "detail": s["kind"]}
              for s in secrets or ()]
    landscape = ctx.landscape
    if landscape is not None:
        erased = {t.asset for t in plan_erasure(Scope(head.governance, head.graph))}
        inbound: dict[str, list] = {}
        for flow in landscape.flows.values():
            inbound.setdefault(flow.target, []).append(flow)
        for name, system in sorted(landscape.systems.items()):
            if system.derived:
                continue
            if system.kind in ("external_api", "webhook_source") and not system.owner:
                flags.append({"flag": "a third party whose data ownership is undeclared", "where": f"system:{name}",
                              "detail": "declare the owner who answers for what it receives and sends"})
            if system.kind in ("cache", "queue", "log", "datastore") and \
                    rank(system_level(ctx, system, inbound.get(name, ()))) >= rank("confidential") and \
                    not any(asset in erased for asset in system.holds):
                flags.append({"flag": "personal data no erasure reaches", "where": f"system:{name}",
                              "detail": f"{system.kind} {name} holds personal data, and no asset of the erasure plan is in it "
                                        "(declare what it holds: `holds:`)"})
    return flags


def checklist(base: Catalog, head: Catalog, secrets: Sequence[dict] | None, roles: Iterable[str],
              approvals: Sequence[dict]) -> dict[str, Any]:
    roles = sorted(roles) or list(DEFAULT_ROLES)
    signed = {a["role"] for a in approvals if a["valid"]}
    return {"data_elements": data_elements(base, head), "flows": changed_flows(base, head),
            "red_flags": red_flags(head, secrets), "roles": roles, "signed": sorted(signed & set(roles)),
            "missing": [r for r in roles if r not in signed], "approved": signed >= set(roles)}


def checklist_markdown(payload: dict) -> str:
    lines = [f"## Pre-implementation review of {payload['head']['ref']} against {payload['base']['ref']}", "",
             "### Data elements", ""]
    lines += [f"- [ ] `{e['asset']}.{e['column']}` ({e['change']}): **{e['level']}**"
              + (f" — {', '.join(e['categories'])}" if e["categories"] else "") for e in payload["data_elements"]] or ["- none"]
    lines += ["", "### Flows and the boundaries they cross", ""]
    lines += [f"- [ ] `{c['flow']}`: {c['from']} → {c['to']} ({c['protocol']}; {' → '.join(c['zones'])}; {c['kind']}; "
              f"{c['level']}) — controls: {', '.join(c['controls']) or 'none'}"
              + (f"; **missing: {', '.join(c['missing'])}**" if c["missing"] else "") for c in payload["flows"]] or ["- none"]
    lines += ["", "### Red flags", ""]
    lines += [f"- **{f['flag']}** at `{f['where']}`: {f['detail']}" for f in payload["red_flags"]] or ["- none"]
    lines += ["", "### Sign-off", ""]
    lines += [f"- [{'x' if r in payload['signed'] else ' '}] {r}" for r in payload["roles"]]
    lines.append("")
    lines.append("approved" if payload["approved"] else f"waiting for {', '.join(payload['missing'])} "
                 "(`dfg review approve --ref REF --as ROLE --key FILE`)")
    return "\n".join(lines)
