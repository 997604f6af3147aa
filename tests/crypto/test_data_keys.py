"""Field-level encryption with per-subject keys: the key store, the token format, the KEKs (a local
file and KMS over HTTP), ledgered decryption, and the rule for immutable stores."""

import os
import stat
import threading

import boto3
import pandas as pd
import pytest

from conftest import PG_DSN
from dataflow_governance import GovernanceError, Ledger, PolicyContext, Warehouse, build_governance, run_policy
from dataflow_governance.local import s3 as local_s3
from dataflow_governance.crypto import AwsKmsKek, DataKeyStore, KeyStoreError, LocalKek, keyring_for
from dataflow_governance.crypto.fields import (
    ERASED,
    SHREDDED,
    FieldCryptoError,
    decrypt_frame,
    decrypt_records,
    encrypt_frame,
    encrypt_records,
    key_id_of,
    unseal,
)


def key_store(warehouse: Warehouse, state, kek=None) -> DataKeyStore:
    """A key store as a process opens it: its KEK and hashing keys checked against the ledger's fingerprints."""
    keyring = keyring_for(state, warehouse)
    return DataKeyStore(warehouse, kek or LocalKek(state, keyring.book), keyring)


@pytest.fixture
def store(tmp_path) -> DataKeyStore:
    return key_store(Warehouse("duckdb", path=str(tmp_path / "w.duckdb")), tmp_path)


CUSTOMERS = pd.DataFrame({"customer_id": [1, 2, 1, 3], "email": ["a@x.io", "b@x.io", "a@x.io", None],
                          "amount": [10.5, 20.0, 3.25, 7.0]})


def test_fields_are_sealed_per_subject_and_open_only_where_they_were_written(store):
    sealed = encrypt_frame(CUSTOMERS, "orders", ["customer_id", "email", "amount"], "customer_id", store)
    assert not set(sealed["email"].dropna()) & {"a@x.io", "b@x.io"}
    ids = [key_id_of(t) for t in sealed["email"]]
    assert ids[0] == ids[2] != ids[1]  # one key per subject, the same for each of its rows
    assert sealed["email"][0] != sealed["email"][2]  # a fresh nonce per value: equal values do not look equal
    opened = decrypt_frame(sealed, "orders", ["customer_id", "email", "amount"], store, actor="test", purpose="test")
    assert opened["customer_id"].tolist() == [1, 2, 1, 3] and opened["amount"].tolist() == [10.5, 20.0, 3.25, 7.0]
    assert opened["email"].tolist()[:3] == ["a@x.io", "b@x.io", "a@x.io"] and pd.isna(opened["email"].tolist()[3])
    assert pd.isna(sealed["email"][3])  # no value: nothing sealed
    keys = store.keys_by_id({ids[0]})
    token = sealed["email"][0]
    with pytest.raises(FieldCryptoError, match="another column"):
        unseal(keys, "orders", "customer_id", token)  # bound to its asset and column
    head, body = token.rsplit(":", 1)
    tampered = head + ":" + ("A" if body[5] != "A" else "B").join([body[:5], body[6:]])
    with pytest.raises(FieldCryptoError):
        unseal(keys, "orders", "email", tampered)


def test_a_column_key_seals_restricted_data_that_belongs_to_no_subject(store):
    from dataflow_governance import encrypt_column

    secrets_ = pd.DataFrame({"partner": ["acme", "globex"], "api_secret": ["s3cr3t-1", "s3cr3t-2"]})
    sealed = encrypt_column(secrets_, "partners", "api_secret", store)
    assert len({key_id_of(t) for t in sealed["api_secret"]}) == 1 and "s3cr3t-1" not in str(sealed.to_dict())
    assert decrypt_frame(sealed, "partners", ["api_secret"], store, actor="t", purpose="t")["api_secret"].tolist() == \
        ["s3cr3t-1", "s3cr3t-2"]


def test_keys_survive_a_restart_are_made_once_and_a_shredded_subject_gets_no_new_one(store, tmp_path):
    owner = store.subject_owner(42)
    first = store.keys_for([owner], create=True)[owner]
    again = key_store(store.warehouse, tmp_path)  # a new process: same KEK file, same table
    assert again.keys_for([owner])[owner] == first
    again._insert([owner])  # a racing writer that did not see the key: the table keeps the first
    assert again.keys_for([owner], create=True)[owner].key == first.key
    kek_file = next((tmp_path / "keys").glob("kek-*.bin"))
    assert stat.S_IMODE(kek_file.stat().st_mode) == 0o600
    assert store.shred(owner) is not None and store.shred(owner) is None
    assert store.keys_for([owner], create=True)[owner].key is None  # never a new key for an erased subject
    late = encrypt_records([{"customer_id": 42, "email": "late@x.io"}], "events", ["customer_id", "email"],
                           "customer_id", store)
    assert late == [{"customer_id": ERASED, "email": ERASED}]  # late data of an erased subject never lands


