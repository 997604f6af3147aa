"""The full-content dataset digest: the documented serialization, and what changes it (and what does not)."""

from __future__ import annotations

import hashlib
import io
import json
import math
import struct

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from dataflow_governance.ml.digest import table_digest


def independent_digest(columns: dict[str, tuple[str, list]]) -> str:
    """The serialization as the docstring documents it, row by row in plain Python (no Arrow)."""
    rows = len(next(iter(columns.values()))[1])
    sha = hashlib.sha256(b"dfg-dataset-v1\n")
    sha.update(json.dumps([[n, t] for n, (t, _) in columns.items()], separators=(",", ":")).encode() + b"\n")
    sha.update(struct.pack("<q", rows))
    for kind, values in columns.values():
        col = hashlib.sha256()
        nulls = sum(v is None for v in values)
        col.update(struct.pack("<q", nulls))
        if nulls:
            bits = bytearray((rows + 7) // 8)
            for i, v in enumerate(values):
                if v is not None:
                    bits[i // 8] |= 1 << (i % 8)
            col.update(bytes(bits))
        if kind == "large_string":
            encoded = [(v or "").encode() for v in values]
            col.update(b"".join(struct.pack("<I", len(e)) for e in encoded) + b"".join(encoded))
        elif kind == "int64":
            col.update(b"".join(struct.pack("<q", v or 0) for v in values))
        elif kind == "double":
            col.update(b"".join(struct.pack("<d", math.nan if v is not None and math.isnan(v) else (v or 0.0) + 0.0)
                                for v in values))
        sha.update(col.digest())
    return "sha256:" + sha.hexdigest()


def test_matches_the_documented_serialization():
    columns = {"id": ("int64", [3, None, 1]), "text": ("large_string", ["héllo", None, ""]),
               "score": ("double", [0.5, -0.0, float("nan")])}
    table = pa.table({"id": pa.array([3, None, 1], pa.int64()), "text": pa.array(["héllo", None, ""]),
                      "score": pa.array([0.5, -0.0, float("nan")])})
    assert table_digest(table) == independent_digest(columns)


def test_same_rows_same_digest_whatever_the_physical_layout():
    narrow = pa.table({"id": pa.array([1, 2, 3], pa.int32()), "s": pa.array(["a", "b", "c"], pa.string())})
    wide = pa.table({"id": pa.array([1, 2, 3], pa.int64()), "s": pa.array(["a", "b", "c"], pa.large_string())})
    chunked = pa.concat_tables([wide.slice(0, 1), wide.slice(1)])
    sliced = pa.table({"id": [0, 1, 2, 3], "s": ["z", "a", "b", "c"]}).slice(1)
    dictionary = pa.table({"id": pa.array([1, 2, 3]), "s": pa.array(["a", "b", "c"]).dictionary_encode()})
    buffer = io.BytesIO()
    pq.write_table(wide, buffer, compression="zstd")
    reread = pq.read_table(io.BytesIO(buffer.getvalue()))
    digests = {table_digest(t) for t in (narrow, wide, chunked, sliced, dictionary, reread)}
    assert len(digests) == 1


@pytest.mark.parametrize("changed", [
    pa.table({"id": [1, 2, 4], "s": ["a", "b", "c"]}),          # one value
    pa.table({"id": [2, 1, 3], "s": ["b", "a", "c"]}),          # row order
    pa.table({"id": [1, 2, 3], "s": ["a", "b", None]}),         # a null is not a value
    pa.table({"id": [1, 2, 3], "s": ["a", "bc", ""]}),          # value boundaries
    pa.table({"id": [1, 2, 3], "t": ["a", "b", "c"]}),          # a column name
    pa.table({"id": [1, 2], "s": ["a", "b"]}),                  # a row fewer
])
def test_any_change_of_content_changes_the_digest(changed):
    assert table_digest(changed) != table_digest(pa.table({"id": [1, 2, 3], "s": ["a", "b", "c"]}))


def test_null_and_empty_string_differ():
    assert table_digest(pa.table({"s": pa.array(["", "x"])})) != table_digest(pa.table({"s": pa.array([None, "x"])}))


def test_timestamps_are_never_rounded():
    coarse = pa.table({"t": pa.array([1_000, 2_000], pa.timestamp("ns"))})
    assert table_digest(coarse) == table_digest(pa.table({"t": pa.array([1, 2], pa.timestamp("us"))}))
    with pytest.raises(ValueError, match="losslessly"):
        table_digest(pa.table({"t": pa.array([1_001], pa.timestamp("ns"))}))
