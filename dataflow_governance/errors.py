"""One base for every error the project raises on purpose, as sqlglot's `errors.py` does.

Each is a user-facing failure whose message names what is wrong and never a personal value; the
CLI catches this one class (exit 2) without importing the modules that raise them.
"""


class DfgError(Exception):
    """A failure the project expects and explains: bad input, an unreachable service, damage."""
