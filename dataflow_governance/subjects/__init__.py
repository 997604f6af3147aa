"""Right to erasure (GDPR Art. 17) and right of access (Art. 15/20), planned from the graph.

- `plan`: every place the project keeps a subject (tables, S3, snapshots, models, processors);
- `execute`: count, carry out and verify one target;
- `lifecycle`: request, grace period, execution, verification — `erase`;
- `certificate`: the result and its certificate;
- `access`: the access export — `access_export`;
- `offboard`: a tenant's offboarding on the same lifecycle — `offboard`.
"""

from dataflow_governance.lazy import lazy_exports

# Imported on first use: `dfg access` does not pay for the erasure's lifecycle, nor the reverse.
_PUBLIC = {
    "access_export": "access",
    "ErasureResult": "certificate", "certificate_markdown": "certificate", "write_certificate": "certificate",
    "count_target": "execute", "erase_matching_rows": "execute", "execute_target": "execute", "match_rows": "execute",
    "verify_target": "execute",
    "DEFAULT_GRACE_DAYS": "lifecycle", "MAX_GRACE_DAYS": "lifecycle", "ErasureError": "lifecycle",
    "check_grace_days": "lifecycle", "erase": "lifecycle",
    "offboard": "offboard", "plan_offboarding": "offboard",
    "Target": "plan", "plan_erasure": "plan", "pseudonym_of": "plan", "with_provenance": "plan",
    "erasure_state": "dataflow_governance.ledger.erasures", "erasure_statuses": "dataflow_governance.ledger.erasures",
    "suppression_list": "dataflow_governance.ledger.erasures",
}
__all__ = sorted(_PUBLIC)
__getattr__, __dir__ = lazy_exports(__name__, _PUBLIC, globals())
