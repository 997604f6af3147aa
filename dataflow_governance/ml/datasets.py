"""Audited training datasets: only rows that may be used, frozen, digested, indexed and ledgered.

A dataset is a SELECT over the warehouse plus the governance of the asset that holds it: its
purposes (fideslang data uses) and legal basis, the column that identifies each row's subject,
and the S3 bucket/prefix of its snapshots. Materializing it:

1. runs the SELECT and keeps only rows whose subject may be used for every purpose — under
   `consent`, a consent column of the identity asset that covers the purpose is true — and
   whose subject has no erasure requested or done (the ledger says so);
2. orders the rows by the declared key (ties by the other columns) and digests them in full
   (`digest.table_digest`);
3. writes the rows as Parquet to `s3://bucket/prefix/<digest>.parquet` once (content-addressed,
   so the object never changes) and records its version id and the SHA-256 of its bytes;
4. stores the membership index — the keyed hash of each subject in it, never the id — so "which
   datasets hold subject X" is one lookup of X's hash;
5. appends a `dataset.materialized` ledger entry with all of the above (counts, never values).
"""

from __future__ import annotations

import hashlib
import io
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING

import sqlglot
import sqlglot.errors
from sqlglot import exp

from dataflow_governance.crypto.hashing import keyed_hash
from dataflow_governance.crypto.keyring import Keyring
from dataflow_governance.errors import DatasetError
from dataflow_governance.ledger.chain import Ledger
from dataflow_governance.ledger.erasures import erasure_statuses
from dataflow_governance.lineage.sql import LineageError, column_lineage, table_dependencies
from dataflow_governance.ml import DIGEST_PREFIX
from dataflow_governance.model.ids import canonical_id
from dataflow_governance.model.manifest import SubjectConfig
from dataflow_governance.model.spec import AssetGovernance, table_of
from dataflow_governance.storage.objectstore import (
    ObjectStore,
    ObjectStoreError,
    get_object,
    head_object,
    put_object,
    split_s3_uri,
)
from dataflow_governance.storage.warehouse import Warehouse, WarehouseError, column_expr, table_expr

if TYPE_CHECKING:  # (pandas and pyarrow load where a dataset is built or read: `dfg incident` needs neither)
    import pandas as pd
    import pyarrow as pa

MEMBERS_TABLE = "governance_dataset_members"


@dataclass(frozen=True)
class DatasetSpec:
    asset: str
    sql: str
    order_by: tuple[str, ...]
    subject_column: str
    pseudonymized: bool
    purposes: tuple[str, ...]
    legal_basis: str
    bucket: str
    prefix: str
    subject: str = "customer"
    dialect: str = "duckdb"

    @classmethod
    def from_governance(cls, gov: AssetGovernance, sql: str, order_by: tuple[str, ...] | list[str],
                        subject: str = "customer", dialect: str = "duckdb") -> DatasetSpec:
        where = f"training dataset {gov.asset!r}"
        if gov.storage.kind != "s3" or not gov.storage.bucket or not gov.storage.snapshots:
            raise DatasetError(f"{where}: governance must declare storage {{kind: s3, bucket: …, snapshots: true}}")
        if not gov.identity_columns:
            raise DatasetError(f"{where}: declare the column that identifies each row's subject (identity: true)")
        if not gov.purposes or not gov.legal_basis:
            raise DatasetError(f"{where}: declare the purposes it serves and their legal_basis")
        column = gov.identity_columns[0]
        return cls(asset=gov.asset, sql=sql, order_by=tuple(order_by), subject_column=column,
                   pseudonymized=gov.columns[column].pseudonymized, purposes=gov.purposes,
                   legal_basis=gov.legal_basis, bucket=gov.storage.bucket, prefix=gov.storage.prefix or "",
                   subject=subject, dialect=dialect)


@dataclass
class DatasetRecord:
    """What the ledger keeps of one materialization (also the provenance answer for it)."""

    asset: str
    digest: str
    rows: int
    columns: list[list[str]]
    snapshot_uri: str
    version_id: str | None
    snapshot_sha256: str
    sources: list[str]
    lineage: dict[str, list[str]]
    purposes: list[str]
    legal_basis: str
    members: int
    membership_digest: str
    excluded: dict[str, int]
    reused: bool = False
    seq: int | None = None
    ts: str | None = None
    deleted: dict | None = field(default=None)  # set when an erasure deleted the snapshot

    def to_dict(self) -> dict:
        return asdict(self)

    def summary(self) -> dict:
        """The provenance contract's view: asset, digest, rows, snapshot_uri, sources."""
        out = {"asset": self.asset, "digest": self.digest, "rows": self.rows, "snapshot_uri": self.snapshot_uri,
               "version_id": self.version_id, "sources": self.sources, "materialized_at": self.ts}
        if self.deleted:
            out["deleted"] = self.deleted
        return out

    @property
    def bucket_key(self) -> tuple[str, str]:
        return split_s3_uri(self.snapshot_uri)


