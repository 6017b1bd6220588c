"""The apps' modules import each other one way: no cycle inside an app, read from the source.

Every import counts, at module level and inside functions (a function-local import hides a cycle, it does
not remove it); only `if TYPE_CHECKING:` blocks are left out, as they never run. Function-local imports of
the project's own modules are kept for AppConfig.ready(), where the app registry requires them.
"""

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
APPS = ("accessbridge", "spaces", "locks")


def app_modules(app: str) -> dict[str, Path]:
    modules = {}
    for path in sorted((ROOT / app).rglob("*.py")):
        if "migrations" in path.parts:
            continue
        parts = path.relative_to(ROOT).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        modules[name] = path
    return modules


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return getattr(test, "id", None) == "TYPE_CHECKING" or getattr(test, "attr", None) == "TYPE_CHECKING"


def imports_of(tree: ast.AST, *, package: str):
    """(imported module, the import node, enclosing function name or None) for each import in the tree."""

    def walk(node, function):
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and _is_type_checking(child):
                for other in child.orelse:
                    yield from walk_one(other, function)
                continue
            yield from walk_one(child, function)

    def walk_one(node, function):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name, node, function
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parent = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                base = ".".join(parent + ([base] if base else []))
            for alias in node.names:
                yield f"{base}.{alias.name}", node, function  # a submodule, or a name in `base`
                yield base, node, function
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            function = node.name
        yield from walk(node, function)

    yield from walk(tree, None)


def import_graph(modules: dict[str, Path]) -> dict[str, set[str]]:
    graph = {}
    for name, path in modules.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        tree = ast.parse(path.read_text(), filename=str(path))
        graph[name] = {imported for imported, _, _ in imports_of(tree, package=package) if imported in modules}
        graph[name].discard(name)
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One cycle as a path that ends where it starts, or None."""
    state: dict[str, str] = {}  # "open" while on the path, "done" once fully explored
    path: list[str] = []

    def visit(node):
        state[node] = "open"
        path.append(node)
        for target in sorted(graph[node]):
            if state.get(target) == "open":
                return path[path.index(target) :] + [target]
            if target not in state:
                cycle = visit(target)
                if cycle:
                    return cycle
        path.pop()
        state[node] = "done"
        return None

    for node in sorted(graph):
        if node not in state:
            cycle = visit(node)
            if cycle:
                return cycle
    return None


@pytest.mark.parametrize("app", APPS)
def test_it_finds_no_import_cycle_inside_the_app(app):
    cycle = find_cycle(import_graph(app_modules(app)))
    assert cycle is None, f"import cycle in {app}: {' → '.join(cycle)}"


def test_it_names_a_cycle_it_finds():
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert find_cycle(graph) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None


def test_it_sees_imports_inside_functions_and_relative_ones(tmp_path):
    source = "from .b import x\n\ndef f():\n    from pkg import c\n\nif TYPE_CHECKING:\n    import pkg.d\n"
    found = {name for name, _, _ in imports_of(ast.parse(source), package="pkg")}
    assert {"pkg.b", "pkg.c"} <= found
    assert "pkg.d" not in found


def test_it_finds_function_local_imports_of_our_own_modules_only_in_app_ready():
    """Anywhere else they would only hide an import that belongs at the top (or a cycle)."""
    misplaced = []
    for app in APPS:
        for name, path in app_modules(app).items():
            package = name if path.name == "__init__.py" else name.rpartition(".")[0]
            for imported, node, function in imports_of(ast.parse(path.read_text()), package=package):
                own = imported.split(".")[0] in APPS
                if own and function is not None and not (path.name == "apps.py" and function == "ready"):
                    misplaced.append(f"{path.relative_to(ROOT)}:{node.lineno} {imported}")
    assert sorted(set(misplaced)) == []


def test_the_access_engine_is_stacked_one_way():
    """locks.access: each module imports only those after it (the package docstring's order)."""
    order = ["boundaries", "jobs", "run", "plan", "apply", "operations", "desired"]
    modules = {name: path for name, path in app_modules("locks").items() if name.startswith("locks.access.")}
    assert sorted(modules) == sorted(f"locks.access.{name}" for name in order)
    graph = import_graph(app_modules("locks"))
    upward = [
        f"{name} imports {imported}"
        for position, name in enumerate(order)
        for imported in sorted(graph[f"locks.access.{name}"])
        if imported.startswith("locks.access.") and order.index(imported.rpartition(".")[2]) <= position
    ]
    assert upward == []
