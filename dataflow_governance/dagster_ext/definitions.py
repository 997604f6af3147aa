"""Build a governed project's `Definitions`: manifest facts attached, policy checks, resources."""

import warnings
from collections.abc import Iterable, Sequence
from pathlib import Path
from urllib.parse import quote

import dagster as dg

from dataflow_governance.catalog import artifact as catalog
from dataflow_governance.crypto.keyring import peek_derived
from dataflow_governance.dagster_ext.access_audit import access_audit_sensors
from dataflow_governance.dagster_ext.checks import governance_checks
from dataflow_governance.dagster_ext.governance import (
    DEFAULT_TRANSLATOR,
    GovernanceTranslator,
    apply_manifest_governance,
    apply_project_defaults,
    flag_tags,
    read_governance,
    upstream_graph,
)
from dataflow_governance.dagster_ext.jobs import governance_jobs
from dataflow_governance.dagster_ext.ledger import ledger_definitions
from dataflow_governance.dagster_ext.openlineage import openlineage_sensors
from dataflow_governance.dagster_ext.parts import landscape_of, origin_of
from dataflow_governance.dagster_ext.resources import project_resources
from dataflow_governance.dagster_ext.sql_assets import (
    DIALECT_KEY,
    INPUT_FILES_KEY,
    LINEAGE_KEY,
    SQL_KEY,
    SQL_PATH_KEY,
    column_lineage_metadata,
    lineage_markdown,
    shared_indirect,
)
from dataflow_governance.lineage.graph import ColumnGraph, SqlDefinition, build_column_graph
from dataflow_governance.model import taxonomy
from dataflow_governance.model.manifest import Project, check_processor_references
from dataflow_governance.model.spec import AssetGovernance, table_of
from dataflow_governance.policy.boundaries import assets_concerned
from dataflow_governance.policy.context import PolicyContext
from dataflow_governance.policy.rules import run_policy

POLICY_CHECK = "governance_policy"


def all_specs(assets: Iterable) -> list[dg.AssetSpec]:
    specs: list[dg.AssetSpec] = []
    for item in assets:
        if isinstance(item, dg.AssetSpec):
            specs.append(item)
        elif isinstance(item, dg.AssetsDefinition):
            specs.extend(item.specs)
    return specs


def sql_definitions(specs: Sequence[dg.AssetSpec]) -> list[SqlDefinition]:
    return [SqlDefinition(s.key.to_user_string(), str(_plain(s.metadata[SQL_KEY])), str(_plain(s.metadata.get(DIALECT_KEY, "duckdb"))))
            for s in specs if SQL_KEY in s.metadata]


def _plain(value):
    return getattr(value, "value", value)


def policy_context(specs: Sequence[dg.AssetSpec], project: Project) -> PolicyContext:
    governance = read_governance(specs)
    check_processor_references(governance, project.processors)
    upstream = upstream_graph(specs)
    graph = build_column_graph(governance, sql_definitions(specs), upstream)
    return PolicyContext(governance=governance, upstream=upstream, processors=project.processors, graph=graph,
                         tenancy=project.tenancy, landscape=landscape_of(project, governance))


def catalog_mac_key(state_dir: Path) -> bytes | None:
    """The key of the catalog's MAC, from the subject key as it is on disk (a Definitions load never
    makes or records a key; the commands that change data check the key before trusting a catalog)."""
    return peek_derived(state_dir, "catalog")


def write_catalog(project: Project, specs: Sequence[dg.AssetSpec], ctx: PolicyContext,
                  force: bool = False) -> catalog.Catalog:
    """The governance catalog of these Definitions, written unless one of the same fingerprint is
    there already (or always, with `force`: a damaged file keeps its fingerprint in its head).

    Its inputs: the manifest, every module imported from the project root (the asset modules) and
    the SQL files of SQL assets. The catalog is a cache for the CLI: a state dir that cannot be
    written is a warning, never a failed Definitions load.
    """
    sql_files = [Path(str(_plain(s.metadata[SQL_PATH_KEY]))) for s in specs if SQL_PATH_KEY in s.metadata]
    sql_files += [Path(f) for s in specs if INPUT_FILES_KEY in s.metadata for f in _plain(s.metadata[INPUT_FILES_KEY])]
    built = catalog.assemble(origin_of(project, ctx.landscape), ctx.governance, ctx.upstream, ctx.graph,
                             [*catalog.project_modules(project.root), *sql_files])
    path = project.paths.catalog
    if force or catalog.written_fingerprint(path) != built.fingerprint:
        try:
            catalog.write(built, path, catalog_mac_key(project.state_dir))
        except OSError as exc:
            warnings.warn(f"governance catalog not written to {path}: {exc.strerror}", stacklevel=2)
    return built


