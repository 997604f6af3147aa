"""A subject named inside other people's text: their identifiers, the pattern that finds them in a
free-text column, the SQL that redacts them in place, and the passages an access export shows.

The identifiers are read from the subject's identity row (name, email, phone, street address; see
`IDENTIFIER_CATEGORIES`) and held in memory only. Matching is case-insensitive, on word bounds (`Ann
Lee` is not inside `Joann Leeds`), with any run of spaces between a name's words and any
separators between a phone number's digits. The pattern is written in the regex subset DuckDB
(RE2), PostgreSQL and Spark share, and it runs in the warehouse: the rows stay, the mentions become
`[erased]`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from sqlglot import exp

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


def identifier_columns(gov: AssetGovernance) -> tuple[str, ...]:
    """The identity asset's columns that name or reach a person."""
    return tuple(name for name, column in gov.columns.items()
                 if any(taxonomy.is_within(c, root) or c == "user.contact.address"
                        for c in column.categories for root in IDENTIFIER_CATEGORIES))


def subject_identifiers(warehouse: Warehouse, table: str, id_column: str, columns: Iterable[str], value: str) -> list[str]:
    """The subject's identifiers from their identity row(s); empty when the row is gone."""
    columns = [c for c in columns]
    types = warehouse.columns(table) if warehouse.table_exists(table) else {}
    if id_column not in types or not columns:
        return []
    match = column_matches(id_column, types[id_column], value)
    present = [c for c in columns if c in types]
    query = exp.select(*[exp.cast(column_expr(c), "TEXT") for c in present]).from_(table_expr(table)).where(match.where)
    found = {str(v).strip() for row in warehouse.fetch(query, list(match.params)) for v in row if v is not None}
    return sorted(v for v in found if len(v) >= MIN_CHARS)


def _literal(value: str) -> str:
    """One identifier as a pattern: punctuation escaped, spaces as any run of spaces, a phone number's
    digits with any separators between them."""
    digits = re.sub(r"\D", "", value)
    if re.fullmatch(r"[+\d\s().-]+", value) and len(digits) >= 8:
        return r"\+?" + r"[ ().-]*".join(digits)
    return r"\s+".join("".join(ch if ch.isalnum() else "\\" + ch for ch in word) for word in value.split())


def pattern(identifiers: Iterable[str]) -> str:
    """Any of the identifiers, case-insensitive, on word bounds: group 1 and 3 are the bounds."""
    alternatives = "|".join(_literal(v) for v in sorted(set(identifiers), key=len, reverse=True))
    return f"(?i){_EDGE_BEFORE}({alternatives}){_EDGE_AFTER}"


def matching(column: str, regex: str) -> exp.Expr:
    return exp.RegexpLike(this=exp.cast(column_expr(column), "TEXT"), expression=exp.Literal.string(regex))


def count_mentions(warehouse: Warehouse, table: str, column: str, regex: str) -> int:
    query = exp.select(exp.func("count", exp.Star())).from_(table_expr(table)).where(matching(column, regex))
    return int(warehouse.fetch(query)[0][0])


def redact_statement(warehouse: Warehouse, table: str, column: str, regex: str) -> str:
    """UPDATE … SET column = its text with every mention replaced, on the rows that mention them."""
    backrefs = ("$1", "$3") if warehouse.dialect == "spark" else ("\\1", "\\3")
    replacement = exp.Literal.string(f"{backrefs[0]}{REDACTED}{backrefs[1]}")
    # (PostgreSQL: sqlglot adds the global flag; DuckDB needs it said; Spark replaces every match.)
    modifiers = {"duckdb": exp.Literal.string("g")}.get(warehouse.dialect)
    redacted = exp.RegexpReplace(this=exp.cast(column_expr(column), "TEXT"), expression=exp.Literal.string(regex),
                                 replacement=replacement, modifiers=modifiers)
    update = exp.update(table_expr(table), {column: redacted}, where=matching(column, regex))
    return update.sql(warehouse.dialect)


def redact_mentions(warehouse: Warehouse, table: str, column: str, regex: str) -> int:
    """Redact in place; returns the rows changed. Mentions side by side share a bound, so a pass may
    leave the second of two: passes repeat while rows still match (a few at most)."""
    changed = count_mentions(warehouse, table, column, regex)
    for _ in range(5):
        if not count_mentions(warehouse, table, column, regex):
            break
        with warehouse.connect() as con:
            con.execute(redact_statement(warehouse, table, column, regex))
    return changed


def passages(warehouse: Warehouse, table: str, column: str, regex: str, identifiers: list[str], width: int = 60) -> list[dict]:
    """For an access export: each mention with the words around it; other people's personal data in
    those words masked by the detectors (the subject's own identifiers are theirs to see)."""
    from dataflow_governance.detection.redaction import redact_personal

    query = exp.select(exp.cast(column_expr(column), "TEXT")).from_(table_expr(table)).where(matching(column, regex))
    python = re.compile(regex.replace("(?i)", ""), re.IGNORECASE)
    out = []
    for (text,) in warehouse.fetch(query):
        found = list(python.finditer(text))
        if not found:
            continue
        start, end = max(0, found[0].start(2) - width), min(len(text), found[-1].end(2) + width)
        pieces, at = [], start
        for match in found:  # others' data between and around the mentions masked; the subject's own shown
            pieces += [redact_personal(text[at:match.start(2)], keep=identifiers), match.group(2)]
            at = match.end(2)
        pieces.append(redact_personal(text[at:end], keep=identifiers))
        out.append({"column": column, "mentions": len(found),
                    "context": ("…" if start else "") + "".join(pieces) + ("…" if end < len(text) else "")})
    return out
