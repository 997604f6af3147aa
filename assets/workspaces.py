"""The B2B side: workspaces are tenants. Acme's documents stay in the EU warehouse, Globex's in
the US bucket; a cross-tenant activity figure is an anonymous aggregate."""

import json

import dagster as dg
import pandas as pd

from dataflow_governance import put_object
from dataflow_governance.dagster_ext import S3Resource, WarehouseResource, sql_asset, table_metadata

from . import data

US_BUCKET = "deepwater-bi-us"


@dg.asset(group_name="workspaces", kinds={"duckdb"})
def workspaces(context: dg.AssetExecutionContext, warehouse: WarehouseResource) -> dg.MaterializeResult:
    """Every tenant, with the region its data is pinned to."""
    wh = warehouse.get()
    wh.replace_table("workspaces", pd.DataFrame(data.workspaces()))
    return dg.MaterializeResult(metadata=table_metadata(context, wh, "workspaces"))


@dg.asset(group_name="workspaces", kinds={"duckdb"}, deps=[workspaces])
def workspace_documents(context: dg.AssetExecutionContext, warehouse: WarehouseResource) -> dg.MaterializeResult:
    """Documents of the EU-pinned tenants, in the EU warehouse."""
    wh = warehouse.get()
    wh.replace_table("workspace_documents",
                     pd.DataFrame([d for w in data.eu_workspaces() for d in data.workspace_documents(w)]))
    return dg.MaterializeResult(metadata=table_metadata(context, wh, "workspace_documents"))


@dg.asset(group_name="workspaces", kinds={"duckdb"}, deps=[workspaces])
def workspace_tickets(context: dg.AssetExecutionContext, warehouse: WarehouseResource) -> dg.MaterializeResult:
    """Support tickets of the EU-pinned tenants, each tenant's in a schema of its own (ws_<id>)."""
    wh, written = warehouse.get(), 0
    for workspace_id in data.eu_workspaces():
        wh.create_schema(f"ws_{workspace_id}")
        written += wh.replace_table(f"ws_{workspace_id}.tickets", pd.DataFrame(data.workspace_tickets(workspace_id)))
    return dg.MaterializeResult(metadata={"rows": written, "tables": "ws_<tenant>.tickets"})


@dg.asset(group_name="workspaces", kinds={"duckdb"}, deps=[workspaces])
def workspace_invoices(context: dg.AssetExecutionContext, warehouse: WarehouseResource) -> dg.MaterializeResult:
    """Invoices of the EU-pinned tenants; tax law keeps the recent ones past a tenant's offboarding."""
    wh = warehouse.get()
    wh.replace_table("workspace_invoices",
                     pd.DataFrame([i for w in data.eu_workspaces() for i in data.workspace_invoices(w)]))
    return dg.MaterializeResult(metadata=table_metadata(context, wh, "workspace_invoices"))


@dg.asset(group_name="workspaces", kinds={"s3"}, deps=[workspaces])
def workspace_documents_us(s3: S3Resource) -> dg.MaterializeResult:
    """Documents of the US-pinned tenants, as JSON lines in the US bucket, one prefix per tenant."""
    store, written = s3.get(), 0
    for workspace in (w for w in data.workspaces() if w["region"].startswith("us-")):
        rows = data.workspace_documents(workspace["workspace_id"])
        body = "".join(json.dumps(row) + "\n" for row in rows).encode()
        put_object(store, US_BUCKET, f"workspaces/{workspace['workspace_id']}/documents.jsonl", body)
        written += len(rows)
    return dg.MaterializeResult(metadata={"records": written, "location": f"s3://{US_BUCKET}/workspaces/"})


# Across tenants, and correct: only counts leave, no tenant's rows meet another's.
workspace_activity = sql_asset(
    "workspace_activity",
    sql="SELECT count(*) AS documents, count(DISTINCT workspace_id) AS workspaces, sum(words) AS words\n"
        "FROM workspace_documents\n",
    group_name="workspaces", kinds={"duckdb", "sql"})


TOPIC_BUCKET, TOPIC_PREFIX = "deepwater-raw-eu", "document-events/"


def document_events() -> list[dict]:
    """DocumentSaved events of the EU-pinned tenants, each naming its tenant."""
    return [{"event": "DocumentSaved", "workspace_id": d["workspace_id"], "doc_id": d["doc_id"], "title": d["title"],
             "words": d["words"]} for w in data.eu_workspaces() for d in data.workspace_documents(w)]


@dg.asset(group_name="workspaces", kinds={"s3"}, deps=[workspace_documents])
def document_events_topic(s3: S3Resource) -> dg.MaterializeResult:
    """The documents topic: every EU tenant's document events on one log (a multi-tenant topic)."""
    events = document_events()
    put_object(s3.get(), TOPIC_BUCKET, f"{TOPIC_PREFIX}batch-{data.AS_OF:%Y%m%d}.jsonl",
               "".join(json.dumps(e) + "\n" for e in events).encode())
    return dg.MaterializeResult(metadata={"events": len(events)})


@dg.asset(group_name="workspaces", kinds={"s3"}, deps=[document_events_topic])
def document_search_index(s3: S3Resource) -> dg.MaterializeResult:
    """The search indexer: consumes the topic and writes each tenant's entries under its own prefix."""
    store, by_tenant = s3.get(), {}
    for event in document_events():
        by_tenant.setdefault(event["workspace_id"], []).append(
            {"workspace_id": event["workspace_id"], "doc_id": event["doc_id"], "title": event["title"]})
    for tenant, entries in by_tenant.items():
        put_object(store, TOPIC_BUCKET, f"search-index/{tenant}/index.jsonl",
                   "".join(json.dumps(e) + "\n" for e in entries).encode())
    return dg.MaterializeResult(metadata={"tenants": len(by_tenant), "entries": sum(map(len, by_tenant.values()))})


@dg.asset(group_name="workspaces", kinds={"duckdb"}, deps=[document_events_topic])
def document_stats(context: dg.AssetExecutionContext, warehouse: WarehouseResource) -> dg.MaterializeResult:
    """The analytics consumer: documents and words per tenant, each row keeping its tenant."""
    wh = warehouse.get()
    frame = pd.DataFrame(document_events()).groupby("workspace_id", as_index=False).agg(
        documents=("doc_id", "count"), words=("words", "sum"))
    wh.replace_table("document_stats", frame)
    return dg.MaterializeResult(metadata=table_metadata(context, wh, "document_stats"))
