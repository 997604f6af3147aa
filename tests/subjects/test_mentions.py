"""A subject named in other rows' text, found and redacted in the warehouse itself: on word bounds,
without regard to case or to how a phone number is spaced, on every engine."""

import pytest

from conftest import ENGINES, make_warehouse
from dataflow_governance.subjects import mentions

ROWS = [
    (1, "My neighbour Maria Gonzalez (maria.g@example.org) took the parcel in"),
    (2, "maria  gonzalez called again; MARIA.G@EXAMPLE.ORG bounced"),  # other case, two spaces
    (3, "Joann Leeds and Mariam Gonzalezova are other people"),  # no bound: not her
    (4, "Call her on +49 (30) 1234-5678 or +4930 12345678"),  # her phone, spaced two ways
    (5, "Maria GonzalezMaria Gonzalez"),  # no bound between the two: not her
    (6, "Maria Gonzalez,Maria Gonzalez"),  # two mentions side by side, sharing a bound
    (7, None),
]
IDENTIFIERS = ["Maria Gonzalez", "maria.g@example.org", "+49 30 12345678"]


@pytest.mark.parametrize("engine", ENGINES)
def test_mentions_are_redacted_in_place_and_nothing_else(engine, request, tmp_path):
    warehouse = make_warehouse(engine, request, tmp_path)
    import pandas as pd

    warehouse.replace_table("notes", pd.DataFrame(ROWS, columns=["note_id", "body"]))
    matcher = mentions.PlainMatcher(IDENTIFIERS)
    assert mentions.count_mentions(warehouse, "notes", "body", matcher) == 4
    assert mentions.redact_mentions(warehouse, "notes", "body", matcher) == 4
    assert mentions.count_mentions(warehouse, "notes", "body", matcher) == 0
    after = dict(warehouse.fetch("SELECT note_id, body FROM notes ORDER BY note_id"))
    assert after[1] == "My neighbour [erased] ([erased]) took the parcel in"
    assert after[2] == "[erased] called again; [erased] bounced"
    assert after[3] == ROWS[2][1] and after[5] == ROWS[4][1]  # other people's words untouched
    assert after[4] == "Call her on [erased] or [erased]"
    assert after[6] == "[erased],[erased]"
    assert len(after) == len(ROWS)  # the rows stay


def test_short_values_are_not_identifiers(tmp_path, request):
    """An initial or a two-letter name would match other words: never used to redact."""
    warehouse = make_warehouse("duckdb", request, tmp_path)
    import pandas as pd

    warehouse.replace_table("people", pd.DataFrame([(1, "Li", "li@x.io", "Li Wu")], columns=["id", "name", "email", "full"]))
    assert mentions.subject_identifiers(warehouse, "people", "id", ["name", "email", "full"], "1") == ["Li Wu", "li@x.io"]
    assert mentions.subject_identifiers(warehouse, "people", "id", ["name"], "2") == []  # no such row


@pytest.mark.parametrize("engine", ["duckdb", "postgres"])
def test_after_the_identity_row_is_gone_the_keyed_hashes_still_find_them(engine, request, tmp_path):
    """A rerun: the identifiers are erased, the request's fingerprints remain; the same rows are
    found, redacted and verified — and the fingerprints hold no identifier."""
    warehouse = make_warehouse(engine, request, tmp_path)
    import pandas as pd

    warehouse.replace_table("notes", pd.DataFrame(ROWS, columns=["note_id", "body"]))
    key = b"k" * 32
    prints = mentions.fingerprints(IDENTIFIERS, key)
    assert not any(v.lower() in str(prints).lower() for v in IDENTIFIERS)
    keyed = mentions.KeyedMatcher(prints, key)
    assert mentions.count_mentions(warehouse, "notes", "body", keyed) == 4  # as the pattern found
    assert mentions.redact_mentions(warehouse, "notes", "body", keyed) == 4
    assert mentions.count_mentions(warehouse, "notes", "body", keyed) == 0
    assert mentions.count_mentions(warehouse, "notes", "body", mentions.PlainMatcher(IDENTIFIERS)) == 0
    after = dict(warehouse.fetch("SELECT note_id, body FROM notes ORDER BY note_id"))
    assert after[1] == "My neighbour [erased] ([erased]) took the parcel in"
    assert after[3] == ROWS[2][1]


def test_text_objects_and_json_fields_in_s3_are_redacted_in_place(tmp_path):
    import json

    from dataflow_governance.local import s3 as local_s3
    from dataflow_governance.storage.object_text import count_mentions, redact_mentions
    from dataflow_governance.model.manifest import BucketConfig
    from dataflow_governance.storage.objectstore import ObjectStore, ensure_buckets, put_object

    endpoint = local_s3.ensure_running(tmp_path)
    try:
        store = ObjectStore(endpoint.url, "eu-central-1", local=True)
        ensure_buckets(store, {"notes-bucket": BucketConfig(region="eu-central-1", versioned=True)})
        put_object(store, "notes-bucket", "notes/1.txt", b"Call Maria Gonzalez tomorrow")
        put_object(store, "notes-bucket", "notes/2.txt", b"nothing about her")
        records = [{"id": 1, "comment": "maria.g@example.org wrote", "name": "Maria Gonzalez"}, {"id": 2, "comment": "other"}]
        put_object(store, "notes-bucket", "notes/3.jsonl", "".join(json.dumps(r) + "\n" for r in records).encode())
        put_object(store, "notes-bucket", "notes/4.parquet", b"PAR1")
        redact = mentions.PlainMatcher(IDENTIFIERS).redact
        before = count_mentions(store, "notes-bucket", "notes/", ("comment",), redact)
        assert before.count == 2 and before.unsearched == ["notes/4.parquet (a format whose text the project cannot rewrite)"]
        done = redact_mentions(store, "notes-bucket", "notes/", ("comment",), redact)
        assert done.count == 4  # two records rewritten, and the two earlier versions that named her purged
        client = store.client()
        assert client.get_object(Bucket="notes-bucket", Key="notes/1.txt")["Body"].read() == b"Call [erased] tomorrow"
        lines = client.get_object(Bucket="notes-bucket", Key="notes/3.jsonl")["Body"].read().decode().splitlines()
        assert json.loads(lines[0]) == {"id": 1, "comment": "[erased] wrote", "name": "Maria Gonzalez"}  # only the declared field
        assert lines[1] == json.dumps(records[1])  # other records byte for byte
        versions = client.list_object_versions(Bucket="notes-bucket", Prefix="notes/1.txt")["Versions"]
        assert len(versions) == 1  # the version that named her is purged
        assert count_mentions(store, "notes-bucket", "notes/", ("comment",), redact).count == 0
    finally:
        local_s3.stop(tmp_path)
