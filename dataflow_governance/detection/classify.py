"""Proposed governance for data nobody has declared yet: categories per column, from the column's
name (a maintained list, `schemas/column_names.yaml`) and from its content (the project's own
detectors on a sample, pushed down to the warehouse), each with a confidence and its evidence.

Proposals are for a person to review (`dfg init --scan` writes them into a draft manifest), never
facts: the evidence holds counts, shares and masked samples only.

Why a name alone is not trusted: `country` in an aggregate is not personal, `country` next to
`user_id` is; `email_sent BOOLEAN` holds no address. So names marked `linked` count only in a table
that identifies a person, and a name whose values a detector can check (an email, a card number) is
doubted when a sample of its values says otherwise.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from importlib import resources
from typing import Any

import yaml
from sqlglot import exp

from dataflow_governance.detection.detectors import DETECTOR_CATEGORY, DETECTORS
from dataflow_governance.detection.scan import ColumnReport, scan_s3, scan_table
from dataflow_governance.storage.objectstore import ObjectStore, s3_errors
from dataflow_governance.storage.warehouse import Warehouse, column_expr, table_expr

DEFAULT_SAMPLE = 10_000  # rows read per table: enough for a share to mean something, cheap on any table
PROPOSED = 0.85  # at or above: proposed as a fact (still in a draft)
UNCERTAIN = 0.6  # at or above: proposed, marked for review; below: shown commented out, not proposed
FREE_TEXT_WORDS = 4  # a text column whose values average this many words is free text
PERSON_TABLES = re.compile(r"(^|_)(users?|customers?|clients?|members?|patients?|employees?|contacts?|people|persons?|"
                           r"subscribers?|accounts?|profiles?|students?|applicants?|leads?|prospects?)$")
HEALTH_WORDS = re.compile(r"health|medical|clinical|patient|diagnos|prescription|therapy")
SUBJECT_OF_TABLE = {"patient": "patient", "employee": "employee", "student": "trainee", "applicant": "job_applicant",
                    "lead": "prospect", "prospect": "prospect", "visitor": "visitor"}  # else: customer
ID_CATEGORIES = ("user.unique_id", "user.unique_id.pseudonymous")


@dataclass(frozen=True)
class NameRule:
    pattern: re.Pattern[str]
    category: str
    confidence: float
    linked: bool = False  # personal only in a table that identifies a person
    identity: bool = False
    kinds: tuple[str, ...] = ()  # the column types the name can hold; empty: any
    person_table: bool = False  # only in a table of people (`name` in `users`, not in `products`)
    card_context: bool = False  # only beside a card column (`expiry`)


@functools.cache
def name_rules() -> tuple[NameRule, ...]:
    text = resources.files("dataflow_governance").joinpath("schemas/column_names.yaml").read_text()
    return tuple(NameRule(pattern=re.compile(entry["pattern"]), category=entry["category"],
                          confidence=float(entry["confidence"]), linked=bool(entry.get("linked")),
                          identity=bool(entry.get("identity")), kinds=tuple(entry.get("kinds") or ()),
                          person_table=bool(entry.get("person_table")), card_context=bool(entry.get("card_context")))
                 for entry in yaml.safe_load(text))


def snake(name: str) -> str:
    """`firstName`, `FIRST_NAME` and `first-name` all as `first_name`."""
    name = re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", name.strip())
    return re.sub(r"[^a-z0-9]+", "_", name.lower()).strip("_")


def type_kind(sql_type: str) -> str:
    upper = sql_type.upper()
    if upper.startswith("BOOL"):
        return "boolean"
    if upper.startswith(("DATE", "TIME", "INTERVAL")):
        return "temporal"
    if upper.startswith(("TINYINT", "SMALLINT", "INT", "BIGINT", "HUGEINT", "UBIGINT", "UINTEGER", "USMALLINT",
                         "UTINYINT", "DOUBLE", "FLOAT", "REAL", "DECIMAL", "NUMERIC", "NUMBER", "LONG", "SHORT")):
        return "number"
    if upper.startswith(("VARCHAR", "TEXT", "CHAR", "STRING", "CHARACTER", "NVARCHAR", "BPCHAR", "UUID", "JSON")):
        return "text"
    return "other"


@dataclass
class Proposal:
    """One proposed category of one column, with how sure, and why (counts and masked samples only)."""

    category: str
    confidence: float
    evidence: list[str] = field(default_factory=list)

    @property
    def level(self) -> str:
        return "proposed" if self.confidence >= PROPOSED else "uncertain" if self.confidence >= UNCERTAIN else "weak"

    def to_dict(self) -> dict[str, Any]:
        return {"category": self.category, "confidence": round(self.confidence, 2), "level": self.level,
                "evidence": list(self.evidence)}


@dataclass
class ColumnProposal:
    name: str
    type: str
    proposals: list[Proposal] = field(default_factory=list)
    identity: bool = False
    free_text: bool = False

    def wanted(self) -> list[Proposal]:
        """What is proposed (proposed and uncertain), strongest first; weak ones are shown, not proposed."""
        return [p for p in self.proposals if p.level != "weak"]

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"type": self.type, "proposals": [p.to_dict() for p in self.proposals]}
        if self.identity:
            out["identity"] = True
        if self.free_text:
            out["free_text"] = True
        return out


@dataclass
class TableProposal:
    """What a scan of one table proposes: per column, the subject it identifies, retention candidates."""

    table: str
    rows: int  # rows in the table
    rows_read: int  # rows of it the scan read (a sample on a large table)
    columns: dict[str, ColumnProposal]
    subject: dict[str, str] | None = None  # {"data_subject", "column"} when the table is the subjects' own entity
    timestamp_candidates: list[str] = field(default_factory=list)

    @property
    def personal(self) -> bool:
        return any(c.wanted() for c in self.columns.values())

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"table": self.table, "rows": self.rows, "rows_read": self.rows_read,
                               "personal": self.personal,
                               "columns": {name: c.to_dict() for name, c in self.columns.items() if c.proposals}}
        if self.subject:
            out["subject"] = self.subject
        if self.timestamp_candidates:
            out["timestamp_candidates"] = list(self.timestamp_candidates)
        return out


def _by_name(table: str, name: str, kind: str) -> tuple[NameRule, Proposal] | None:
    words = snake(name)
    person_table = bool(PERSON_TABLES.search(snake(table.rsplit(".", 1)[-1])))
    for rule in name_rules():
        if not rule.pattern.search(words):
            continue
        if (rule.kinds and kind and kind not in rule.kinds) or (rule.person_table and not person_table):
            return None  # the name says it, the type or the table says it is something else
        return rule, Proposal(rule.category, rule.confidence, [f"name {name!r}"])
    if words == "id" and person_table:  # a people table's own key
        return (NameRule(re.compile("^id$"), "user.unique_id", 0.85, identity=True),
                Proposal("user.unique_id", 0.85, [f"name {name!r} in a table of people"]))
    return None


def _by_content(report: ColumnReport | None, non_null: int) -> list[Proposal]:
    """What the detectors found in the sampled values: a share of most values makes the column of that
    kind; a few in free text are mentions, uncertain; one or two are left as weak."""
    if report is None or not non_null:
        return []
    found: dict[str, Proposal] = {}
    for detector, rows in report.findings.items():
        category = DETECTOR_CATEGORY[detector]
        share = min(rows / non_null, 1.0)
        confidence = 0.95 if share >= 0.8 else 0.75 if rows >= 3 and share >= 0.02 else 0.4
        examples = ", ".join(report.examples.get(detector, [])[:2])
        evidence = f"content: {detector} in {rows} of {non_null} sampled values ({share:.0%})" + \
            (f", e.g. {examples}" if examples else "")
        if category not in found or found[category].confidence < confidence:
            found[category] = Proposal(category, confidence, [evidence])
    return list(found.values())


def _profile(warehouse: Warehouse, source: exp.Expr, types: Mapping[str, str]) -> tuple[int, dict[str, int], dict[str, float]]:
    """Rows, non-null values per column and average words per text column, in one pushed-down query."""
    names = list(types)
    texts = [c for c in names if type_kind(types[c]) == "text"]
    selects: list[exp.Expr] = [exp.func("count", exp.Star())]
    selects += [exp.func("count", column_expr(c)) for c in names]
    for c in texts:
        value = exp.cast(column_expr(c), "TEXT")
        spaces = exp.Sub(this=exp.Length(this=value),
                         expression=exp.Length(this=exp.func("replace", value, exp.Literal.string(" "), exp.Literal.string(""))))
        selects.append(exp.func("avg", exp.Add(this=spaces, expression=exp.Literal.number(1))))
    row = warehouse.fetch(exp.select(*selects).from_(source))[0]
    non_null = {c: int(n or 0) for c, n in zip(names, row[1:1 + len(names)])}
    words = {c: float(w or 0) for c, w in zip(texts, row[1 + len(names):])}
    return int(row[0]), non_null, words


def _merge(into: dict[str, Proposal], proposal: Proposal) -> None:
    """Name and content agreeing make each other surer; a content finding more precise than the name's
    category (or the other way round) is kept as the more precise one."""
    for category, held in list(into.items()):
        if category == proposal.category or proposal.category.startswith(category + ".") \
                or category.startswith(proposal.category + "."):
            precise = max(category, proposal.category, key=len)
            merged = Proposal(precise, 1 - (1 - held.confidence) * (1 - proposal.confidence), held.evidence + proposal.evidence)
            del into[category]
            into[precise] = Proposal(precise, min(merged.confidence, 0.99), merged.evidence)
            return
    into[proposal.category] = proposal


OWN_TABLES = re.compile(r"^governance_")  # the project's own ledger and key tables: never a subject's data


def data_tables(warehouse: Warehouse) -> list[str]:
    """Every table of the warehouse but the project's own; the default schema's without their schema
    (`users`), the others' qualified (`ws_1.tickets`)."""
    default = warehouse.schema or {"duckdb": "main", "postgres": "public"}.get(warehouse.kind, "")
    schemas = [warehouse.schema] if warehouse.schema else [
        s for s in warehouse.schemas() if s not in ("information_schema", "pg_catalog", "pg_toast")]
    tables = []
    for schema in schemas:
        for table in warehouse.schema_tables(schema):
            short = table.removeprefix(f"{default}.") if schema == default else table
            if not OWN_TABLES.match(short.rsplit(".", 1)[-1]):
                tables.append(short)
    return tables


