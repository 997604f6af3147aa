"""The governance catalog: every governed asset's facts, SQL, lineage and classification in one
JSON artifact (like dbt's manifest), fingerprinted and authenticated; what the CLI reads.
"""

from dataflow_governance.lazy import delegate_to

# The package took the place of the module `dataflow_governance.catalog`: its names keep working.
__getattr__ = delegate_to("dataflow_governance.catalog.artifact")
