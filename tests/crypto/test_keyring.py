"""A proof that rests on keys checks them: a crypto-shred retires the KEK that wrapped the key (so a
backup or the database's WAL holding the wrapped key opens nothing), and every key is checked
against the fingerprint the ledger recorded when it was made — never silently made again."""

import json
import shutil
from datetime import timedelta, timezone

import boto3
import pandas as pd
import pytest
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from sqlglot import exp

from conftest import PG_DSN, dfg_json, run_dfg
from dataflow_governance import Ledger, Warehouse, build_governance, load_project
from dataflow_governance.local import s3 as local_s3
from dataflow_governance.dagster_ext.parts import open_key_store, open_keyring, reach_of, scope_of
from dataflow_governance.crypto import KeyStoreError, LocalKek
from dataflow_governance.crypto.fields import SHREDDED, encrypt_frame, key_id_of, unseal
from dataflow_governance.crypto.kek import WRAP_CONTEXT
from dataflow_governance.subjects import erase
from dataflow_governance import open_warehouse

SEALED = ["customer_id", "email"]
EVENTS = build_governance("events", {
    "immutable": True, "legal_basis": "contract", "storage": {"kind": "warehouse", "table": "events"},
    "columns": {"customer_id": {"identity": True, "categories": ["user.unique_id"], "encryption": "subject_key"},
                "email": {"categories": ["user.contact.email"], "encryption": "subject_key"},
                "kind": {"type": "varchar"}}})


def sealed_project(tmp_path, warehouse_yaml: str, keys_yaml: str = ""):
    manifest = tmp_path / "dagster_project.yaml"
    manifest.write_text(f"project: shred\n{warehouse_yaml}\n{keys_yaml}\n"
                        "subjects:\n  customer: {identity: events.customer_id}\n")
    project = load_project(manifest)
    warehouse = open_warehouse(project)
    frame = pd.DataFrame({"customer_id": [1, 2, 2, 3], "email": ["a@x.io", "b@x.io", "b@x.io", "c@x.io"],
                          "kind": ["placed", "placed", "paid", "placed"]})
    warehouse.replace_table("events", encrypt_frame(frame, "events", SEALED, "customer_id",
                                                    open_key_store(project, warehouse)))
    return project, warehouse


def key_row(warehouse: Warehouse, project, subject) -> tuple[bytes, str]:
    store = open_key_store(project, warehouse)
    query = exp.select("wrapped", "kek").from_("governance_subject_keys").where(exp.column("owner").eq(exp.Placeholder()))
    wrapped, kek = warehouse.governance_store.fetch(query, [store.subject_owner(subject)])[0]
    return bytes(wrapped), kek


def opens_with_anything_left(state_dir, kek_id: str, wrapped: bytes) -> bool:
    """Whether the wrapped key opens with the KEK it names, or with any key file left in the state folder."""
    try:
        LocalKek(state_dir).unwrap(kek_id, wrapped)
        return True
    except KeyStoreError:
        pass
    for path in (state_dir / "keys").iterdir():
        if len(path.read_bytes()) == 32:
            try:
                AESGCM(path.read_bytes()).decrypt(wrapped[:12], wrapped[12:], WRAP_CONTEXT)
                return True
            except InvalidTag:
                continue
    return False


def test_a_backup_taken_before_the_erasure_opens_nothing_after_it(demo_copy, tmp_path):
    project = load_project(demo_copy)
    warehouse = open_warehouse(project)
    subject = warehouse.fetch("SELECT min(user_id) FROM orders WHERE user_id IS NOT NULL")[0][0]
    backup = tmp_path / "backup"
    shutil.copytree(project.state_dir, backup, ignore=shutil.ignore_patterns("s3"))  # the warehouse and keys/
    old_wrapped, old_kek = key_row(warehouse, project, subject)
    assert LocalKek(backup).unwrap(old_kek, old_wrapped)  # the backup, with the KEK of its day, opens the key

    code, result, err = dfg_json("erase", "--subject-id", str(subject), "--now", project=demo_copy)
    assert code == 0 and result["status"] == "verified", err
    key = next(t for t in result["targets"] if t["system"] == "keys")
    assert key["outcome"] == "verified" and key["kek_retired_at"]
    certificate = (project.output_dir / "erasures" / f"{result['subject']}.md").read_text()
    assert f"({old_kek}) was destroyed at {key['kek_retired_at']}" in certificate
    assert "are erased with it" not in certificate  # the old, false claim

    # The attacker holds the backup's copy of the wrapped key and everything the project has now.
    backup_wh = Warehouse("duckdb", path=str(backup / "warehouse.duckdb"))
    owner = open_key_store(project, warehouse).subject_owner(subject)
    (copied,) = backup_wh.fetch("SELECT wrapped FROM governance_subject_keys WHERE owner = ?", [owner])[0]
    assert bytes(copied) == old_wrapped
    assert not opens_with_anything_left(project.state_dir, old_kek, old_wrapped)
    # Every other subject's key was re-wrapped and still opens; the KEK files of the backup's day are gone.
    code, status, _ = dfg_json("keys", "status", project=demo_copy)
    assert code == 0 and status["rows"]["unopenable"] == 0 and status["kek"] != old_kek
    assert not (project.state_dir / "keys" / f"kek-{old_kek.split(':')[1]}.bin").exists()


