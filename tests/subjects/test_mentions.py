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
    regex = mentions.pattern(IDENTIFIERS)
    assert mentions.count_mentions(warehouse, "notes", "body", regex) == 4
    assert mentions.redact_mentions(warehouse, "notes", "body", regex) == 4
    assert mentions.count_mentions(warehouse, "notes", "body", regex) == 0
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
