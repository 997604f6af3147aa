"""Tenants in stored data: isolation in the database (row-level security, generated and
proven), and the census of which tenants each table, schema and prefix holds.
"""

from dataflow_governance.lazy import delegate_to

# The module `dataflow_governance.tenancy` held the tenancy rules, now in `policy.tenancy`.
__getattr__ = delegate_to("dataflow_governance.policy.tenancy")
