"""The governance ledger: an append-only, hash-chained log of every governance action, and
the anchors that expose a ledger cut short.
"""

from dataflow_governance.lazy import delegate_to

# The package took the place of the module `dataflow_governance.ledger`: its names keep working.
__getattr__ = delegate_to("dataflow_governance.ledger.chain")
