"""A subject named inside other people's text: their identifiers, the matchers that find them in
free text, the warehouse statements that redact them in place, and the passages an access export
shows.

The identifiers are read from the subject's identity row (name, email, phone, street address; see
`IDENTIFIER_CATEGORIES`) and held in memory only. Matching is case-insensitive, on word bounds (`Ann
Lee` is not inside `Joann Leeds`), with any run of spaces between a name's words and any
separators between a phone number's digits. With the identifiers at hand (`PlainMatcher`) the
pattern runs in the warehouse, in the regex subset DuckDB (RE2), PostgreSQL and Spark share: the rows
stay, the mentions become `[erased]`.

Once the identity row is erased, the identifiers are gone — as they must be. What the erasure's
request recorded instead are their keyed hashes (`fingerprints`, with the project's subject key,
like the subject's own hash): a later run (a rerun, a resumed run, a re-verification) finds a
mention by hashing the text's words, emails and phone numbers the same way (`KeyedMatcher`), in
Python, and redacts the rows it finds by their text.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Protocol

from sqlglot import exp

from dataflow_governance.crypto.hashing import keyed_hash
from dataflow_governance.model import taxonomy
from dataflow_governance.model.spec import AssetGovernance
from dataflow_governance.storage.warehouse import Warehouse, column_expr, table_expr
from dataflow_governance.subjects.matching import column_matches

REDACTED = "[erased]"
# What of a person is searched for in text: what names them and reaches them, never a country or a postcode alone.
IDENTIFIER_CATEGORIES = ("user.name", "user.contact.email", "user.contact.phone_number", "user.contact.address.street")
MIN_CHARS = 5  # shorter values (an initial, "Li") would match other words
_WORD = "A-Za-z0-9_À-ÖØ-öø-ÿ"
_EDGE_BEFORE, _EDGE_AFTER = f"(^|[^{_WORD}])", f"([^{_WORD}]|$)"
_WORDS = re.compile(r"[^\W_]+(?:['’][^\W_]+)*")
_EMAILS = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
_PHONES = re.compile(r"\+?\d[\d ().-]{6,}\d")


def identifier_columns(gov: AssetGovernance) -> tuple[str, ...]:
    """The identity asset's columns that name or reach a person."""
    return tuple(name for name, column in gov.columns.items()
                 if any(taxonomy.is_within(c, root) or c == "user.contact.address"
                        for c in column.categories for root in IDENTIFIER_CATEGORIES))


def subject_identifiers(warehouse: Warehouse, table: str, id_column: str, columns: Iterable[str], value: str) -> list[str]:
    """The subject's identifiers from their identity row(s); empty when the row is gone."""
    columns = list(columns)
    types = warehouse.columns(table) if warehouse.table_exists(table) else {}
    if id_column not in types or not columns:
        return []
    match = column_matches(id_column, types[id_column], value)
    present = [c for c in columns if c in types]
    query = exp.select(*[exp.cast(column_expr(c), "TEXT") for c in present]).from_(table_expr(table)).where(match.where)
    found = {str(v).strip() for row in warehouse.fetch(query, list(match.params)) for v in row if v is not None}
    return sorted(v for v in found if len(v) >= MIN_CHARS)


# --- matchers -------------------------------------------------------------------------------------

class Matcher(Protocol):
    sql: str | None  # the pattern the warehouse runs, where there is one

    def redact(self, text: str) -> tuple[str, int]:
        """The text with the subject's mentions replaced, and how many there were."""
        ...


def _normal(value: str) -> tuple[str, str]:
    """An identifier's kind and the form its keyed hash is taken of."""
    digits = re.sub(r"\D", "", value)
    if "@" in value:
        return "email", value.strip().lower()
    if re.fullmatch(r"[+\d\s().-]+", value) and len(digits) >= 8:
        return "phone", digits
    return "words", " ".join(w.lower() for w in _WORDS.findall(value))


