"""Trust-boundary rules: the controls each crossing needs, and the protection each place needs for
the highest level of data it holds (encryption zones).

They hold a project to the map it declared: with no `systems:` or `flows:` in the manifest, none of
them runs (the derived map is still drawn by `dfg boundaries`), so a project that declares none of
it checks exactly as before. A finding's subject is `flow:<name>` or `system:<name>`.

Zero trust: every hop is a boundary, inside the application zone too, so every flow is checked,
not only those that change zone. Cycles of flows (services that call back) need no care: every rule
looks at one flow or one system at a time.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator, Mapping

from dataflow_governance.model.levels import highest, rank
from dataflow_governance.model.systems import HOLDING_KINDS, Flow, Landscape, System
from dataflow_governance.policy.context import Finding, PolicyContext, Rule
from dataflow_governance.policy.levels import flow_level, unsealed_level

UNTRUSTED = ("public", "third_party")
# What a place must have to hold data of each level (`classification.zones` replaces a level's list).
DEFAULT_ZONE_CONTROLS: Mapping[str, tuple[str, ...]] = {
    "restricted": ("at_rest", "field_level", "access_audit"),
    "confidential": ("at_rest", "access_logged"),
    "internal": ("at_rest",),
    "public": (),
}
ZONE_CONTROLS = ("at_rest", "field_level", "access_audit", "access_logged")


def _declared(ctx: PolicyContext) -> Landscape | None:
    return ctx.landscape if ctx.landscape is not None and ctx.landscape.declared else None


def _flows(ctx: PolicyContext) -> Iterator[tuple[Flow, System, System]]:
    landscape = _declared(ctx)
    if landscape is None:
        return
    for flow in sorted(landscape.flows.values(), key=lambda f: f.name):
        if not flow.derived:
            yield flow, landscape.systems[flow.source], landscape.systems[flow.target]


def _finding(flow: Flow, rule: str, severity: str, message: str, fix: str) -> Finding:
    return Finding(f"flow:{flow.name}", rule, severity, f"{flow.source} → {flow.target}: {message}", fix)


def inbound_unguarded(ctx: PolicyContext) -> Iterator[Finding]:
    """From the public zone or a third party, a request is validated, authenticated and rate limited."""
    for flow, source, target in _flows(ctx):
        if source.zone not in UNTRUSTED or target.zone in UNTRUSTED or source.kind == "webhook_source":
            continue
        missing = [name for name, ok in (("validation", flow.controls.validation),
                                         ("authentication", flow.controls.authentication != "none")) if not ok]
        if missing:
            yield _finding(flow, "boundary-inbound-unguarded", "error",
                           f"enters {target.zone} from {source.zone} without {' and '.join(missing)}",
                           "validate the payload against a schema and authenticate the caller at the boundary "
                           "(controls: validation: true, authentication: jwt|oauth|mtls|…)")
        if not flow.controls.rate_limit:
            yield _finding(flow, "boundary-inbound-no-rate-limit", "warning",
                           f"enters {target.zone} from {source.zone} without rate limiting",
                           "rate limit the endpoint (controls: rate_limit: true)")


def webhook_unverified(ctx: PolicyContext) -> Iterator[Finding]:
    """A webhook is believed only when signed, fresh and idempotent."""
    for flow, source, _target in _flows(ctx):
        if source.kind != "webhook_source":
            continue
        missing = [name for name in ("signature", "replay_protection", "idempotency") if not getattr(flow.controls, name)]
        if missing:
            yield _finding(flow, "webhook-unverified", "error", f"a webhook accepted without {', '.join(missing)}",
                           "verify the sender's signature, reject old or repeated deliveries, and make handling "
                           "idempotent (controls: signature, replay_protection, idempotency)")


def hop_unauthenticated(ctx: PolicyContext) -> Iterator[Finding]:
    """Zero trust: every hop between services authenticates, inside one zone too; a decision on a
    subject's data is taken with the user's context, not the calling service's."""
    for flow, source, target in _flows(ctx):
        if source.kind not in ("gateway", "service") or target.kind not in ("service", "gateway"):
            continue
        if flow.controls.authentication == "none":
            yield _finding(flow, "hop-unauthenticated", "error",
                           f"a service call without authentication (both in {target.zone}: zero trust still asks)",
                           "authenticate every hop (controls: authentication: mtls|service_token|jwt)")
        if flow.data and rank(flow_level(ctx, flow)) >= rank("confidential") and flow.controls.authorization != "user_context":
            yield _finding(flow, "user-context-missing", "warning",
                           "carries a subject's personal data, but authorizes as the calling service, not the user",
                           "pass the user's context along (controls: authorization: user_context)")


def datastore_access_unsafe(ctx: PolicyContext) -> Iterator[Finding]:
    for flow, _source, target in _flows(ctx):
        if target.kind not in ("datastore", "cache", "queue"):
            continue
        missing = [name for name in _store_controls(flow) if not getattr(flow.controls, name)]
        if missing:
            yield _finding(flow, "datastore-access-unsafe", "warning", f"writes to {target.kind} {target.name} without "
                           f"{' and '.join(missing).replace('_', ' ')}",
                           "bind values in queries (parameterized: true) and use a role that can do only what the "
                           "flow needs (least_privilege: true)")


