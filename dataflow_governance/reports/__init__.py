"""What the project writes for people and tools: the Art. 30 record, the data map, the C4 and
PCI DSS scope views (Mermaid), the review of a change, OpenLineage events.
"""

from dataflow_governance.lazy import delegate_to

# The package took the place of the module `dataflow_governance.reports`: its names keep working.
__getattr__ = delegate_to("dataflow_governance.reports.ropa")
