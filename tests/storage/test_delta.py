"""Delta Lake tables: a DELETE alone leaves the subject in time travel and in the log's statistics;
the project's erasure removes both, and verification proves it on every retained version."""

import pyarrow as pa
import pytest
from deltalake import DeltaTable, write_deltalake

from conftest import dfg_json
from dataflow_governance import load_project
from dataflow_governance.storage.delta import count_rows, erase_rows, verify_erased, write_delta

OTHERS = pa.table({"user_id": [2, 3], "email": ["b@x.io", "c@x.io"]})
SUBJECT = pa.table({"user_id": [1, 4], "email": ["a@x.io", "d@x.io"]})


def log_bytes(path) -> bytes:
    return b"".join(p.read_bytes() for p in (path / "_delta_log").glob("*.json"))


def test_a_plain_delete_is_not_an_erasure_on_delta(tmp_path):
    path = tmp_path / "t"
    write_deltalake(str(path), OTHERS)
    write_deltalake(str(path), SUBJECT, mode="append")
    DeltaTable(str(path)).delete('"user_id" = 1')
    assert 1 in DeltaTable(str(path), version=1).to_pyarrow_table()["user_id"].to_pylist()  # time travel
    assert b"a@x.io" in log_bytes(path)  # the log's statistics name the email
    assert not verify_erased(path, "user_id", "1", ["a@x.io"]).clean  # and the verification says so


def test_a_table_written_elsewhere_loses_the_subject_from_every_version_and_from_the_log(tmp_path):
    path = tmp_path / "t"
    write_deltalake(str(path), OTHERS)  # statistics on every column, as Spark writes by default
    write_deltalake(str(path), SUBJECT, mode="append")
    assert count_rows(path, "user_id", "1") == 1
    done = erase_rows(path, "user_id", "1", ["a@x.io"])
    assert done.deleted == 1 and done.files_removed and done.log_truncated_before is not None
    check = verify_erased(path, "user_id", "1", ["a@x.io"])
    assert check.clean and "holds" not in check.versions.values()
    assert b"a@x.io" not in log_bytes(path)
    assert sorted(DeltaTable(str(path)).to_pyarrow_table()["user_id"].to_pylist()) == [2, 3, 4]  # the others stay
    assert DeltaTable(str(path)).metadata().configuration.get("delta.logRetentionDuration") == "interval 30 days"


def test_a_table_the_project_writes_keeps_everyone_elses_time_travel(tmp_path):
    path = tmp_path / "t"
    write_delta(path, OTHERS, personal=["user_id", "email"])
    write_delta(path, SUBJECT, personal=["user_id", "email"])
    assert b"b@x.io" not in log_bytes(path)  # no statistics on personal columns: the log never names them
    done = erase_rows(path, "user_id", "1", ["a@x.io"])
    assert done.deleted == 1 and done.log_truncated_before is None
    check = verify_erased(path, "user_id", "1", ["a@x.io"])
    assert check.clean
    assert check.versions[0] == "clean" and check.versions[1] == "unreadable"  # only the version that held them
    assert DeltaTable(str(path), version=0).to_pyarrow_table()["user_id"].to_pylist() == [2, 3]


@pytest.mark.parametrize("hostile", ["1 OR 1=1", "' OR ''='", "1; DROP", "x' OR user_id > 0 --"])
def test_hostile_ids_match_nothing(tmp_path, hostile):
    path = tmp_path / "t"
    write_delta(path, pa.table({"user_id": ["1", "2"], "email": ["a@x.io", "b@x.io"]}), personal=["user_id", "email"])
    assert erase_rows(path, "user_id", hostile).deleted == 0
    assert DeltaTable(str(path)).to_pyarrow_table().num_rows == 2


def test_the_example_delta_table_is_erased_through_every_version(demo_copy):
    project = load_project(demo_copy)
    path = project.state_dir / project.governance["marketing_audience"].storage.path
    audience = DeltaTable(str(path)).to_pyarrow_table()
    subject = audience["user_id"][0].as_py()
    email = audience["email"][0].as_py()
    write_delta(path, audience, personal=["user_id", "email", "country"], mode="overwrite")  # a second version
    code, result, err = dfg_json("erase", "--subject-id", str(subject), "--now", project=demo_copy)
    assert code == 0 and result["status"] == "verified", err
    target = next(t for t in result["targets"] if t["system"] == "delta")
    assert target["count"] == 1 and target["verified"]
    assert any("marketing_audience" in line and "data file(s)" in line for line in result["storage"]["done"])
    check = verify_erased(path, "user_id", str(subject), [email])
    assert check.clean and set(check.versions.values()) <= {"clean", "unreadable"}


def test_a_retention_sweep_removes_expired_rows_from_every_version_and_says_what_it_cannot_do(tmp_path):
    from datetime import datetime

    from dataflow_governance import build_governance
    from dataflow_governance.storage.delta import count_older, delete_older
    from dataflow_governance.retention.sweep import plan_sweep

    path = tmp_path / "t"
    times = pa.array([datetime(2020, 1, 1), datetime(2026, 1, 1), datetime(2026, 6, 1)], pa.timestamp("us"))
    write_deltalake(str(path), pa.table({"user_id": [1, 2, 3], "email": ["a@x.io", "b@x.io", "c@x.io"], "at": times}))
    cutoff = datetime(2025, 1, 1)
    assert count_older(path, "at", cutoff) == 1
    done = delete_older(path, "at", cutoff, ["user_id", "email"])
    assert done.deleted == 1 and done.files_removed
    assert DeltaTable(str(path)).to_pyarrow_table()["user_id"].to_pylist() == [2, 3]
    assert verify_erased(path, "user_id", "1", ["a@x.io"]).clean  # not in any version, file or log statistic
    facts = {"legal_basis": "consent", "storage": {"kind": "delta", "path": "t"},
             "columns": {"user_id": {"identity": True, "categories": ["user.unique_id"]}, "at": {}}}
    swept = plan_sweep({"a": build_governance("a", {**facts, "retention": {"keep": "1y", "timestamp_column": "at"}}),
                        "b": build_governance("b", {**facts, "retention": {"keep": "1y"}})}, datetime(2026, 7, 1))
    # A rule with nothing to date rows by is a problem (the sweep fails on it), never a quiet skip.
    assert [(i.asset, i.system, i.skipped, bool(i.problem)) for i in swept] == [("a", "delta", None, False),
                                                                              ("b", "delta", None, True)]
    assert "timestamp_column is not declared" in swept[1].problem
