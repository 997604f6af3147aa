"""Mermaid diagrams: node ids from names, and a diagram written as Markdown (GitHub and most
viewers draw it)."""

from __future__ import annotations

import re
from pathlib import Path


def mermaid_id(name: str) -> str:
    return re.sub(r"\W", "_", name)


def write_mermaid(out_dir: Path, name: str, title: str, diagram: str) -> Path:
    """A Mermaid diagram in a Markdown file of its own."""
    from dataflow_governance.local.files import check_output_folder, write_safely

    return write_safely(check_output_folder(out_dir) / f"{name}.md", f"# {title}\n\n```mermaid\n{diagram}```\n")
