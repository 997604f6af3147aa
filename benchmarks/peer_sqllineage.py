"""Run sqllineage's own column-lineage tests against this project's lineage, and count exact cases.

    python benchmarks/peer_sqllineage.py PATH/TO/sqllineage-checkout [--show failed|all]

The peer's test modules (`tests/sql/column/**`) are imported from the checkout as they are; only
their helper module is replaced by an adapter that computes this project's lineage for each
`assert_column_lineage_equal(sql, expected, dialect=…, metadata_provider=…)` call and compares it
with the expected (source column, target column) pairs. Nothing of the peer is copied here, and
the peer's package need not be installed: the two names its tests import from it are stood in for.

Convention mapping (see the README, "Column lineage conventions"): a pair source → target exists
where the source is a direct source of the target column, or an indirect `window` or
`conditional` one (sqllineage counts window PARTITION/ORDER and CASE tests as sources); `join`,
`filter`, `group_by` and `sort` influences are not pairs there. A `*` source is `table.*`.
Unaliased expressions are compared by their normalized SQL text, as sqllineage names them.
"""

from __future__ import annotations

import argparse
import ast
import importlib
import inspect
import itertools
import os
import sys
import traceback
import types
from collections import namedtuple
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import logging  # noqa: E402

import sqlglot  # noqa: E402

logging.getLogger("sqlglot").setLevel(logging.ERROR)  # "falling back to parsing as a Command" is counted, not printed

from dataflow_governance.lineage.sql import LineageError  # noqa: E402
from dataflow_governance.lineage.scripts import script_lineage  # noqa: E402

# sqlfluff dialect names the peer's tests use → sqlglot's.
DIALECTS = {"ansi": None, "non-validating": None, "sparksql": "spark", "hive": "hive", "tsql": "tsql",
            "mysql": "mysql", "postgres": "postgres", "snowflake": "snowflake", "bigquery": "bigquery",
            "redshift": "redshift", "databricks": "databricks", "athena": "athena", "teradata": "teradata",
            "oracle": "oracle", "exasol": "exasol", "greenplum": "postgres", "mssql": "tsql", "sqlite": "sqlite",
            "duckdb": "duckdb", "trino": "trino", "impala": "hive", "vertica": "postgres", "db2": None}
INDIRECT_AS_SOURCE = {"window", "conditional"}

ColumnQualifierTuple = namedtuple("ColumnQualifierTuple", ["column", "qualifier"])


class MetaDataProvider:
    """Stands in for the peer's metadata provider: a schema, `schema.table` → column names."""

    def __init__(self, schemas: dict | None = None):
        self.schemas = dict(schemas or {})

    def as_mapping(self) -> dict:
        nested: dict = {}
        for table, columns in self.schemas.items():
            *db, name = table.split(".")
            node = nested
            for part in db:
                node = node.setdefault(part, {})
            node[name] = {column: "text" for column in columns}
        return nested


class Results:
    def __init__(self):
        self.cases: list[dict] = []
        self.current = ""


RESULTS = Results()


def _norm_name(name: str) -> str:
    """A column name, or an unaliased expression's SQL text, in one comparable spelling."""
    text = name.strip()
    if text.replace("_", "").isalnum() or text == "*":
        return text.lower()
    try:
        return sqlglot.parse_one(text).sql().lower()
    except sqlglot.errors.SqlglotError:
        return text.lower()


def _norm_table(name: str | None) -> str | None:
    return name.lower().strip('"`[]') if name else None


def _sources(column, counted: set[str]) -> list[tuple]:
    return ([(d.table, d.column) for d in column.direct]
            + [(i.table, i.column) for i in column.indirect if i.kind in counted]
            + [(None, a.column) for a in column.ambiguous])


def our_pairs(sql: str, dialect: str | None, schema: dict | None) -> set[tuple]:
    """sqllineage reports a script's paths end to end (first node → last node): each column written
    and not read again, with its sources composed through the columns written before it."""
    script = script_lineage(sql, schema, dialect)

    def counted(statement) -> set[str]:
        # MERGE … WHEN <condition>: sqllineage does not count WHEN conditions as sources.
        return INDIRECT_AS_SOURCE - ({"conditional"} if statement.kind == "merge" else set())

    read = {source for s in script.statements for column in s.columns.values()
            for source in _sources(column, counted(s)) if source[0] != s.target}
    pairs = set()
    for statement in script.statements:
        if not statement.target:
            continue
        composed = script.end_to_end.get(statement.target, {})
        for name, column in statement.columns.items():
            if (statement.target, name) in read:
                continue  # an intermediate column: its path goes on
            for table, source_column in _sources(composed.get(name, column), counted(statement)):
                pairs.add(((_norm_name(source_column), _norm_table(table)),
                           (_norm_name(name), _norm_table(statement.target))))
    return pairs


