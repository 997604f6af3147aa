"""OpenLineage: governed assets, their runs and their column lineage as OpenLineage events.

Each asset is an OpenLineage dataset (named after where it is stored: the warehouse table, the S3
prefix, the Delta folder) carrying three facets: `schema`, `columnLineage` (outputs; the project's
direct kinds identity/transformation/aggregation and indirect kinds join/filter/group_by/sort/
window/conditional are OpenLineage's own DIRECT and INDIRECT subtypes, masking included; indirect
sources shared by every column are listed once, in the facet's `dataset` list) and
`dataflowGovernance`, this project's facet of categories, legal basis, purposes, retention and
region, whose JSON schema ships with the package (`GOVERNANCE_FACET_FILE`).

Events are built from the governance catalog and counts-free run facts only: no value of any
row and no exception text (which may quote one) is ever put into an event.
"""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

import attr
import yaml
from openlineage.client import OpenLineageClient
from openlineage.client.event_v2 import InputDataset, Job, OutputDataset, Run, RunEvent, RunState
from openlineage.client.facet_v2 import (
    DatasetFacet,
    column_lineage_dataset,
    documentation_dataset,
    error_message_run,
    job_type_job,
    parent_run,
    schema_dataset,
    sql_job,
)

from dataflow_governance import __version__
from dataflow_governance.catalog.artifact import Catalog
from dataflow_governance.errors import OpenLineageError
from dataflow_governance.lineage.graph import TABLE_LEVEL
from dataflow_governance.model import taxonomy
from dataflow_governance.model.spec import AssetGovernance, table_of

if TYPE_CHECKING:
    from dataflow_governance.model.manifest import OpenLineageSection

PRODUCER = f"https://pypi.org/project/dataflow-governance/{__version__}/"
GOVERNANCE_FACET = "dataflowGovernance"  # prefixed, as the spec asks of custom facets
GOVERNANCE_FACET_ID = "urn:dataflow-governance:openlineage:facets:1-1-0:GovernanceDatasetFacet.json"
GOVERNANCE_FACET_FILE = Path(__file__).with_name("schemas") / "GovernanceDatasetFacet.json"
DIRECT_SUBTYPES = {"identity": "IDENTITY", "transformation": "TRANSFORMATION", "aggregation": "AGGREGATION"}
INDIRECT_SUBTYPES = {"join": "JOIN", "filter": "FILTER", "group_by": "GROUP_BY", "sort": "SORT",
                     "window": "WINDOW", "conditional": "CONDITIONAL"}
CLIENT_SETTINGS = ("OPENLINEAGE_CONFIG", "OPENLINEAGE_URL", "OPENLINEAGE_DISABLED")


@attr.define
class GovernanceDatasetFacet(DatasetFacet):
    """What the governance manifest says about a dataset: the facts an auditor asks for."""

    personal: bool
    categories: list[str]
    piiFree: bool
    legalBasis: str | None = None
    purposes: list[str] = attr.field(factory=list)
    dataSubjects: list[str] = attr.field(factory=list)
    retention: dict[str, Any] | None = None
    region: str | None = None
    jurisdiction: str | None = None
    processors: list[str] = attr.field(factory=list)
    owner: str | None = None
    personalColumns: dict[str, list[str]] = attr.field(factory=dict)
    regimes: list[str] = attr.field(factory=list)
    tokenized: bool = False

    @staticmethod
    def _get_schema() -> str:
        return f"{GOVERNANCE_FACET_ID}#/$defs/GovernanceDatasetFacet"


def governance_facet(gov: AssetGovernance, catalog: Catalog, asset: str) -> GovernanceDatasetFacet:
    classes = catalog.graph.columns_of(asset)
    personal_columns = {name: sorted(c for c in cls.categories if taxonomy.is_personal_category(c))
                        for name, cls in sorted(classes.items()) if cls.personal and name != TABLE_LEVEL}
    retention = gov.retention
    return GovernanceDatasetFacet(
        personal=gov.is_personal or bool(personal_columns),
        categories=sorted(set(gov.all_categories) | {c for cats in personal_columns.values() for c in cats}),
        piiFree=gov.pii_free,
        legalBasis=gov.legal_basis,
        purposes=list(gov.purposes),
        dataSubjects=list(gov.data_subjects),
        retention={"keep": retention.keep, "action": retention.action} if retention else None,
        region=gov.region,
        jurisdiction=taxonomy.jurisdiction(gov.region) if gov.region else None,
        processors=list(gov.processors),
        owner=gov.owner,
        personalColumns=personal_columns,
        regimes=list(gov.regime),
        tokenized=gov.tokenized,
        producer=PRODUCER,
    )


# --- datasets ---------------------------------------------------------------------------------

