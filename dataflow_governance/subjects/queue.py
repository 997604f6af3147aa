"""Erasure requests waiting for a Dagster run: the run config names a request, never the subject.

Dagster keeps run config in its run storage for good, and shows it in the UI; a subject id there
would outlive the erasure it asked for. So the id is filed in a small table in the warehouse (which
holds the subject's data anyway) under a random request id; the run resolves it, and the row is
deleted when the erasure is verified.
"""

from __future__ import annotations

import secrets
from datetime import UTC, datetime

import pandas as pd
from sqlglot import exp

from dataflow_governance.errors import RequestError
from dataflow_governance.model.ids import check_subject_id
from dataflow_governance.storage.warehouse import Warehouse, table_expr

REQUESTS_TABLE = "governance_erasure_requests"


def file_request(warehouse: Warehouse, subject_id: str) -> str:
    """Record a request for `subject_id` in the governance store; returns the id to give the Dagster job."""
    warehouse = warehouse.governance_store
    request_id = "er_" + secrets.token_hex(12)
    warehouse.append_rows(REQUESTS_TABLE, pd.DataFrame({
        "request_id": [request_id], "subject_id": [check_subject_id(subject_id)],
        "filed_at": [datetime.now(UTC).replace(tzinfo=None)]}))
    return request_id


def resolve_request(warehouse: Warehouse, request_id: str) -> str:
    """The subject id a filed request names; an error for an unknown or finished one."""
    warehouse = warehouse.governance_store
    if not warehouse.table_exists(REQUESTS_TABLE):
        raise RequestError(f"no erasure request {request_id!r}: none has been filed (dfg erase --queue)")
    rows = warehouse.fetch(exp.select("subject_id").from_(table_expr(REQUESTS_TABLE))
                           .where(exp.column("request_id").eq(exp.Placeholder())), [request_id])
    if not rows:
        raise RequestError(f"no erasure request {request_id!r} (unknown, or already carried out)")
    return str(rows[0][0])


def close_request(warehouse: Warehouse, request_id: str) -> None:
    """Forget a request (and the id it holds) once its erasure is verified."""
    warehouse = warehouse.governance_store
    warehouse.execute(exp.delete(table_expr(REQUESTS_TABLE), where=exp.column("request_id").eq(exp.Placeholder())),
                      [request_id])