def propagated_schema(graph: ColumnGraph, asset: str, gov: AssetGovernance | None,
                      translator: GovernanceTranslator = DEFAULT_TRANSLATOR) -> dg.TableSchema:
    """The columns of a traced asset (SQL, or a Python asset's declared lineage), with declared tags
    plus the categories lineage carries into them."""
    declared = translator.get_column_schema(gov) if gov is not None else None
    declared_tags = {c.name: dict(c.tags) for c in declared.columns} if declared else {}
    declared_text = {c.name: c.description for c in declared.columns if c.description} if declared else {}
    columns = []
    lineage = graph.lineage[asset]
    declared_only = gov.columns if gov is not None and lineage.kind == "python" else {}
    shared = shared_indirect(lineage)  # said once, in the asset's lineage table
    for column in dict.fromkeys([*lineage.columns, *declared_only]):
        cls = graph.classes.get((asset, column))
        tags = dict(declared_tags.get(column, {}))
        if cls is not None:
            for category in sorted(cls.categories):
                tags[f"category/{category}"] = ""
            tags.update(flag_tags(pii=cls.personal, pseudonymized=cls.pseudonymized, anonymous=cls.anonymous,
                                  subject_linked=cls.subject_linked and not cls.anonymous))
            tags["level"] = translator.level(cls.categories, tags.get("sensitivity"), cls.anonymous)
        kind = gov.columns[column].type if gov and column in gov.columns and gov.columns[column].type else "unknown"
        columns.append(dg.TableColumn(column, kind, tags=tags,
                                      description=column_description(graph, asset, column, declared_text.get(column), shared)))
    return dg.TableSchema(columns=columns)


def column_description(graph: ColumnGraph, asset: str, column: str, declared: str | None = None,
                       shared: set | None = None) -> str | None:
    """A column's lineage in words, for the asset's column list: where it comes from, and what
    that makes it (`from users.email (identity); personal: user.contact.email`)."""
    cls = graph.classes.get((asset, column))
    parts = [declared] if declared else []
    if cls is not None and cls.derived_from:
        parts.append("from " + ", ".join(
            f"{d.asset}.{d.column} ({d.source.transformation}{', masked' if d.source.masking else ''})"
            for d in cls.derived_from))
    lineage = graph.lineage.get(asset)
    item = lineage.columns.get(column) if lineage is not None else None
    # What shapes every column (a join, a filter) is said once, in the asset's lineage table.
    if shared is None:
        shared = shared_indirect(lineage) if lineage is not None else set()
    own = [i for i in item.indirect if i not in shared] if item is not None else []
    if own:
        parts.append("shaped by " + ", ".join(f"{i.table}.{i.column} ({i.kind.replace('_', ' ')})" for i in own))
    if cls is not None:
        if cls.anonymous:
            parts.append("anonymous")
        elif cls.personal:
            parts.append("personal: " + ", ".join(sorted(c for c in cls.categories if taxonomy.is_personal_category(c)))
                         + (" (pseudonymized)" if cls.pseudonymized else ""))
    return "; ".join(parts) or None


BROWSER_LINK_KEY = "column lineage ↗"


def browser_link(base_url: str, asset: str) -> dg.UrlMetadataValue:
    """The asset's page in the lineage browser (`dfg serve`)."""
    return dg.MetadataValue.url(base_url.rstrip("/") + "/asset/" + quote(asset, safe="/"))


