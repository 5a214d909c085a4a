"""The project's layers, checked on the source: every import of every module of the packages
below (module level or inside a function, read with ``ast``, nothing imported; imports under
``if TYPE_CHECKING:`` are annotations and do not count) must go down or
sideways within its own package, and no two modules may import each other, directly or round a
longer circle.

The floors, bottom to top (a module may import its own package and any package on a lower floor):

    0  face_pipeline     detect, align, embed; scoring (calibrate, evaluation)
    1  model_registry    the model contract: names, tracking client, pyfunc classes, gate
    2  training          trainers, their data preparation, the fixed-set evaluator
    3  api               the REST API
    4  scripts           command-line tools (the database tools use the API's models)
    5  benchmarks        measurements of everything below

One stated exception: ``model_registry.cli`` (and ``model_registry.__main__``, which only runs
it) is the registry's command-line door. Its ``deploy``, ``compare`` and ``bootstrap`` evaluate on
the trainer's data and ``bootstrap`` trains, so it stands on the scripts floor; the rule then also
forbids anything below the scripts floor, the rest of ``model_registry`` included, to import it.

Tests may import anything and are not walked."""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
FLOORS = {"face_pipeline": 0, "model_registry": 1, "training": 2, "api": 3, "scripts": 4, "benchmarks": 5}
DOORS = {"model_registry.cli": "scripts", "model_registry.__main__": "scripts"}
"""Module (or subpackage) -> the package whose floor it stands on, instead of its own."""


@dataclass(frozen=True)
class Violation:
    kind: str  # "upward" or "circle"
    text: str