# --- selection --------------------------------------------------------------------------------

@dataclass(frozen=True)
class Subjects:
    """Who a dataset's rows are about: the subject kinds the manifest declares (their identity and
    consent columns), the governance of their identity assets, and the keys that name them.

    Args:
        kinds: subject kind → its identity column and consents (the manifest's `subjects:`).
        governance: asset → governance (where each identity asset's table is).
        keyring: the hashing keys (pseudonyms, subject hashes).
    """

    kinds: Mapping[str, SubjectConfig]
    governance: Mapping[str, AssetGovernance]
    keyring: Keyring


def _subject_permissions(spec: DatasetSpec, warehouse: Warehouse, subjects: Subjects) -> dict[str, tuple[str, bool]]:
    """Row subject value (raw id or its pseudonym) → (subject hash, may be used for every purpose)."""
    if spec.subject not in subjects.kinds:
        raise DatasetError(f"training dataset {spec.asset!r}: unknown subject {spec.subject!r}; "
                           f"the manifest declares {', '.join(subjects.kinds) or 'none'}")
    config = subjects.kinds[spec.subject]
    consent_columns: list[str] = []
    if spec.legal_basis == "consent":
        for purpose in spec.purposes:
            covering = config.consents_covering(purpose)
            if not covering:
                raise DatasetError(
                    f"training dataset {spec.asset!r}: legal basis is consent, but no consent of subjects."
                    f"{spec.subject}.consents covers purpose {purpose!r}; declared: "
                    + (", ".join(f"{c} → {list(u)}" for c, u in config.consents.items()) or "none"))
            consent_columns.extend(c for c in covering if c not in consent_columns)
    table = table_of(config.identity_asset, subjects.governance.get(config.identity_asset))
    columns = [column_expr(c) for c in (config.identity_column, *consent_columns)]
    rows = warehouse.fetch(exp.select(*columns).from_(table_expr(table)))
    keyring = subjects.keyring
    pseudonym_key = keyring.key("pseudonym") if spec.pseudonymized else None
    subject_key = keyring.key("subject")
    permissions = {}
    for subject_id, *consents in rows:
        allowed = True
        if spec.legal_basis == "consent":
            # Every purpose needs one covering consent given; a missing answer is no consent.
            allowed = all(any(bool(consents[consent_columns.index(c)]) for c in config.consents_covering(p))
                          for p in spec.purposes)
        value = keyed_hash(pseudonym_key, subject_id) if pseudonym_key else str(subject_id)
        permissions[value] = (keyed_hash(subject_key, canonical_id(subject_id)), allowed)
    return permissions


def select_rows(spec: DatasetSpec, warehouse: Warehouse, ledger: Ledger, subjects: Subjects
                ) -> tuple[pd.DataFrame, list[str], dict[str, int]]:
    """(rows that may be used, in key order; their subjects' hashes; rows left out, by reason)."""
    import pandas as pd

    try:
        sql = sqlglot.transpile(spec.sql, read=spec.dialect, write=warehouse.dialect)[0]
    except sqlglot.errors.ParseError as exc:
        raise DatasetError(f"training dataset {spec.asset!r}: its SQL does not parse: {exc}") from None
    frame = warehouse.fetch_df(sql)
    missing = [c for c in (*spec.order_by, spec.subject_column) if c not in frame.columns]
    if missing:
        raise DatasetError(f"training dataset {spec.asset!r}: its SELECT returns no column(s) {', '.join(missing)}")
    permissions = _subject_permissions(spec, warehouse, subjects)
    blocked = {s for s, status in erasure_statuses(ledger).items() if status != "cancelled"}
    looked_up = frame[spec.subject_column].map(lambda v: permissions.get(str(v)) if pd.notna(v) else None)
    unknown = looked_up.isna()
    hashes = looked_up.map(lambda p: p[0] if p else None)
    no_consent = ~unknown & ~looked_up.map(lambda p: bool(p and p[1])).astype(bool)
    erased = ~unknown & ~no_consent & hashes.isin(blocked)
    keep = ~(unknown | no_consent | erased)
    # Ties on the key are broken by the other columns, so the digest never depends on the order
    # in which the engine happened to return the rows.
    ties = [c for c in frame.columns if c not in spec.order_by]
    kept = frame[keep].sort_values([*spec.order_by, *ties], kind="stable").reset_index(drop=True)
    members = sorted(set(hashes[keep]))
    excluded = {"no_consent": int(no_consent.sum()), "erasure": int(erased.sum()), "unknown_subject": int(unknown.sum())}
    return kept, members, excluded


