"""The package's folders form layers: no folder imports, directly or through others, a folder that imports it back.

Every ``.py`` file under ``denselora/`` is parsed (nothing is imported), and every ``import denselora...`` and
``from denselora... import ...`` statement counts, at module level or inside a function: an import deferred into
a function still ties the two folders together, it only hides the cycle until the function runs.

The nodes of the graph are the folders, each holding its own files (a nested package such as
``evaluation/harness/`` is a folder of its own: it rebuilds a trained fine-tuner, so it sits above ``training/``,
while the rest of ``evaluation/`` sits below it). The package's ``__init__.py`` may import anything, and a
folder's ``__init__.py`` what its subfolders offer (``methods/`` gives ``DenseLoRA`` from ``methods/denselora/``,
which builds on ``methods/``); the other modules at the top of the package (``errors.py``, ``jsonl.py``, ...) are
leaves that many folders use, so they must not import a folder; ``__main__.py`` may.

A second check keeps imports of the package at module level, where a cycle shows: an import inside a function
is allowed only where :data:`FUNCTION_LEVEL_IMPORTS` gives the reason.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PACKAGE = REPO / "denselora"

#: The package's own module: it may import any folder (it imports the quickstart so that its registrations hold).
PACKAGE_INIT = "__init__.py"
#: The command line's entry point: a top-level module that may import folders.
ENTRY_POINT = "__main__.py"

#: Imports of the package inside a function that are there on purpose: (file, imported module) -> why.
FUNCTION_LEVEL_IMPORTS = {
    ("denselora/evaluation/harness/__init__.py", "denselora.evaluation.harness.lm"): (
        "optional dependency lm-eval: DenseLoRALM subclasses lm-eval's HFLM, so its module imports lm-eval, "
        "which only `pip install -e .[eval]` installs"
    ),
    ("denselora/cli/lm_eval.py", "denselora.evaluation.harness.lm"): (
        "optional dependency lm-eval: imported once require_lm_eval() has found it, so that a missing lm-eval is "
        "one message naming the install command"
    ),
    ("denselora/methods/denselora/fused.py", "denselora.methods.denselora.triton_kernels"): (
        "optional dependency triton: the Triton kernels' module imports Triton, which only `pip install -e .[triton]` "
        "installs and which reads TRITON_INTERPRET (its CPU interpreter) as it loads, so it loads on first use"
    ),
}


@dataclass(frozen=True)
class PackageImport:
    """One import statement that names the package: where it is, what it imports, and whether in a function."""

    file: str  # relative to the repository, e.g. denselora/models/tokenizer.py
    line: int
    module: str  # the module imported, e.g. denselora.data.prompts
    in_function: bool

    def __str__(self) -> str:
        return f"{self.file}:{self.line} imports {self.module}"


def _is_package(module: str) -> bool:
    return (PACKAGE.parent / module.replace(".", "/") / "__init__.py").is_file()


def _imported_modules(node: ast.Import | ast.ImportFrom) -> list[str]:
    """The modules of the package an import statement loads (``from a import b`` loads ``a.b`` when that is a
    module, else ``a``)."""
    if isinstance(node, ast.Import):
        return [alias.name for alias in node.names if alias.name.split(".")[0] == "denselora"]
    if node.level or not node.module or node.module.split(".")[0] != "denselora":
        return []
    modules = []
    for alias in node.names:
        submodule = f"{node.module}.{alias.name}"
        path = PACKAGE.parent / submodule.replace(".", "/")
        modules.append(submodule if path.with_suffix(".py").is_file() or path.is_dir() else node.module)
    return list(dict.fromkeys(modules))  # `from a import (b, c)` loads `a` once


def _walk(node: ast.AST, in_function: bool) -> Iterator[tuple[ast.Import | ast.ImportFrom, bool]]:
    for child in ast.iter_child_nodes(node):
        if isinstance(child, ast.Import | ast.ImportFrom):
            yield child, in_function
        yield from _walk(child, in_function or isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda))


def package_imports() -> list[PackageImport]:
    """Every import of the package in every file of the package."""
    found = []
    for path in sorted(PACKAGE.rglob("*.py")):
        file = path.relative_to(REPO).as_posix()
        for node, in_function in _walk(ast.parse(path.read_text(encoding="utf-8"), file), False):
            found += [PackageImport(file, node.lineno, module, in_function) for module in _imported_modules(node)]
    return found


def node_of_file(file: str) -> str:
    """The folder a file belongs to (``models/``, ``evaluation/harness/``), or the top-level module itself."""
    parts = file.split("/")[1:]
    return "/".join(parts[:-1]) + "/" if len(parts) > 1 else parts[0]


def node_of_module(module: str) -> str:
    """The folder (or top-level module) an imported module belongs to."""
    parts = module.split(".")[1:]
    if not parts:
        return PACKAGE_INIT  # `import denselora`, `from denselora import <a name of __init__.py>`
    if _is_package(module):
        return "/".join(parts) + "/"
    return "/".join(parts[:-1]) + "/" if len(parts) > 1 else parts[0] + ".py"


def import_graph() -> dict[str, dict[str, list[PackageImport]]]:
    """Folder -> the folders (and top-level modules) it imports -> the statements that do."""
    graph: dict[str, dict[str, list[PackageImport]]] = {}
    for found in package_imports():
        source, target = node_of_file(found.file), node_of_module(found.module)
        if found.file.endswith("/__init__.py") and target.startswith(source):
            continue  # a folder's facade gathers what its subfolders offer; they build on the folder, not on it
        if source != target:
            graph.setdefault(source, {}).setdefault(target, []).append(found)
    return graph


def _reachable(graph: dict[str, dict[str, list[PackageImport]]], start: str) -> set[str]:
    seen, stack = set(), [start]
    while stack:
        for target in graph.get(stack.pop(), {}):
            if target not in seen:
                seen.add(target)
                stack.append(target)
    return seen


def import_cycles(graph: dict[str, dict[str, list[PackageImport]]]) -> list[list[str]]:
    """The strongly connected components of more than one node, each sorted: folders that import each other."""
    reachable = {node: _reachable(graph, node) for node in graph}
    cycles = []
    for node in sorted(graph):
        component = sorted({node} | {other for other in reachable[node] if node in reachable.get(other, set())})
        if len(component) > 1 and component not in cycles:
            cycles.append(component)
    return cycles


def _describe(graph: dict[str, dict[str, list[PackageImport]]], component: list[str]) -> str:
    edges = [
        f"  {found}"
        for source in component
        for target, statements in sorted(graph.get(source, {}).items())
        if target in component
        for found in statements
    ]
    return " <-> ".join(component) + ":\n" + "\n".join(edges)


def test_no_folder_imports_a_folder_that_imports_it_back():
    graph = import_graph()
    cycles = import_cycles(graph)
    assert not cycles, "folders that import each other (directly or through others):\n" + "\n".join(
        _describe(graph, component) for component in cycles
    )


def test_the_top_level_modules_import_no_folder():
    leaves = {path.name for path in PACKAGE.glob("*.py")} - {PACKAGE_INIT, ENTRY_POINT}
    graph = import_graph()
    offending = [
        str(found)
        for leaf in sorted(leaves)
        for target, statements in graph.get(leaf, {}).items()
        if target not in leaves
        for found in statements
    ]
    assert not offending, "a top-level module imports a folder or the package:\n" + "\n".join(offending)


def test_the_package_is_imported_at_module_level():
    unexplained = [
        str(found)
        for found in package_imports()
        if found.in_function and (found.file, found.module) not in FUNCTION_LEVEL_IMPORTS
    ]
    assert not unexplained, (
        "an import of the package inside a function (move it to the top of the module; if it breaks a cycle, break "
        "the cycle instead; if it defers an optional dependency, add it to FUNCTION_LEVEL_IMPORTS with the "
        "reason):\n" + "\n".join(unexplained)
    )


def test_each_allowed_function_level_import_is_still_there():
    present = {(found.file, found.module) for found in package_imports() if found.in_function}
    assert set(FUNCTION_LEVEL_IMPORTS) <= present, set(FUNCTION_LEVEL_IMPORTS) - present


# The checks themselves, on small made-up graphs.
def _statement(file: str, module: str) -> PackageImport:
    return PackageImport(file, 1, module, in_function=True)


def test_a_cycle_through_a_third_folder_is_found():
    graph = {
        "models/": {"data/": [_statement("denselora/models/a.py", "denselora.data")]},
        "data/": {"tasks/": [_statement("denselora/data/b.py", "denselora.tasks")]},
        "tasks/": {"models/": [_statement("denselora/tasks/c.py", "denselora.models")]},
        "cli/": {"models/": [_statement("denselora/cli/d.py", "denselora.models")]},
    }
    assert import_cycles(graph) == [["data/", "models/", "tasks/"]]


def test_a_layered_graph_has_no_cycle():
    graph = {
        "quickstart/": {"models/": [], "data/": []},
        "data/": {"models/": []},
        PACKAGE_INIT: {"quickstart/": []},
    }
    assert import_cycles(graph) == []


def test_imports_are_assigned_to_their_folders():
    assert node_of_file("denselora/models/tokenizer.py") == "models/"
    assert node_of_file("denselora/evaluation/harness/loading.py") == "evaluation/harness/"
    assert node_of_file("denselora/errors.py") == "errors.py"
    assert node_of_module("denselora.data.prompts") == "data/"
    assert node_of_module("denselora.evaluation.harness") == "evaluation/harness/"
    assert node_of_module("denselora.evaluation") == "evaluation/"
    assert node_of_module("denselora.errors") == "errors.py"
    assert node_of_module("denselora") == PACKAGE_INIT
