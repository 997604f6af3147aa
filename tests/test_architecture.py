"""The module graph keeps its shape: no import loops, Dagster only in its adapter, engines asked
rather than named. Read from the source with `ast`, imports inside functions included."""

import ast
import re

from conftest import REPO

PACKAGE = REPO / "dataflow_governance"


def _module_name(path) -> str:
    parts = list(path.relative_to(REPO).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _runtime_nodes(tree: ast.AST):
    """Every node of the tree but those under `if TYPE_CHECKING:` (imports that never run)."""
    todo = [tree]
    while todo:
        node = todo.pop()
        yield node
        if isinstance(node, ast.If) and getattr(node.test, "id", getattr(node.test, "attr", None)) == "TYPE_CHECKING":
            todo += node.orelse
        else:
            todo += ast.iter_child_nodes(node)


def import_graph() -> dict[str, set[str]]:
    """module → the project modules it imports when it runs (anywhere in its body; not the
    annotations-only imports under TYPE_CHECKING), and the packages that importing those runs
    first (`from .subjects.plan import x` runs `subjects/__init__` too)."""
    files = {_module_name(p): p for p in PACKAGE.rglob("*.py")}
    graph = {name: set() for name in files}
    for name, path in files.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        for node in _runtime_nodes(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom):
                base = package.split(".")[: len(package.split(".")) - node.level + 1] if node.level else []
                target = ".".join([*base, node.module] if node.module else base) if node.level else node.module or ""
                for alias in node.names:
                    found = f"{target}.{alias.name}" if f"{target}.{alias.name}" in files else target
                    if found in files and found != name:
                        graph[name].add(found)
            elif isinstance(node, ast.Import):
                graph[name] |= {a.name for a in node.names if a.name in files and a.name != name}
        graph[name] |= {parent for target in graph[name] for parent in _parents(target)
                        if parent in files and parent != name and not name.startswith(parent + ".")}
    return graph


def _parents(module: str) -> list[str]:
    parts = module.split(".")
    return [".".join(parts[:i]) for i in range(1, len(parts))]


def loops(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index, low, stack, on_stack, found = {}, {}, [], set(), []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in graph[node]:
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def package_graph(graph: dict[str, set[str]]) -> dict[str, set[str]]:
    """The graph of the top-level packages (`dataflow_governance.subjects`, …): one edge where any
    module of one imports any module of the other."""
    def package(module: str) -> str:
        return ".".join(module.split(".")[:2])

    packages: dict[str, set[str]] = {}
    for module, targets in graph.items():
        packages.setdefault(package(module), set()).update(package(t) for t in targets if package(t) != package(module))
    return {name: targets & set(packages) for name, targets in packages.items()}


def test_the_import_graph_has_no_loops_between_modules_nor_between_packages():
    graph = import_graph()
    assert "dataflow_governance.subjects.plan" in graph["dataflow_governance.subjects.lifecycle"]  # the reader works
    assert loops(graph) == []
    assert loops(package_graph(graph)) == []


def test_every_module_lives_in_a_package_named_for_its_concern():
    top = sorted(p.name for p in PACKAGE.glob("*.py"))
    assert top == ["__init__.py", "errors.py", "lazy.py"]


def test_the_model_knows_no_storage():
    """What a project declares is validated without a warehouse, a bucket or a key in sight."""
    graph = package_graph(import_graph())
    assert graph["dataflow_governance.model"] <= {"dataflow_governance", "dataflow_governance.errors",
                                                  "dataflow_governance.lazy", "dataflow_governance.local"}


def test_a_loop_would_be_found():
    assert loops({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_only_the_dagster_adapter_and_the_demo_command_import_dagster():
    importing = sorted(_module_name(p) for p in PACKAGE.rglob("*.py")
                       if re.search(r"^\s*(import dagster|from dagster\b)", p.read_text(), re.M))
    assert "dataflow_governance.cli.demo" in importing
    assert all(m.startswith("dataflow_governance.dagster_ext") or m == "dataflow_governance.cli.demo" for m in importing)


def test_no_module_outside_the_engines_asks_which_engine_it_is():
    asking = re.compile(r"""kind\s*[!=]=\s*["'](duckdb|postgres)["']|^\s*import (duckdb|psycopg)\b""", re.M)
    offenders = [_module_name(p) for p in PACKAGE.rglob("*.py")
                 if "engines" not in p.parts and asking.search(p.read_text())]
    assert offenders == []


def test_the_example_project_uses_only_the_public_api():
    """The package's own names and the Dagster adapter: nothing reached around them."""
    reached = sorted({match for p in [*(REPO / "assets").glob("*.py"), *(REPO / "resources").glob("*.py")]
                      for match in re.findall(r"^\s*from (dataflow_governance[\w.]*) import", p.read_text(), re.M)})
    assert reached == ["dataflow_governance", "dataflow_governance.dagster_ext"]


ADAPTERS = ("cli", "dagster_ext")


def _core_files():
    """The modules outside the adapters and the model (which defines `Project`)."""
    return [p for p in PACKAGE.rglob("*.py") if p.relative_to(PACKAGE).parts[0] not in (*ADAPTERS, "model")]


def _class_members(cls: ast.ClassDef) -> set[str]:
    """A class's fields, methods, properties and `self.x = …` attributes."""
    members = set()
    for node in cls.body:
        if isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            members.add(node.target.id)
        elif isinstance(node, ast.Assign):
            members |= {t.id for t in node.targets if isinstance(t, ast.Name)}
        elif isinstance(node, ast.FunctionDef):
            members.add(node.name)
            members |= {n.attr for n in ast.walk(node) if isinstance(n, ast.Attribute) and isinstance(n.ctx, ast.Store)
                        and isinstance(n.value, ast.Name) and n.value.id == "self"}
    return members


def project_only_attributes() -> set[str]:
    """What only a `Project` has: its members that no class of the core (nor the model's other
    values) also has. Reading one of them in the core means a `Project` was passed in."""
    project, others = set(), set()
    for path in PACKAGE.rglob("*.py"):
        if path.relative_to(PACKAGE).parts[0] in ADAPTERS:
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ClassDef):
                (project if node.name == "Project" else others).update(_class_members(node))
    return {name for name in project - others if not name.startswith("_")}


def test_no_core_module_takes_a_project():
    """Only the CLI and the Dagster adapter see a `Project`; they hand the core the values it uses
    (a warehouse, a keyring, state paths, a tracking URI). Checked twice: no annotation names
    `Project`, and no attribute only a `Project` has is read."""
    only_project = project_only_attributes()
    assert {"manifest_path", "mlflow_tracking_uri", "output_dir", "warehouse_path"} <= only_project  # the reader works
    offenders = []
    for path in _core_files():
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.arg) and node.annotation is not None and "Project" in ast.unparse(node.annotation):
                offenders.append(f"{_module_name(path)}: parameter {node.arg}: {ast.unparse(node.annotation)}")
            elif isinstance(node, ast.Attribute) and node.attr in only_project:
                offenders.append(f"{_module_name(path)}:{node.lineno}: reads .{node.attr}")
            elif isinstance(node, ast.Name) and node.id in ("Project", "load_project"):
                offenders.append(f"{_module_name(path)}:{node.lineno}: names {node.id}")
    assert offenders == []


def test_every_public_name_of_every_package_imports():
    """The lazy export tables name modules as strings: a moved or renamed function would only fail
    on its first use, in a user's code. Resolve them all."""
    import importlib

    checked = 0
    for init in PACKAGE.rglob("__init__.py"):
        module = importlib.import_module(_module_name(init))
        for name in getattr(module, "_PUBLIC", {}):
            assert getattr(module, name) is not None, f"{module.__name__}.{name}"
            checked += 1
    assert checked > 50


def test_every_name_in_a_modules_all_exists():
    import importlib

    for path in PACKAGE.rglob("*.py"):
        if path.name == "__main__.py":
            continue
        module = importlib.import_module(_module_name(path))
        missing = [name for name in getattr(module, "__all__", ()) if not hasattr(module, name)]
        assert missing == [], _module_name(path)


def test_the_tests_mirror_the_packages():
    """`tests/<package>/test_<module>.py` for a package's tests, `tests/e2e/` for whole-project runs."""
    folders = {p.name for p in (REPO / "tests").iterdir() if p.is_dir() and p.name not in ("__pycache__",)}
    packages = {p.name for p in PACKAGE.iterdir() if (p / "__init__.py").exists()}
    assert folders - {"e2e"} <= packages, folders - packages
    loose = sorted(p.name for p in (REPO / "tests").glob("test_*.py"))
    assert loose == ["test_architecture.py", "test_hygiene.py"]  # about the whole project, not one package