# --- snapshots -----------------------------------------------------------------------------------

def parquet_bytes(table: pa.Table) -> bytes:
    import pyarrow.parquet as pq

    buffer = io.BytesIO()
    pq.write_table(table, buffer)
    return buffer.getvalue()


def snapshot_key(spec: DatasetSpec, digest: str) -> str:
    prefix = spec.prefix if not spec.prefix or spec.prefix.endswith("/") else spec.prefix + "/"
    return f"{prefix}{digest.removeprefix('sha256:')}.parquet"


def write_snapshot(store: ObjectStore, spec: DatasetSpec, table: pa.Table, digest: str) -> tuple[str, str | None, str, bool]:
    """(uri, version id, sha256 of the bytes, reused): an existing snapshot of the digest is kept."""
    key = snapshot_key(spec, digest)
    uri = f"s3://{spec.bucket}/{key}"
    head = head_object(store, spec.bucket, key)
    if head is not None and head.get("Metadata", {}).get("dfg-digest") == digest:
        body = get_object(store, spec.bucket, key, head.get("VersionId"))
        return uri, head.get("VersionId"), hashlib.sha256(body).hexdigest(), True
    body = parquet_bytes(table)
    version = put_object(store, spec.bucket, key, body, metadata={"dfg-digest": digest, "dfg-asset": spec.asset})
    return uri, version, hashlib.sha256(body).hexdigest(), False


_MISSING = ("NoSuchKey", "NoSuchVersion", "404", "InvalidArgument")


def _snapshot_bytes(store: ObjectStore, record: DatasetRecord) -> bytes:
    """The recorded version; else the key's current object (a store restored from a backup, or a
    local endpoint replayed after a restart, keeps the bytes under a new version id)."""
    bucket, key = record.bucket_key
    for version in ([record.version_id] if record.version_id else []) + [None]:
        try:
            return get_object(store, bucket, key, version)
        except ObjectStoreError as exc:
            if exc.code not in _MISSING:
                raise
    raise DatasetError(f"snapshot {record.snapshot_uri} (version {record.version_id}) is gone")


def read_snapshot(store: ObjectStore, record: DatasetRecord) -> pa.Table:
    """The recorded snapshot, after checking its bytes and its content against the record."""
    import pyarrow.parquet as pq

    if record.deleted:
        raise DatasetError(f"snapshot {record.snapshot_uri} was deleted by an erasure "
                           f"(ledger entry {record.deleted.get('seq')}, {record.deleted.get('ts')})")
    body = _snapshot_bytes(store, record)
    if hashlib.sha256(body).hexdigest() != record.snapshot_sha256:
        raise DatasetError(f"snapshot {record.snapshot_uri} was altered: its bytes do not match the recorded SHA-256")
    table = pq.read_table(io.BytesIO(body))
    from dataflow_governance.ml.digest import table_digest  # (numpy and pyarrow: where a snapshot is read)

    if table_digest(table) != record.digest:
        raise DatasetError(f"snapshot {record.snapshot_uri} was altered: its content digest is not {record.digest}")
    return table


def verify_snapshot(store: ObjectStore, record: DatasetRecord) -> list[str]:
    """Problems with the snapshot as stored now (empty: intact). Also the key's current object must
    hold the recorded bytes: a content-addressed snapshot is never rewritten."""
    try:
        read_snapshot(store, record)
    except DatasetError as exc:
        return [str(exc)]
    bucket, key = record.bucket_key
    head = head_object(store, bucket, key)
    if head is None:
        return [f"snapshot {record.snapshot_uri} has no current version (deleted after it was recorded)"]
    if head.get("VersionId") != record.version_id and \
            hashlib.sha256(get_object(store, bucket, key)).hexdigest() != record.snapshot_sha256:
        return [f"snapshot {record.snapshot_uri} was overwritten with different bytes after it was recorded "
                f"(its recorded version {record.version_id} is still intact)"]
    return []


# --- membership --------------------------------------------------------------------------------

def membership_digest(members: list[str]) -> str:
    return DIGEST_PREFIX + hashlib.sha256("\n".join(sorted(members)).encode()).hexdigest()


def _members(warehouse: Warehouse, select: str, where: str, value: str) -> list[str]:
    warehouse = warehouse.governance_store
    if not warehouse.table_exists(MEMBERS_TABLE):
        return []
    query = exp.select(select).distinct().from_(table_expr(MEMBERS_TABLE)).where(exp.column(where).eq(exp.Literal.string(value)))
    return sorted(row[0] for row in warehouse.fetch(query))


