"""Static policy rules over the governed graph: the context a rule sees, the GDPR, HIPAA, PCI
DSS and tenancy rules, and the one rule table `run_policy` runs.
"""

from dataflow_governance.lazy import delegate_to

# The package took the place of the module `dataflow_governance.policy`: its names keep working.
__getattr__ = delegate_to("dataflow_governance.policy.rules")