def assert_column_lineage_equal(sql, column_lineages=None, dialect="ansi", metadata_provider=None,
                                test_sqlfluff=True, test_sqlparse=True):
    expected = {((_norm_name(s.column), _norm_table(s.qualifier)), (_norm_name(t.column), _norm_table(t.qualifier)))
                for s, t in (column_lineages or [])}
    schema = metadata_provider.as_mapping() if metadata_provider and metadata_provider.schemas else None
    case = {"test": RESULTS.current, "sql": sql, "dialect": dialect}
    try:
        actual = our_pairs(sql, DIALECTS.get(dialect, dialect), schema)
    except LineageError as exc:
        case.update(outcome="error", detail=str(exc))
    except Exception as exc:  # noqa: BLE001 - a crash is what this runner counts
        case.update(outcome="crash", detail=f"{type(exc).__name__}: {exc}\n{traceback.format_exc(limit=3)}")
    else:
        missing, extra = expected - actual, actual - expected
        case.update(outcome="exact" if not missing and not extra else "differs",
                    detail=f"missing {sorted(missing, key=str)}\n    extra {sorted(extra, key=str)}")
    RESULTS.cases.append(case)


def assert_table_lineage_equal(*_args, **_kwargs):
    """Table lineage is not what this runner measures."""


def _install_stand_ins(checkout: Path) -> MetaDataProvider:
    package = types.ModuleType("sqllineage")
    package.SQLPARSE_DIALECT = "non-validating"
    package.__path__ = []
    entities = types.ModuleType("sqllineage.utils.entities")
    entities.ColumnQualifierTuple = ColumnQualifierTuple
    provider_module = types.ModuleType("sqllineage.core.metadata_provider")
    provider_module.MetaDataProvider = MetaDataProvider
    for name, module in {"sqllineage": package, "sqllineage.utils": types.ModuleType("sqllineage.utils"),
                         "sqllineage.utils.entities": entities, "sqllineage.core": types.ModuleType("sqllineage.core"),
                         "sqllineage.core.metadata_provider": provider_module}.items():
        sys.modules[name] = module
    helpers = types.ModuleType("tests.helpers")
    helpers.assert_column_lineage_equal = assert_column_lineage_equal
    helpers.assert_table_lineage_equal = assert_table_lineage_equal
    helpers.generate_metadata_providers = lambda schemas: [MetaDataProvider(schemas)]
    sys.modules["tests.helpers"] = helpers
    sys.path.insert(0, str(checkout))
    # The schema the peer's `provider` fixture serves, read from its conftest without running it.
    tree = ast.parse((checkout / "tests" / "conftest.py").read_text())
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(getattr(t, "id", "") == "_data_warehouse_schemas" for t in node.targets):
            return MetaDataProvider(ast.literal_eval(node.value))
    return MetaDataProvider()


def _calls(function, provider: MetaDataProvider):
    """Every argument set pytest would call the test with (parametrize marks, the provider fixture)."""
    marks = [m for m in getattr(function, "pytestmark", []) if m.name == "parametrize"]
    grids = []
    for mark in marks:
        names, values = mark.args[0], mark.args[1]
        names = [n.strip() for n in names.split(",")] if isinstance(names, str) else list(names)
        grids.append([dict(zip(names, v if len(names) > 1 else (v,))) for v in values])
    for combo in itertools.product(*grids) if grids else [()]:
        kwargs = {k: v for part in combo for k, v in part.items()}
        if "provider" in inspect.signature(function).parameters and "provider" not in kwargs:
            kwargs["provider"] = provider
        yield kwargs


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("checkout", type=Path, help="a checkout of the sqllineage repository")
    parser.add_argument("--show", choices=["failed", "all", "none"], default="failed")
    args = parser.parse_args()
    provider = _install_stand_ins(args.checkout.resolve())
    folder = args.checkout / "tests" / "sql" / "column"
    for path in sorted(folder.rglob("test_*.py")):
        module_name = ".".join(path.relative_to(args.checkout).with_suffix("").parts)
        module = importlib.import_module(module_name)
        for name, function in inspect.getmembers(module, inspect.isfunction):
            if not name.startswith("test_") or function.__module__ != module.__name__:
                continue
            for kwargs in _calls(function, provider):
                RESULTS.current = f"{path.relative_to(folder)}::{name}" + (
                    f"[{','.join(str(v) for k, v in kwargs.items() if k != 'provider')}]" if len(kwargs) > ("provider" in kwargs) else "")
                environ = dict(os.environ)
                try:
                    function(**kwargs)
                except Exception as exc:  # noqa: BLE001 - the test body itself failed outside an assertion
                    RESULTS.cases.append({"test": RESULTS.current, "sql": "", "dialect": "", "outcome": "crash",
                                          "detail": f"{type(exc).__name__}: {exc}"})
                finally:
                    os.environ.clear()
                    os.environ.update(environ)
    cases = RESULTS.cases
    counts = {o: sum(c["outcome"] == o for c in cases) for o in ("exact", "differs", "error", "crash")}
    for case in cases:
        if args.show == "all" or (args.show == "failed" and case["outcome"] != "exact"):
            print(f"--- {case['outcome'].upper()} {case['test']} ({case['dialect']})\n{case['sql'].strip()}\n    {case['detail']}")
    print(f"sqllineage column-lineage cases: {len(cases)}; exact {counts['exact']} "
          f"({100 * counts['exact'] / max(len(cases), 1):.0f}%), differ {counts['differs']}, "
          f"clear error {counts['error']}, crash {counts['crash']}")


if __name__ == "__main__":
    main()