@dataclass(frozen=True)
class DatasetNames:
    """Where each asset lives, as an OpenLineage (namespace, name), following the spec's naming:
    `postgres://host:port` + `db.schema.table`, `s3://bucket` + key prefix, `file` + a path.

    Args:
        namespace: the project's namespace (jobs, and assets with no store of their own).
        warehouse_names: gives (namespace, name prefix) of warehouse tables, as the engine names
            them (`Engine.dataset_namespace`); asked only when a warehouse table is named.
        delta_root: the folder Delta tables' paths are relative to (the state folder).
    """

    namespace: str
    warehouse_names: Callable[[], tuple[str, str]]
    delta_root: Path

    @cached_property
    def warehouse(self) -> tuple[str, str]:
        return self.warehouse_names()

    def of(self, asset: str, gov: AssetGovernance | None) -> tuple[str, str]:
        storage = gov.storage if gov is not None else None
        if storage is None or storage.kind == "warehouse":
            namespace, prefix = self.warehouse
            return namespace, prefix + table_of(asset, gov)
        if storage.kind == "s3" and storage.bucket:
            return f"s3://{storage.bucket}", (storage.prefix or "").strip("/") or asset
        if storage.kind == "delta" and storage.path:
            return "file", (self.delta_root / storage.path).as_posix()
        return self.namespace, asset  # external systems and models: named in the project's namespace


def _schema(catalog: Catalog, asset: str, gov: AssetGovernance | None) -> schema_dataset.SchemaDatasetFacet | None:
    columns = [c for c in catalog.graph.columns_of(asset) if c != TABLE_LEVEL]
    declared = gov.columns if gov is not None else {}
    names = list(dict.fromkeys([*declared, *columns]))
    if not names:
        return None
    return schema_dataset.SchemaDatasetFacet(fields=[
        schema_dataset.SchemaDatasetFacetFields(name=name, type=declared[name].type if name in declared else None,
                                                ordinal_position=position)
        for position, name in enumerate(names, start=1)], producer=PRODUCER)


def _column_lineage(catalog: Catalog, asset: str, names: DatasetNames) -> column_lineage_dataset.ColumnLineageDatasetFacet | None:
    lineage = catalog.graph.lineage.get(asset)
    if lineage is None:
        return None
    asset_of_table = {table_of(a, g): a for a, g in catalog.governance.items()}

    def field_of(table: str, column: str, kind: str, subtype: str, masking: bool = False):
        source = asset_of_table.get(table, table)
        namespace, name = names.of(source, catalog.governance.get(source))
        return column_lineage_dataset.InputField(namespace=namespace, name=name, field=column, transformations=[
            column_lineage_dataset.Transformation(type=kind, subtype=subtype, masking=masking)])

    everywhere = set.intersection(*(set(c.indirect) for c in lineage.columns.values())) if lineage.columns else set()
    fields = {}
    for column, item in lineage.columns.items():
        inputs = [field_of(d.table, d.column, "DIRECT", DIRECT_SUBTYPES[d.transformation], d.masking) for d in item.direct]
        inputs += [field_of(i.table, i.column, "INDIRECT", INDIRECT_SUBTYPES[i.kind])
                   for i in item.indirect if i not in everywhere]
        fields[column] = column_lineage_dataset.Fields(inputFields=inputs)
    dataset = [field_of(i.table, i.column, "INDIRECT", INDIRECT_SUBTYPES[i.kind]) for i in sorted(everywhere)]
    return column_lineage_dataset.ColumnLineageDatasetFacet(fields=fields, dataset=dataset, producer=PRODUCER)


def dataset_facets(catalog: Catalog, asset: str, names: DatasetNames, *, output: bool) -> dict:
    gov = catalog.governance.get(asset)
    facets: dict[str, Any] = {}
    schema = _schema(catalog, asset, gov)
    if schema is not None:
        facets["schema"] = schema
    if gov is not None:
        facets[GOVERNANCE_FACET] = governance_facet(gov, catalog, asset)
        if gov.description:
            facets["documentation"] = documentation_dataset.DocumentationDatasetFacet(
                description=gov.description, producer=PRODUCER)
    if output:
        lineage = _column_lineage(catalog, asset, names)
        if lineage is not None:
            facets["columnLineage"] = lineage
    return facets


def datasets(catalog: Catalog, assets: Iterable[str], names: DatasetNames, *, output: bool) -> list:
    kind = OutputDataset if output else InputDataset
    found = []
    for asset in sorted(set(assets)):
        namespace, name = names.of(asset, catalog.governance.get(asset))
        found.append(kind(namespace=namespace, name=name, facets=dataset_facets(catalog, asset, names, output=output)))
    return found


# --- events -----------------------------------------------------------------------------------

def step_run_id(dagster_run_id: str, step: str) -> str:
    """A stable OpenLineage run id for one step of one Dagster run: START and COMPLETE share it."""
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"dagster-run:{dagster_run_id}/{step}"))