def _store_controls(flow: Flow) -> tuple[str, ...]:
    """Queries bind their values (where the protocol has queries) under a least-privilege role."""
    query = flow.protocol.split("+")[0].lower() in ("sql", "jdbc", "odbc", "postgres", "postgresql", "mysql", "redis")
    return ("parameterized", "least_privilege") if query else ("least_privilege",)


def log_unscrubbed(ctx: PolicyContext) -> Iterator[Finding]:
    """Restricted data is scrubbed before it reaches a log."""
    for flow, _source, target in _flows(ctx):
        if target.kind == "log" and not flow.controls.scrubbing and rank(flow_level(ctx, flow)) >= rank("restricted"):
            yield _finding(flow, "log-unscrubbed", "error", f"restricted data written to log {target.name} unscrubbed",
                           "scrub personal values before logging (controls: scrubbing: true), or stop logging them")


def place_ungoverned(ctx: PolicyContext) -> Iterator[Finding]:
    """A log declares its retention and who reads it; a backup its retention and a key of its own."""
    landscape = _declared(ctx)
    if landscape is None:
        return
    for name, system in sorted(landscape.systems.items()):
        if system.derived:
            continue
        if system.kind == "log" and (not system.retention or not (system.access_logged or system.access_audit)):
            yield Finding(f"system:{name}", "log-ungoverned", "warning",
                          f"log {name} declares {'no retention' if not system.retention else 'no access control'}",
                          "declare retention (how long lines are kept) and access_logged: true (who reads it)")
        if system.kind == "backup" and (system.encryption.key != "separate" or not system.retention):
            problem = "no retention" if not system.retention else "no key separate from the primary's"
            yield Finding(f"system:{name}", "backup-unprotected", "error", f"backup {name} ({system.location}) has {problem}",
                          "encrypt backups with a key separate from the primary (encryption.key: separate) and declare "
                          "their retention: an erased subject stays in a backup until it expires")


def third_party_flow(ctx: PolicyContext) -> Iterator[Finding]:
    """To a third party: over TLS, and only the fields its purpose needs (the DPA has its own rule)."""
    for flow, _source, target in _flows(ctx):
        if target.zone != "third_party" or not flow.data:
            continue
        if not flow.encrypted:
            yield _finding(flow, "third-party-unencrypted", "error", f"personal data to {target.name} over {flow.protocol}, unencrypted",
                           "send it over TLS (protocol: https|mtls, or controls: encryption_in_transit: true)")
        if not flow.controls.minimization:
            yield _finding(flow, "third-party-not-minimized", "warning",
                           f"sends {target.name} data without declaring that only the fields it needs are sent",
                           "send only the fields the purpose needs and declare it (controls: minimization: true)")


def secrets_in_code(ctx: PolicyContext) -> Iterator[Finding]:
    for flow, _source, _target in _flows(ctx):
        if flow.controls.secrets == "code":
            yield _finding(flow, "secret-in-code", "error", "its credentials live in the code",
                           "move them to a secrets manager, a vault or a KMS (controls: secrets: vault|kms|secrets_manager)")


def encryption_zone(ctx: PolicyContext) -> Iterator[Finding]:
    """Every place that holds data has the protection of the highest level it holds in the clear."""
    landscape = _declared(ctx)
    if landscape is None:
        return
    inbound: dict[str, list[Flow]] = defaultdict(list)
    for flow in landscape.flows.values():
        inbound[flow.target].append(flow)
    zones: dict[str, tuple[str, ...]] = {**DEFAULT_ZONE_CONTROLS}
    zones.update((level, tuple(controls)) for level, controls in landscape.classification.zones.items())
    for name, system in sorted(landscape.systems.items()):
        if system.kind not in HOLDING_KINDS:
            continue
        # What it holds in the clear (sealed columns are field-level encrypted already); a place that
        # names nothing it holds (a cache, a log) holds what flows into it.
        held = [unsealed_level(ctx, a) for a in system.holds if a in ctx.governance]
        if not held and not inbound[name]:
            continue  # nothing known to be there (a bucket of ledger anchors): nothing to classify
        level = highest(held or [flow_level(ctx, f) for f in inbound[name]])
        present = {"at_rest": bool(system.encryption.at_rest or system.encryption.field_level),
                   "field_level": system.encryption.field_level in ("kms", "hsm"),
                   "access_audit": system.access_audit,
                   "access_logged": system.access_logged or system.access_audit}
        missing = [control for control in zones.get(level, ()) if not present[control]]
        if missing:
            yield Finding(f"system:{name}", "encryption-zone", "error",
                          f"{system.kind} {name} holds {level} data but lacks {', '.join(missing)}",
                          f"give {name} what {level} data needs ({', '.join(zones[level])})"
                          + (", seal its restricted columns (encryption: subject_key|column_key)" if level == "restricted" else "")
                          + ", or keep that data elsewhere")