def test_many_writers_at_once_end_with_one_key_per_subject(tmp_path):
    warehouse = Warehouse("duckdb", path=str(tmp_path / "w.duckdb"))
    results, errors = [], []

    def write():
        try:
            mine = key_store(warehouse, tmp_path)
            results.append(mine.keys_for([mine.subject_owner(i) for i in range(20)], create=True))
        except Exception as exc:  # noqa: BLE001 - collected for the assertion
            errors.append(exc)

    threads = [threading.Thread(target=write) for _ in range(4)]
    [t.start() for t in threads]
    [t.join() for t in threads]
    assert not errors, errors
    assert all(r == results[0] for r in results)


def test_decryption_is_ledgered_with_who_why_and_counts_and_needs_a_purpose(store):
    sealed = encrypt_records([{"customer_id": 7, "email": "g@x.io"}, {"customer_id": 8, "email": "h@x.io"}],
                             "events", ["customer_id", "email"], "customer_id", store)
    store.shred(store.subject_owner(8))
    with pytest.raises(FieldCryptoError, match="purpose"):
        decrypt_records(sealed, "events", ["email"], store, actor="analyst", purpose=" ")
    opened = decrypt_records(sealed, "events", ["customer_id", "email"], store, actor="analyst", purpose="support case")
    assert opened[0] == {"customer_id": 7, "email": "g@x.io"} and opened[1] == {"customer_id": SHREDDED, "email": SHREDDED}
    [entry] = Ledger(store.warehouse).entries(action="fields.decrypted")
    assert entry.actor == "analyst" and entry.target == "asset:events"
    assert entry.details_dict() == {"columns": ["customer_id", "email"], "purpose": "support case", "values": 4,
                                    "shredded": 2}
    assert "g@x.io" not in str([e.details_dict() for e in Ledger(store.warehouse).entries()])


def test_rotating_the_kek_rewraps_every_key_without_touching_data_and_retires_the_old_one(store, tmp_path):
    sealed = encrypt_records([{"customer_id": i, "email": f"{i}@x.io"} for i in range(5)], "events",
                             ["email"], "customer_id", store)
    before = store.warehouse.fetch("SELECT key_id, wrapped, kek FROM governance_subject_keys ORDER BY key_id")
    kek = LocalKek(tmp_path, store.keyring.book)
    kek.rotate()
    summary = key_store(store.warehouse, tmp_path, kek).rotate()
    assert summary == {"rewrapped": 5, "retired": ["local:1"]}
    assert not (tmp_path / "keys" / "kek-1.bin").exists()
    after = store.warehouse.fetch("SELECT key_id, wrapped, kek FROM governance_subject_keys ORDER BY key_id")
    assert [r[0] for r in after] == [r[0] for r in before]  # the same keys
    assert all(a[1] != b[1] and a[2] == "local:2" for a, b in zip(after, before))  # wrapped anew
    reopened = key_store(store.warehouse, tmp_path)
    assert [r["email"] for r in decrypt_records(sealed, "events", ["email"], reopened, actor="t", purpose="t")] == \
        [f"{i}@x.io" for i in range(5)]
    os.remove(tmp_path / "keys" / "kek-2.bin")
    with pytest.raises(KeyStoreError, match="restore the state folder"):
        decrypt_records(sealed, "events", ["email"], key_store(store.warehouse, tmp_path),
                        actor="t", purpose="t")


