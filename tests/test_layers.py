"""The package's layers, read from its imports (AST): no import cycle between packages, imports only point
down the declared order, and no ``_private`` name is imported from another package. This test is the guard
that keeps the house standing; see DEVELOPERS.md for the picture."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "tunewise"

# Top to bottom; a unit may import its own layer's siblings (acyclically) and anything below it.
LAYERS = [
    {"cli", "__main__"},
    {"tune"},
    {"pipeline"},
    {"select", "pool"},
    {"train", "evaluate", "data", "report", "review", "export", "serve", "track"},
    {"models"},
    {"config", "rundir", "_io", "_http", "_progress", "_format", "errors", "resources"},
]
RANK = {unit: rank for rank, units in enumerate(LAYERS) for unit in units}


def unit_of(module: str) -> str | None:
    """'tunewise.data.audit.base' -> 'data'; modules outside the package -> None."""
    parts = module.split(".")
    if parts[0] != "tunewise":
        return None
    return parts[1] if len(parts) > 1 else "__init__"


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def resolved(node: ast.ImportFrom, module: str, is_package: bool) -> str:
    if not node.level:
        return node.module or ""
    base = module.split(".")
    base = base if is_package else base[:-1]
    base = base[: len(base) - (node.level - 1)]
    return ".".join(base + ([node.module] if node.module else []))


def imports(path: Path) -> list[tuple[str, str | None, int]]:
    """(module, imported name or None, line) for every import in a file, including those inside functions."""
    module, tree = module_name(path), ast.parse(path.read_text(encoding="utf-8"))
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(alias.name, None, node.lineno) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            source = resolved(node, module, path.name == "__init__.py")
            for alias in node.names:
                # `from tunewise import data` imports a module, `from tunewise.x import name` a name
                as_module = f"{source}.{alias.name}"
                found.append(
                    (as_module, None, node.lineno) if source == "tunewise" else (source, alias.name, node.lineno)
                )
    return found


def package_graph(root: Path = PACKAGE) -> dict[str, dict[str, list[str]]]:
    """unit -> imported unit -> ['file:line', ...]"""
    graph: dict[str, dict[str, list[str]]] = {}
    for path in sorted(root.rglob("*.py")):
        source_unit = unit_of(module_name(path))
        for target, _, line in imports(path):
            target_unit = unit_of(target)
            if target_unit and source_unit and target_unit != source_unit:
                where = f"{path.relative_to(ROOT)}:{line}"
                graph.setdefault(source_unit, {}).setdefault(target_unit, []).append(where)
    return graph


def cycles(graph: dict[str, dict[str, list[str]]]) -> list[list[str]]:
    """Every strongly connected set of more than one unit (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(unit: str) -> None:
        index[unit] = low[unit] = len(index)
        stack.append(unit)
        for target in graph.get(unit, {}):
            if target not in index:
                visit(target)
                low[unit] = min(low[unit], low[target])
            elif target in stack:
                low[unit] = min(low[unit], index[target])
        if low[unit] == index[unit]:
            component = []
            while True:
                member = stack.pop()
                component.append(member)
                if member == unit:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for unit in sorted(set(graph) | {t for targets in graph.values() for t in targets}):
        if unit not in index:
            visit(unit)
    return found


def private_imports(paths: list[Path]) -> list[str]:
    """Imports of a `_name` defined in another unit (`tunewise._io` and `_progress` are shared modules)."""
    bad = []
    for path in paths:
        source_unit = unit_of(module_name(path)) if path.is_relative_to(PACKAGE) else path.parent.name
        for target, name, line in imports(path):
            target_unit = unit_of(target)
            if target_unit is None or target_unit == source_unit:
                continue
            private_module = any(part.startswith("_") for part in target.split(".")[2:])
            if private_module or (name and name.startswith("_")):
                bad.append(f"{path.relative_to(ROOT)}:{line}: {target}{'.' + name if name else ''}")
    return bad


def test_no_import_cycle_between_packages():
    assert cycles(package_graph()) == []


def test_imports_point_down_the_layers():
    upward = [
        f"{source} -> {target} ({', '.join(where)})"
        for source, targets in package_graph().items()
        for target, where in targets.items()
        if RANK.get(target, len(LAYERS)) < RANK.get(source, len(LAYERS))
    ]
    assert upward == []


def test_every_unit_has_a_layer():
    units = {unit_of(module_name(p)) for p in PACKAGE.rglob("*.py")} - {"__init__", "__main__"}
    assert sorted(units - set(RANK)) == []


def test_no_private_name_crosses_a_package_border():
    paths = sorted(PACKAGE.rglob("*.py")) + sorted((ROOT / "benchmarks").glob("*.py"))
    assert private_imports(paths) == []


def test_the_guard_finds_a_cycle_and_a_private_import(tmp_path):
    """The checks above can fail: a made-up package with a cycle and a private import is caught."""
    fake = tmp_path / "tunewise"
    for unit, body in (
        ("pipeline", "from tunewise.select import pick\n"),
        ("select", "from tunewise.pipeline import _x\n"),
    ):
        (fake / unit).mkdir(parents=True)
        (fake / unit / "__init__.py").write_text(body)
    global ROOT
    saved, ROOT = ROOT, tmp_path
    try:
        assert cycles(package_graph(fake)) == [["pipeline", "select"]]
        assert private_imports(sorted(fake.rglob("*.py"))) == ["tunewise/select/__init__.py:1: tunewise.pipeline._x"]
    finally:
        ROOT = saved
