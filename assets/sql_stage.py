"""Where the project's SQL stages live."""

from pathlib import Path

SQL_DIR = Path(__file__).parent / "sql"
