"""A generated governance catalog of a large platform, for the lineage browser's benchmarks.

    python benchmarks/browse_catalog.py OUT.json [--assets 1000] [--columns 20]

A tenth of the assets are declared sources (some personal columns); every other asset is SQL that
joins one or two earlier assets and copies, hashes, aggregates or windows their columns, so the
column graph has every edge kind. Seeded: the same arguments give the same catalog.
"""

from __future__ import annotations

import argparse
import random
import time
from pathlib import Path

from dataflow_governance.catalog import artifact
from dataflow_governance.lineage.graph import SqlDefinition
from dataflow_governance.model.spec import build_governance

CATEGORIES = ["user.contact.email", "user.name", "user.contact.address.city", "user.financial.bank_account",
              "user.health_and_medical", None, None, None, None]


def generate(path: Path, assets: int = 1000, columns: int = 20, seed: int = 7) -> artifact.Catalog:
    rng = random.Random(seed)
    sources = max(1, assets // 10)
    governance, sql, upstream = {}, [], {}
    names = [f"c{j:02d}" for j in range(columns)]
    for i in range(sources):
        key = f"source_{i:04d}"
        cols = {"id": {"type": "int", "categories": ["user.unique_id"], "identity": True}}
        for name in names[1:]:
            category = rng.choice(CATEGORIES)
            cols[name] = {"type": "varchar", **({"categories": [category]} if category else {})}
        governance[key] = build_governance(key, {"legal_basis": "contract", "art9_condition": "health_or_social_care",
                                                 "region": rng.choice(["eu-central-1", "us-east-1"]),
                                                 "columns": cols})
        upstream[key] = frozenset()
    built = [f"source_{i:04d}" for i in range(sources)]
    for i in range(sources, assets):
        key = f"model_{i:04d}"
        left, right = rng.choice(built[-200:]), rng.choice(built)
        select = ["l.id AS id"]
        for name in names[1:]:
            form = rng.random()
            if form < 0.6:
                select.append(f"l.{name} AS {name}")
            elif form < 0.75:
                select.append(f"sha256(r.{name}) AS {name}")
            elif form < 0.9:
                select.append(f"CASE WHEN r.{name} IS NULL THEN l.{name} ELSE r.{name} END AS {name}")
            else:
                select.append(f"row_number() OVER (PARTITION BY l.{name} ORDER BY r.id) AS {name}")
        text = f"SELECT {', '.join(select)} FROM {left} l JOIN {right} r ON l.id = r.id WHERE r.c01 IS NOT NULL"
        sql.append(SqlDefinition(key, text))
        governance[key] = build_governance(key, {"legal_basis": "contract", "processors": []})
        upstream[key] = frozenset({left, right})
        built.append(key)
    origin = artifact.Origin(project="generated", root=path.parent)
    catalog = artifact.build(origin, governance, upstream, sql)
    artifact.write(catalog, path)
    return catalog


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("out", type=Path)
    parser.add_argument("--assets", type=int, default=1000)
    parser.add_argument("--columns", type=int, default=20)
    args = parser.parse_args()
    started = time.perf_counter()
    catalog = generate(args.out, args.assets, args.columns)
    count = sum(len(c) for c in (catalog.graph.columns_of(a) for a in catalog.governance))
    print(f"{len(catalog.governance)} assets, {count} columns, {len(catalog.graph.errors)} untraced "
          f"→ {args.out} in {time.perf_counter() - started:.1f} s")


if __name__ == "__main__":
    main()