def test_kms_wraps_the_keys_over_http_and_a_disabled_key_is_refused_whatever_the_endpoint_says(tmp_path):
    endpoint = local_s3.ensure_running(tmp_path / "state")
    try:
        kms = boto3.client("kms", endpoint_url=endpoint.url, region_name="eu-central-1",
                           aws_access_key_id="x", aws_secret_access_key="x")
        first = kms.create_key()["KeyMetadata"]["KeyId"]
        store = key_store(Warehouse("duckdb", path=str(tmp_path / "w.duckdb")), tmp_path, AwsKmsKek(kms, first))
        sealed = encrypt_records([{"customer_id": 1, "email": "k@x.io"}], "events", ["email"], "customer_id", store)
        fresh = lambda key: key_store(store.warehouse, tmp_path, AwsKmsKek(kms, key))  # noqa: E731 - nothing cached
        assert decrypt_records(sealed, "events", ["email"], fresh(first), actor="t", purpose="t")[0]["email"] == "k@x.io"
        second = kms.create_key()["KeyMetadata"]["KeyId"]
        assert fresh(second).rotate()["rewrapped"] == 1  # ReEncrypt to the new KMS key; the old one retired
        assert kms.describe_key(KeyId=first)["KeyMetadata"]["KeyState"] == "PendingDeletion"
        assert decrypt_records(sealed, "events", ["email"], fresh(second), actor="t", purpose="t")[0]["email"] == "k@x.io"
        kms.disable_key(KeyId=second)
        assert kms.decrypt(CiphertextBlob=store.warehouse.fetch("SELECT wrapped FROM governance_subject_keys")[0][0],
                           EncryptionContext={"purpose": "dfg:data-key"})["Plaintext"]  # the endpoint still answers
        with pytest.raises(KeyStoreError, match="Disabled"):
            decrypt_records(sealed, "events", ["email"], fresh(second), actor="t", purpose="t")
    finally:
        local_s3.stop(tmp_path / "state")


def test_the_key_store_runs_on_postgres_and_a_shredded_key_is_gone_from_its_table(tmp_path, pg_schema):
    warehouse = Warehouse("postgres", dsn=PG_DSN, schema=pg_schema)
    store = key_store(warehouse, tmp_path)
    sealed = encrypt_frame(CUSTOMERS, "orders", ["email"], "customer_id", store)
    wrapped, kek = store.shred(store.subject_owner(2))
    assert wrapped and kek == "local:1" and not store.is_live(store.subject_owner(2)) and warehouse.engine.files_contain(wrapped) is None
    opened = decrypt_frame(sealed, "orders", ["email"], key_store(warehouse, tmp_path),
                           actor="t", purpose="t")
    emails = opened["email"].tolist()
    assert emails[0] == emails[2] == "a@x.io" and pd.isna(emails[1])  # the shredded subject's: gone


def test_personal_data_in_an_immutable_store_must_be_sealed_per_subject():
    def findings(columns):
        gov = build_governance("log", {"immutable": True, "legal_basis": "contract", "retention": {"keep": "1y"},
                                       "encryption": {"at_rest": "AES-256", "in_transit": "TLS"}, "columns": columns})
        ctx = PolicyContext(governance={"log": gov}, upstream={"log": frozenset()}, processors={})
        return [f for f in run_policy(ctx) if f.rule == "immutable-personal-unencrypted"]

    sealed = {"customer_id": {"identity": True, "categories": ["user.unique_id"], "encryption": "subject_key"},
              "email": {"categories": ["user.contact.email"], "encryption": "subject_key"}}
    assert findings(sealed) == []
    [plain] = findings({**sealed, "email": {"categories": ["user.contact.email"]}})
    assert "email" in plain.message and "never be erased" in plain.message
    assert findings({**sealed, "customer_id": {"identity": True, "categories": ["user.unique_id"]}})  # the id too
    with pytest.raises(GovernanceError, match="identity"):
        build_governance("log", {"legal_basis": "contract", "columns": {
            "email": {"categories": ["user.contact.email"], "encryption": "subject_key"}}})


def test_sealed_columns_and_immutability_are_visible_in_dagster():
    from dataflow_governance.dagster_ext import governed_spec

    spec = governed_spec("log", {"immutable": True, "legal_basis": "contract", "columns": {
        "customer_id": {"identity": True, "categories": ["user.unique_id"], "encryption": "subject_key"}}})
    assert spec.tags["immutable"] == "true"
    column = spec.metadata["dagster/column_schema"].columns[0]
    assert column.tags["encryption"] == "subject_key"
    assert "sealed per subject: customer_id" in spec.metadata["governance"].value


def test_crypto_shredding_is_a_security_measure_in_the_art30_record():
    from dataflow_governance.reports.ropa import ropa_activities

    gov = build_governance("log", {"immutable": True, "legal_basis": "contract", "columns": {
        "customer_id": {"identity": True, "categories": ["user.unique_id"], "encryption": "subject_key"}}})
    [activity] = ropa_activities(PolicyContext(governance={"log": gov}, upstream={}, processors={}))
    assert any("crypto-shredding" in measure and "customer_id" in measure for measure in activity["security_measures"])
