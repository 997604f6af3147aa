"""SQL parsed with sqlglot under limits: one tokenization, a size and nesting budget, and every
failure a `LineageError` naming line and column. Apart from the tracer (`lineage.sql`) so that a
check that only parses imports no optimizer.
"""

from __future__ import annotations

import re

import sqlglot
from sqlglot import exp
from sqlglot.errors import ParseError, SqlglotError

from dataflow_governance.errors import LineageError

MAX_SQL_CHARS = 1_000_000
MAX_TOKENS = 200_000
MAX_NESTING = 256
MAX_SET_OPERATIONS = 500
MAX_BOOLEAN_TERMS = 5_000


def check_size(sql: str, dialect: str | None) -> list:
    """The SQL's tokens, once they are within the limits (the parser then reuses them)."""
    from sqlglot.tokens import TokenType

    if len(sql) > MAX_SQL_CHARS:
        raise LineageError(f"SQL is {len(sql):,} characters; the limit is {MAX_SQL_CHARS:,}")
    try:
        tokens = sqlglot.Dialect.get_or_raise(dialect).tokenize(sql)
    except SqlglotError as exc:
        raise LineageError(f"SQL does not parse: {str(exc).splitlines()[0]}") from None
    if len(tokens) > MAX_TOKENS:
        raise LineageError(f"SQL has {len(tokens):,} tokens; the limit is {MAX_TOKENS:,}")
    depth = deepest = set_ops = booleans = 0
    for token in tokens:
        if token.token_type == TokenType.L_PAREN:
            depth += 1
            deepest = max(deepest, depth)
        elif token.token_type == TokenType.R_PAREN:
            depth -= 1
        elif token.token_type in (TokenType.UNION, TokenType.INTERSECT, TokenType.EXCEPT):
            set_ops += 1
        elif token.token_type in (TokenType.AND, TokenType.OR):
            booleans += 1
    for count, limit, what in ((deepest, MAX_NESTING, "levels of parentheses"),
                               (set_ops, MAX_SET_OPERATIONS, "UNION/INTERSECT/EXCEPT branches"),
                               (booleans, MAX_BOOLEAN_TERMS, "AND/OR terms")):
        if count > limit:
            raise LineageError(f"SQL has {count:,} {what}; the limit is {limit:,} (split the statement)")
    return tokens


def check_dialect(dialect: str | None) -> None:
    try:
        sqlglot.Dialect.get_or_raise(dialect)
    except ValueError:
        known = ", ".join(sorted(d.value for d in sqlglot.dialects.Dialects if d.value))
        raise LineageError(f"unknown SQL dialect {dialect!r}; known: {known}") from None


def parse_statements(sql: str, dialect: str | None) -> list[exp.Expr]:
    """Every statement, parsed from one tokenization; every failure is a LineageError naming line and column."""
    check_dialect(dialect)
    tokens = check_size(sql, dialect)
    try:
        return [s for s in sqlglot.Dialect.get_or_raise(dialect).parser().parse(tokens, sql) if s is not None]
    except ParseError as exc:
        first = exc.errors[0] if exc.errors else {}
        where = f"line {first.get('line')}, column {first.get('col')}: " if first else ""
        description = first.get("description") or str(exc).splitlines()[0]
        description = re.sub(r"<Token token_type: [^,]+, text: ([^,]*),[^>]*>", r"'\1'", description)
        raise LineageError(f"SQL does not parse: {where}{description}") from None
    except SqlglotError as exc:
        raise LineageError(f"SQL does not parse: {str(exc).splitlines()[0]}") from None
    except RecursionError:
        raise LineageError("SQL is nested too deeply to parse (split the statement)") from None


def parse_statement(sql: str, dialect: str | None) -> exp.Expr:
    """One statement, parsed; every failure is a LineageError naming line and column."""
    statements = parse_statements(sql, dialect)
    if len(statements) != 1:
        raise LineageError(f"expected one SQL statement, got {len(statements)}")
    return statements[0]