def _literal(value: str) -> str:
    """One identifier as a pattern: punctuation escaped, spaces as any run of spaces, a phone number's
    digits with any separators between them."""
    kind, normal = _normal(value)
    if kind == "phone":
        return r"\+?" + r"[ ().-]*".join(normal)
    return r"\s+".join("".join(ch if ch.isalnum() else "\\" + ch for ch in word) for word in value.split())


def pattern(identifiers: Iterable[str]) -> str:
    """Any of the identifiers, case-insensitive, on word bounds: groups 1 and 3 are the bounds."""
    alternatives = "|".join(_literal(v) for v in sorted(set(identifiers), key=len, reverse=True))
    return f"(?i){_EDGE_BEFORE}({alternatives}){_EDGE_AFTER}"


class PlainMatcher:
    """The identifiers themselves: a pattern the warehouse runs, and the same in Python."""

    def __init__(self, identifiers: Iterable[str]):
        self.identifiers = sorted(set(identifiers))
        self.regex = pattern(self.identifiers)
        self.sql: str | None = self.regex
        self.python = re.compile(self.regex.replace("(?i)", "", 1), re.IGNORECASE)

    def redact(self, text: str) -> tuple[str, int]:
        found = len(self.python.findall(text))
        for _ in range(5):  # mentions side by side share a bound: a pass may leave the second
            text, n = self.python.subn(lambda m: m.group(1) + REDACTED + m.group(3), text)
            if not n:
                break
        return text, found


def fingerprints(identifiers: Iterable[str], key: bytes) -> list[dict]:
    """The identifiers as keyed hashes (never the values), for a later run to find mentions by."""
    out = []
    for value in sorted(set(identifiers)):
        kind, normal = _normal(value)
        out.append({"kind": kind, "words": len(normal.split()) if kind == "words" else 0,
                    "hash": keyed_hash(key, f"mention:{normal}")})
    return out


class KeyedMatcher:
    """Mentions found by hashing the text's words, emails and phone numbers as `fingerprints` did."""

    sql: str | None = None

    def __init__(self, prints: list[dict], key: bytes):
        self.key = key
        self.hashes = {p["hash"] for p in prints}
        self.lengths = sorted({int(p["words"]) for p in prints if p["kind"] == "words" and p["words"]})
        self.kinds = {p["kind"] for p in prints}

    def _known(self, normal: str) -> bool:
        return keyed_hash(self.key, f"mention:{normal}") in self.hashes

    def spans(self, text: str) -> list[tuple[int, int]]:
        found = []
        if "email" in self.kinds:
            found += [m.span() for m in _EMAILS.finditer(text) if self._known(m.group(0).lower())]
        if "phone" in self.kinds:
            found += [m.span() for m in _PHONES.finditer(text) if self._known(re.sub(r"\D", "", m.group(0)))]
        words = list(_WORDS.finditer(text))
        for n in self.lengths:
            for i in range(len(words) - n + 1):
                if self._known(" ".join(w.group(0).lower() for w in words[i:i + n])):
                    found.append((words[i].start(), words[i + n - 1].end()))
        return found

    def redact(self, text: str) -> tuple[str, int]:
        spans = self.spans(text)
        kept: list[tuple[int, int]] = []
        for start, end in sorted(spans, key=lambda s: (s[0], -s[1])):
            if not kept or start >= kept[-1][1]:
                kept.append((start, end))
        for start, end in reversed(kept):
            text = text[:start] + REDACTED + text[end:]
        return text, len(kept)


# --- in the warehouse -----------------------------------------------------------------------------

def _matching(column: str, regex: str) -> exp.Expr:
    return exp.RegexpLike(this=exp.cast(column_expr(column), "TEXT"), expression=exp.Literal.string(regex))


def _texts(warehouse: Warehouse, table: str, column: str) -> list[str]:
    value = exp.cast(column_expr(column), "TEXT")
    query = exp.select(value).distinct().from_(table_expr(table)).where(exp.Not(this=exp.Is(this=value, expression=exp.Null())))
    return [text for (text,) in warehouse.fetch(query)]


