"""The package's shape, checked: layers point one way, and no room grows out of bounds.

Read from the source files (no import is executed), so a violation names the
file and the line. ``docs/architecture.md`` describes the layers.
"""

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1] / "src"
PACKAGE = ROOT / "smart_sc"


def _module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {_module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def _is_package(name: str) -> bool:
    return MODULES[name].name == "__init__.py"


def _resolve(module: str, node: ast.ImportFrom) -> str:
    if node.level == 0:
        return node.module or ""
    base = module.split(".")
    if not _is_package(module):
        base = base[:-1]
    base = base[: len(base) - (node.level - 1)]
    return ".".join(base + ([node.module] if node.module else []))


def _imports(module: str):
    """``(line, imported module, imported names)`` of every smart_sc import, at any depth."""
    tree = ast.parse(MODULES[module].read_text())
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.startswith("smart_sc"):
                    yield node.lineno, alias.name, ()
        elif isinstance(node, ast.ImportFrom):
            target = _resolve(module, node)
            if not target.startswith("smart_sc"):
                continue
            names = tuple(a.name for a in node.names)
            submodules = [f"{target}.{n}" for n in names if f"{target}.{n}" in MODULES]
            if submodules:
                for sub in submodules:
                    yield node.lineno, sub, ()
                rest = tuple(n for n in names if f"{target}.{n}" not in MODULES)
                if rest:
                    yield node.lineno, target, rest
            else:
                yield node.lineno, target, names


GRAPH = {m: sorted({t for _, t, _ in _imports(m) if t in MODULES and t != m})
         for m in MODULES}


def _packages_of(name: str) -> list[str]:
    parts = name.split(".")
    return [".".join(parts[:i]) for i in range(1, len(parts))]


def test_no_import_cycle_inside_the_package():
    # A module's own package __init__ re-exports it: that edge is Python's, not a cycle.
    def edges(m):
        return [t for t in GRAPH[m] if t not in _packages_of(m)]

    state, stack, cycles = {}, [], []

    def visit(m):
        state[m] = "open"
        stack.append(m)
        for t in edges(m):
            if state.get(t) == "open":
                cycles.append([*stack[stack.index(t):], t])
            elif t not in state:
                visit(t)
        stack.pop()
        state[m] = "done"

    for m in MODULES:
        if m not in state:
            visit(m)
    assert not cycles, f"import cycles: {cycles[:3]}"


def test_at_most_two_private_modules_loose_at_the_top():
    loose = sorted(p.name for p in PACKAGE.glob("_*.py") if p.name != "__init__.py")
    assert len(loose) <= 2, loose


@pytest.mark.parametrize("name", sorted(MODULES))
def test_no_module_is_over_700_lines(name):
    assert len(MODULES[name].read_text().splitlines()) <= 700


def test_no_module_imports_a_private_name_from_another():
    offenders = [f"{MODULES[m].relative_to(ROOT)}:{line} imports {n} from {t}"
                 for m in MODULES for line, t, names in _imports(m) for n in names
                 if n.startswith("_") and not n.startswith("__") and t != m]
    assert not offenders, offenders


def _third_party(module: str) -> set[str]:
    tree = ast.parse(MODULES[module].read_text())
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.add(node.module.split(".")[0])
    return found


def test_the_core_knows_nothing_of_anndata_and_nothing_above_it():
    core = [m for m in MODULES if m.startswith("smart_sc._core")]
    assert core
    scverse = {"anndata", "mudata", "muon", "scanpy"}
    for m in core:
        assert not _third_party(m) & scverse, m
        above = [t for t in GRAPH[m] if not t.startswith("smart_sc._core")
                 and t not in ("smart_sc", "smart_sc.exceptions")]
        assert not above, f"{m} imports {above}"


#: What the scverse face (get, pp, tl, pl, datasets) may read of the core: array
#: helpers and the random-state rule, never the solver.
FACE_MAY_USE = ("smart_sc._core.arrays", "smart_sc._core.randomness")


def test_the_scverse_face_knows_nothing_of_the_solver():
    face = [m for m in MODULES if m.split(".")[1:2] and m.split(".")[1] in
            ("get", "pp", "tl", "pl", "datasets")]
    assert face
    offenders = [(m, t) for m in face for t in GRAPH[m]
                 if t.startswith("smart_sc._core") and t not in FACE_MAY_USE]
    assert not offenders, offenders


#: The core's layers, lowest first: a module imports from its own layer or lower ones.
CORE_LAYERS = ("base", "sums", "geometry", "solver", "selection", "fit")


def _core_layer(name: str) -> str:
    parts = name.split(".")[2:]  # after smart_sc._core
    if parts and parts[0] in CORE_LAYERS:
        return parts[0]
    return "base"  # arrays, threads, randomness, proximal and the package itself


def test_the_core_layers_point_one_way():
    core = [m for m in MODULES if m.startswith("smart_sc._core.")]
    assert {_core_layer(m) for m in core} == set(CORE_LAYERS)
    upward = [(m, t) for m in core for t in GRAPH[m] if t.startswith("smart_sc._core.")
              and CORE_LAYERS.index(_core_layer(t)) > CORE_LAYERS.index(_core_layer(m))]
    assert not upward, upward
