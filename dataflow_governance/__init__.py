"""dataflow-governance: make a Dagster data platform provable to regulators, auditors and engineers.

The core (this package minus `dagster_ext`) is plain Python over plain data; `dagster_ext` adapts it
to Dagster and `cli` answers questions from the command line. The public names below are imported
on first use, so `dfg lineage` does not pay for pandas, fideslang or Dagster.
"""

from __future__ import annotations

from dataflow_governance.errors import DfgError
from dataflow_governance.lazy import alias_modules, lazy_exports

__version__ = "0.1.0"

_PUBLIC = {
    "Catalog": "catalog.artifact", "CatalogError": "catalog.artifact",
    "Ledger": "ledger.chain", "LedgerError": "ledger.chain", "verify_entries": "ledger.chain",
    "LineageAnalyzer": "lineage.sql", "LineageError": "lineage.sql", "column_lineage": "lineage.sql",
    "ManifestError": "model.manifest", "Project": "model.manifest", "load_project": "model.manifest",
    "Finding": "policy.context", "PolicyContext": "policy.context", "run_policy": "policy.rules",
    "AssetGovernance": "model.spec", "ColumnSpec": "model.spec", "GovernanceError": "model.spec",
    "LegalHold": "model.spec", "Processor": "model.spec", "Retention": "model.spec", "build_governance": "model.spec",
    "Warehouse": "storage.warehouse", "WarehouseError": "storage.warehouse", "open_warehouse": "dagster_ext.parts",
    "ObjectStore": "storage.objectstore", "ObjectStoreError": "storage.objectstore",
    "get_object": "storage.objectstore", "list_keys": "storage.objectstore", "put_object": "storage.objectstore",
    "head_object": "storage.objectstore", "keyed_hash": "crypto.hashing",
    "KeyStore": "crypto", "Keyring": "crypto", "DataKeyStore": "crypto",
    "open_key_store": "dagster_ext.parts", "open_keyring": "dagster_ext.parts", "StatePaths": "model.paths",
    "encrypt_frame": "crypto.fields", "encrypt_records": "crypto.fields", "decrypt_frame": "crypto.fields",
    "decrypt_records": "crypto.fields", "encrypt_column": "crypto.fields", "write_delta": "storage.delta",
    "redact_personal": "detection.redaction", "redact_many": "detection.redaction",
    "safe_harbor_sql": "storage.safe_harbor",
}

# Module paths of the flat layout this package had, each now a module of the package named for its
# concern: `import dataflow_governance.spec` still works, and is `dataflow_governance.model.spec`.
_OLD_PATHS = {
    "dataflow_governance.anchors": "dataflow_governance.ledger.anchors",
    "dataflow_governance.anonymize": "dataflow_governance.storage.anonymize",
    "dataflow_governance.c4": "dataflow_governance.reports.c4",
    "dataflow_governance.conditions": "dataflow_governance.model.conditions",
    "dataflow_governance.datasets": "dataflow_governance.ml.datasets",
    "dataflow_governance.delta": "dataflow_governance.storage.delta",
    "dataflow_governance.detect": "dataflow_governance.detection.detectors",
    "dataflow_governance.digest": "dataflow_governance.ml.digest",
    "dataflow_governance.dml": "dataflow_governance.lineage.dml",
    "dataflow_governance.dagster_ext.sql_asset": "dataflow_governance.dagster_ext.sql_assets",
    "dataflow_governance.engines": "dataflow_governance.storage.engines",
    "dataflow_governance.engines.base": "dataflow_governance.storage.engines.base",
    "dataflow_governance.engines.duckdb": "dataflow_governance.storage.engines.duckdb",
    "dataflow_governance.engines.postgres": "dataflow_governance.storage.engines.postgres",
    "dataflow_governance.engines.spark": "dataflow_governance.storage.engines.spark",
    "dataflow_governance.erasure": "dataflow_governance.subjects",
    "dataflow_governance.erasure.access": "dataflow_governance.subjects.access",
    "dataflow_governance.erasure.certificate": "dataflow_governance.subjects.certificate",
    "dataflow_governance.erasure.execute": "dataflow_governance.subjects.execute",
    "dataflow_governance.erasure.lifecycle": "dataflow_governance.subjects.lifecycle",
    "dataflow_governance.erasure.offboard": "dataflow_governance.subjects.offboard",
    "dataflow_governance.erasure.plan": "dataflow_governance.subjects.plan",
    "dataflow_governance.erasure.shredding": "dataflow_governance.subjects.handlers.sealed",
    "dataflow_governance.erasure.state": "dataflow_governance.ledger.erasures",
    "dataflow_governance.expectations": "dataflow_governance.detection.expectations",
    "dataflow_governance.files": "dataflow_governance.local.files",
    "dataflow_governance.findings": "dataflow_governance.policy.context",
    "dataflow_governance.graph": "dataflow_governance.lineage.graph",
    "dataflow_governance.hipaa": "dataflow_governance.policy.hipaa",
    "dataflow_governance.keys": "dataflow_governance.crypto.hashing",
    "dataflow_governance.local_s3": "dataflow_governance.local.s3",
    "dataflow_governance.local_spark": "dataflow_governance.local.spark",
    "dataflow_governance.locks": "dataflow_governance.storage.locks",
    "dataflow_governance.manifest": "dataflow_governance.model.manifest",
    "dataflow_governance.matching": "dataflow_governance.subjects.matching",
    "dataflow_governance.mermaid": "dataflow_governance.reports.mermaid",
    "dataflow_governance.model_registry": "dataflow_governance.ml.model_registry",
    "dataflow_governance.objectstore": "dataflow_governance.storage.objectstore",
    "dataflow_governance.openlineage": "dataflow_governance.reports.openlineage",
    "dataflow_governance.pci": "dataflow_governance.policy.pci",
    "dataflow_governance.phi_access": "dataflow_governance.subjects.disclosures",
    "dataflow_governance.places": "dataflow_governance.detection.places",
    "dataflow_governance.provenance": "dataflow_governance.ml.provenance",
    "dataflow_governance.reclaim": "dataflow_governance.storage.reclaim",
    "dataflow_governance.records": "dataflow_governance.storage.object_records",
    "dataflow_governance.requests": "dataflow_governance.subjects.queue",
    "dataflow_governance.residency": "dataflow_governance.detection.residency",
    "dataflow_governance.review": "dataflow_governance.reports.review",
    "dataflow_governance.scan": "dataflow_governance.detection.scan",
    "dataflow_governance.scripts": "dataflow_governance.lineage.scripts",
    "dataflow_governance.spec": "dataflow_governance.model.spec",
    "dataflow_governance.suppression": "dataflow_governance.subjects.suppression",
    "dataflow_governance.taxonomy": "dataflow_governance.model.taxonomy",
    "dataflow_governance.tenant_isolation": "dataflow_governance.tenancy.isolation",
    "dataflow_governance.tenant_scan": "dataflow_governance.tenancy.census",
    "dataflow_governance.text": "dataflow_governance.model.text",
    "dataflow_governance.warehouse": "dataflow_governance.storage.warehouse",
}

__all__ = ["DfgError", *sorted(_PUBLIC)]


__getattr__, __dir__ = lazy_exports(__name__, _PUBLIC, globals())
alias_modules(_OLD_PATHS)
