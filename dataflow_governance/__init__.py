"""dataflow-governance: make a Dagster data platform provable to regulators, auditors and engineers.

The core (this package minus `dagster_ext`) is plain Python over plain data; `dagster_ext` adapts it
to Dagster and `cli` answers questions from the command line.
"""

from .ledger import Ledger, LedgerError, verify_entries
from .lineage import LineageAnalyzer, LineageError, column_lineage
from .manifest import ManifestError, Project, load_project
from .policy import Finding, PolicyContext, run_policy
from .spec import AssetGovernance, ColumnSpec, GovernanceError, LegalHold, Processor, Retention, build_governance
from .warehouse import Warehouse, WarehouseError

__version__ = "0.1.0"

__all__ = [
    "AssetGovernance", "ColumnSpec", "Finding", "GovernanceError", "LegalHold", "Ledger", "LedgerError",
    "LineageAnalyzer", "LineageError", "ManifestError", "PolicyContext", "Processor", "Project", "Retention",
    "Warehouse", "WarehouseError", "build_governance", "column_lineage", "load_project", "run_policy",
    "verify_entries",
]
