"""The right of access (GDPR Art. 15/20): every record about a subject, with the path that led there."""

from __future__ import annotations

import json

from sqlglot import exp

from dataflow_governance.storage import delta
from dataflow_governance.crypto import open_key_store
from dataflow_governance.crypto.fields import decrypt_records
from dataflow_governance.lineage.graph import ColumnGraph
from dataflow_governance.model.manifest import Project
from dataflow_governance.model.ids import SubjectIdError, check_subject_id
from dataflow_governance.storage.objectstore import ObjectStore, list_keys
from dataflow_governance.ml.provenance import subject_provenance
from dataflow_governance.storage.object_records import matching_records, subject_test
from dataflow_governance.model.spec import AssetGovernance
from dataflow_governance.storage.warehouse import Warehouse, table_expr
from dataflow_governance.subjects.execute import match_rows, subject_location
from dataflow_governance.subjects.lifecycle import ErasureError
from dataflow_governance.subjects.plan import plan_erasure
from dataflow_governance.subjects.shredding import sealed_events


def access_export(project: Project, governance: dict[str, AssetGovernance], graph: ColumnGraph | None, subject_id: str,
                  warehouse: Warehouse, store: ObjectStore | None) -> dict:
    """Every record about the subject, grouped by asset, with the path that led there (Art. 15/20)."""
    try:
        subject_id = check_subject_id(subject_id)
    except SubjectIdError as exc:
        raise ErasureError(str(exc)) from None
    assets: dict[str, dict] = {}
    not_searched: dict[str, int] = {}  # asset → objects in a format that could not be searched
    with warehouse.session():
        for target in plan_erasure(project, governance, graph, warehouse):
            if target.action == "shredded":
                records = sealed_events(target, project, warehouse, store, subject_id)
            elif target.system == "delta":
                records = json.loads(json.dumps(delta.rows_of(project.state_dir / target.target, target.column,
                                                              subject_id), default=str))
            elif target.system == "warehouse" and target.column and warehouse.table_exists(target.target):
                match = match_rows(target, project, warehouse, subject_id)
                frame = warehouse.fetch_df(exp.select("*").from_(table_expr(target.target)).where(match.where), match.params)
                records = json.loads(frame.to_json(orient="records", date_format="iso"))
            elif target.system == "s3" and store is not None:
                bucket, prefix = subject_location(target.target, subject_id)
                if prefix is None:
                    records = []
                elif target.action == "delete":
                    records = [{"object": f"s3://{bucket}/{key}"} for key in list_keys(store, bucket, prefix)]
                else:
                    records, unsearched = matching_records(store, bucket, prefix, target.column,
                                                           subject_test(subject_id), target.fmt)
                    if unsearched:
                        not_searched[target.asset] = len(unsearched)
            else:
                continue
            sealed = governance[target.asset].subject_encrypted
            if records and sealed:
                # Opened for the subject's own export, and ledgered as a decryption like any other.
                records = decrypt_records(records, target.asset, sealed, open_key_store(project, warehouse),
                                          actor="dfg:access", purpose="the subject's access request (GDPR Art. 15)")
            if records:
                # (A schema per tenant: one entry per tenant's table of the asset.)
                name = f"{target.asset} ({target.target})" if governance[target.asset].per_tenant_table else target.asset
                assets[name] = {"records": records, "lineage": target.lineage}
        training = subject_provenance(project, warehouse, subject_id)
    if not assets and not training["datasets"]:
        raise ErasureError("unknown subject: no record of it in any asset")
    # Art. 15(1)(c): also the training sets that held the subject and the models trained on them.
    return {"subject": subject_id, "assets": assets,
            "training": {"datasets": training["datasets"], "models": training["models"]},
            **({"not_searched": not_searched} if not_searched else {})}
