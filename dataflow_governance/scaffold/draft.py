"""Scan proposals as manifest entries for review: what is proposed is written as an entry with its
confidence and evidence beside it; what is uncertain is marked REVIEW; what is weak, and every
decision only a person can take (legal basis, how long to keep), is written commented out."""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from dataflow_governance.detection.classify import ColumnProposal, TableProposal


@dataclass(frozen=True)
class AssetPlace:
    """A Dagster asset and the group it is in, for the table it writes."""

    key: str
    group: str


def _key(name: str) -> str:
    return name if re.fullmatch(r"[A-Za-z_][\w]*", name) else json.dumps(name)


def _reference(asset: str, column: str) -> str:
    """`asset.column` as a YAML scalar, quoted when a name holds anything but word characters."""
    text = f"{asset}.{column}"
    return text if re.fullmatch(r"[A-Za-z_][\w]*\.[A-Za-z_][\w]*", text) else json.dumps(text)


def _comment(text: str) -> str:
    return re.sub(r"[\r\n]+", " ", text)


def _column_lines(column: ColumnProposal, indent: str) -> list[str]:
    """Every column is declared (with its type: a retention's timestamp column must be); the personal
    ones with their proposed categories and why."""
    facts = [f"type: {json.dumps(column.type.lower())}"] if column.type else []
    wanted = column.wanted()
    comment = ""
    if wanted:
        facts.append(f"categories: [{', '.join(p.category for p in wanted)}]")
        if column.identity:
            facts.append("identity: true")
        low = min(wanted, key=lambda p: p.confidence)
        mark = "REVIEW " if low.level == "uncertain" else ""
        evidence = "; ".join(dict.fromkeys(e for p in wanted for e in p.evidence))
        comment = f"   # {mark}{low.confidence:.2f} {low.level}: {_comment(evidence)}"
    lines = [f"{indent}{_key(column.name)}: {{{', '.join(facts)}}}{comment}"]
    for weak in (p for p in column.proposals if p.level == "weak"):
        lines.append(f"{indent}# {_key(column.name)}: {{categories: [{weak.category}]}}   # weak {weak.confidence:.2f}, "
                     f"not proposed: {_comment('; '.join(weak.evidence))}")
    return lines


def asset_lines(proposal: TableProposal, place: AssetPlace, storage: str, indent: str = "      ") -> list[str]:
    """One asset's entry under `groups.<group>.assets`."""
    read = f"{proposal.rows_read} of {proposal.rows} rows read" if proposal.rows_read < proposal.rows else \
        f"{proposal.rows} rows read"
    lines = [f"{indent}{_key(place.key)}:   # {_comment(proposal.table)}: {read}", f"{indent}  storage: {storage}"]
    if not proposal.personal:
        return [*lines, f"{indent}  # no personal data proposed: REVIEW, and declare pii_free: true if it is meant to stay so"]
    candidates = proposal.timestamp_candidates
    lines += [f"{indent}  # legal_basis: contract   # REVIEW: decide (contract, consent, legal_obligation, legitimate_interests, …)",
              f"{indent}  # purposes: [essential.service]   # REVIEW: decide (fideslang data uses)"]
    if candidates:
        lines.append(f"{indent}  # retention: {{keep: 3 years, action: delete, timestamp_column: {_key(candidates[0])}}}   "
                     f"# REVIEW: decide how long; timestamp candidates: {', '.join(candidates)}")
    else:
        lines.append(f"{indent}  # retention: {{keep: 3 years, action: delete}}   # REVIEW: no timestamp column found to count from")
    lines.append(f"{indent}  columns:")
    for column in proposal.columns.values():
        lines += _column_lines(column, indent + "    ")
    return lines


def governance_yaml(tables: Iterable[TableProposal], places: Mapping[str, AssetPlace],
                    prefixes: Iterable[TableProposal] = ()) -> str:
    """The draft's `subjects:` and `groups:` sections, and S3 prefixes' proposals as comments to place."""
    tables = list(tables)
    subjects: list[str] = []
    groups: dict[str, list[str]] = {}
    unplaced: list[TableProposal] = []
    for proposal in tables:
        place = places.get(proposal.table)
        if place is None:
            unplaced.append(proposal)
            continue
        storage = f"{{table: {_key(proposal.table) if '.' not in proposal.table else json.dumps(proposal.table)}}}"
        groups.setdefault(place.group, []).extend(asset_lines(proposal, place, storage))
        if proposal.subject:
            subject = proposal.subject
            subjects.append(f"  {subject['data_subject']}: {{data_subject: {subject['data_subject']}, identity: "
                            f"{_reference(place.key, subject['column'])}}}   # REVIEW: {_comment(subject['evidence'])}")
    lines = ["subjects:" if subjects else "subjects: {}   # none proposed: a table of people keyed by a unique id was not found",
             *subjects, ""]
    lines += ["groups:" if groups else "groups: {}"]
    for group, entries in sorted(groups.items()):
        lines += [f"  {_key(group)}:", "    assets:", *entries]
    for proposal in unplaced:
        if proposal.personal:
            lines += ["", f"# {_comment(proposal.table)}: no asset of the Definitions writes this table; the proposals, to place "
                      "under the asset that does:", *(f"#{line}" for line in asset_lines(
                          proposal, AssetPlace(proposal.table.rsplit('.', 1)[-1], "?"), "{table: ...}", " "))]
    for proposal in prefixes:
        if proposal.personal:
            categories = sorted({p.category for c in proposal.columns.values() for p in c.wanted()})
            lines += ["", f"# {_comment(proposal.table)} ({proposal.rows_read} records read) holds personal data; for the asset "
                      "that writes it:", "#   storage: {kind: s3, bucket: ..., prefix: ...}",
                      f"#   data_categories: [{', '.join(categories)}]   # REVIEW", "#   columns:",
                      *(f"#{line}" for c in proposal.columns.values() for line in _column_lines(c, "     "))]
    return "\n".join(lines) + "\n"
