"""Which Dagster project a folder holds: its package and the `module:attribute` of its Definitions."""

from __future__ import annotations

import re
import tomllib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from dataflow_governance.errors import DfgError

_SKIPPED = {".venv", "venv", "env", ".git", "node_modules", "__pycache__", ".dfg", "build", "dist", ".tox", "site-packages"}
# `defs = Definitions(` / `defs = dg.Definitions(` / `defs: dg.Definitions = dg.Definitions(`
_ASSIGNED = re.compile(r"^(\w+)\s*(?::[^=\n]+)?=\s*(?:\w+\.)*(?:Definitions|governed_definitions)\s*\(", re.MULTILINE)


class NotACodeLocation__(DfgError):
    """The folder holds no Dagster project this command can find."""


@dataclass(frozen=True)
class CodeLocation:
    root: Path
    definitions: str  # module:attribute of the project's own Definitions
    declared_in: str  # where it was found (pyproject.toml's [tool.dagster], or the file)

    @property
    def module(self) -> str:
        return self.definitions.split(":", 1)[0]

    @property
    def package(self) -> str | None:
        """The package the Definitions module is in (`shop` for `shop.definitions`), or None at top level."""
        return self.module.rsplit(".", 1)[0] if "." in self.module else None

    def module_path(self, name: str) -> tuple[str, Path]:
        """A new module `name` beside the Definitions module: its dotted name and its file."""
        if self.package:
            return f"{self.package}.{name}", self.root.joinpath(*self.package.split("."), f"{name}.py")
        return name, self.root / f"{name}.py"


def find_code_location(root: Path, definitions: str | None = None, governed: str | None = None) -> CodeLocation:
    """The Dagster project in `root`: `definitions` when given (module:attribute), else the governed
    Definitions a manifest there names (`governed`), else pyproject.toml's `[tool.dagster]
    module_name` (or `[tool.dg.project] root_module`), else the one module that assigns a
    `Definitions(...)`."""
    root = root.resolve()
    if not root.is_dir():
        raise NotACodeLocation__(f"{root}: no such folder")
    if definitions:
        if not re.fullmatch(r"[A-Za-z_][\w.]*:[A-Za-z_]\w*", definitions):
            raise NotACodeLocation__(f"--definitions {definitions!r}: expected module:attribute (shop.definitions:defs)")
        return CodeLocation(root, definitions, "--definitions")
    if governed:
        return CodeLocation(root, governed, "dagster_project.yaml")
    module = _pyproject_module(root)
    if module:
        path = _module_file(root, module)
        attribute = _assigned_definitions(path) if path else None
        return CodeLocation(root, f"{module}:{attribute or 'defs'}", "pyproject.toml [tool.dagster]")
    found = [(path, name) for path in _python_files(root) if (name := _assigned_definitions(path))]
    if not found:
        raise NotACodeLocation__(
            f"{root} is not a Dagster project: no pyproject.toml with [tool.dagster] module_name, and no module that "
            "assigns a Definitions(...); run dfg init in the project's folder, or name it with --definitions module:attribute")
    if len(found) > 1:
        places = ", ".join(str(p.relative_to(root)) for p, _ in found[:5])
        raise NotACodeLocation__(f"several modules define Definitions ({places}); name one with --definitions module:attribute")
    path, name = found[0]
    module = ".".join(path.relative_to(root).with_suffix("").parts)
    return CodeLocation(root, f"{module}:{name}", str(path.relative_to(root)))


def _pyproject_module(root: Path) -> str | None:
    pyproject = root / "pyproject.toml"
    if not pyproject.is_file():
        return None
    try:
        data = tomllib.loads(pyproject.read_text())
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise NotACodeLocation__(f"{pyproject}: not valid TOML ({exc})") from None
    tool = data.get("tool", {})
    dagster = tool.get("dagster", {}).get("module_name")
    dg_project = tool.get("dg", {}).get("project", {})
    module = dagster or (f"{dg_project['root_module']}.definitions" if dg_project.get("root_module") else None)
    return module if isinstance(module, str) else None


def _module_file(root: Path, module: str) -> Path | None:
    base = root.joinpath(*module.split("."))
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def _assigned_definitions(path: Path) -> str | None:
    try:
        match = _ASSIGNED.search(path.read_text(errors="replace"))
    except OSError:
        return None
    return match.group(1) if match else None


def _python_files(root: Path, depth: int = 3) -> Iterator[Path]:
    """The project's own modules (not its virtualenv's), at most `depth` folders down."""
    def walk(folder: Path, level: int) -> Iterator[Path]:
        for entry in sorted(folder.iterdir()):
            if entry.is_dir() and level < depth and entry.name not in _SKIPPED and not entry.name.startswith("."):
                yield from walk(entry, level + 1)
            elif entry.suffix == ".py" and entry.is_file() and not entry.name.startswith("governed_"):
                yield entry
    yield from walk(root, 0)
