"""Delta Lake tables (through delta-rs, no Spark): written so the log never names a personal value,
and erased so that time travel cannot bring a subject back.

A Delta DELETE only writes new files without the rows and tombstones the old ones: time travel
still returns the deleted rows, and the log's per-file statistics (min/max) may name the value.
So an erasure here:

1. deletes the rows (delta-rs `delete`, the value a quoted literal rendered by sqlglot);
2. removes the data files no current row needs that hold the subject (the ones the delete
   replaced, and older versions' files) — only those: everyone else's time travel stays as
   configured, but no version that held the subject can be read again;
3. when any log file still names the value (a table written with statistics on personal columns),
   writes a checkpoint and drops the commits before it (time travel before the checkpoint ends; the
   result says so) — then restores the table's log retention.

Tables the project writes keep statistics on non-personal columns only
(`delta.dataSkippingStatsColumns`), so step 3 is for tables written elsewhere. Verification loads
every version still in the history and reads every data file and every log file.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, cast

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from sqlglot import exp

from dataflow_governance.errors import DeltaError
from dataflow_governance.model.ids import as_number, canonical_id

LOG_RETENTION = "delta.logRetentionDuration"


def _table(path: Path, version: int | None = None):
    from deltalake import DeltaTable
    from deltalake.exceptions import DeltaError as RustDeltaError
    from deltalake.exceptions import TableNotFoundError

    try:
        return DeltaTable(str(path), version=version)
    except TableNotFoundError:
        return None
    except (RustDeltaError, OSError) as exc:
        raise DeltaError(f"Delta table {path}: {type(exc).__name__}") from None


def write_delta(path: Path, data: pa.Table, *, personal: Sequence[str], mode: str = "append") -> None:
    """Write (append or overwrite) keeping statistics on non-personal columns only, so the log
    never holds a personal value."""
    from deltalake import write_deltalake

    indexed = [c for c in data.column_names if c not in set(personal)]
    configuration: dict[str, str | None] = {"delta.dataSkippingStatsColumns": ",".join(indexed)} if indexed else \
        {"delta.dataSkippingNumIndexedCols": "0"}
    path.parent.mkdir(parents=True, exist_ok=True)
    write_deltalake(str(path), data, mode=cast(Any, mode), configuration=configuration)  # append | overwrite


def _is_subject(values: pa.ChunkedArray, subject_id: str) -> pa.ChunkedArray:
    """Typed comparison, as `matching` does for tables: numbers numerically, text exactly; a null
    never matches."""
    if pa.types.is_integer(values.type) or pa.types.is_floating(values.type):
        number = _number_for(values.type, subject_id)
        return pc.fill_null(pc.equal(values, pa.scalar(number, values.type)), False)
    return pc.fill_null(pc.equal(pc.cast(values, pa.string()), canonical_id(subject_id)), False)


def _number_for(kind: pa.DataType, subject_id: str) -> int | float | None:
    """The id as a number of the column's kind; None when it is none (then no row matches)."""
    number = as_number(subject_id)
    if number is None:
        return None
    if pa.types.is_integer(kind):
        return int(number) if number == int(number) else None
    return float(number)


def _predicate(column: str, kind: pa.DataType, subject_id: str) -> str | None:
    """The delete predicate: the column quoted, the id a literal of the column's kind (never SQL)."""
    if pa.types.is_integer(kind) or pa.types.is_floating(kind):
        number = _number_for(kind, subject_id)
        if number is None:
            return None  # no row of a numeric column is this id
        literal = exp.Literal.number(number)
    else:
        literal = exp.Literal.string(canonical_id(subject_id))
    return exp.column(column, quoted=True).eq(literal).sql("postgres")


def count_rows(path: Path, column: str, subject_id: str) -> int:
    table = _table(path)
    if table is None:
        return 0
    data = table.to_pyarrow_table(columns=[column])
    return int(pc.sum(_is_subject(data.column(column), subject_id)).as_py() or 0)


def rows_of(path: Path, column: str, subject_id: str) -> list[dict]:
    table = _table(path)
    if table is None:
        return []
    data = table.to_pyarrow_table()
    return data.filter(_is_subject(data.column(column), subject_id)).to_pylist()


@dataclass
class DeltaErasure:
    deleted: int = 0
    files_removed: list[str] = field(default_factory=list)
    log_truncated_before: int | None = None  # versions before it can no longer be time-travelled

    def describe(self, path: Path) -> list[str]:
        done = [f"Delta table {path}: {len(self.files_removed)} data file(s) that held the rows removed"]
        if self.log_truncated_before is not None:
            done.append(f"Delta table {path}: log commits before version {self.log_truncated_before} dropped (they "
                        "named the value in file statistics); time travel starts there")
        return done


def _data_files(path: Path) -> list[Path]:
    return [f for f in path.rglob("*.parquet") if "_delta_log" not in f.relative_to(path).parts]


def _holds(data_file: Path, column: str, subject_id: str) -> bool:
    values = pq.read_table(data_file, columns=[column]).column(column)
    return bool(pc.sum(_is_subject(values, subject_id)).as_py())


def _log_actions(path: Path) -> list[dict]:
    """Every action of every log file: JSON commits line by line, checkpoints (Parquet) row by row."""
    actions = []
    for entry in sorted((path / "_delta_log").glob("*")):
        if entry.suffix == ".json":
            actions += [json.loads(line) for line in entry.read_text().splitlines() if line.strip()]
        elif entry.suffix == ".parquet":
            actions += pq.read_table(entry).to_pylist()
    return actions


