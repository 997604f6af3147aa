"""Saga rules: what a flow designed to fail must say about the personal data it sends out, and the
state it keeps. A finding's subject is `saga:<name>` (shown on the saga's state and event assets).

  - saga-compensation-missing (error): a step sends personal data to a third party and nothing
    undoes it when a later step fails;
  - saga-data-left-at-third-party (error): a compensation leaves the data at the third party (a
    cancelled shipment keeps the address) and does not say how it is deleted there;
  - saga-idempotency-missing (warning): a step without an idempotency key (a retried command runs twice);
  - saga-state-retention (error): the saga state holds personal data with no retention;
  - saga-state-unerasable (error): the saga state holds personal data but no column names its subject,
    so no erasure or access request finds a subject's sagas.
"""

from __future__ import annotations

from collections.abc import Iterator

from dataflow_governance.model import taxonomy
from dataflow_governance.model.sagas import Saga, SagaStep
from dataflow_governance.policy.context import Finding, PolicyContext, Rule

THIRD_PARTY_ZONES = ("third_party",)
THIRD_PARTY_KINDS = ("external_api", "webhook_source")


def _sagas(ctx: PolicyContext) -> Iterator[Saga]:
    landscape = ctx.landscape
    yield from (landscape.sagas[name] for name in sorted(landscape.sagas)) if landscape is not None else ()


def personal_items(ctx: PolicyContext, items: tuple[str, ...]) -> list[str]:
    """The items (categories or asset.column) that are personal data."""
    found = []
    for item in items:
        asset, _, column = item.partition(".")
        if asset in ctx.governance and column:
            cls = ctx.column_graph.class_of(asset, column) if ctx.graph is not None else None
            declared = ctx.governance[asset].columns.get(column)
            categories = set(cls.categories if cls is not None and not cls.anonymous else ()) | \
                set(declared.categories if declared is not None else ())
            if any(map(taxonomy.is_personal_category, categories)):
                found.append(item)
        elif taxonomy.is_personal_category(item):
            found.append(item)
    return found


def third_party(ctx: PolicyContext, system: str) -> bool:
    landscape = ctx.landscape
    found = landscape.systems.get(system) if landscape is not None else None
    return system in ctx.processors or (found is not None and (found.zone in THIRD_PARTY_ZONES
                                                               or found.kind in THIRD_PARTY_KINDS))


def _finding(saga: Saga, rule: str, severity: str, message: str, fix: str) -> Finding:
    return Finding(f"saga:{saga.name}", rule, severity, message, fix)


def _outbound(ctx: PolicyContext, saga: Saga) -> Iterator[tuple[SagaStep, list[str]]]:
    for step in saga.steps:
        personal = personal_items(ctx, step.sends)
        if personal and third_party(ctx, step.participant):
            yield step, personal


def compensation_missing(ctx: PolicyContext) -> Iterator[Finding]:
    for saga in _sagas(ctx):
        for step, personal in _outbound(ctx, saga):
            if step.compensation is None:
                yield _finding(saga, "saga-compensation-missing", "error",
                               f"step {step.name} sends {', '.join(personal)} to the third party {step.participant} and "
                               "has no compensation: when a later step fails, the data stays there for an order that "
                               "never happened",
                               f"declare `compensation:` on step {step.name} (the command that cancels it at "
                               f"{step.participant}) under sagas.{saga.name}.compensations")


def data_left_at_third_party(ctx: PolicyContext) -> Iterator[Finding]:
    for saga in _sagas(ctx):
        for step, personal in _outbound(ctx, saga):
            for compensation in saga.compensation_chain(step):
                if compensation.leaves_data and not compensation.deletion:
                    yield _finding(saga, "saga-data-left-at-third-party", "error",
                                   f"compensation {compensation.name} of step {step.name} leaves {', '.join(personal)} at "
                                   f"{compensation.participant} and does not say how it is deleted there",
                                   f"declare `deletion:` on sagas.{saga.name}.compensations.{compensation.name} (the "
                                   "participant's delete API, or the DPA clause and retention that delete it)")


def idempotency_missing(ctx: PolicyContext) -> Iterator[Finding]:
    for saga in _sagas(ctx):
        for step in saga.steps:
            if not step.idempotency_key:
                yield _finding(saga, "saga-idempotency-missing", "warning",
                               f"step {step.name} ({step.command} → {step.participant}) has no idempotency key: a "
                               "retried command can run twice (a second charge, a second shipment with the address)",
                               f"declare `idempotency_key:` on step {step.name} (the field the participant deduplicates on)")


def state_retention(ctx: PolicyContext) -> Iterator[Finding]:
    for saga in _sagas(ctx):
        for asset in (a for a in (saga.state, saga.events) if a is not None):
            gov = ctx.governance.get(asset)
            if gov is not None and _holds_personal(ctx, asset) and gov.retention is None:
                yield _finding(saga, "saga-state-retention", "error",
                               f"{asset} keeps the saga's personal data with no retention: finished sagas stay forever",
                               f"declare `retention:` on {asset} (keep, action, timestamp_column: "
                               f"{saga.columns.created_at})")


def state_unerasable(ctx: PolicyContext) -> Iterator[Finding]:
    for saga in _sagas(ctx):
        gov = ctx.governance.get(saga.state)
        if gov is not None and _holds_personal(ctx, saga.state) and not gov.identity_columns:
            yield _finding(saga, "saga-state-unerasable", "error",
                           f"{saga.state} holds personal data of the saga but no column names its subject: no erasure "
                           "or access request finds a subject's sagas",
                           f"declare the subject's column on {saga.state} (`identity: true`, e.g. customer_id)")


def _holds_personal(ctx: PolicyContext, asset: str) -> bool:
    gov = ctx.governance[asset]
    declared = {c for column in gov.columns.values() for c in column.categories} | set(gov.data_categories)
    return any(map(taxonomy.is_personal_category, declared))


SAGA_RULES: tuple[Rule, ...] = (compensation_missing, data_left_at_third_party, idempotency_missing, state_retention,
                                state_unerasable)
