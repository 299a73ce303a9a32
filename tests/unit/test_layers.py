"""The architecture page's module map is the truth: every module is in it, and imports follow its layers.

``docs/02-architecture.md`` lists every module of the package with its layer. A module may import only
modules of its own layer or of lower ones (``TYPE_CHECKING`` imports and imports inside functions count too),
and no two modules may import each other, directly or around a loop.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "codex_actors"
MAP = ROOT / "docs" / "02-architecture.md"

_ROW = re.compile(r"^\| `(?P<path>[\w/.]+\.py)` \| (?P<layer>\d) ")


def module_map() -> dict[str, int]:
    """``{module file (relative to codex_actors/): layer}``, from the architecture page's table."""
    text = MAP.read_text(encoding="utf-8")
    section = text.split("## Module map", 1)[1].split("\n## ", 1)[0]
    layers: dict[str, int] = {}
    for line in section.splitlines():
        match = _ROW.match(line)
        if match:
            assert match["path"] not in layers, f"{match['path']} is in the map twice"
            layers[match["path"]] = int(match["layer"])
    return layers


def package_modules() -> dict[str, str]:
    """``{dotted module name: file relative to codex_actors/}`` for every module of the package."""
    modules = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        relative = path.relative_to(PACKAGE)
        parts = ["codex_actors", *relative.with_suffix("").parts]
        if parts[-1] == "__init__":
            parts = parts[:-1]
        modules[".".join(parts)] = relative.as_posix()
    return modules


def imports_of(dotted: str, file: str, known: dict[str, str]) -> set[str]:
    """The package modules ``file`` imports, wherever the import statement is."""
    tree = ast.parse((PACKAGE / file).read_text(encoding="utf-8"))
    package = dotted if file.endswith("__init__.py") else dotted.rsplit(".", 1)[0]
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                module = ".".join([*base, *([node.module] if node.module else [])])
            else:
                module = node.module or ""
            targets = [module, *(f"{module}.{alias.name}" for alias in node.names)]
        else:
            continue
        for target in targets:
            if target in known and target != dotted:
                found.add(target)
    return found


def graph() -> dict[str, set[str]]:
    known = package_modules()
    return {dotted: imports_of(dotted, file, known) for dotted, file in known.items()}


def test_every_module_is_in_the_architecture_map_and_nothing_else_is() -> None:
    files = set(package_modules().values())
    mapped = set(module_map())
    assert sorted(files - mapped) == [], "modules missing from docs/02-architecture.md's module map"
    assert sorted(mapped - files) == [], "the map lists modules that do not exist"


def test_imports_go_only_to_the_same_layer_or_a_lower_one() -> None:
    layers = module_map()
    files = package_modules()
    wrong = []
    for importer, imported in graph().items():
        for target in sorted(imported):
            if layers[files[target]] > layers[files[importer]]:
                wrong.append(
                    f"{files[importer]} (layer {layers[files[importer]]}) imports {files[target]} "
                    f"(layer {layers[files[target]]})"
                )
    assert wrong == []


def test_there_is_no_import_cycle_not_even_through_type_checking_imports() -> None:
    edges = graph()
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    cycles: list[list[str]] = []

    def visit(node: str) -> None:  # Tarjan's strongly connected components
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in edges[node]:
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                cycles.append(sorted(component))

    for node in sorted(edges):
        if node not in index:
            visit(node)
    assert cycles == []
