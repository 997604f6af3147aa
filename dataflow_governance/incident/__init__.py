"""Post-incident tracing: personal data found where it should not be, traced backward and
forward over lineage, measured, and planned for.
"""

from dataflow_governance.lazy import delegate_to

# The package took the place of the module `dataflow_governance.incident`: its names keep working.
__getattr__ = delegate_to("dataflow_governance.incident.trace")
