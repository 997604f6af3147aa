"""The one rule table: every static rule, GDPR's, tenancy's, HIPAA's (Safe Harbor's too), PCI DSS's,
the trust boundaries' and the sagas', and running them."""

from __future__ import annotations

from collections.abc import Iterable

from dataflow_governance.policy.boundaries import BOUNDARY_RULES
from dataflow_governance.policy.context import Finding, PolicyContext, Rule
from dataflow_governance.policy.gdpr import GDPR_RULES
from dataflow_governance.policy.hipaa import HIPAA_RULES
from dataflow_governance.policy.pci import PCI_RULES
from dataflow_governance.policy.safe_harbor import SAFE_HARBOR_RULES
from dataflow_governance.policy.sagas import SAGA_RULES
from dataflow_governance.policy.tenancy import TENANCY_RULES
from dataflow_governance.policy.topics import TOPIC_RULES

__all__ = ["RULES", "Finding", "PolicyContext", "Rule", "run_policy"]

RULES: tuple[Rule, ...] = (*GDPR_RULES, *TENANCY_RULES, *TOPIC_RULES, *HIPAA_RULES, *SAFE_HARBOR_RULES, *PCI_RULES,
                           *BOUNDARY_RULES, *SAGA_RULES)


def run_policy(ctx: PolicyContext, rules: Iterable[Rule] = RULES) -> list[Finding]:
    """Every finding of `rules` (all of them by default) on the context, sorted.

    Args:
        ctx: the governed graph, its lineage and processors.
        rules: the rules to run.

    Returns:
        The findings, sorted by asset, rule and severity.
    """
    return sorted(finding for rule in rules for finding in rule(ctx))
