"""A subject named in other customers' tickets, on the example: `dfg access` shows the passages,
`dfg erase --dry-run` counts them, `dfg erase --now` redacts them in place and verifies it — the
other rows stay, and the name and email are gone from the DuckDB file's bytes too."""

import json

import boto3

from conftest import dfg_json, run_dfg
from dataflow_governance import load_project, open_warehouse
from dataflow_governance.local import s3 as local_s3


def mentioned_subject(project) -> tuple[int, str, str, int]:
    """A customer another customer's ticket names, whose full name no other customer has."""
    warehouse = open_warehouse(project)
    rows = warehouse.fetch(
        "SELECT u.user_id, u.full_name, u.email, count(*) FROM tickets t JOIN users u "
        "ON strpos(t.body, u.email) > 0 AND t.user_id <> u.user_id "
        "WHERE (SELECT count(*) FROM users o WHERE o.full_name = u.full_name) = 1 "
        "GROUP BY ALL ORDER BY 4 DESC, 1 LIMIT 1")
    assert rows, "the example's tickets name other customers"
    user_id, name, email, n = rows[0]
    return int(user_id), name, email, int(n)


def test_a_subject_named_in_others_tickets_is_redacted_there(demo_copy):
    project = load_project(demo_copy)
    subject, name, email, named_in = mentioned_subject(project)
    warehouse = open_warehouse(project)
    tickets_before = warehouse.fetch("SELECT count(*) FROM tickets")[0][0]
    own = warehouse.fetch(f"SELECT count(*) FROM tickets WHERE user_id = {subject}")[0][0]

    code, export, err = dfg_json("access", "--subject-id", str(subject), project=demo_copy)
    assert code == 0, err
    passages = export["assets"]["tickets"]["mentions"]
    assert len(passages) == named_in and all(name in p["context"] and email in p["context"] for p in passages)

    code, plan, err = dfg_json("erase", "--subject-id", str(subject), "--dry-run", project=demo_copy)
    assert code == 0, err
    redact = {t["target"]: t for t in plan["targets"] if t["action"] == "redact"}
    assert redact["tickets.body"]["count"] == named_in and redact["tickets.body"]["unit"] == "rows"
    assert "s3://deepwater-support-eu/attachments/ (text)" in redact  # the attachments copy ticket text

    code, out, err = run_dfg("erase", "--subject-id", str(subject), "--now", project=demo_copy)
    assert code == 0, err
    assert "tickets.body" in out and "verified" in out
    for secret in (name, email):
        assert secret not in out and secret not in err  # nothing personal printed

    warehouse = open_warehouse(project)
    assert warehouse.fetch("SELECT count(*) FROM tickets")[0][0] == tickets_before - own  # others' rows stay
    redacted = warehouse.fetch("SELECT count(*) FROM tickets WHERE body LIKE '%My neighbour [erased] ([erased])%'")[0][0]
    assert redacted >= named_in
    raw = (project.state_dir / "warehouse.duckdb").read_bytes()
    assert name.encode() not in raw and email.encode() not in raw  # not in freed blocks either

    # Other customers' attachments in S3 copied the tickets' text: redacted there too, every version,
    # and gone from the local endpoint's own files.
    endpoint = local_s3.ensure_running(project.state_dir)
    client = boto3.client("s3", endpoint_url=endpoint.url, region_name="eu-central-1",
                          aws_access_key_id="x", aws_secret_access_key="x")
    versions = client.list_object_versions(Bucket="deepwater-support-eu").get("Versions", [])
    bodies = [client.get_object(Bucket="deepwater-support-eu", Key=v["Key"], VersionId=v["VersionId"])["Body"].read()
              for v in versions]
    assert bodies and not any(email.encode() in body for body in bodies)
    assert any(b"[erased]" in body for body in bodies)
    stored = b"".join(p.read_bytes() for p in (project.state_dir / "s3").rglob("*") if p.is_file())
    assert email.encode() not in stored

    (certificate_file,) = project.paths.certificates("erasure").glob("*.json")
    certificate = json.loads(certificate_file.read_text())
    certified = {t["target"]: t for t in certificate["targets"]}
    assert certified["tickets.body"]["verified"] and certified["tickets.body"]["count"] == named_in
    assert name not in json.dumps(certificate) and email not in json.dumps(certificate)
