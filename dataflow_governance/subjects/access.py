"""The right of access (GDPR Art. 15/20): every record about a subject, with the path that led there."""

from __future__ import annotations

from dataflow_governance.crypto.fields import decrypt_records
from dataflow_governance.ledger.chain import Ledger
from dataflow_governance.ledger.erasures import erasure_state
from dataflow_governance.ml.provenance import subject_provenance
from dataflow_governance.subjects.handlers import handler_for
from dataflow_governance.subjects.lifecycle import ErasureError, checked_id
from dataflow_governance.subjects.plan import plan_erasure
from dataflow_governance.subjects.reach import Reach
from dataflow_governance.subjects.scope import Scope
from dataflow_governance.subjects.targets import Action


def access_export(reach: Reach, scope: Scope, subject_id: str) -> dict:
    """Every record about the subject, grouped by asset, with the path that led there (Art. 15/20).

    Args:
        reach: the stores and keys the subject's data may be in.
        scope: the governance and graph to plan from.
        subject_id: the subject's id, as the identity column holds it.

    Returns:
        `{"subject", "assets": {asset: {"records", "lineage"}}, "training": {"datasets", "models"}}`,
        and `not_searched` (asset → objects in a format that could not be searched) when there are any.
    """
    subject_id = checked_id(subject_id, "subject")
    warehouse, governance = reach.warehouse, scope.governance
    assets: dict[str, dict] = {}
    not_searched: dict[str, int] = {}
    with warehouse.session():
        for target in plan_erasure(scope, warehouse):
            found = handler_for(target).records(target, reach, subject_id)
            if found is None:
                continue
            records, unsearched = found
            if unsearched:
                not_searched[target.asset] = unsearched
            sealed = governance[target.asset].subject_encrypted
            if records and sealed:
                # Opened for the subject's own export, and ledgered as a decryption like any other.
                records = decrypt_records(records, target.asset, sealed, reach.keyring.data_keys(), actor="dfg:access",
                                          purpose="the subject's access request (GDPR Art. 15)")
            if records:
                # (A schema per tenant: one entry per tenant's table of the asset.)
                name = f"{target.asset} ({target.table})" if governance[target.asset].per_tenant_table else target.asset
                entry = assets.setdefault(name, {"records": [], "mentions": [], "lineage": []})
                # The subject named in other rows' text: the passages, not those rows (others' data).
                entry["mentions" if target.action == Action.REDACT else "records"] += records
                entry["lineage"] += list(target.lineage)
        training = subject_provenance(warehouse, reach.keyring, subject_id)
    if not assets and not training["datasets"]:
        erased = erased_subject(reach, subject_id)
        if erased is None:
            raise ErasureError("unknown subject: no record of it in any asset")
        # Nothing held because it was erased: that is the answer, with the proof of it.
        return {"subject": subject_id, "assets": {}, "training": {"datasets": [], "models": []}, "erased": erased}
    # Art. 15(1)(c): also the training sets that held the subject and the models trained on them.
    return {"subject": subject_id, "assets": assets,
            "training": {"datasets": training["datasets"], "models": training["models"]},
            **({"not_searched": not_searched} if not_searched else {})}


def erased_subject(reach: Reach, subject_id: str) -> dict | None:
    """When the subject's erasure was carried out: its date, status, ledger entry and certificate."""
    subject = reach.keyring.subject_hash(subject_id)
    state = erasure_state(Ledger(reach.warehouse), subject)
    executed = state["executed"]
    if not executed:
        return None
    certificate = reach.paths.certificates("erasure") / f"{subject}.json"
    return {"on": str(executed["at"])[:10], "at": str(executed["at"]), "status": state["status"],
            "ledger_seq": executed["seq"], "certificate": str(certificate) if certificate.exists() else None}