def with_propagated_schemas(assets: list, ctx: PolicyContext, translator: GovernanceTranslator = DEFAULT_TRANSLATOR,
                            browser_url: str | None = None) -> list:
    """Each traced asset gets its columns with propagated classes, its column lineage in Dagster's
    own convention (`dagster/column_lineage`, which Dagster+ draws and other tools read) and as a
    readable table; each governed or traced asset gets a link to its page in the lineage browser."""
    graph = ctx.column_graph if ctx.graph is not None else None
    traced = graph.lineage if graph is not None else {}
    asset_of_table = {table_of(a, g): dg.AssetKey.from_user_string(a) for a, g in ctx.governance.items()}
    asset_of_table.update({a: dg.AssetKey.from_user_string(a) for a in (graph.sql if graph is not None else {})})

    def attach(spec: dg.AssetSpec) -> dg.AssetSpec:
        key = spec.key.to_user_string()
        metadata = dict(spec.metadata)
        if browser_url and (key in ctx.governance or key in traced):
            metadata[BROWSER_LINK_KEY] = browser_link(browser_url, key)
        if key in traced:
            lineage = traced[key]
            metadata["dagster/column_schema"] = propagated_schema(ctx.graph, key, ctx.governance.get(key), translator)
            metadata["dagster/column_lineage"] = column_lineage_metadata(lineage, asset_of_table)
            metadata[LINEAGE_KEY] = dg.MetadataValue.md(lineage_markdown(lineage))
        return spec.replace_attributes(metadata=metadata) if metadata != dict(spec.metadata) else spec

    return list(dg.map_asset_specs(attach, assets))


def logged_assets(ctx: PolicyContext) -> list[str]:
    """The assets the declared log systems hold: the logs whose lines the PII scan reads."""
    landscape = ctx.landscape
    return sorted({a for s in landscape.systems.values() if s.kind == "log" for a in s.holds}) if landscape else []


def policy_checks(ctx: PolicyContext) -> dg.AssetChecksDefinition:
    """One check per governed asset: the static rules' findings for that asset."""
    specs = [
        dg.AssetCheckSpec(POLICY_CHECK, asset=key, description="static governance rules (dfg check)")
        for key in sorted(ctx.governance)
    ]

    @dg.multi_asset_check(specs=specs, can_subset=True, name="governance_policy_checks")
    def governance_policy(context: dg.AssetCheckExecutionContext):
        findings = run_policy(ctx)
        # A boundary finding (a system, a flow) shows on the assets the system holds or the flow carries.
        about = {id(f): assets_concerned(ctx, f.asset) for f in findings}
        for check_key in context.selected_asset_check_keys:
            asset = check_key.asset_key.to_user_string()
            mine = [f for f in findings if asset in about[id(f)]]
            errors = [f for f in mine if f.severity == "error"]
            yield dg.AssetCheckResult(
                asset_key=check_key.asset_key,
                check_name=POLICY_CHECK,
                passed=not errors,
                severity=dg.AssetCheckSeverity.ERROR if errors else dg.AssetCheckSeverity.WARN,
                metadata={
                    "errors": len(errors),
                    "warnings": len(mine) - len(errors),
                    # Text, shown as it is in the check's result (Markdown would hide behind a button).
                    "findings": dg.MetadataValue.text(
                        " · ".join(f"{f.rule} ({f.severity}){'' if f.asset == asset else ' at ' + f.asset}: {f.message}. "
                                 f"Fix: {f.fix}" for f in mine) or "none"
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
    translator: GovernanceTranslator | None = None,
) -> dg.Definitions:
    """Definitions with the manifest's governance attached and validated, plus policy checks;
    `translator` decides how the facts appear on the assets (see `GovernanceTranslator`)."""
    translator = translator or GovernanceTranslator(warehouse_kind=project.warehouse.kind,
                                                    levels=project.classification.mapping())
    governed = apply_manifest_governance(assets, project.governance, translator)
    # (Python-declared governance gets the manifest's defaults underneath, as the manifest's own does.)
    governed = apply_project_defaults(governed, project.defaults, project.buckets, translator)
    specs = all_specs(governed)
    ctx = policy_context(specs, project)
    write_catalog(project, specs, ctx)
    governed = with_propagated_schemas(governed, ctx, translator, project.browser.url)
    ledger_spec, ledger_check, ledger_job, ledger_schedule = ledger_definitions(project)
    job_assets, governance_job_defs, governance_schedules = governance_jobs(project, ctx)
    return dg.Definitions(
        assets=[*governed, ledger_spec, *job_assets],
        asset_checks=[policy_checks(ctx), ledger_check, *governance_checks(dict(ctx.governance), project.tenancy, logs=logged_assets(ctx)),
                      *asset_checks],
        jobs=[ledger_job, *governance_job_defs, *jobs],
        schedules=[ledger_schedule, *governance_schedules, *schedules],
        sensors=[*openlineage_sensors(project), *access_audit_sensors(project, ctx), *sensors],
        resources={**project_resources(project), **(resources or {})},
    )