def module_files(root: Path, packages: dict[str, int]) -> dict[str, Path]:
    """Dotted module name -> file, for every ``.py`` under the packages (``__init__`` as the package)."""
    modules = {}
    for package in packages:
        for path in sorted((root / package).rglob("*.py")):
            parts = list(path.relative_to(root).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts = parts[:-1]
            modules[".".join(parts)] = path
    return modules


def runtime_nodes(tree: ast.AST):
    """Every node of ``tree`` except those under ``if TYPE_CHECKING:`` (annotations only: they
    never run, so they make neither a circle nor a dependency at run time)."""
    pending = [tree]
    while pending:
        node = pending.pop()
        yield node
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and ast.unparse(child.test) in ("TYPE_CHECKING", "typing.TYPE_CHECKING"):
                pending.extend(child.orelse)
                continue
            pending.append(child)


def imported_modules(name: str, path: Path, known: set[str]) -> set[str]:
    """The project modules ``name`` imports (``from a import b``: ``a.b`` when that is a module,
    else ``a``); relative imports resolved, anything outside ``known`` ignored."""
    is_package = path.name == "__init__.py"
    base = name.split(".") if is_package else name.split(".")[:-1]
    found = set()
    for node in runtime_nodes(ast.parse(path.read_text(), str(path))):
        targets = []
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                anchor = base[: len(base) - (node.level - 1)]
                module = ".".join(anchor + ([node.module] if node.module else []))
            else:
                module = node.module or ""
            targets = [f"{module}.{alias.name}" if f"{module}.{alias.name}" in known else module
                       for alias in node.names]
        for target in targets:
            while target and target not in known:  # import a.b.c of a non-module c: a.b
                target = target.rpartition(".")[0]
            if target and target != name:
                found.add(target)
    return found


def floor_of(module: str, packages: dict[str, int], doors: dict[str, str]) -> tuple[str, int]:
    """(the package whose floor ``module`` stands on, that floor)."""
    for door, package in doors.items():
        if module == door or module.startswith(door + "."):
            return package, packages[package]
    package = module.split(".")[0]
    return package, packages[package]


def circles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The import circles: strongly connected groups of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in sorted(graph.get(node, ())):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            group = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                group.append(member)
                if member == node:
                    break
            if len(group) > 1:
                found.append(sorted(group))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def check(root: Path, packages: dict[str, int] = FLOORS, doors: dict[str, str] = DOORS) -> list[Violation]:
    """Every upward import and every import circle among the packages' modules under ``root``."""
    files = module_files(root, packages)
    known = set(files)
    graph = {name: imported_modules(name, path, known) for name, path in files.items()}
    violations = []
    for name, targets in sorted(graph.items()):
        own_package, own_floor = floor_of(name, packages, doors)
        for target in sorted(targets):
            package, floor = floor_of(target, packages, doors)
            if floor > own_floor or (floor == own_floor and package != own_package):
                violations.append(Violation("upward", f"{name} ({own_package}, floor {own_floor}) imports "
                                                      f"{target} ({package}, floor {floor})"))
    violations += [Violation("circle", " <-> ".join(group)) for group in circles(graph)]
    return violations


def test_the_project_has_no_upward_import_and_no_circle():
    violations = check(ROOT)
    assert not violations, "\n".join(f"{v.kind}: {v.text}" for v in violations)


def test_every_package_is_walked():
    files = module_files(ROOT, FLOORS)
    for package in FLOORS:
        assert package in files, f"{package} has no __init__.py: its modules would be walked as loose files"
    assert "model_registry.cli" in files and "api.services.registry_models" in files


# --- the checker on a tiny synthetic tree ------------------------------------------------------


def write(root: Path, files: dict[str, str]) -> Path:
    for relative, text in files.items():
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root


TINY = {"low": 0, "high": 1}


@pytest.fixture()
def tree(tmp_path):
    return write(tmp_path, {
        "low/__init__.py": "",
        "low/a.py": "import os\nfrom . import b\n",
        "low/b.py": "from low.c import thing\n",
        "low/c.py": "thing = 1\n",
        "high/__init__.py": "from low import a\n",
        "high/tool.py": "def run():\n    import low.b\n",
        "high/solo.py": "import json\n",
    })


def test_checker_passes_a_clean_tree(tree):
    assert check(tree, TINY, {}) == []


def test_checker_finds_an_upward_import_even_inside_a_function(tree):
    write(tree, {"low/c.py": "thing = 1\n\ndef later():\n    from high import solo\n"})
    violations = check(tree, TINY, {})
    assert [v.text for v in violations] == ["low.c (low, floor 0) imports high.solo (high, floor 1)"]


def test_type_checking_imports_do_not_count(tree):
    write(tree, {"low/c.py": "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from high import tool\n"
                             "    from .a import b\nelse:\n    import os\nthing = 1\n"})
    assert check(tree, TINY, {}) == []
    write(tree, {"low/c.py": "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    pass\n"
                             "else:\n    from high import solo\n"})
    assert [v.kind for v in check(tree, TINY, {})] == ["upward"]


def test_checker_finds_a_circle(tree):
    write(tree, {"low/c.py": "from .a import b\nthing = 1\n"})  # a -> b -> c -> a (c imports low.a.b: a)
    violations = check(tree, TINY, {})
    assert [(v.kind, v.text) for v in violations] == [("circle", "low.a <-> low.b <-> low.c")], violations


def test_checker_finds_two_modules_importing_each_other(tree):
    write(tree, {"high/other.py": "from high.tool import run\n",
                 "high/tool.py": "from . import other\n"})
    assert [v.text for v in check(tree, TINY, {})] == ["high.other <-> high.tool"]


def test_a_door_stands_on_its_floor_and_nothing_below_may_import_it(tree):
    write(tree, {"low/door.py": "from high import solo\n"})
    assert [v.kind for v in check(tree, TINY, {})] == ["upward"]
    assert check(tree, TINY, {"low.door": "high"}) == []
    write(tree, {"low/b.py": "from low.c import thing\nfrom low import door\n"})
    violations = check(tree, TINY, {"low.door": "high"})
    assert [v.text for v in violations] == ["low.b (low, floor 0) imports low.door (high, floor 1)"]


def test_sideways_between_packages_on_one_floor_is_refused(tree):
    write(tree, {"side/__init__.py": "", "side/x.py": "from low import c\n", "high/y.py": "from side import x\n"})
    violations = check(tree, {"low": 0, "high": 1, "side": 1}, {})
    assert [v.text for v in violations] == ["high.y (high, floor 1) imports side.x (side, floor 1)"]