def store_membership(warehouse: Warehouse, digest: str, members: list[str]) -> None:
    import pandas as pd

    warehouse = warehouse.governance_store
    """Index once per digest (a re-materialization of the same rows adds nothing)."""
    if not _members(warehouse, "member", "digest", digest):
        warehouse.append_rows(MEMBERS_TABLE, pd.DataFrame({"digest": [digest] * len(members), "member": members}, dtype="object"))


def digests_holding(warehouse: Warehouse, member: str) -> list[str]:
    """Digests of the datasets whose membership index holds this subject hash."""
    return _members(warehouse, "digest", "member", member)


def members_of(warehouse: Warehouse, digest: str) -> list[str]:
    return _members(warehouse, "member", "digest", digest)


# --- lineage and the record ------------------------------------------------------------------------

def dataset_lineage(spec: DatasetSpec, warehouse: Warehouse) -> dict[str, list[str]]:
    """Output column → the table.column values it is built from (sqlglot over the SELECT)."""
    try:
        schema = {t: warehouse.columns(t) for t in table_dependencies(spec.sql, spec.dialect)}
        lineage = column_lineage(spec.sql, schema, spec.dialect)
    except (LineageError, WarehouseError) as exc:
        raise DatasetError(f"training dataset {spec.asset!r}: cannot trace its SELECT: {exc}") from None
    return {column: sorted(f"{d.table}.{d.column}" for d in item.direct) for column, item in lineage.columns.items()}


def materialize_dataset(spec: DatasetSpec, warehouse: Warehouse, store: ObjectStore, subjects: Subjects,
                        actor: str = "dfg:dataset") -> DatasetRecord:
    """Select, order, digest, snapshot, index and ledger one audited dataset (module docstring).

    Args:
        spec: the dataset's SELECT, key order, subject column and purposes.
        warehouse: where the SELECT runs, and whose governance store keeps the membership index.
        store: the S3 object store snapshots are written to.
        subjects: who the rows are about (consents, identity tables, keys).
        actor: who the ledger says materialized it.

    Returns:
        The record ledgered as `dataset.materialized` (counts and digests, never values).
    """
    import pyarrow as pa

    ledger = Ledger(warehouse)
    lineage = dataset_lineage(spec, warehouse)
    frame, members, excluded = select_rows(spec, warehouse, ledger, subjects)
    table = pa.Table.from_pandas(frame, preserve_index=False)
    from dataflow_governance.ml.digest import canonical_schema, table_digest

    digest = table_digest(table)
    uri, version, sha256, reused = write_snapshot(store, spec, table, digest)
    store_membership(warehouse, digest, members)
    record = DatasetRecord(
        asset=spec.asset, digest=digest, rows=table.num_rows, columns=canonical_schema(table), snapshot_uri=uri,
        version_id=version, snapshot_sha256=sha256, sources=sorted({s for v in lineage.values() for s in v}),
        lineage=lineage, purposes=list(spec.purposes), legal_basis=spec.legal_basis, members=len(members),
        membership_digest=membership_digest(members), excluded=excluded, reused=reused)
    details = {k: v for k, v in record.to_dict().items() if k not in ("seq", "ts", "deleted")}
    entry = ledger.append(actor, "dataset.materialized", f"dataset:{spec.asset}", details)
    record.seq, record.ts = entry.seq, entry.ts
    return record


def dataset_records(ledger: Ledger, asset: str | None = None) -> list[DatasetRecord]:
    """Every recorded materialization (oldest first), marked where an erasure deleted its snapshot."""
    records = [DatasetRecord(**entry.details_dict(), seq=entry.seq, ts=entry.ts)
               for entry in ledger.entries(action="dataset.materialized")]
    records = [r for r in records if asset is None or r.asset == asset]
    deleted = {}
    for entry in ledger.entries(action="erasure.target_done"):
        details = entry.details_dict()
        if details.get("system") == "s3":
            deleted[details["target"]] = {"seq": entry.seq, "ts": entry.ts, "by": entry.target}
    for record in records:
        record.deleted = deleted.get(record.snapshot_uri)
    return records


def latest_record(ledger: Ledger, asset: str) -> DatasetRecord:
    records = dataset_records(ledger, asset)
    if not records:
        raise DatasetError(f"no materialization of training dataset {asset!r} is recorded in the ledger")
    return records[-1]


def records_by_digest(ledger: Ledger) -> dict[str, DatasetRecord]:
    """Digest → its latest record (one ledger read for any number of lookups)."""
    return {record.digest: record for record in dataset_records(ledger)}


__all__ = [
    "MEMBERS_TABLE",
    "DatasetError",
    "DatasetRecord",
    "DatasetSpec",
    "Subjects",
    "dataset_records",
    "digests_holding",
    "latest_record",
    "materialize_dataset",
    "members_of",
    "read_snapshot",
    "records_by_digest",
    "select_rows",
    "verify_snapshot",
]