def classify_table(warehouse: Warehouse, table: str, sample: int | None = DEFAULT_SAMPLE) -> TableProposal:
    """Propose categories for every column of `table`, reading at most `sample` rows of it."""
    types = warehouse.columns(table)
    total = warehouse.row_count(table)
    source: exp.Expr = table_expr(table)
    if sample is not None and total > sample:
        source = exp.select("*").from_(table_expr(table)).limit(sample).subquery("sampled")
    rows_read, non_null, words = _profile(warehouse, source, types)
    content = scan_table(warehouse, table, sample=sample if total > (sample or total) else None, detectors=DETECTORS)
    columns: dict[str, ColumnProposal] = {}
    named: dict[str, NameRule] = {}
    for name, sql_type in types.items():
        kind = type_kind(sql_type)
        column = columns[name] = ColumnProposal(name, sql_type)
        found: dict[str, Proposal] = {}
        by_name = _by_name(table, name, kind)
        if by_name:
            named[name], proposal = by_name
            column.identity = named[name].identity
            _merge(found, proposal)
        for proposal in _by_content(content.columns.get(name), non_null.get(name, 0)):
            _merge(found, proposal)
        doubted = found.get(named[name].category) if by_name else None
        if doubted and _name_only(doubted) and _checkable(doubted.category) and non_null.get(name, 0) >= 20:
            # The name says e.g. "email", and a detector that knows emails found none in 20+ values.
            doubted.confidence *= 0.5
            doubted.evidence.append(f"content: no value of {non_null[name]} sampled looked like one")
        column.free_text = kind == "text" and words.get(name, 0) >= FREE_TEXT_WORDS
        column.proposals = sorted(found.values(), key=lambda p: -p.confidence)
    _apply_context(table, columns, named)
    timestamps = [c for c, t in types.items() if type_kind(t) == "temporal"]
    return TableProposal(table, total, rows_read, columns, timestamp_candidates=_ranked_timestamps(timestamps),
                         subject=_subject_entity(warehouse, source, table, columns, rows_read))


