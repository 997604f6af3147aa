"""Tenant context in events: a multi-tenant topic or event log carries every event's tenant, and
every consumer says how it keeps tenants apart.

  - topic-tenant-field-missing (error): a multi-tenant topic names no tenant field — an event without
    a tenant goes to whoever reads it (an event schema, its declared columns, without the field it
    names is refused when the governance is read: `tenant_key` must be a declared column);
  - topic-consumer-unfiltered (error): an asset reads a multi-tenant topic and declares no
    `tenant_filter` — one tenant's events can reach another's view, index or export;
  - a consumer that writes per tenant (`tenant_filter: per_tenant_destination`) must say where (a
    `tenant_prefix`, or a schema or database per tenant), else the same rule fires.
"""

from __future__ import annotations

from collections.abc import Iterator

from dataflow_governance.policy.context import Finding, PolicyContext, Rule


def multi_tenant_topics(ctx: PolicyContext) -> list[str]:
    return sorted(a for a, g in ctx.governance.items() if g.multi_tenant)


def tenant_field_missing(ctx: PolicyContext) -> Iterator[Finding]:
    for topic in multi_tenant_topics(ctx):
        gov = ctx.governance[topic]
        if not gov.tenant_key:
            yield Finding(topic, "topic-tenant-field-missing", "error",
                          f"{topic} carries several tenants' events but names no tenant field",
                          f"declare `tenant_key:` on {topic} (the field every event carries its tenant in)")


def consumer_unfiltered(ctx: PolicyContext) -> Iterator[Finding]:
    topics = set(multi_tenant_topics(ctx))
    for asset in sorted(ctx.upstream):
        read = sorted(ctx.upstream[asset] & topics)
        if not read:
            continue
        gov = ctx.governance.get(asset)
        how = gov.tenant_filter if gov is not None else None
        if how is None:
            yield Finding(asset, "topic-consumer-unfiltered", "error",
                          f"{asset} consumes the multi-tenant {', '.join(read)} and declares no tenant filter: one "
                          "tenant's events can reach another's",
                          f"declare `tenant_filter:` on {asset}: tenant_key (it keeps each event's tenant and filters "
                          "on it), per_tenant_destination (it writes each tenant apart) or single_tenant")
        elif how == "per_tenant_destination" and gov is not None and not (
                gov.tenant_prefix or gov.tenant_strategy in ("schema", "database")):
            yield Finding(asset, "topic-consumer-unfiltered", "error",
                          f"{asset} says it writes each tenant of {', '.join(read)} apart but names no per-tenant "
                          "destination",
                          f"declare `tenant_prefix:` (S3) or `tenant_strategy: schema` on {asset}")
        elif how == "tenant_key" and gov is not None and not gov.tenant_key:
            yield Finding(asset, "topic-consumer-unfiltered", "error",
                          f"{asset} says it filters {', '.join(read)} by tenant but keeps no tenant column",
                          f"declare `tenant_key:` on {asset} (the column its rows keep the tenant in)")


TOPIC_RULES: tuple[Rule, ...] = (tenant_field_missing, consumer_unfiltered)
