"""Public names of a package imported on first use (PEP 562), so importing one submodule does not
import its siblings (and `dfg lineage` does not pay for pandas, fideslang or Dagster)."""

from __future__ import annotations

import importlib
import importlib.machinery
from collections.abc import Callable, Mapping


def lazy_exports(package: str, names: Mapping[str, str], namespace: dict) -> tuple[Callable, Callable]:
    """`__getattr__` and `__dir__` for a package whose `names` map a public name to its submodule."""

    def __getattr__(name: str):
        if name in names:
            module = names[name]
            try:
                value = getattr(importlib.import_module(module if "." in module and module.startswith("dataflow_governance")
                                                        else f".{module}", package), name)
            except AttributeError as exc:  # raised while importing: not "no such name", which would hide it
                raise ImportError(f"{package}.{name} could not be imported: {exc}") from exc
            namespace[name] = value
            return value
        raise AttributeError(f"module {package!r} has no attribute {name!r}")

    def __dir__() -> list[str]:
        return sorted({*namespace, *names})

    return __getattr__, __dir__


def delegate_to(module: str) -> Callable:
    """`__getattr__` for a package that took the place of a module of the same path: the old
    module's names keep working (`dataflow_governance.lineage.column_lineage`), imported on use."""

    def __getattr__(name: str):
        if name.startswith("__"):
            raise AttributeError(name)
        return getattr(importlib.import_module(module), name)

    return __getattr__


class _Aliases:
    """Old module paths (`dataflow_governance.spec`) served by the modules that moved
    (`dataflow_governance.model.spec`): the same module object under both names. A meta path
    finder and loader by protocol (`importlib.abc` would import `importlib.resources` on every start)."""

    def __init__(self, aliases: Mapping[str, str]):
        self.aliases = dict(aliases)

    def find_spec(self, fullname, path=None, target=None):
        if fullname in self.aliases:
            return importlib.machinery.ModuleSpec(fullname, self, is_package=False)
        return None

    def create_module(self, spec):
        return importlib.import_module(self.aliases[spec.name])

    def exec_module(self, module) -> None:
        """The module was executed under its new name already."""


def alias_modules(aliases: Mapping[str, str]) -> None:
    """Serve each old module path from its new module (installed once, by the package)."""
    import sys

    if not any(isinstance(finder, _Aliases) for finder in sys.meta_path):
        sys.meta_path.insert(0, _Aliases(aliases))  # (before the path finder: never a second copy of a module)