def test_a_shredded_key_left_in_postgres_wal_opens_nothing(tmp_path, pg_schema):
    project, warehouse = sealed_project(tmp_path, f"warehouse: {{kind: postgres, dsn: '{PG_DSN}', schema: {pg_schema}}}")
    old_wrapped, old_kek = key_row(warehouse, project, 2)
    backup = warehouse.fetch("SELECT owner, wrapped, kek FROM governance_subject_keys")  # a copy of the key store
    warehouse.execute("CHECKPOINT")

    result = erase(reach_of(project, warehouse), scope_of(project, {"events": EVENTS}, None), "2", immediately=True)
    assert result.status == "verified", [t.public() for t in result.targets]
    assert next(t for t in result.targets if t.system == "keys").kek_retired_at
    warehouse.execute("CHECKPOINT")

    # The server's WAL still holds the wrapped key as it was written (a backup or replica would too) …
    segments = [name for (name,) in warehouse.fetch("SELECT name FROM pg_ls_waldir() ORDER BY modification DESC")]
    read = exp.select(exp.func("pg_read_binary_file", exp.Placeholder()))
    in_wal = any(old_wrapped in bytes(warehouse.fetch(read, [f"pg_wal/{name}"])[0][0])
                 for name in segments[:4])
    assert in_wal, "the test needs the wrapped key in the WAL to show that it is useless there"
    # … and neither that copy nor the key store's backup opens with anything the project has now.
    assert not opens_with_anything_left(project.state_dir, old_kek, old_wrapped)
    assert all(not opens_with_anything_left(project.state_dir, kek, bytes(w)) for _o, w, kek in backup
               if w is not None and bytes(w) == old_wrapped)
    sealed = warehouse.fetch_df("SELECT * FROM events")
    keys = open_key_store(project, warehouse)
    theirs = [t for t in sealed["email"] if key_id_of(t) == keys.key_id_of(keys.subject_owner(2))]
    assert theirs and all(unseal(keys.keys_by_id({key_id_of(t)}), "events", "email", t) is SHREDDED for t in theirs)
    others = [t for t in sealed["email"] if key_id_of(t) != key_id_of(theirs[0])]
    assert {unseal(keys.keys_by_id({key_id_of(t)}), "events", "email", t) for t in others} == {"a@x.io", "c@x.io"}


def test_with_kms_the_erasure_is_pending_until_the_old_key_is_deleted(tmp_path, monkeypatch):
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "x")  # the local endpoint takes any credentials
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "x")
    endpoint = local_s3.ensure_running(tmp_path / "kms")
    try:
        kms = boto3.client("kms", endpoint_url=endpoint.url, region_name="eu-central-1",
                           aws_access_key_id="x", aws_secret_access_key="x")
        first = kms.create_key()["KeyMetadata"]
        kms.create_alias(AliasName="alias/dfg-shred", TargetKeyId=first["KeyId"])
        keys = (f"keys: {{provider: aws-kms, kms_key_id: alias/dfg-shred, kms_endpoint_url: '{endpoint.url}'}}")
        project, warehouse = sealed_project(tmp_path, "warehouse: {kind: duckdb}", keys)
        result = erase(reach_of(project, warehouse), scope_of(project, {"events": EVENTS}, None), "2", immediately=True)
        key = next(t for t in result.targets if t.system == "keys")
        assert result.status == "shredded, pending KEK retirement" and key.outcome == "pending"
        deletion = kms.describe_key(KeyId=first["KeyId"])["KeyMetadata"]
        assert deletion["KeyState"] == "PendingDeletion" and "scheduled for deletion" in key.pending
        certificate = (project.output_dir / "erasures" / f"{result.subject}.md").read_text()
        assert "**shredded, pending KEK retirement**" in certificate and "**Pending:**" in certificate
        keys_before = len(kms.list_keys()["Keys"])

        later = deletion["DeletionDate"].astimezone(timezone.utc).replace(tzinfo=None) + timedelta(days=1)
        again = erase(reach_of(project, warehouse), scope_of(project, {"events": EVENTS}, None), "2", immediately=True,
                      now=later)
        assert again.status == "verified", [t.public() for t in again.targets]
        assert next(t for t in again.targets if t.system == "keys").kek_retired_at
        assert len(kms.list_keys()["Keys"]) == keys_before  # a rerun rotates nothing again
        assert [e.action for e in Ledger(warehouse).entries(action_prefix="erasure.")][-1] == "erasure.verified"
    finally:
        local_s3.stop(tmp_path / "kms")


# --- keys are checked, never silently recreated ------------------------------------------------

