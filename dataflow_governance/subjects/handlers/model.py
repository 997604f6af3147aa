"""Registered models trained on a snapshot that held the subject: flagged for retraining in the
model registry (MLflow), not deleted — the decision to retire a model is its owner's."""

from __future__ import annotations

from datetime import datetime

from dataflow_governance.ledger.chain import Ledger
from dataflow_governance.ml.model_registry import flag_model, model_is_flagged
from dataflow_governance.subjects.handlers.base import Handler
from dataflow_governance.subjects.reach import Reach
from dataflow_governance.subjects.targets import Outcome


class Models(Handler):
    def count(self, outcome: Outcome, reach: Reach, value: str, now: datetime) -> int:
        return 1  # one model version to flag

    def execute(self, outcome: Outcome, reach: Reach, value: str, now: datetime) -> int:
        return flag_model(reach.mlflow_uri, Ledger(reach.warehouse), outcome.plan.target,
                          reason="trained on data of an erased subject", actor="dfg:erase")

    def verify(self, outcome: Outcome, reach: Reach, value: str, now: datetime) -> bool:
        return model_is_flagged(reach.mlflow_uri, outcome.plan.target)
