"""`dataflow-governance` / `dfg`: every governance answer from the command line, text or --json.

Exit codes: 0 all good; 1 something was found or failed (an error-level finding, a failed
check); 2 the input could not be used (bad manifest, unknown taxonomy key, unreachable service).

The parser and exit codes are here; each command family is a module of its own (`governance`,
`lineage`, `scanning`, `subjects`, `provenance`, `audit`, `tenancy`, `keys`, `review`, `openlineage`, `local`, `demo`) that computes its answer
and hands it to `render` for people or prints it as JSON.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import sys
from collections.abc import Callable
from pathlib import Path

from dataflow_governance.errors import DfgError
from dataflow_governance.cli.common import CliError, positive

__all__ = ["CliError", "build_parser", "main"]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="dfg", description=__doc__.split("\n")[0])
    parser.add_argument("--project", default=os.environ.get("DFG_PROJECT"),
                        help="governance manifest (default ./dagster_project.yaml)")
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--json", action="store_true", help="machine-readable output")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("demo", parents=[common], help="materialize the example project, run checks, write reports")
    p.set_defaults(handler="demo:cmd_demo")
    p = sub.add_parser("check", parents=[common], help="static policy rules; exit 1 on any error finding")
    p.add_argument("--live", action="store_true",
                   help="also confirm every declared table, column, bucket and Delta folder in the live stores")
    p.set_defaults(handler="governance:cmd_check")
    p = sub.add_parser("ropa", parents=[common], help="GDPR Art. 30 record (md, html, csv, json)")
    p.add_argument("--out", help="output folder (default: the manifest's output_dir)")
    p.set_defaults(handler="governance:cmd_ropa")
    p = sub.add_parser("map", parents=[common], help="Mermaid data map with regions and processors; C4 views")
    p.add_argument("--out", help="output folder (default: the manifest's output_dir)")
    p.add_argument("--view", choices=["flow", "c4-context", "c4-container"], default="flow",
                   help="flow: every asset and flow (default); c4-context / c4-container: the C4 levels")
    p.set_defaults(handler="governance:cmd_map")
    p = sub.add_parser("scope", parents=[common], help="PCI DSS scope from lineage: the cardholder data environment")
    p.add_argument("--pci", action="store_true", required=True, help="the cardholder data environment (PCI DSS)")
    p.add_argument("--out", help="folder for pci_scope.md, the Mermaid diagram (default: the manifest's output_dir)")
    p.set_defaults(handler="governance:cmd_scope")
    p = sub.add_parser("lineage", parents=[common], help="column lineage of SQL, an asset, or a column's impact")
    p.add_argument("--sql", help="SQL: one statement, or a script of several")
    p.add_argument("--file", help="a file of SQL: one statement, or a script (traced across its statements)")
    p.add_argument("--strict", action="store_true",
                   help="a table or column the --schema does not know is an error, not a warning")
    p.add_argument("--schema", help="JSON: table → column → type (sqlglot's MappingSchema form)")
    p.add_argument("--dialect", default=None, help="sqlglot dialect: duckdb, postgres, snowflake, bigquery, trino, spark, …")
    p.add_argument("--asset", help="lineage of one of the project's SQL assets, with propagated categories")
    p.add_argument("--upstream", metavar="ASSET.COLUMN", help="every column this one is derived from")
    p.add_argument("--downstream", metavar="ASSET.COLUMN", help="every column derived from this one (impact)")
    p.set_defaults(handler="lineage:cmd_lineage", needs_project=False)
    p = sub.add_parser("scan", parents=[common], help="scan a file, table or S3 prefix for personal data")
    target = p.add_mutually_exclusive_group(required=True)
    target.add_argument("--file", help="CSV, Parquet, JSON lines or text file")
    target.add_argument("--table", help="a warehouse table (the prefilter runs in the warehouse)")
    target.add_argument("--s3", help="s3://bucket/prefix (JSON lines, text logs, CSV, Parquet objects)")
    p.add_argument("--sample", type=positive, help="scan at most N rows (files: the first N)")
    p.add_argument("--exact", action="store_true",
                   help="tables: validate every candidate instead of a budget of 2,000 per column")
    p.add_argument("--fail-on-findings", action="store_true", help="exit 1 when anything is found")
    p.set_defaults(handler="scanning:cmd_scan", needs_project=False)
    p = sub.add_parser("residency", parents=[common], help="declared vs actual regions, per-row regions, crossings")
    p.add_argument("--fail-on-findings", action="store_true", help="exit 1 on any violation")
    p.set_defaults(handler="scanning:cmd_residency")
    p = sub.add_parser("erase", parents=[common], help="erase a subject everywhere (GDPR Art. 17), verify, certify")
    p.add_argument("--subject-id", required=True)
    p.add_argument("--dry-run", action="store_true", help="print the exact plan with counts; change nothing")
    p.add_argument("--now", action="store_true", help="skip the grace period")
    p.add_argument("--cancel", action="store_true", help="cancel a pending request")
    p.add_argument("--grace-days", type=int, default=30, help="days before a request is carried out (0 to 3650)")
    p.add_argument("--vacuum-full", action="store_true",
                   help="PostgreSQL: VACUUM FULL the touched tables, rewriting their files (locks them meanwhile)")
    p.add_argument("--queue", action="store_true",
                   help="file a request for the Dagster erase_subject_job instead (prints its request id)")
    p.add_argument("--notified", action="append", metavar="PROCESSOR",
                   help="record that this processor was told to erase the subject (after the erasure; repeatable)")
    p.set_defaults(handler="subjects:cmd_erase")
    p = sub.add_parser("sweep", parents=[common], help="apply every retention rule (warehouse and S3), ledgered")
    p.add_argument("--dry-run", action="store_true", help="print the exact plan with counts; change nothing")
    p.add_argument("--as-of", metavar="TIME", help="cut-offs as of this UTC time (ISO 8601), not now; never in the future")
    p.set_defaults(handler="subjects:cmd_sweep")
    p = sub.add_parser("access", parents=[common], help="export everything held about a subject (Art. 15/20)")
    p.add_argument("--subject-id", required=True)
    p.set_defaults(handler="subjects:cmd_access")
    p = sub.add_parser("disclosures", parents=[common],
                       help="HIPAA accounting of disclosures: who received a subject's PHI, when, why, by which run")
    p.add_argument("--subject-id", required=True)
    p.add_argument("--since", metavar="TIME", help="only disclosures at or after this UTC time (ISO 8601)")
    p.set_defaults(handler="subjects:cmd_disclosures")
    p = sub.add_parser("incident", parents=[common],
                       help="personal data found where it should not be: trace it, measure it, plan the clean-up")
    p.add_argument("--found", required=True, metavar="CATEGORY", help="the data category found, e.g. user.contact.email")
    p.add_argument("--in", dest="location", required=True, metavar="ASSET|s3://BUCKET/PREFIX", help="where it was found")
    p.set_defaults(handler="incident:cmd_incident")
    p = sub.add_parser("provenance", parents=[common], help="which data trained a model; which models saw a dataset or subject")
    asked = p.add_mutually_exclusive_group(required=True)
    asked.add_argument("--model", metavar="NAME[:VERSION]", help="a registered model (latest version if none given)")
    asked.add_argument("--dataset", metavar="ASSET", help="an audited training dataset")
    asked.add_argument("--subject-id", help="a subject: the datasets and models that included them")
    p.add_argument("--reproduce", action="store_true", help="with --model: verify the snapshot's digest and retrain")
    p.add_argument("--verify", action="store_true", help="check the snapshots are intact (bytes, digest, version)")
    p.set_defaults(handler="provenance:cmd_provenance")
    p = sub.add_parser("audit", parents=[common], help="the governance ledger: verify the chain, export entries")
    p.add_argument("action", choices=["verify", "export"])
    p.add_argument("--anchor", action="append", help="an extra anchor SEQ:HASH to check against (repeatable)")
    p.add_argument("--certificate", action="append", metavar="FILE",
                   help="an erasure or offboarding certificate (JSON) whose ledger head to check against (repeatable)")
    p.add_argument("--independent", action="store_true", help="verify in Python instead of in the warehouse")
    p.add_argument("--since", help="export entries at or after this UTC time (ISO 8601)")
    p.add_argument("--until", help="export entries before this UTC time")
    p.add_argument("--target", help="export only entries about this target")
    p.add_argument("--actor", help="export only entries by this actor")
    p.set_defaults(handler="audit:cmd_audit")
    p = sub.add_parser("tenancy", parents=[common], help="row-level tenant isolation in the database: apply, verify")
    p.add_argument("action", choices=["apply", "verify"])
    p.add_argument("--dry-run", action="store_true", help="apply: print the statements; change nothing")
    p.add_argument("--tenant", help="verify: act as this tenant")
    p.add_argument("--other", help="verify: another tenant, whose rows must stay invisible and unwritable")
    p.set_defaults(handler="tenancy:cmd_tenancy")
    p = sub.add_parser("tenant", parents=[common], help="offboard a tenant: all its data, verified, certified")
    p.add_argument("action", choices=["offboard"])
    p.add_argument("--tenant", required=True, help="the tenant's id, as its tenant column holds it")
    p.add_argument("--dry-run", action="store_true", help="print the exact plan with counts; change nothing")
    p.add_argument("--now", action="store_true", help="skip the grace period")
    p.add_argument("--cancel", action="store_true", help="cancel a pending offboarding")
    p.add_argument("--grace-days", type=int, default=30, help="days before a request is carried out (0 to 3650)")
    p.add_argument("--notified", action="append", metavar="PROCESSOR",
                   help="record that this processor was told to erase the tenant's data (repeatable)")
    p.set_defaults(handler="tenancy:cmd_tenant")
    p = sub.add_parser("keys", parents=[common],
                       help="the project's keys: status (each checked), rotate the KEK, recreate a lost hashing key")
    p.add_argument("action", choices=["status", "rotate", "recreate"])
    p.add_argument("--key", help="recreate: which hashing key (pseudonym or subject)")
    p.add_argument("--reason", help="recreate: why, for the ledger")
    p.set_defaults(handler="keys:cmd_keys")
    p = sub.add_parser("catalog", parents=[common], help="the governance catalog file every command reads: build, status")
    p.add_argument("action", choices=["build", "status"])
    p.set_defaults(handler="governance:cmd_catalog")
    p = sub.add_parser("diff", parents=[common],
                       help="what a change does to personal data: the data maps of two git revisions compared")
    p.add_argument("--base", required=True, metavar="REF", help="the revision before the change (e.g. origin/main)")
    p.add_argument("--head", metavar="REF", help="the revision after it (default: the working tree)")
    p.add_argument("--fail-on", choices=["error", "warning", "never"], default="error",
                   help="exit 1 when a change is at least this severe (default: error)")
    p.add_argument("--approvals", action="store_true", help="also say who approved the head's data map")
    p.set_defaults(handler="review:cmd_diff")
    p = sub.add_parser("review", parents=[common],
                       help="sign off a revision's data map (signed, in the ledger); its status; a reviewer's key pair")
    p.add_argument("action", choices=["approve", "status", "keygen"])
    p.add_argument("--ref", metavar="REF", help="approve, status: the git revision whose data map is reviewed")
    p.add_argument("--as", dest="role", metavar="ROLE", help="approve, keygen: the reviewer's role (e.g. dpo, security)")
    p.add_argument("--by", help="approve: who approves (default: git's user.email)")
    p.add_argument("--key", metavar="FILE", help="approve: the reviewer's Ed25519 private key; keygen: where to write it")
    p.set_defaults(handler="review:cmd_review")
    p = sub.add_parser("openlineage", parents=[common],
                       help="OpenLineage: export the whole catalog's events; the governance facet's JSON schema")
    p.add_argument("action", choices=["export", "schema"])
    p.add_argument("--out", help="export: the NDJSON file to write (default: <output_dir>/openlineage/catalog.ndjson)")
    p.add_argument("--emit", action="store_true",
                   help="export: send the events through the configured OpenLineage client instead of writing a file")
    p.set_defaults(handler="openlineage:cmd_openlineage")
    p = sub.add_parser("local", parents=[common], help="the embedded services: status, start, stop")
    p.add_argument("action", choices=["status", "start", "stop"])
    p.set_defaults(handler="local:cmd_local")
    return parser


def main(argv: list[str] | None = None) -> int:
    # Everything this process and its children write (warehouse, object store, keys, run storage,
    # certificates) may hold personal data or keys: owner-only, whatever the shell's umask.
    os.umask(0o077)
    args = build_parser().parse_args(argv)
    # MLflow's progress lines ("Created version …") would mix into the command's own output.
    os.environ.setdefault("MLFLOW_LOGGING_LEVEL", "WARNING")
    try:
        standalone = getattr(args, "needs_project", True) is False and (
            getattr(args, "sql", None) is not None or getattr(args, "file", None) is not None)
        project = None
        if not standalone:
            from dataflow_governance.model.manifest import DEFAULT_MANIFEST, load_project

            args.project = args.project or DEFAULT_MANIFEST
            # The project's own modules (and Dagster run processes) find the manifest through this.
            os.environ["DFG_PROJECT"] = str(Path(args.project).resolve())
            project = load_project(args.project)
            from dataflow_governance.storage.warehouse import check_warehouse

            check_warehouse(project.warehouse)  # (the model declares it; an unusable one stops every command)
        module, _, name = args.handler.partition(":")
        # Each command family is imported when it runs: `dfg lineage --sql` never loads pandas or Dagster.
        handler: Callable = getattr(importlib.import_module(f".{module}", __name__), name)
        return handler(args, project)
    except DfgError as exc:
        if getattr(args, "json", False):
            print(json.dumps({"error": str(exc)}))
        print(f"error: {exc}", file=sys.stderr)
        return 2