def count_mentions(warehouse: Warehouse, table: str, column: str, matcher: Matcher) -> int:
    """Rows of the column that mention the subject."""
    if matcher.sql is not None:
        query = exp.select(exp.func("count", exp.Star())).from_(table_expr(table)).where(_matching(column, matcher.sql))
        return int(warehouse.fetch(query)[0][0])
    mentioning = [text for text in _texts(warehouse, table, column) if matcher.redact(text)[1]]
    if not mentioning:
        return 0
    value = exp.cast(column_expr(column), "TEXT")
    query = exp.select(exp.func("count", exp.Star())).from_(table_expr(table)).where(
        exp.In(this=value, expressions=[exp.Placeholder() for _ in mentioning]))
    return int(warehouse.fetch(query, mentioning)[0][0])


def redact_statement(warehouse: Warehouse, table: str, column: str, regex: str) -> str:
    """UPDATE … SET column = its text with every mention replaced, on the rows that mention them."""
    backrefs = ("$1", "$3") if warehouse.dialect == "spark" else ("\\1", "\\3")
    replacement = exp.Literal.string(f"{backrefs[0]}{REDACTED}{backrefs[1]}")
    # (PostgreSQL: sqlglot adds the global flag; DuckDB needs it said; Spark replaces every match.)
    modifiers = {"duckdb": exp.Literal.string("g")}.get(warehouse.dialect)
    redacted = exp.RegexpReplace(this=exp.cast(column_expr(column), "TEXT"), expression=exp.Literal.string(regex),
                                 replacement=replacement, modifiers=modifiers)
    update = exp.update(table_expr(table), {column: redacted}, where=_matching(column, regex))
    return update.sql(warehouse.dialect)


def redact_mentions(warehouse: Warehouse, table: str, column: str, matcher: Matcher) -> int:
    """Redact in place; returns the rows changed."""
    changed = count_mentions(warehouse, table, column, matcher)
    if not changed:
        return 0
    if matcher.sql is not None:
        for _ in range(5):  # (mentions side by side share a bound: passes repeat while rows still match)
            with warehouse.connect() as con:
                con.execute(redact_statement(warehouse, table, column, matcher.sql))
            if not count_mentions(warehouse, table, column, matcher):
                break
        return changed
    value = exp.cast(column_expr(column), "TEXT")
    update = exp.update(table_expr(table), {column: exp.Placeholder()}, where=value.eq(exp.Placeholder()))
    for text in _texts(warehouse, table, column):
        redacted, found = matcher.redact(text)
        if found:  # (each distinct text once: every row holding it is the same text)
            warehouse.execute(update, [redacted, text])
    return changed


def passages(texts: Iterable[tuple[str, str]], matcher: PlainMatcher, width: int = 60) -> list[dict]:
    """For an access export: each text (with where it is) that mentions the subject, around the
    mentions; other people's personal data in those words masked by the detectors (the subject's
    own identifiers are theirs to see)."""
    from dataflow_governance.detection.redaction import redact_personal

    out = []
    for where, text in texts:
        found = list(matcher.python.finditer(text))
        if not found:
            continue
        start, end = max(0, found[0].start(2) - width), min(len(text), found[-1].end(2) + width)
        pieces, at = [], start
        for match in found:
            pieces += [redact_personal(text[at:match.start(2)], keep=matcher.identifiers), match.group(2)]
            at = match.end(2)
        pieces.append(redact_personal(text[at:end], keep=matcher.identifiers))
        out.append({"column": where, "mentions": len(found),
                    "context": ("…" if start else "") + "".join(pieces) + ("…" if end < len(text) else "")})
    return out


def column_passages(warehouse: Warehouse, table: str, column: str, matcher: PlainMatcher) -> list[dict]:
    query = exp.select(exp.cast(column_expr(column), "TEXT")).from_(table_expr(table)).where(_matching(column, matcher.regex))
    return passages(((column, text) for (text,) in warehouse.fetch(query)), matcher)
