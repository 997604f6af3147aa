"""Platform: application logs shipped to S3, declared PII-free (governance written in Python)."""

import json

import dagster as dg

from dataflow_governance.dagster_ext import S3Resource, governed_asset
from dataflow_governance import put_object

from . import data

LOGS_BUCKET = "deepwater-logs-eu"


@governed_asset(
    group_name="platform",
    kinds={"s3"},
    governance={
        "description": "Request logs of the web app; must never hold request bodies or contact details.",
        "owner": "team:platform",
        "storage": {"kind": "s3", "bucket": LOGS_BUCKET, "prefix": "app/"},
        "region": "eu-central-1",
        "purposes": ["essential.service.operations"],
        "pii_free": True,
        "encryption": {"at_rest": "AES-256", "in_transit": "TLS 1.2+"},
        "retention": {"keep": "30 days", "action": "delete"},
    },
)
def app_logs(s3: S3Resource) -> dg.MaterializeResult:
    store = s3.get()
    days = 7
    for day in range(days):
        lines = data.app_log_lines(day)
        put_object(store, LOGS_BUCKET, f"app/day={day:02d}/requests.jsonl",
                   "".join(json.dumps(line) + "\n" for line in lines).encode())
    return dg.MaterializeResult(metadata={"objects": days, "location": f"s3://{LOGS_BUCKET}/app/"})
