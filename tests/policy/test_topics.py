"""Tenant context in events: a multi-tenant topic names the field carrying each event's tenant, and
each consumer says how it keeps tenants apart."""

import pytest

from dataflow_governance.errors import GovernanceError
from dataflow_governance.model.spec import build_governance
from dataflow_governance.policy.context import PolicyContext
from dataflow_governance.policy.topics import TOPIC_RULES
from dataflow_governance.policy.rules import RULES, run_policy

TOPIC = {"storage": {"kind": "s3", "bucket": "b", "prefix": "documents/", "format": "jsonl"}, "multi_tenant": True,
         "tenant_key": "workspace_id", "purposes": ["essential.service"],
         "columns": {"workspace_id": {}, "document_id": {}, "title": {}}}


def context(topic: dict, consumers: dict[str, dict]) -> PolicyContext:
    governance = {"documents": build_governance("documents", topic),
                  **{name: build_governance(name, facts) for name, facts in consumers.items()}}
    upstream = {"documents": frozenset(), **{name: frozenset({"documents"}) for name in consumers}}
    return PolicyContext(governance=governance, upstream=upstream, processors={})


def fired(ctx: PolicyContext) -> set[tuple[str, str]]:
    return {(f.asset, f.rule) for f in run_policy(ctx, TOPIC_RULES)}


def test_the_rules_are_in_the_one_rule_table():
    assert set(TOPIC_RULES) <= set(RULES)


def test_consumers_that_keep_tenants_apart_pass():
    ctx = context(TOPIC, {
        "search_index": {"storage": {"kind": "s3", "bucket": "b", "prefix": "search/"}, "purposes": ["essential.service"],
                         "tenant_filter": "per_tenant_destination", "tenant_prefix": "search/{tenant_id}/",
                         "tenant_key": "workspace_id"},
        "document_counts": {"storage": {"kind": "warehouse", "table": "document_counts"}, "purposes": ["analytics.reporting"],
                            "tenant_filter": "tenant_key", "tenant_key": "workspace_id", "pii_free": True}})
    assert fired(ctx) == set()


def test_a_consumer_without_a_tenant_filter_is_an_error():
    ctx = context(TOPIC, {"export": {"storage": {"kind": "s3", "bucket": "b", "prefix": "export/"},
                                     "purposes": ["essential.service"]}})
    findings = run_policy(ctx, TOPIC_RULES)
    assert [(f.asset, f.rule, f.severity) for f in findings] == [("export", "topic-consumer-unfiltered", "error")]
    assert "tenant_filter" in findings[0].fix


def test_a_filter_that_names_nowhere_to_keep_tenants_apart_is_an_error():
    ctx = context(TOPIC, {
        "index": {"storage": {"kind": "s3", "bucket": "b", "prefix": "i/"}, "purposes": ["essential.service"],
                  "tenant_filter": "per_tenant_destination"},
        "counts": {"storage": {"kind": "warehouse", "table": "counts"}, "purposes": ["analytics.reporting"],
                   "tenant_filter": "tenant_key"}})
    assert fired(ctx) == {("index", "topic-consumer-unfiltered"), ("counts", "topic-consumer-unfiltered")}


def test_a_topic_without_its_tenant_field_is_an_error():
    without_key = {k: v for k, v in TOPIC.items() if k != "tenant_key"}
    assert fired(context(without_key, {})) == {("documents", "topic-tenant-field-missing")}
    schema_without_it = {**TOPIC, "columns": {"document_id": {}, "title": {}}}
    with pytest.raises(GovernanceError, match="tenant_key names column 'workspace_id'"):  # refused when read
        context(schema_without_it, {})


def test_an_unknown_filter_is_a_clear_error():
    with pytest.raises(GovernanceError, match="tenant_filter"):
        build_governance("x", {"tenant_filter": "hope"})
