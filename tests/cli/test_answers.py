"""Answers a user can read, on the README's own quick-start project: an access export with its
records and dates, in text and as a file; an erased subject answered as erased; a queued erasure
that says it erased nothing yet; an S3 scan's proposals from `dfg init --scan`."""

import csv
import io
import json

import pytest

from conftest import quick_start_project, run_dfg


@pytest.fixture(scope="module")
def shop(tmp_path_factory):
    manifest = quick_start_project(tmp_path_factory.mktemp("answers"))
    code, out, err = run_dfg("materialize", project=manifest)
    assert code == 0, out + err[-3000:]
    yield manifest
    run_dfg("local", "stop", project=manifest)


def test_access_prints_the_records_with_dates_as_dates(shop):
    code, out, err = run_dfg("access", "--subject-id", "3", project=shop)
    assert code == 0, err
    assert "customers: 1 record(s)" in out and "alan@example.org" in out
    assert "signed_up_at  2026-03-20" in out and "T00:00:00" not in out


def test_access_writes_json_and_csv(shop, tmp_path):
    assert run_dfg("access", "--subject-id", "3", "--out", str(tmp_path / "a.json"), project=shop)[0] == 0
    export = json.loads((tmp_path / "a.json").read_text())
    assert export["assets"]["customers"]["records"] == [
        {"customer_id": 3, "email": "alan@example.org", "country": "DE", "signed_up_at": "2026-03-20"}]
    assert run_dfg("access", "--subject-id", "3", "--out", str(tmp_path / "a.csv"), project=shop)[0] == 0
    rows = list(csv.DictReader(io.StringIO((tmp_path / "a.csv").read_text())))
    assert {"asset": "customers", "record": "1", "field": "email", "value": "alan@example.org"} in rows
    code, _out, err = run_dfg("access", "--subject-id", "3", "--out", str(tmp_path / "a.txt"), project=shop)
    assert code == 2 and ".json or a .csv" in err and not (tmp_path / "a.txt").exists()


def test_an_erasure_without_now_says_it_erased_nothing_yet_and_an_erased_subject_is_no_unknown(shop):
    code, out, err = run_dfg("erase", "--subject-id", "1", project=shop)
    assert code == 0, err
    assert "QUEUED, NOTHING ERASED YET" in out and "add --now" in out and "ada@example.org" not in out
    code, out, _ = run_dfg("access", "--subject-id", "1", project=shop)
    assert code == 0 and "ada@example.org" in out  # still held: the request is only queued
    assert run_dfg("erase", "--subject-id", "1", "--now", project=shop)[0] == 0
    code, out, err = run_dfg("access", "--subject-id", "1", project=shop)
    assert code == 0, err
    assert "erased on 20" in out and "certificate:" in out and "unknown" not in out and "ada@" not in out
    code, out, err = run_dfg("access", "--subject-id", "1", "--json", project=shop)
    erased = json.loads(out)["erased"]
    assert erased["status"] == "verified" and erased["certificate"].endswith(".json")
    assert run_dfg("access", "--subject-id", "404", project=shop)[0] == 2  # never there: still unknown


def test_init_scan_proposes_from_s3_prefixes(shop):
    code, out, err = run_dfg("init", "--scan", "--s3", "s3://shop-exports-eu/", "--dry-run", "--json", project=shop)
    assert code == 0, err
    report = json.loads(out)
    [prefix] = report["scan"]["s3"]
    assert prefix["table"] == "s3://shop-exports-eu/contacts/"
    email = prefix["columns"]["email"]["proposals"][0]
    assert email["category"] == "user.contact.email" and email["level"] == "proposed"
    assert "grace@example.org" not in out and "g***@e***.org" in out
    assert {"path": "dagster_project.yaml", "status": "exists"}.items() <= report["files"][0].items()
    code, _out, err = run_dfg("init", "--scan", "--s3", "s3://no-such-bucket-here/", "--dry-run", project=shop)
    assert code == 2 and "no-such-bucket-here" in err and "Traceback" not in err
