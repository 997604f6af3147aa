"""Column lineage: SQL traced to columns (sqlglot), statements that move data, scripts end to
end, and the column graph over every asset with its classification propagation.
"""

from dataflow_governance.lazy import delegate_to

# The package took the place of the module `dataflow_governance.lineage`: its names keep working.
__getattr__ = delegate_to("dataflow_governance.lineage.sql")
