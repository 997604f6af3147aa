"""Erasing one subject from a Delta table beside a plain Delta DELETE, on two copies of one table.

- baseline: `DeltaTable.delete` — the rows are gone from the current version only (time travel
  and the log's statistics still hold them);
- ours: `delta.erase_rows` (delete, remove the data files that held the subject, drop log commits
  that name it) and then `delta.verify_erased` (every retained version, every data file, the log).

    python benchmarks/delta_erasure.py [--rows N] [--batches B]
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from pathlib import Path

import pyarrow as pa
from deltalake import DeltaTable, write_deltalake

from dataflow_governance.storage.delta import erase_rows, verify_erased


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--batches", type=int, default=10, help="appends, so the table has that many versions")
    args = parser.parse_args()
    per = args.rows // args.batches
    with tempfile.TemporaryDirectory() as tmp:
        plain, ours = Path(tmp) / "plain", Path(tmp) / "ours"
        for b in range(args.batches):
            ids = pa.array(range(b * per, (b + 1) * per), pa.int64())
            emails = pa.array([f"user{i}@example.com" for i in range(b * per, (b + 1) * per)])
            write_deltalake(str(plain), pa.table({"user_id": ids, "email": emails}), mode="append")
        shutil.copytree(plain, ours)
        subject = str(per * (args.batches // 2) + 7)  # in the middle batch

        start = time.perf_counter()
        DeltaTable(str(plain)).delete(f'"user_id" = {subject}')
        plain_s = time.perf_counter() - start

        start = time.perf_counter()
        done = erase_rows(ours, "user_id", subject, [f"user{subject}@example.com"])
        erase_s = time.perf_counter() - start
        start = time.perf_counter()
        check = verify_erased(ours, "user_id", subject, [f"user{subject}@example.com"])
        verify_s = time.perf_counter() - start
    print(f"{args.rows:,} rows in {args.batches} versions; erasing one subject")
    print(f"  plain DELETE (time travel and log still hold it):   {plain_s:.3f} s  <- baseline")
    print(f"  erase_rows (delete, files, log):                     {erase_s:.3f} s  ({len(done.files_removed)} file(s) "
          f"removed, log truncated before version {done.log_truncated_before})")
    print(f"  verify_erased (every version, file and log entry):   {verify_s:.3f} s  (clean: {check.clean})")
    print(f"  ratio erase {erase_s / plain_s:.2f}x, erase + verify {(erase_s + verify_s) / plain_s:.2f}x")


if __name__ == "__main__":
    main()
