"""dataflow-governance: make a Dagster data platform provable to regulators, auditors and engineers.

The core (this package minus `dagster_ext`) is plain Python over plain data; `dagster_ext` adapts it
to Dagster and `cli` answers questions from the command line. The public names below are imported
on first use, so `dfg lineage` does not pay for pandas, fideslang or Dagster.
"""

from __future__ import annotations

from .errors import DfgError
from .lazy import lazy_exports

__version__ = "0.1.0"

_PUBLIC = {
    "Catalog": "catalog", "CatalogError": "catalog",
    "Ledger": "ledger", "LedgerError": "ledger", "verify_entries": "ledger",
    "LineageAnalyzer": "lineage", "LineageError": "lineage", "column_lineage": "lineage",
    "ManifestError": "manifest", "Project": "manifest", "load_project": "manifest",
    "Finding": "policy", "PolicyContext": "policy", "run_policy": "policy",
    "AssetGovernance": "spec", "ColumnSpec": "spec", "GovernanceError": "spec", "LegalHold": "spec",
    "Processor": "spec", "Retention": "spec", "build_governance": "spec",
    "Warehouse": "warehouse", "WarehouseError": "warehouse",
    "ObjectStore": "objectstore", "ObjectStoreError": "objectstore", "get_object": "objectstore",
    "list_keys": "objectstore", "put_object": "objectstore", "head_object": "objectstore", "keyed_hash": "keys",
    "KeyStore": "crypto", "open_key_store": "crypto",
    "encrypt_frame": "crypto.fields", "encrypt_records": "crypto.fields", "decrypt_frame": "crypto.fields",
    "decrypt_records": "crypto.fields", "encrypt_column": "crypto.fields", "write_delta": "delta",
}

__all__ = ["DfgError", *sorted(_PUBLIC)]


__getattr__, __dir__ = lazy_exports(__name__, _PUBLIC, globals())
