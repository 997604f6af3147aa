"""Support: tickets, their cleaned form, features for the classifier, and attachments in S3."""

import dagster as dg
import pandas as pd

from dataflow_governance.dagster_ext import KeysResource, S3Resource, WarehouseResource, sql_asset, table_metadata
from dataflow_governance import put_object, redact_many, safe_harbor_sql

from . import data
from .commerce import orders
from .registration import users
from .sql_stage import SQL_DIR

ATTACHMENTS_BUCKET = "deepwater-support-eu"


@dg.asset(group_name="support", kinds={"duckdb"}, deps=[users, orders])
def tickets(context: dg.AssetExecutionContext, warehouse: WarehouseResource) -> dg.MaterializeResult:
    wh = warehouse.get()
    people = wh.fetch_df("SELECT user_id, full_name, email FROM users ORDER BY user_id").to_dict("records")
    by_user: dict[int, list[int]] = {}
    for user_id, order_id in wh.fetch("SELECT user_id, order_id FROM orders ORDER BY order_id"):
        by_user.setdefault(int(user_id), []).append(int(order_id))
    frame = pd.DataFrame(data.tickets([{**p, "user_id": int(p["user_id"])} for p in people], by_user))
    wh.replace_table("tickets", frame.drop(columns=["topic"]))
    return dg.MaterializeResult(metadata=table_metadata(context, wh, "tickets"))


def categorize(subject: str) -> str:
    return subject.split(" ", 1)[0]


@dg.asset(group_name="support", kinds={"duckdb"}, deps=[tickets])
def tickets_clean(context: dg.AssetExecutionContext, warehouse: WarehouseResource, keys: KeysResource) -> dg.MaterializeResult:
    """Contact details redacted from the text, the customer as a keyed pseudonym."""
    wh = warehouse.get()
    raw = wh.fetch_df("SELECT ticket_id, user_id, subject, body, created_at FROM tickets ORDER BY ticket_id")
    frame = pd.DataFrame({
        "ticket_id": raw["ticket_id"],
        "user_pseudo_id": [keys.pseudonymize(u) for u in raw["user_id"]],
        # Redaction before analysis: contact details, names and addresses customers write into tickets.
        "text": redact_many(raw["body"]),
        "category": [categorize(s) for s in raw["subject"]],
        "created_at": raw["created_at"],
    })
    wh.replace_table("tickets_clean", frame)
    return dg.MaterializeResult(metadata=table_metadata(context, wh, "tickets_clean"))


@dg.asset(group_name="support", kinds={"duckdb"}, deps=[tickets, users])
def ticket_health_notes(context: dg.AssetExecutionContext, warehouse: WarehouseResource) -> dg.MaterializeResult:
    """Health details from delivery tickets, for the care partner who handles those deliveries (PHI)."""
    wh = warehouse.get()
    rows = wh.fetch_df("SELECT t.ticket_id, t.user_id, t.created_at, u.full_name, u.birth_date FROM tickets AS t "
                       "JOIN users AS u ON u.user_id = t.user_id ORDER BY t.ticket_id").to_dict("records")
    frame = pd.DataFrame(data.health_notes(rows), columns=["ticket_id", "user_id", "note", "created_at"])
    wh.replace_table("ticket_health_notes", frame)
    return dg.MaterializeResult(metadata=table_metadata(context, wh, "ticket_health_notes"))


@dg.asset(group_name="support", kinds={"duckdb"}, deps=[ticket_health_notes, users])
def health_research_extract(context: dg.AssetExecutionContext, warehouse: WarehouseResource) -> dg.MaterializeResult:
    """The health notes for research, de-identified under HIPAA Safe Harbor: dates to the year, ZIP codes
    to three digits, no ids, and the patients named in the notes redacted."""
    wh = warehouse.get()
    source = ("SELECT n.note, n.created_at AS noted_year, u.birth_date AS birth_year, u.postal_code AS zip3, u.country "
              "FROM ticket_health_notes AS n JOIN users AS u ON u.user_id = n.user_id ORDER BY n.ticket_id")
    methods = {"note": "keep", "noted_year": "year", "birth_year": "year", "zip3": "zip3", "country": "keep"}
    frame = wh.fetch_df(safe_harbor_sql(source, methods, wh.dialect))
    frame["note"] = redact_many(frame["note"])  # (free text: no SQL generalizes it)
    frame["extracted_at"] = pd.Timestamp(data.AS_OF)  # when the extract was made: no date of a patient
    wh.replace_table("health_research_extract", frame)
    return dg.MaterializeResult(metadata=table_metadata(context, wh, "health_research_extract"))


ticket_features = sql_asset("ticket_features", path=SQL_DIR / "ticket_features.sql", group_name="support",
                            kinds={"duckdb", "sql"})


@dg.asset(group_name="support", kinds={"s3"}, deps=[tickets])
def support_attachments(warehouse: WarehouseResource, s3: S3Resource) -> dg.MaterializeResult:
    """A text attachment for every third ticket, under the customer's own prefix."""
    wh, store = warehouse.get(), s3.get()
    rows = wh.fetch("SELECT ticket_id, user_id, body FROM tickets ORDER BY ticket_id")
    written = 0
    for ticket_id, user_id, body in rows[::3]:
        put_object(store, ATTACHMENTS_BUCKET, f"attachments/{user_id}/{ticket_id}.txt", f"Attachment to ticket {ticket_id}:\n{body}\n".encode())
        written += 1
    return dg.MaterializeResult(metadata={"objects": written, "location": f"s3://{ATTACHMENTS_BUCKET}/attachments/"})