def assets_concerned(ctx: PolicyContext, subject: str) -> set[str]:
    """The assets a boundary finding is about: those a system holds (`system:<name>`), those whose
    data a flow carries (`flow:<name>`), a saga's state and events (`saga:<name>`); a finding about
    an asset is about that asset."""
    landscape = ctx.landscape
    kind, _, name = subject.partition(":")
    if landscape is not None and kind == "saga" and name in landscape.sagas:  # its state and events
        saga = landscape.sagas[name]
        return {a for a in (saga.state, saga.events) if a is not None and a in ctx.governance}
    if landscape is None or kind not in ("system", "flow"):
        return {subject}
    if kind == "system" and name in landscape.systems:
        return {a for a in landscape.systems[name].holds if a in ctx.governance}
    flow = landscape.flows.get(name)
    return {item.split(".", 1)[0] for item in (flow.data if flow else ()) if item.split(".", 1)[0] in ctx.governance}


BOUNDARY_RULES: tuple[Rule, ...] = (inbound_unguarded, webhook_unverified, hop_unauthenticated, datastore_access_unsafe,
                                    log_unscrubbed, place_ungoverned, third_party_flow, secrets_in_code, encryption_zone)


# --- the crossings, for the boundary catalog -----------------------------------------------------

STRIDE = {
    "inbound": ("spoofing", "tampering", "repudiation", "information disclosure", "denial of service", "elevation of privilege"),
    "webhook": ("spoofing", "tampering", "repudiation"),
    "service hop": ("spoofing", "information disclosure", "elevation of privilege"),
    "to a store": ("tampering", "information disclosure", "elevation of privilege"),
    "to a log": ("information disclosure", "repudiation"),
    "to a backup": ("information disclosure", "tampering"),
    "to a third party": ("information disclosure", "repudiation"),
    "internal": ("tampering", "information disclosure"),
}


def crossing_kind(source: System, target: System) -> str:
    if source.kind == "webhook_source":
        return "webhook"
    if source.zone in UNTRUSTED and target.zone not in UNTRUSTED:
        return "inbound"
    if target.zone == "third_party":
        return "to a third party"
    if target.kind == "log":
        return "to a log"
    if target.kind == "backup":
        return "to a backup"
    if target.kind in ("datastore", "cache", "queue"):
        return "to a store"
    if source.kind in ("gateway", "service") and target.kind in ("gateway", "service"):
        return "service hop"
    return "internal"


def required_controls(flow: Flow, source: System, target: System, level: str) -> list[str]:
    """The controls a crossing of this kind, carrying this level of data, needs (what the rules ask)."""
    kind = crossing_kind(source, target)
    personal = rank(level) >= rank("confidential")
    needed = {
        "inbound": ["validation", "authentication", "rate_limit", "encryption_in_transit"],
        "webhook": ["signature", "replay_protection", "idempotency", "encryption_in_transit"],
        "service hop": ["authentication", *(["authorization: user_context"] if personal and flow.data else [])],
        "to a store": list(_store_controls(flow)),
        "to a log": ["scrubbing"] if rank(level) >= rank("restricted") else [],
        "to a backup": [],
        "to a third party": ["encryption_in_transit", "minimization"] if flow.data else ["encryption_in_transit"],
        "internal": [],
    }[kind]
    return [*needed, "secrets out of the code"]


def present_controls(flow: Flow) -> list[str]:
    c = flow.controls
    found = [name for name in ("validation", "rate_limit", "signature", "replay_protection", "idempotency", "scrubbing",
                               "minimization", "parameterized", "least_privilege", "audit_log") if getattr(c, name)]
    if c.authentication != "none":
        found.append("authentication")
    if c.authorization == "user_context":
        found.append("authorization: user_context")
    if flow.encrypted:
        found.append("encryption_in_transit")
    if c.secrets != "code":
        found.append("secrets out of the code")
    return found


def boundary_catalog(ctx: PolicyContext) -> list[dict]:
    """Every flow of the map (declared and derived) as a crossing: its zones, the STRIDE threats its
    kind faces, the data levels that cross, and the controls present and missing. A derived flow's
    controls are what the project's other declarations say (the rest is unknown, so listed missing)."""
    landscape = ctx.landscape
    if landscape is None:
        return []
    found = []
    for flow in sorted(landscape.flows.values(), key=lambda f: f.name):
        source, target = landscape.systems[flow.source], landscape.systems[flow.target]
        level = flow_level(ctx, flow)
        kind = crossing_kind(source, target)
        present = present_controls(flow)
        found.append({"flow": flow.name, "from": flow.source, "to": flow.target, "protocol": flow.protocol,
                      "zones": [source.zone, target.zone], "crosses_zone": source.zone != target.zone, "kind": kind,
                      "threats": list(STRIDE[kind]), "level": level, "declared": not flow.derived,
                      "controls": present,
                      "missing": [c for c in required_controls(flow, source, target, level) if c not in present]})
    return found
