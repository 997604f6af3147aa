"""C4 views of the data map, as Mermaid C4 diagrams, from the catalog alone.

  - **context**: the platform as one system, the data subjects who provide personal data to it,
    and the processors and recipients it sends personal data to, each inside its jurisdiction's
    boundary; flows labelled with the categories they carry.
  - **container**: inside the platform, the stores that hold the assets (the warehouse, each S3
    bucket, Delta tables, the model registry) grouped by region — the trust boundaries — and the
    flows between them, labelled with the personal categories that cross.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, field

from dataflow_governance.model import taxonomy
from dataflow_governance.model.systems import Landscape
from dataflow_governance.policy.context import PolicyContext
from dataflow_governance.reports.mermaid import mermaid_id

MAX_LABEL_CATEGORIES = 4


@dataclass(frozen=True)
class Platform:
    """The platform as the views draw it: its name and where its stores are.

    Args:
        name: the project's name.
        warehouse_kind: the warehouse's engine (duckdb, postgres, spark).
        warehouse_region: the region the warehouse's data is stored in.
        object_store_region: the object store's default region.
        bucket_regions: bucket → its declared region.
    """

    name: str
    warehouse_kind: str
    warehouse_region: str
    object_store_region: str
    bucket_regions: Mapping[str, str] = field(default_factory=dict)


def _label(categories) -> str:
    shown = sorted(categories)
    text = ", ".join(shown[:MAX_LABEL_CATEGORIES])
    return text + (f" +{len(shown) - MAX_LABEL_CATEGORIES} more" if len(shown) > MAX_LABEL_CATEGORIES else "")


def _personal(ctx: PolicyContext, asset: str) -> set[str]:
    gov = ctx.governance.get(asset)
    if gov is None or gov.pii_free:
        return set()
    return {c for c in gov.all_categories if taxonomy.is_personal_category(c)}


def _quote(text: str) -> str:
    return text.replace('"', "'")


def c4_context(ctx: PolicyContext, platform: Platform) -> str:
    """The context view: subjects, the platform, processors, each in its jurisdiction."""
    system = mermaid_id(platform.name)
    lines = ["C4Context", f'  title System context of {_quote(platform.name)}: personal data in and out']
    subjects: dict[str, set[str]] = defaultdict(set)
    for asset, gov in ctx.governance.items():
        for subject in gov.data_subjects:
            subjects[subject] |= _personal(ctx, asset)
    for subject in sorted(subjects):
        lines.append(f'  Person(subject_{mermaid_id(subject)}, "{_quote(subject)}", "data subject")')
    home = taxonomy.jurisdiction(platform.warehouse_region)
    lines.append(f'  Boundary(b_{mermaid_id(home)}, "{home}", "jurisdiction") {{')
    lines.append(f'    System({system}, "{_quote(platform.name)}", "the data platform (Dagster over its warehouse and S3)")')
    sent: dict[str, set[str]] = defaultdict(set)
    for asset, gov in ctx.governance.items():
        for name in gov.processors:
            sent[name] |= _personal(ctx, asset)
    by_area: dict[str, list[str]] = defaultdict(list)
    for name in sorted(sent):
        by_area[taxonomy.jurisdiction(ctx.processors[name].region)].append(name)
    for name in by_area.pop(home, []):
        lines.append("    " + _external(ctx, name))
    lines.append("  }")
    for area, names in sorted(by_area.items()):
        lines.append(f'  Boundary(b_{mermaid_id(area)}, "{area}", "jurisdiction") {{')
        lines += ["    " + _external(ctx, name) for name in names]
        lines.append("  }")
    for subject, categories in sorted(subjects.items()):
        lines.append(f'  Rel(subject_{mermaid_id(subject)}, {system}, "provides", "{_quote(_label(categories)) or "no personal data"}")')
    for name, categories in sorted(sent.items()):
        lines.append(f'  Rel({system}, proc_{mermaid_id(name)}, "sends", "{_quote(_label(categories)) or "no personal data"}")')
    return "\n".join(lines) + "\n"


def _external(ctx: PolicyContext, name: str) -> str:
    processor = ctx.processors[name]
    agreements = ", ".join(a for a, signed in (("DPA", processor.dpa), ("BAA", processor.baa)) if signed) or "no agreement"
    return (f'System_Ext(proc_{mermaid_id(name)}, "{_quote(name)}", '
            f'"{processor.kind} in {processor.region}; {agreements}; {_quote(processor.purpose)}")')


def container_of(ctx: PolicyContext, platform: Platform, asset: str) -> tuple[str, str, str] | None:
    """(id, label, region) of the store holding an asset; None for an asset with no declared storage."""
    gov = ctx.governance.get(asset)
    if gov is None:
        return None
    kind = gov.storage.kind
    if kind == "s3" and gov.storage.bucket:
        region = platform.bucket_regions.get(gov.storage.bucket) or gov.region or platform.object_store_region
        return f"s3_{mermaid_id(gov.storage.bucket)}", f"S3 bucket {gov.storage.bucket}", region
    if kind == "warehouse":
        return "warehouse", f"warehouse ({platform.warehouse_kind})", platform.warehouse_region
    if kind == "delta":
        return "delta", "Delta tables", gov.region or platform.warehouse_region
    if kind == "model":
        return "models", "model registry (MLflow)", gov.region or platform.warehouse_region
    return f"ext_{mermaid_id(asset)}", f"{asset} (external)", gov.region or "undeclared"


def c4_container(ctx: PolicyContext, platform: Platform) -> str:
    """The container view: the stores holding the assets, grouped by region, and the flows between them."""
    lines = ["C4Container", f'  title Containers of {_quote(platform.name)}: where personal data is stored and flows']
    containers: dict[str, tuple[str, str, list[str]]] = {}
    for asset in sorted(ctx.governance):
        found = container_of(ctx, platform, asset)
        if found is not None:
            cid, label, region = found
            containers.setdefault(cid, (label, region, []))[2].append(asset)
    by_region: dict[str, list[str]] = defaultdict(list)
    for cid, (_label_text, region, _assets) in containers.items():
        by_region[region].append(cid)
    for region, ids in sorted(by_region.items()):
        area = taxonomy.jurisdiction(region) if region != "undeclared" else "undeclared"
        lines.append(f'  Boundary(r_{mermaid_id(region)}, "{area} · {region}", "region") {{')
        for cid in sorted(ids):
            label, _region, assets = containers[cid]
            personal = sum(bool(_personal(ctx, a)) for a in assets)
            lines.append(f'    ContainerDb({cid}, "{_quote(label)}", "{len(assets)} asset(s), {personal} personal", '
                         f'"{_quote(", ".join(assets[:6]) + (" …" if len(assets) > 6 else ""))}")')
        lines.append("  }")
    flows: dict[tuple[str, str], set[str]] = defaultdict(set)
    sends: dict[tuple[str, str], set[str]] = defaultdict(set)
    for asset, sources in ctx.upstream.items():
        target = container_of(ctx, platform, asset)
        for source in sources:
            origin = container_of(ctx, platform, source)
            if target and origin and target[0] != origin[0]:
                flows[(origin[0], target[0])] |= _crossing(ctx, source, asset)
    for asset, gov in ctx.governance.items():
        store = container_of(ctx, platform, asset)
        for name in gov.processors:
            if store:
                sends[(store[0], name)] |= _personal(ctx, asset)
    if sends:
        lines.append('  Boundary(external, "outside the trust boundary", "processors") {')
        lines += ["    " + _external(ctx, name) for name in sorted({n for _s, n in sends})]
        lines.append("  }")
    for (writer, reader), categories in sorted(flows.items()):
        lines.append(f'  Rel({writer}, {reader}, "feeds", "{_quote(_label(categories)) or "no personal data"}")')
    for (holder, name), categories in sorted(sends.items()):
        lines.append(f'  Rel({holder}, proc_{mermaid_id(name)}, "sends", "{_quote(_label(categories)) or "no personal data"}")')
    lines += _declared_systems(ctx, containers, {n for _s, n in sends})
    if ctx.landscape is not None and ctx.landscape.sagas:
        lines += _saga_paths(ctx, lines)
    return "\n".join(lines) + "\n"


def _saga_paths(ctx: PolicyContext, drawn_lines: list[str]) -> list[str]:
    """Each saga's happy and compensating paths, to participants drawn above or drawn here."""
    from dataflow_governance.reports.saga_paths import c4_lines

    landscape = ctx.landscape
    assert landscape is not None
    drawn = {m.group(1) for line in drawn_lines if (m := re.match(r"\s*(?!Rel\()\w+\((\w+),", line))}

    def element_of(name: str) -> tuple[str, str | None]:
        if name in ctx.processors:
            element = f"proc_{mermaid_id(name)}"
            return element, None if element in drawn else f'  {_external(ctx, name)}'
        system = landscape.systems.get(name)
        element = _element_id(name, landscape, set()) if system is not None else f"sys_{mermaid_id(name)}"
        if element in drawn:
            return element, None
        kind = system.kind if system is not None else "service"
        return element, f'  {_ELEMENT[kind]}({element}, "{_quote(name)}", "{kind}", "")'

    return c4_lines(dict(landscape.sagas), element_of)


