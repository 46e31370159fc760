"""The package's layers, read from the source: no import circle (module-level or inside a
function; `if TYPE_CHECKING:` blocks do not count) and no import running back up a layer."""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

PKG = Path(__file__).resolve().parents[1] / "codefusion"

# package -> the codefusion packages it must never import (the layers above it)
FORBIDDEN = {
    "codefusion.networks": {"diffusion", "training", "generation", "evaluation", "bench", "systems", "baselines",
                            "experiment", "data"},
    "codefusion.diffusion": {"networks", "training", "generation", "evaluation", "bench", "systems", "baselines",
                             "experiment", "data"},
    "codefusion.languages": {"data", "training", "generation", "evaluation", "bench", "systems", "baselines",
                             "experiment", "networks", "diffusion"},
    "codefusion.data": {"training", "generation", "evaluation", "bench", "systems", "baselines", "experiment"},
    "codefusion.evaluation": {"training", "generation", "networks", "diffusion", "bench", "systems", "baselines",
                              "experiment"},
    "codefusion.generation": {"training", "bench", "experiment", "evaluation"},
    "codefusion.training": {"bench", "experiment", "evaluation"},
}


def module_name(path: Path) -> str:
    parts = path.relative_to(PKG.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _type_checking_blocks(tree: ast.AST) -> set[int]:
    skip: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            skip.update(id(n) for n in ast.walk(node))
    return skip


def imports_of(path: Path, modules: set[str]) -> set[str]:
    name, tree = module_name(path), ast.parse(path.read_text(encoding="utf-8"))
    skip, found = _type_checking_blocks(tree), set()
    for node in ast.walk(tree):
        if id(node) in skip:
            continue
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = name.split(".") if path.name == "__init__.py" else name.split(".")[:-1]
                base = base[: len(base) - node.level + 1]
                mod = ".".join(base + ([node.module] if node.module else []))
            else:
                mod = node.module or ""
            found.add(mod)
            found.update(f"{mod}.{a.name}" for a in node.names)
    return {m for m in found if m in modules and m != name}


GRAPH = {module_name(p): p for p in PKG.rglob("*.py")}
EDGES = {m: imports_of(p, set(GRAPH)) for m, p in GRAPH.items()}


def test_no_import_circle() -> None:
    state: dict[str, int] = {}  # 1 on the stack, 2 done

    def visit(m: str, stack: list[str]) -> None:
        state[m] = 1
        for d in sorted(EDGES[m]):
            if state.get(d) == 1:
                pytest.fail("import circle: " + " -> ".join(stack[stack.index(d):] + [d]))
            if d not in state:
                visit(d, stack + [d])
        state[m] = 2

    for m in sorted(EDGES):
        if m not in state:
            visit(m, [m])


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_no_import_runs_back_up_a_layer(package: str) -> None:
    bad = sorted(f"{m} imports {d}" for m, deps in EDGES.items() if m == package or m.startswith(package + ".")
                 for d in deps if d.split(".")[1] in FORBIDDEN[package])
    assert not bad, bad
