"""Right to erasure (GDPR Art. 17) and right of access (Art. 15/20), planned from the graph.

- `targets`: one place a request reaches — the plan's `Target` and a run's `Outcome` there;
- `reach`, `scope`: what a request acts on (stores, keys, folders) and plans from (governance, graph);
- `plan`: every place the project keeps a subject (tables, S3, snapshots, models, processors);
- `handlers/`: what each storage system does with a target — count, execute, verify, export;
- `execute`: count, carry out and verify one target through its handler;
- `lifecycle`: request, grace period, execution, verification — `erase`;
- `certificate`: the result and its certificate;
- `access`: the access export — `access_export`;
- `offboard`: a tenant's offboarding on the same lifecycle — `offboard`;
- `suppression`: erased subjects' and offboarded tenants' data that comes back, removed;
- `queue`: erasure requests waiting for a Dagster run;
- `disclosures`: HIPAA's accounting of disclosures.
"""

from dataflow_governance.lazy import lazy_exports

# Imported on first use: `dfg access` does not pay for the erasure's lifecycle, nor the reverse.
_PUBLIC = {
    "access_export": "access",
    "ErasureResult": "certificate", "certificate_markdown": "certificate", "write_certificate": "certificate",
    "count_target": "execute", "execute_target": "execute", "verify_target": "execute",
    "erase_matching_rows": "dataflow_governance.subjects.handlers.warehouse",
    "match_rows": "dataflow_governance.subjects.handlers.warehouse",
    "DEFAULT_GRACE_DAYS": "lifecycle", "MAX_GRACE_DAYS": "lifecycle", "ErasureError": "lifecycle",
    "check_grace_days": "lifecycle", "erase": "lifecycle",
    "offboard": "offboard", "plan_offboarding": "offboard",
    "plan_erasure": "plan", "with_provenance": "plan",
    "Reach": "reach", "Scope": "scope",
    "Action": "targets", "Outcome": "targets", "System": "targets", "Target": "targets",
    "erasure_state": "dataflow_governance.ledger.erasures", "erasure_statuses": "dataflow_governance.ledger.erasures",
    "suppression_list": "dataflow_governance.ledger.erasures",
}
__all__ = sorted(_PUBLIC)
__getattr__, __dir__ = lazy_exports(__name__, _PUBLIC, globals())