_ELEMENT = {"person": "Person", "client": "Container", "gateway": "Container", "service": "Container",
            "datastore": "ContainerDb", "queue": "ContainerQueue", "cache": "ContainerDb", "log": "ContainerDb",
            "backup": "ContainerDb", "external_api": "System_Ext", "webhook_source": "System_Ext"}


def _element_id(name: str, landscape: Landscape, processors: set[str]) -> str:
    """The diagram id of a system: a store already drawn as a container, a processor, or its own."""
    system = landscape.systems[name]
    if system.derived:
        if name == "warehouse":
            return "warehouse"
        if name.startswith("bucket:"):
            return f"s3_{mermaid_id(name.removeprefix('bucket:'))}"
        if name in ("delta", "model_registry"):
            return "delta" if name == "delta" else "models"
        if name in processors:
            return f"proc_{mermaid_id(name)}"
    return f"sys_{mermaid_id(name)}"


def _declared_systems(ctx: PolicyContext, drawn: Mapping[str, object], processors: set[str]) -> list[str]:
    """The declared systems inside their zones' boundaries, and the declared flows with their protocols."""
    landscape = ctx.landscape
    if landscape is None or not landscape.declared:
        return []
    from dataflow_governance.policy.levels import flow_level

    lines: list[str] = []
    declared = [f for f in landscape.flows.values() if not f.derived]
    ends = {f.source for f in declared} | {f.target for f in declared}
    drawn_ids = set(drawn) | {f"proc_{mermaid_id(p)}" for p in processors}
    # The declared systems, and the derived ones a declared flow names that the stores above do not draw.
    own = sorted(n for n, s in landscape.systems.items()
                 if not s.derived or (n in ends and _element_id(n, landscape, processors) not in drawn_ids))
    by_zone: dict[str, list[str]] = defaultdict(list)
    for name in own:
        by_zone[landscape.systems[name].zone].append(name)
    for zone, names in sorted(by_zone.items()):
        lines.append(f'  Boundary(z_{mermaid_id(zone)}, "{_quote(zone)} zone", "trust zone") {{')
        for name in names:
            system = landscape.systems[name]
            lines.append(f'    {_ELEMENT[system.kind]}({_element_id(name, landscape, processors)}, "{_quote(name)}", '
                         f'"{system.kind}", "{_quote(system.owner or "")}")')
        lines.append("  }")
    for flow in sorted(declared, key=lambda f: f.name):
        lines.append(f'  Rel({_element_id(flow.source, landscape, processors)}, '
                     f'{_element_id(flow.target, landscape, processors)}, "{_quote(flow.name)} ({flow_level(ctx, flow)})", '
                     f'"{_quote(flow.protocol)}")')
    return lines


def c4_component(ctx: PolicyContext, platform: Platform) -> str:
    """The component view: each service that declares its components, inside its own boundary."""
    lines = ["C4Component", f'  title Components of {_quote(platform.name)}\'s services']
    landscape = ctx.landscape
    for name, system in sorted((landscape.systems if landscape else {}).items()):
        if system.components:
            lines.append(f'  Container_Boundary(c_{mermaid_id(name)}, "{_quote(name)}") {{')
            lines += [f'    Component(c_{mermaid_id(name)}_{mermaid_id(component)}, "{_quote(component)}", "component")'
                      for component in system.components]
            lines.append("  }")
    return "\n".join(lines) + "\n"


def _crossing(ctx: PolicyContext, source: str, target: str) -> set[str]:
    """The personal categories of `source` that `target` holds: all of them unless the target says."""
    gov = ctx.governance.get(target)
    if gov is not None and gov.pii_free:
        return set()
    carried = _personal(ctx, source)
    return carried & set(gov.all_categories) if gov is not None and gov.all_categories else carried


VIEWS = {"c4-context": c4_context, "c4-container": c4_container, "c4-component": c4_component}