def _name_only(proposal: Proposal) -> bool:
    """Nothing but the column's name speaks for the proposal (no content finding merged in)."""
    return all(e.startswith("name ") for e in proposal.evidence)


def _checkable(category: str) -> bool:
    """A category one of the detectors recognizes in values (so their silence says something). Not
    the free-text ones: a name, an address or a birth date is found in prose by its context, which a
    column of bare values (`Anna`, `1987-05-03`) does not have."""
    in_prose = {DETECTOR_CATEGORY[d] for d in ("person_name", "postal_address", "date_of_birth")}
    return category in set(DETECTOR_CATEGORY.values()) - {"user.financial.credit_card"} - in_prose


def _apply_context(table: str, columns: dict[str, ColumnProposal], named: Mapping[str, NameRule]) -> None:
    """What depends on the whole table: quasi-identifiers only beside a subject id; free text as the
    subject's content (health records' as health data); a card's expiry only beside a card."""
    linked = any(p.category in ID_CATEGORIES for c in columns.values() for p in c.wanted())
    carded = any(p.category == "user.financial.credit_card" and not getattr(named.get(c.name), "card_context", False)
                 for c in columns.values() for p in c.wanted())
    health = bool(HEALTH_WORDS.search(table.lower()))
    for column in columns.values():
        rule = named.get(column.name)
        if rule is not None and ((rule.linked and not linked) or (rule.card_context and not carded)):
            column.proposals = [p for p in column.proposals if p.category != rule.category or not _name_only(p)]
        if column.free_text and linked:
            category = "user.health_and_medical" if health or HEALTH_WORDS.search(column.name.lower()) else "user.content.private"
            column.proposals.append(Proposal(category, 0.8 if category == "user.health_and_medical" else 0.7,
                                             ["free text (values average 4 words or more) in a table that identifies a person"
                                              + (", about health" if category == "user.health_and_medical" else "")]))
            column.proposals.sort(key=lambda p: -p.confidence)


