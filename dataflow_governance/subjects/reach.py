"""What an erasure, an offboarding, an access export or a sweep acts on and with — each piece what
it is, never the whole project."""

from __future__ import annotations

from dataclasses import dataclass

from dataflow_governance.crypto.keyring import Keyring
from dataflow_governance.ledger.anchors import Anchors
from dataflow_governance.model.paths import StatePaths
from dataflow_governance.storage.objectstore import ObjectStore
from dataflow_governance.storage.warehouse import Warehouse


@dataclass(frozen=True)
class Reach:
    """The stores a subject's data may be in, the keys that name and seal it, and where the state
    and the certificates go.

    Args:
        project: the project's name (certificates, ledger targets).
        warehouse: the warehouse (and, through it, the governance store: ledger, data keys).
        object_store: the S3 object store, or None where no governed asset is in S3.
        keyring: the checked hashing keys, and the per-subject data keys (`keyring.data_keys()`).
        paths: the state folder (locks, Delta tables) and the output folder (certificates).
        anchors: where the ledger head is recorded after each run.
        mlflow_uri: the MLflow tracking URI models are flagged at.
    """

    project: str
    warehouse: Warehouse
    object_store: ObjectStore | None
    keyring: Keyring
    paths: StatePaths
    anchors: Anchors
    mlflow_uri: str