def _statistics(actions: list[dict]) -> list[tuple[str, object]]:
    """(column, value) of every min/max statistic any file action records."""
    found = []
    for action in actions:
        for kind in ("add", "remove"):
            stats = (action.get(kind) or {}).get("stats")
            if stats:
                parsed = json.loads(stats)
                for bound in ("minValues", "maxValues"):
                    found += list((parsed.get(bound) or {}).items())
    return found


def log_names(path: Path, column: str, subject_id: str, values: Sequence[str] = ()) -> bool:
    """Whether a statistic in the log is the subject's id (in its column, compared typed) or one of
    `values` (the subject's other personal values, e.g. an email) in any column."""
    number = as_number(subject_id)
    for name, value in _statistics(_log_actions(path)):
        if value in values:
            return True
        if name == column and (str(value) == canonical_id(subject_id) or
                               (number is not None and isinstance(value, (int, float)) and value == number)):
            return True
    return False


def erase_rows(path: Path, column: str, subject_id: str, personal_values: Sequence[str] = ()) -> DeltaErasure:
    """Delete the subject's rows and the remnants Delta keeps of them (see the module's docstring)."""
    table = _table(path)
    if table is None:
        return DeltaErasure()
    predicate = _predicate(column, pa.schema(table.schema().to_arrow()).field(column).type, subject_id)
    if predicate is None:
        return DeltaErasure()
    return _delete(path, table, predicate, lambda data_file: _holds(data_file, column, subject_id),
                   lambda: log_names(path, column, subject_id, personal_values))


def count_older(path: Path, column: str, cutoff: datetime) -> int:
    table = _table(path)
    if table is None:
        return 0
    return int(pc.sum(_before(table.to_pyarrow_table(columns=[column]).column(column), cutoff)).as_py() or 0)


def delete_older(path: Path, column: str, cutoff: datetime, personal: Sequence[str]) -> DeltaErasure:
    """A retention sweep: rows whose `column` is before `cutoff`, and their remnants, as an erasure
    removes a subject's (their personal values are read first, in memory only, to search the log)."""
    table = _table(path)
    if table is None:
        return DeltaErasure()
    current = table.to_pyarrow_table()
    expired = current.filter(_before(current.column(column), cutoff))
    values = {str(v) for name in personal if name in expired.column_names
              for v in expired.column(name).to_pylist() if v is not None}
    # (A text literal: the engine reads it in the column's own timestamp type and unit.)
    predicate = (exp.column(column, quoted=True) < exp.Literal.string(f"{cutoff:%Y-%m-%d %H:%M:%S}")).sql("postgres")

    def holds(data_file: Path) -> bool:
        return bool(pc.sum(_before(pq.read_table(data_file, columns=[column]).column(column), cutoff)).as_py())

    return _delete(path, table, predicate, holds,
                   lambda: any(str(value) in values for _name, value in _statistics(_log_actions(path))))


def _before(values: pa.ChunkedArray, cutoff: datetime) -> pa.ChunkedArray:
    bound = pa.scalar(cutoff.replace(tzinfo=UTC) if getattr(values.type, "tz", None) else cutoff,
                      pa.timestamp("us", getattr(values.type, "tz", None)))
    return pc.fill_null(pc.less(pc.cast(values, bound.type), bound), False)


def _delete(path: Path, table, predicate: str, holds, log_hit) -> DeltaErasure:
    result = DeltaErasure(deleted=int(table.delete(predicate)["num_deleted_rows"]))
    table = _table(path)
    # Every data file no current row needs that holds the rows: the ones this delete replaced, and
    # those older versions still reference (an overwrite, an earlier delete). Only those go.
    live = {Path(uri.removeprefix("file://")).resolve() for uri in table.file_uris()}
    for data_file in sorted(_data_files(path)):
        if data_file.resolve() not in live and holds(data_file):
            os.remove(data_file)
            result.files_removed.append(data_file.name)
    if log_hit():
        result.log_truncated_before = _truncate_log(table, path)
    return result


def _truncate_log(table, path: Path) -> int:
    """Checkpoint the current version and drop the commits before it; the table's own log
    retention is restored afterwards."""
    version = table.version()
    table.create_checkpoint()
    configured = table.metadata().configuration.get(LOG_RETENTION)
    table.alter.set_table_properties({LOG_RETENTION: "interval 0 seconds"})
    _table(path).cleanup_metadata()
    _table(path).alter.set_table_properties({LOG_RETENTION: configured or "interval 30 days"})
    return version


@dataclass
class DeltaVerification:
    current: int = 0
    versions: dict[int, str] = field(default_factory=dict)  # version → clean | holds | unreadable
    files_holding: int = 0
    log_names: bool = False

    @property
    def clean(self) -> bool:
        return not (self.current or self.files_holding or self.log_names) and "holds" not in self.versions.values()


def verify_erased(path: Path, column: str, subject_id: str, personal_values: Sequence[str] = ()) -> DeltaVerification:
    """Time travel to every version still in the history, every data file in the folder, every log file."""
    result = DeltaVerification()
    table = _table(path)
    if table is None:
        return result
    result.current = count_rows(path, column, subject_id)
    for entry in table.history():
        version = entry.get("version")
        if version is None:
            continue
        try:
            old = _table(path, version).to_pyarrow_table(columns=[column])
            result.versions[version] = "holds" if pc.sum(_is_subject(old.column(column), subject_id)).as_py() \
                else "clean"
        except Exception:
            result.versions[version] = "unreadable"
    result.files_holding = sum(_holds(data_file, column, subject_id) for data_file in _data_files(path))
    result.log_names = log_names(path, column, subject_id, personal_values)
    return result