_PREFERRED_TIMESTAMPS = re.compile(r"^(created|occurred|event|placed|ordered|sent|captured|issued|submitted|signed_up|"
                                   r"registered|received|recorded|logged|inserted)(_at|_on|_time|_date|_ts)?$")


def _ranked_timestamps(columns: Iterable[str]) -> list[str]:
    """Timestamp columns a retention rule could count from: when a row came to be first; `updated_at`
    (which moves) and `deleted_at` last."""
    def rank(name: str) -> tuple[int, str]:
        words = snake(name)
        if _PREFERRED_TIMESTAMPS.match(words):
            return 0, name
        if re.search(r"updated|modified|deleted|expires|expiry", words):
            return 2, name
        return 1, name
    return sorted(columns, key=rank)


def _subject_entity(warehouse: Warehouse, source: exp.Expr, table: str, columns: Mapping[str, ColumnProposal],
                    rows_read: int) -> dict[str, str] | None:
    """The table is the subjects' own entity when it is a table of people keyed by a unique subject id."""
    short = snake(table.rsplit(".", 1)[-1])
    found = PERSON_TABLES.search(short)
    if not found or not rows_read:
        return None
    for column in columns.values():
        if not column.identity or not any(p.category == "user.unique_id" for p in column.wanted()):
            continue
        distinct = warehouse.fetch(exp.select(exp.func("count", exp.Distinct(expressions=[column_expr(column.name)])))
                                   .from_(source))[0][0]
        if int(distinct or 0) == rows_read:
            singular = found.group(2).rstrip("s") if found.group(2) != "people" else "person"
            return {"data_subject": SUBJECT_OF_TABLE.get(singular, "customer"), "column": column.name,
                    "evidence": f"{column.name} is unique in the {rows_read} rows read"}
    return None


def top_prefixes(store: ObjectStore, bucket: str, prefix: str = "") -> list[str]:
    """The first level of "folders" under `prefix` (each usually one dataset), or the prefix itself
    when its objects sit directly in it."""
    paginator = store.client().get_paginator("list_objects_v2")
    found, loose = [], False
    with s3_errors(f"list s3://{bucket}/{prefix}", store):
        for page in paginator.paginate(Bucket=bucket, Prefix=prefix, Delimiter="/"):
            found += [p["Prefix"] for p in page.get("CommonPrefixes", [])]
            loose = loose or bool(page.get("Contents"))
    return ([prefix] if loose else []) + found


def classify_prefix(store: ObjectStore, bucket: str, prefix: str, sample: int | None = DEFAULT_SAMPLE) -> TableProposal:
    """Propose categories for the records of an S3 prefix (JSON lines, CSV, Parquet fields; text lines),
    reading at most `sample` records."""
    report = scan_s3(store, bucket, prefix, sample=sample)
    columns: dict[str, ColumnProposal] = {}
    named: dict[str, NameRule] = {}
    target = f"s3://{bucket}/{prefix}"
    for name, column_report in report.columns.items():
        column = columns[name] = ColumnProposal(name, "")
        found: dict[str, Proposal] = {}
        by_name = _by_name(prefix.rstrip("/"), name, "")
        if by_name:
            named[name], proposal = by_name
            column.identity = named[name].identity
            _merge(found, proposal)
        for proposal in _by_content(column_report, column_report.rows_scanned or report.rows_scanned):
            _merge(found, proposal)
        column.proposals = sorted(found.values(), key=lambda p: -p.confidence)
    _apply_context(target, columns, named)
    return TableProposal(target, report.rows_scanned, report.rows_scanned, columns)
