"""Every format a plan reaches is searched, or the erasure is not verified: JSON lines, CSV and
Parquet objects under a governed prefix are rewritten without the subject (and their earlier
versions purged); an object in any other format is named, and keeps the erasure unverified."""

import io

import boto3
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from conftest import dfg_json
from dataflow_governance import build_governance, load_project
from dataflow_governance.local import s3 as local_s3
from dataflow_governance.policy.context import PolicyContext
from dataflow_governance.policy.rules import run_policy
from dataflow_governance import open_warehouse

BUCKET, PREFIX = "deepwater-raw-eu", "exports/crm/"


def client_of(project):
    endpoint = local_s3.ensure_running(project.state_dir)
    return boto3.client("s3", endpoint_url=endpoint.url, region_name="eu-central-1", aws_access_key_id="x",
                        aws_secret_access_key="x")


def every_version(client, prefix=PREFIX) -> bytes:
    listing = client.list_object_versions(Bucket=BUCKET, Prefix=prefix)
    return b"".join(client.get_object(Bucket=BUCKET, Key=v["Key"], VersionId=v["VersionId"])["Body"].read()
                    for v in listing.get("Versions", []))


def test_a_csv_export_and_a_parquet_file_lose_the_subject_and_an_unknown_format_keeps_it_unverified(demo_copy):
    project = load_project(demo_copy)
    warehouse = open_warehouse(project)
    client = client_of(project)
    (subject, email), (other, other_email) = warehouse.fetch(
        "SELECT user_id, email FROM users WHERE marketing_consent ORDER BY user_id LIMIT 2")
    assert email.encode() in every_version(client)  # the demo's CSV export holds the subject
    sink = io.BytesIO()
    pq.write_table(pa.table({"user_id": [subject, other], "email": [email, other_email], "score": [0.5, 0.7]}), sink)
    client.put_object(Bucket=BUCKET, Key=f"{PREFIX}scores.parquet", Body=sink.getvalue())

    code, result, err = dfg_json("erase", "--subject-id", str(subject), "--now", project=demo_copy)
    assert code == 0 and result["status"] == "verified", err
    crm = next(t for t in result["targets"] if t["target"] == f"s3://{BUCKET}/{PREFIX}")
    assert crm["action"] == "rewrite" and crm["count"] >= 2 and crm["unit"] == "records and object versions"
    assert email.encode() not in every_version(client)  # not in the CSV, the Parquet file, nor any earlier version
    kept = pq.read_table(io.BytesIO(client.get_object(Bucket=BUCKET, Key=f"{PREFIX}scores.parquet")["Body"].read()))
    assert kept.to_pydict() == {"user_id": [other], "email": [other_email], "score": [0.7]}
    csv_now = pd.read_csv(io.BytesIO(client.get_object(Bucket=BUCKET, Key=f"{PREFIX}contacts-2025-w40.csv")["Body"].read()))
    assert subject not in csv_now["user_id"].tolist() and other in csv_now["user_id"].tolist()

    # An export in a format the project cannot search: the next erasure names it and is not verified.
    client.put_object(Bucket=BUCKET, Key=f"{PREFIX}contacts.xlsx", Body=b"PK\x03\x04 a spreadsheet")
    code, result, err = dfg_json("erase", "--subject-id", str(other), "--now", project=demo_copy)
    crm = next(t for t in result["targets"] if t["target"] == f"s3://{BUCKET}/{PREFIX}")
    assert code == 1 and result["status"] == "executed" and crm["outcome"] == "failed"
    assert crm["unsearched"] == [f"{PREFIX}contacts.xlsx (a format the project cannot search)"]
    certificate = (project.output_dir / "erasures" / f"{result['subject']}.md").read_text()
    assert "objects that could not be searched" in certificate and "contacts.xlsx" in certificate
    assert other_email not in certificate


def test_a_late_csv_line_of_an_erased_subject_is_removed_by_the_sweep(demo_copy):
    project = load_project(demo_copy)
    warehouse = open_warehouse(project)
    subject, email = warehouse.fetch("SELECT user_id, email FROM users WHERE marketing_consent ORDER BY user_id")[2]
    code, _result, err = dfg_json("erase", "--subject-id", str(subject), "--now", project=demo_copy)
    assert code == 0, err
    client = client_of(project)
    client.put_object(Bucket=BUCKET, Key=f"{PREFIX}late.csv",
                      Body=f"user_id,email,country\n{subject},{email},DE\n999999,x@example.com,FR\n".encode())
    code, preview, _ = dfg_json("sweep", "--dry-run", project=demo_copy)
    assert preview["suppressed"].get("crm_contacts_export") == 1
    code, swept, err = dfg_json("sweep", project=demo_copy)
    assert code == 0 and swept["suppressed"]["crm_contacts_export"] >= 1, err
    late = client.get_object(Bucket=BUCKET, Key=f"{PREFIX}late.csv")["Body"].read().decode()
    assert email not in late and "999999" in late


def test_a_declared_format_erasure_cannot_search_is_a_warning():
    gov = build_governance("scans", {"legal_basis": "contract", "storage": {"kind": "s3", "bucket": "b", "format": "pdf"},
                                     "data_categories": ["user.contact.email"], "retention": {"keep": "1y"}})
    [finding] = [f for f in run_policy(PolicyContext({"scans": gov}, {"scans": frozenset()}, {}))
                 if f.rule == "format-not-erasable"]
    assert finding.severity == "warning" and "pdf" in finding.message
