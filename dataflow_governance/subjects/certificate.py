"""The outcome of an erasure (or a tenant's offboarding) and its certificate (JSON and Markdown,
in the output folder: `erasures/` and `offboarding/`).

Keyed hashes, counts and target names only: a certificate never holds the subject's or tenant's
id or data.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from dataflow_governance.model.paths import StatePaths
from dataflow_governance.subjects.targets import Action, Outcome


@dataclass
class ErasureResult:
    subject: str
    status: str  # planned | requested | cancelled | executed | verified
    targets: list[Outcome]  # each target of the plan, with what *this* run found or did there
    ledger_head: str
    due: str | None = None
    original: dict | None = None  # the first execution (ledger seq, time, counts) when this is a rerun
    reappeared: int = 0  # records of the subject this run found again after an earlier execution
    storage: dict = field(default_factory=dict)  # what was done to the engines' own files, what is left
    kind: str = "erasure"  # erasure (of a subject) | offboarding (of a tenant)
    ledger_seq: int | None = None  # the sequence number of the entry `ledger_head` is the hash of

    @property
    def what(self) -> str:
        return "tenant" if self.kind == "offboarding" else "subject"

    def to_dict(self) -> dict:
        out: dict[str, Any] = {self.what: self.subject, "status": self.status, "targets": [t.public() for t in self.targets],
               "ledger_head": self.ledger_head}
        if self.ledger_seq is not None:
            out["ledger_seq"] = self.ledger_seq
        outstanding = [t for t in self.targets if t.outstanding and not t.notified_at]
        if outstanding and self.status != "planned":
            command = "dfg tenant offboard --tenant …" if self.kind == "offboarding" else "dfg erase --subject-id …"
            today = datetime.now(UTC).date()
            out["outstanding"] = [
                f"backup {t.target} ({t.asset}) still holds this {self.what}'s data until its backups expire, "
                f"{t.plan.expires_in_days} days after they were written: by {today + timedelta(days=t.plan.expires_in_days or 0)} "
                "at the latest; a restore from it must be followed by `dfg sweep` (the suppression list removes the "
                f"{self.what} again)" if t.plan.action == Action.EXPIRE else
                f"tell processor {t.target} to erase what it received of this {self.what} (from "
                f"{t.asset}), then record that it was told: {command} --notified {t.target}"
                for t in outstanding]
        if self.due:
            out["due"] = self.due
        if self.original:
            out["original"] = self.original
            out["reappeared"] = self.reappeared
        if self.storage:
            out["storage"] = self.storage
        return out


def certificate_markdown(result: ErasureResult, project: str) -> str:
    rows = "\n".join(f"| {t.system} | {t.target} | {t.action} | {t.count} {t.unit} | {t.retained} | {t.outcome} |"
                     for t in result.targets)
    title = "Tenant offboarding certificate" if result.kind == "offboarding" else "Erasure certificate"
    head = f"`{result.ledger_head}`" + (f" (entry {result.ledger_seq})" if result.ledger_seq is not None else "")
    text = (f"# {title}\n\nProject: {project}  \n{result.what.capitalize()} (keyed hash): `{result.subject}`  \n"
            f"Status: **{result.status}**  \nLedger head: {head} — keep this certificate: the ledger must still "
            "hold this entry with this hash (`dfg audit verify --certificate FILE`)\n\n")
    if result.original:
        text += (f"This run re-checked an erasure first executed at {result.original['at']} (ledger entry "
                 f"{result.original['seq']}); it found {result.reappeared} record(s) of the subject again. "
                 "Counts below are this run's.\n\n")
    text += (f"| system | target | action | count | kept under legal hold | outcome |\n|---|---|---|---|---|---|\n"
             f"{rows}\n")
    shredded = [t for t in result.targets if t.action == "shredded"]
    key = next((t for t in result.targets if t.system == "keys"), None)
    if key is not None and shredded:
        text += (f"\n## Crypto-shredded\n\n{sum(t.count for t in shredded)} record(s) of the subject in immutable "
                 f"stores ({', '.join(t.target for t in shredded)}) were left in place, unchanged, sealed with the "
                 "subject's own data key, which was destroyed: none of them opens.\n\n")
        if key.kek_retired_at:
            text += (f"The key-encryption key that had wrapped it ({key.kek}) was destroyed at {key.kek_retired_at}, "
                     "after every other live data key was re-wrapped with a new one: a copy of the wrapped key kept "
                     "anywhere — the database's WAL, a backup, a replica — no longer opens, so copies of those stores "
                     "hold only ciphertext that nothing opens.\n")
        else:
            text += (f"**Pending:** {key.pending or 'the key-encryption key that wrapped it is not yet destroyed'}. "
                     "Until it is, a copy of the wrapped key kept in the database's WAL, a backup or a replica could "
                     "still be opened with it: this erasure is not verified before then (run it again after that "
                     "moment to certify it).\n")
    unsearched = [f"{t.target}{key}" for t in result.targets for key in t.unsearched]
    if unsearched:
        text += ("\n## Not verified: objects that could not be searched\n\nThese objects under a governed prefix are "
                 "in a format the project cannot search or could not be read whole; the subject may be in them:\n\n"
                 + "".join(f"- {u}\n" for u in unsearched))
    problems = [t.problem for t in result.targets if t.problem]
    if problems:
        text += "\n## Not verified: declared places that are not there\n\n" + "".join(f"- {p}\n" for p in problems)
    outstanding = result.to_dict().get("outstanding", [])
    if outstanding:
        text += "\n## Outstanding operator steps\n\n" + "".join(f"- {step}\n" for step in outstanding)
    if result.storage:
        text += "\n## Storage\n\n" + "".join(f"- {line}\n" for line in result.storage.get("done", [])) + \
                "".join(f"- operator: {line}\n" for line in result.storage.get("operator", []))
    return text


def write_certificate(result: ErasureResult, paths: StatePaths, project: str) -> list[Path]:
    """The certificate, as JSON and Markdown, in the output folder (`erasures/` or `offboarding/`).

    Args:
        result: a carried-out request's result.
        paths: the project's folders.
        project: the project's name, as the certificate states it.

    Returns:
        The two files written.
    """
    from dataflow_governance.local.files import check_output_folder, write_safely

    out = check_output_folder(paths.certificates(result.kind))
    return [write_safely(out / f"{result.subject}.json", json.dumps(result.to_dict(), indent=2), "certificate"),
            write_safely(out / f"{result.subject}.md", certificate_markdown(result, project), "certificate")]
