"""Build a governed project's `Definitions`: manifest facts attached, policy checks, resources."""

from collections.abc import Iterable, Sequence

import dagster as dg

from ..manifest import Project, check_processor_references
from ..policy import PolicyContext, run_policy
from .ledger import ledger_definitions
from .governance import apply_manifest_governance, read_governance, upstream_graph
from .resources import project_resources

POLICY_CHECK = "governance_policy"


def all_specs(assets: Iterable) -> list[dg.AssetSpec]:
    specs: list[dg.AssetSpec] = []
    for item in assets:
        if isinstance(item, dg.AssetSpec):
            specs.append(item)
        elif isinstance(item, dg.AssetsDefinition):
            specs.extend(item.specs)
    return specs


def policy_context(specs: Sequence[dg.AssetSpec], project: Project) -> PolicyContext:
    governance = read_governance(specs)
    check_processor_references(governance, project.processors)
    return PolicyContext(governance=governance, upstream=upstream_graph(specs), processors=project.processors)


def policy_checks(ctx: PolicyContext) -> dg.AssetChecksDefinition:
    """One check per governed asset: the static rules' findings for that asset."""
    specs = [
        dg.AssetCheckSpec(POLICY_CHECK, asset=key, description="static governance rules (dfg check)")
        for key in sorted(ctx.governance)
    ]

    @dg.multi_asset_check(specs=specs, can_subset=True, name="governance_policy_checks")
    def governance_policy(context: dg.AssetCheckExecutionContext):
        findings = run_policy(ctx)
        for check_key in context.selected_asset_check_keys:
            asset = check_key.asset_key.to_user_string()
            mine = [f for f in findings if f.asset == asset]
            errors = [f for f in mine if f.severity == "error"]
            yield dg.AssetCheckResult(
                asset_key=check_key.asset_key,
                check_name=POLICY_CHECK,
                passed=not errors,
                severity=dg.AssetCheckSeverity.ERROR if errors else dg.AssetCheckSeverity.WARN,
                metadata={
                    "errors": len(errors),
                    "warnings": len(mine) - len(errors),
                    "findings": dg.MetadataValue.md(
                        "\n".join(f"- **{f.rule}** ({f.severity}): {f.message}. Fix: {f.fix}" for f in mine) or "none"
                    ),
                },
            )

    return governance_policy


def governed_definitions(
    project: Project,
    assets: Iterable,
    *,
    asset_checks: Iterable = (),
    jobs: Iterable = (),
    schedules: Iterable = (),
    sensors: Iterable = (),
    resources: dict | None = None,
) -> dg.Definitions:
    """Definitions with the manifest's governance attached and validated, plus policy checks."""
    governed = apply_manifest_governance(assets, project.governance)
    ctx = policy_context(all_specs(governed), project)
    ledger_spec, ledger_check, ledger_job, ledger_schedule = ledger_definitions(project)
    return dg.Definitions(
        assets=[*governed, ledger_spec],
        asset_checks=[policy_checks(ctx), ledger_check, *asset_checks],
        jobs=[ledger_job, *jobs],
        schedules=[ledger_schedule, *schedules],
        sensors=list(sensors),
        resources={**project_resources(project), **(resources or {})},
    )
