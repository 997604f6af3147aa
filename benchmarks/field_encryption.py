"""Field-level encryption with per-subject keys beside raw AES-GCM with one key, in the same run;
and shredding one subject beside rewriting the log without them.

- ours: `encrypt_frame` then `decrypt_frame` of one column of N values for S subjects: keys made
  (first run) or looked up once per batch, each value sealed with its subject's key into a
  self-describing token, decryption ledgered;
- baseline: the same values encrypted and decrypted with `AESGCM` and one key, nonce per value,
  nothing else (no key lookup, no token, no ledger);
- one key, same tokens: `encrypt_frame`/`decrypt_frame` with every row of one subject — the token
  format and the ledger without the per-subject keys, to show what the keys themselves cost.
- shredding: `DataKeyStore.shred` of one subject (a key row) beside rewriting an N-event JSON-lines log
  without that subject's events (what deletion from an immutable log would have to do).

    python benchmarks/field_encryption.py [--values N] [--subjects S] [--repeat R]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time
from pathlib import Path

import pandas as pd
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from dataflow_governance import Warehouse
from dataflow_governance.crypto import DataKeyStore, LocalKek, keyring_for
from dataflow_governance.crypto.fields import decrypt_frame, encrypt_frame


def raw_aes(values: list[str]) -> float:
    cipher, aad = AESGCM(AESGCM.generate_key(bit_length=256)), b"orders\x1femail"
    start = time.perf_counter()
    sealed = []
    for value in values:
        nonce = os.urandom(12)
        sealed.append(nonce + cipher.encrypt(nonce, value.encode(), aad))
    opened = [cipher.decrypt(s[:12], s[12:], aad).decode() for s in sealed]
    elapsed = time.perf_counter() - start
    assert opened == values
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--values", type=int, default=1_000_000)
    parser.add_argument("--subjects", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    frame = pd.DataFrame({"customer_id": [i % args.subjects for i in range(args.values)],
                          "email": [f"customer{i % args.subjects}@example.com" for i in range(args.values)]})
    values = frame["email"].tolist()
    with tempfile.TemporaryDirectory() as tmp:
        warehouse = Warehouse("duckdb", path=str(Path(tmp) / "bench.duckdb"))
        keyring = keyring_for(Path(tmp), warehouse)
        store = DataKeyStore(warehouse, LocalKek(Path(tmp), keyring.book), keyring)
        start = time.perf_counter()
        encrypt_frame(frame.head(1), "orders", ["email"], "customer_id", store)
        store.keys_for([store.subject_owner(s) for s in range(args.subjects)], create=True)
        made = time.perf_counter() - start
        ours_s, base_s, one_s = [], [], []
        single = frame.assign(customer_id=0)
        for _ in range(args.repeat):
            fresh = DataKeyStore(store.warehouse, LocalKek(Path(tmp), keyring.book), keyring)  # keys unwrapped anew each run
            start = time.perf_counter()
            sealed = encrypt_frame(frame, "orders", ["email"], "customer_id", fresh)
            opened = decrypt_frame(sealed, "orders", ["email"], fresh, actor="benchmark", purpose="benchmark")
            ours_s.append(time.perf_counter() - start)
            assert opened["email"].tolist() == values
            base_s.append(raw_aes(values))
            start = time.perf_counter()
            decrypt_frame(encrypt_frame(single, "orders", ["email"], "customer_id", fresh), "orders", ["email"], fresh,
                          actor="benchmark", purpose="benchmark")
            one_s.append(time.perf_counter() - start)

        log = Path(tmp) / "events.jsonl"
        log.write_text("".join(json.dumps({"event": "OrderPlaced", "customer_id": token, "n": i}) + "\n"
                               for i, token in enumerate(sealed["customer_id"].astype(str))))
        start = time.perf_counter()
        store.shred(store.subject_owner(7))
        shred_s = time.perf_counter() - start
        start = time.perf_counter()
        kept = [line for line in log.read_text().splitlines() if json.loads(line)["n"] % args.subjects != 7]
        log.with_suffix(".new").write_text("\n".join(kept) + "\n")
        rewrite_s = time.perf_counter() - start

    ours, base, one = statistics.median(ours_s), statistics.median(base_s), statistics.median(one_s)
    print(f"{args.values:,} values of one column, {args.subjects:,} subjects; median of {args.repeat} "
          f"(keys made once beforehand in {made:.2f} s)")
    print(f"  raw AES-GCM, one key, encrypt + decrypt:                {base:.3f} s  <- baseline")
    print(f"  per-subject keys, tokens, ledgered decrypt (ours):      {ours:.3f} s")
    print(f"  one key, the same tokens and ledger:                    {one:.3f} s")
    print(f"  ratio {ours / base:.2f}x (goal <= 1.5x); per-subject keys beside one key with the same tokens: "
          f"{ours / one:.2f}x")
    print(f"shredding one subject of a {args.values:,}-event log: {shred_s * 1000:.1f} ms (one key row) beside "
          f"{rewrite_s * 1000:.0f} ms to rewrite the log without them ({rewrite_s / shred_s:.0f}x)")


if __name__ == "__main__":
    main()
