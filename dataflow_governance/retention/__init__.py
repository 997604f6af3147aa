"""Retention: sweeps applying each asset's rule as set-based SQL and batched S3 deletes, and
the anonymization methods they use.
"""

from dataflow_governance.lazy import delegate_to

# The package took the place of the module `dataflow_governance.retention`: its names keep working.
__getattr__ = delegate_to("dataflow_governance.retention.sweep")