def test_a_deleted_empty_or_foreign_pseudonym_key_stops_the_erasure_before_it_changes_anything(demo_copy):
    project = load_project(demo_copy)
    warehouse = open_warehouse(project)
    path = project.state_dir / "keys" / "pseudonym.key"
    original = path.read_bytes()
    rows = warehouse.fetch("SELECT count(*) FROM tickets_clean")[0][0]
    head = Ledger(warehouse).head().hash
    for damage, expected in ((lambda: path.unlink(), "is missing"), (lambda: path.write_text(""), "is empty"),
                             (lambda: path.write_text(original.decode()[:40]), "is cut short"),
                             (lambda: path.write_text("ab" * 32), "is not the key whose fingerprint")):
        damage()
        code, out, err = run_dfg("erase", "--subject-id", "7", "--now", project=demo_copy)
        assert code == 2 and expected in err and "dfg keys recreate" in err and "Traceback" not in err, (damage, err)
        assert original.decode() not in err + out  # the message never shows a key
        assert warehouse.fetch("SELECT count(*) FROM tickets_clean")[0][0] == rows and Ledger(warehouse).head().hash == head
        path.unlink(missing_ok=True)
        path.write_bytes(original)
    assert path.read_bytes() == original and len(list(path.parent.glob("pseudonym.key*"))) == 1  # none made in its place

    path.unlink()
    code, status, _ = dfg_json("keys", "status", project=demo_copy)
    assert code == 1 and {k["key"]: k["state"] for k in status["keys"]}["pseudonym"] == "missing"
    code, _out, err = run_dfg("keys", "recreate", "--key", "pseudonym", project=demo_copy)
    assert code == 2 and "--reason" in err
    code, made, err = dfg_json("keys", "recreate", "--key", "pseudonym", "--reason", "lost in a disk failure",
                               project=demo_copy)
    assert code == 0 and made["previous_state"] == "missing", err
    [entry] = Ledger(warehouse).entries(action="keys.recreated")
    assert entry.target == "key:pseudonym" and entry.details_dict()["reason"] == "lost in a disk failure"
    assert entry.details_dict()["fingerprint"] != original.decode()[:32]  # a keyed hash, not the key
    code, status, _ = dfg_json("keys", "status", project=demo_copy)
    assert code == 0 and {k["key"]: k["state"] for k in status["keys"]}["pseudonym"] == "ok"


def test_a_lost_subject_key_stops_the_sweep_instead_of_dropping_the_suppression_list(demo_copy):
    project = load_project(demo_copy)
    code, _r, err = dfg_json("erase", "--subject-id", "9", "--now", project=demo_copy)
    assert code == 0, err
    (project.state_dir / "keys" / "subject.key").unlink()
    code, _out, err = run_dfg("sweep", project=demo_copy)
    assert code == 2 and "the subject key" in err and "is missing" in err
    code, _out, err = run_dfg("erase", "--subject-id", "9", "--now", project=demo_copy)
    assert code == 2 and "is missing" in err  # never a "planned" erasure of an already erased subject


def test_a_truncated_kek_is_reported_and_refused(demo_copy):
    project = load_project(demo_copy)
    kek = next((project.state_dir / "keys").glob("kek-*.bin"))
    kek.write_bytes(kek.read_bytes()[:16])
    code, status, _ = dfg_json("keys", "status", project=demo_copy)
    assert code == 1 and status["keks"][-1]["state"] == "truncated"
    subject = open_warehouse(project).fetch("SELECT min(user_id) FROM orders")[0][0]
    code, _out, err = run_dfg("access", "--subject-id", str(subject), project=demo_copy)
    assert code == 2 and "is truncated" in err and "Traceback" not in err


def test_a_key_row_gone_without_a_shred_is_an_error_not_zero_events(demo_copy):
    project = load_project(demo_copy)
    warehouse = open_warehouse(project)
    subject = warehouse.fetch("SELECT min(user_id) FROM orders")[0][0]
    owner = open_key_store(project, warehouse).subject_owner(subject)
    warehouse.execute("DELETE FROM governance_subject_keys WHERE owner = ?", [owner])
    code, out, err = run_dfg("access", "--subject-id", str(subject), project=demo_copy)
    assert code == 2 and "missing from it although never shredded" in err, out + err
    code, status, _ = dfg_json("keys", "status", project=demo_copy)
    assert status["rows"]["live"] > 0 and all(set(r) >= {"owner", "key_id", "kek", "state"} for r in status["key_rows"])


def test_env_keys_are_checked_too(tmp_path):
    project, warehouse = sealed_project(tmp_path, "warehouse: {kind: duckdb}")
    keyring = open_keyring(project, warehouse)
    assert keyring.key("pseudonym")
    (project.state_dir / "keys" / "pseudonym.key").rename(tmp_path / "moved")
    import os

    os.environ["DFG_PSEUDONYM_KEY"] = "short"
    try:
        with pytest.raises(Exception, match="shorter than 32"):
            keyring.key("pseudonym")
        os.environ["DFG_PSEUDONYM_KEY"] = "x" * 40
        with pytest.raises(Exception, match="is not the pseudonym key"):
            keyring.key("pseudonym")
    finally:
        del os.environ["DFG_PSEUDONYM_KEY"]
    assert json.dumps(keyring.state("pseudonym"))