def run_event(catalog: Catalog, names: DatasetNames, *, state: str, when: datetime, run_id: str, job: str,
              outputs: Iterable[str], parent: tuple[str, str] | None = None, failure: str | None = None) -> RunEvent:
    """One RunEvent of a job that materializes `outputs` (asset keys) from what they read.
    `parent`: (job name, run id) of the orchestrator's run; `failure`: the error's type, never its text."""
    produced = sorted(set(outputs))
    read = {up for asset in produced for up in catalog.upstream.get(asset, ())} - set(produced)
    run_facets: dict[str, Any] = {}
    if parent is not None:
        run_facets["parent"] = parent_run.ParentRunFacet(
            run=parent_run.Run(runId=parent[1]), job=parent_run.Job(namespace=names.namespace, name=parent[0]),
            producer=PRODUCER)
    if failure is not None:
        run_facets["errorMessage"] = error_message_run.ErrorMessageRunFacet(
            message=f"{failure} (the message is in the orchestrator's run log: it may quote data)",
            programmingLanguage="python", producer=PRODUCER)
    job_facets: dict[str, Any] = {"jobType": job_type_job.JobTypeJobFacet(
        processingType="BATCH", integration="DAGSTER", jobType="ASSET", producer=PRODUCER)}
    sql = [catalog.graph.sql[a].sql for a in produced if a in catalog.graph.sql]
    if len(sql) == 1:
        job_facets["sql"] = sql_job.SQLJobFacet(query=sql[0], producer=PRODUCER)
    return RunEvent(
        eventType=getattr(RunState, state), eventTime=when.astimezone(UTC).isoformat(),
        run=Run(runId=run_id, facets=run_facets), job=Job(namespace=names.namespace, name=job, facets=job_facets),
        inputs=datasets(catalog, read, names, output=False),
        outputs=datasets(catalog, produced, names, output=state != "START"), producer=PRODUCER)


def catalog_events(catalog: Catalog, names: DatasetNames, when: datetime | None = None) -> list[RunEvent]:
    """A COMPLETE event per asset that reads something or has lineage: the whole data map, for a
    one-off import into a lineage catalog. Run ids derive from the catalog's fingerprint, so a
    re-export of the same catalog is the same events."""
    when = when or datetime.now(UTC)
    events = []
    for asset in sorted(set(catalog.upstream) | set(catalog.governance)):
        if not catalog.upstream.get(asset) and asset not in catalog.graph.lineage and asset not in catalog.governance:
            continue
        run_id = str(uuid.uuid5(uuid.NAMESPACE_URL, f"catalog:{catalog.fingerprint}/{asset}"))
        events.append(run_event(catalog, names, state="COMPLETE", when=when, run_id=run_id, job=asset,
                                outputs=[asset]))
    return events


def to_json(event: RunEvent) -> str:
    from openlineage.client.serde import Serde

    return Serde.to_json(event)


def namespace_of(section: OpenLineageSection | None, project: str) -> str:
    """The manifest's `openlineage.namespace`, else the project's name."""
    return (section.namespace if section is not None and section.namespace else None) or project


def client_for(section: OpenLineageSection | None, root: Path) -> OpenLineageClient:
    """The client as OpenLineage configures it: its own settings (OPENLINEAGE_CONFIG,
    OPENLINEAGE_URL, OPENLINEAGE__TRANSPORT__*) first, else the manifest's `openlineage.config`
    (relative to the project's `root`). A relative file transport path in that file is relative
    to the file."""
    named = os.environ.get("OPENLINEAGE_CONFIG")
    if named and not Path(named).is_file():
        # The client would fall back to another transport without a word: events would go elsewhere.
        raise OpenLineageError(f"OPENLINEAGE_CONFIG names {named}, which is not a file; fix or unset it")
    own = any(os.environ.get(k) for k in CLIENT_SETTINGS) or any(k.startswith("OPENLINEAGE__") for k in os.environ)
    if own or section is None or not section.config:
        return OpenLineageClient()
    path = (Path(root) / section.config).resolve()
    try:
        config = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except OSError as exc:
        raise OpenLineageError(f"openlineage.config: cannot read {section.config}: {exc.strerror}") from None
    except yaml.YAMLError:
        raise OpenLineageError(f"openlineage.config: {section.config} is not valid YAML") from None
    transport = config.get("transport") if isinstance(config, Mapping) else None
    if not isinstance(transport, Mapping) or not transport.get("type"):
        raise OpenLineageError(f"openlineage.config: {section.config} names no transport (transport.type)")
    if transport.get("type") == "file" and transport.get("log_file_path"):
        target = Path(str(transport["log_file_path"]))
        if not target.is_absolute():
            target = path.parent / target
        target.parent.mkdir(parents=True, exist_ok=True)
        config = {**config, "transport": {**transport, "log_file_path": str(target)}}
    try:
        return OpenLineageClient(config=config)
    except (ValueError, TypeError, KeyError) as exc:
        raise OpenLineageError(f"openlineage.config: {section.config}: {exc}") from None


def emit(client: OpenLineageClient, events: Iterable[RunEvent]) -> int:
    sent = 0
    try:
        for event in events:
            client.emit(event)
            sent += 1
    except Exception as exc:  # any transport's failure: say which (events hold no personal value to quote)
        raise OpenLineageError(f"OpenLineage transport {client.transport.kind} failed after {sent} event(s): "
                               f"{type(exc).__name__}: {str(exc)[:300]}") from None
    finally:
        client.close(timeout=10)
    return sent


def governance_facet_schema() -> dict:
    return json.loads(GOVERNANCE_FACET_FILE.read_text(encoding="utf-8"))
