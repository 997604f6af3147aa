"""Dataset digest: the full-content digest of a 1M-row training set beside raw SHA-256 of its Parquet.

Builds a ticket-like dataset (id, 32-hex pseudonym, free text, word count, label, timestamp),
writes it as the snapshot is written (pyarrow's default Parquet), and prints, measured in the same
run, median of --repeat:
  - `table_digest(table)`: SHA-256 over the canonical serialization of every row (in memory);
  - `read + table_digest`: the same from the Parquet bytes, as verifying a snapshot does;
  - the baseline: `hashlib.sha256(parquet_bytes).hexdigest()` — hashing the file, which proves
    the bytes but not the rows (Parquet bytes change with writer version and options);
  - the ratios to the baseline.

    python benchmarks/dataset_digest.py [--rows N] [--repeat R]
"""

from __future__ import annotations

import argparse
import hashlib
import io

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from dataflow_governance.ml.datasets import parquet_bytes
from dataflow_governance.ml.digest import table_digest
from lineage import timed  # this folder's timing helper (median of repeats)

WORDS = ["refund", "order", "late", "parcel", "login", "email", "charged", "twice", "wrong", "item", "delivered",
         "account", "password", "invoice", "address", "[email]", "[phone]", "please", "help", "since", "yesterday"]


def dataset(rows: int) -> pa.Table:
    rng = np.random.default_rng(20260101)
    words = np.array(WORDS)
    lengths = rng.integers(4, 16, rows)
    picks = words[rng.integers(0, len(words), int(lengths.sum()))]
    bounds = np.concatenate([[0], np.cumsum(lengths)])
    text = [" ".join(picks[bounds[i]:bounds[i + 1]]) for i in range(rows)]
    return pa.table({
        "ticket_id": pa.array(np.arange(5000, 5000 + rows, dtype=np.int64)),
        "user_pseudo_id": pa.array([f"{a:016x}{b:016x}" for a, b in rng.integers(0, 2**63, (rows, 2))]),
        "text": pa.array(text),
        "n_words": pa.array(lengths.astype(np.int64)),
        "label": pa.array(rng.choice(["billing", "delivery", "account"], rows)),
        "created_at": pa.array((np.datetime64("2026-01-01") + rng.integers(0, 10**8, rows).astype("timedelta64[s]"))
                               .astype("datetime64[us]")),
    })


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    table = dataset(args.rows)
    body = parquet_bytes(table)
    assert table_digest(pq.read_table(io.BytesIO(body))) == table_digest(table)

    digest_s = timed(lambda: table_digest(table), args.repeat)
    verify_s = timed(lambda: table_digest(pq.read_table(io.BytesIO(body))), args.repeat)
    raw_s = timed(lambda: hashlib.sha256(body).hexdigest(), args.repeat)

    print(f"rows: {args.rows:,}; Parquet snapshot: {len(body) / 1e6:.1f} MB; in memory: {table.nbytes / 1e6:.1f} MB")
    print(f"table_digest (full content)       {digest_s * 1000:8.1f} ms")
    print(f"read Parquet + table_digest        {verify_s * 1000:8.1f} ms")
    print(f"baseline sha256(Parquet bytes)     {raw_s * 1000:8.1f} ms")
    print(f"ratio digest / baseline            {digest_s / raw_s:8.2f}x   (goal: within 2x)")
    print(f"ratio read+digest / baseline       {verify_s / raw_s:8.2f}x")


if __name__ == "__main__":
    main()
