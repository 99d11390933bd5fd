"""The package's import rules, read from the source (AST), so a new violation fails here.

Layers (a module imports only its own layer's helpers, its own subpackage and
lower layers; docs/architecture.md)::

    0 helpers  errors, _validation, _time, _config, _version, base, snapshot
    1          sim, scoring, store (peers: they do not import each other)
    2 forecast   3 regime   4 risk   5 engine   6 execution   7 report
    8 nightly    9 cli

Checked over every module of ``riskengine/`` (imports inside functions count):

(a) no import of a higher layer or of a layer-1 peer; no import of the
    package root (``import riskengine``, ``from riskengine import Engine``)
    from inside the package; no private name (``_x``) of another subpackage,
    whether imported (``from riskengine.sim.orderbook import _step``), reached
    through an imported module (``orderbook._step``) or as a private module
    (``riskengine.sim._devices``);
(b) no import cycle between modules (module-level imports, type-only ones
    included: a loop is a loop);
(c) only the store imports ``duckdb``.

Each test lists every violation it finds, with file and line.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = "riskengine"
PACKAGE = Path(__file__).resolve().parents[1] / ROOT

LAYERS = {
    "errors": 0,
    "_validation": 0,
    "_time": 0,
    "_config": 0,
    "_version": 0,
    "base": 0,
    "snapshot": 0,
    "sim": 1,
    "scoring": 1,
    "store": 1,
    "forecast": 2,
    "regime": 3,
    "risk": 4,
    "engine": 5,
    "execution": 6,
    "report": 7,
    "nightly": 8,
    "cli": 9,
}
PEER_LAYERS = {1}  # top-level names in these layers may not import each other


@dataclass(frozen=True)
class Import:
    """One imported riskengine module (``target``), and the names taken from it."""

    module: str  # the importing module
    path: str  # its file, relative to the repository
    line: int
    target: str  # the module imported (or the module a name is taken from)
    names: tuple[str, ...]  # names imported from it (``from x import a, b``)
    top_level: bool  # at module level (not inside a function)


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _is_package(module: str) -> bool:
    return (PACKAGE.parent / module.replace(".", "/") / "__init__.py").is_file()


def _exists(module: str) -> bool:
    base = PACKAGE.parent / module.replace(".", "/")
    return base.with_suffix(".py").is_file() or (base / "__init__.py").is_file()


def _modules() -> dict[str, Path]:
    return {_module_name(path): path for path in sorted(PACKAGE.rglob("*.py"))}


def _resolve(module: str, node: ast.ImportFrom) -> str:
    """The absolute module a ``from ... import`` reads from (relative imports resolved)."""
    if node.level == 0:
        return node.module or ""
    base = module.split(".") if _is_package(module) else module.split(".")[:-1]
    base = base[: len(base) - (node.level - 1)]
    return ".".join(base + ([node.module] if node.module else []))


class _Collector(ast.NodeVisitor):
    """Every import in a module (with whether it is at module level), and private attribute use."""

    def __init__(self, module: str, path: str) -> None:
        self.module, self.path = module, path
        self.imports: list[Import] = []
        self.third_party: list[tuple[str, int]] = []
        self.private_uses: list[tuple[int, str, str]] = []  # (line, module, attribute)
        self._aliases: dict[str, str] = {}  # local name -> riskengine module it is bound to
        self._depth = 0

    def _add(self, node: ast.AST, target: str, names: tuple[str, ...]) -> None:
        self.imports.append(
            Import(self.module, self.path, node.lineno, target, names, self._depth == 0)
        )

    def visit_FunctionDef(self, node: ast.FunctionDef) -> None:
        # A function's arguments and assignments shadow module aliases of the same name.
        arguments = node.args.posonlyargs + node.args.args + node.args.kwonlyargs
        local = {a.arg for a in arguments} | {
            n.id for n in ast.walk(node) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Store)
        }
        saved = self._aliases
        self._aliases = {k: v for k, v in saved.items() if k not in local}
        self._depth += 1
        self.generic_visit(node)
        self._depth -= 1
        self._aliases = saved

    visit_AsyncFunctionDef = visit_FunctionDef

    def visit_Import(self, node: ast.Import) -> None:
        for alias in node.names:
            top = alias.name.split(".")[0]
            if top != ROOT:
                self.third_party.append((alias.name, node.lineno))
                continue
            self._add(node, alias.name, ())
            if alias.asname:
                self._aliases[alias.asname] = alias.name

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        source = _resolve(self.module, node)
        if source.split(".")[0] != ROOT:
            self.third_party.append((source, node.lineno))
            return
        names = []
        for alias in node.names:
            submodule = f"{source}.{alias.name}"
            if _exists(submodule):  # ``from pkg import module``: an import of that module
                self._add(node, submodule, ())
                self._aliases[alias.asname or alias.name] = submodule
            else:
                names.append(alias.name)
        if names or not node.names:
            self._add(node, source, tuple(names))

    def visit_Attribute(self, node: ast.Attribute) -> None:
        if (
            isinstance(node.value, ast.Name)
            and node.value.id in self._aliases
            and _private(node.attr)
        ):
            self.private_uses.append((node.lineno, self._aliases[node.value.id], node.attr))
        self.generic_visit(node)


def _private(name: str) -> bool:
    return name.startswith("_") and not (name.startswith("__") and name.endswith("__"))


def _collect() -> list[_Collector]:
    collectors = []
    for module, path in _modules().items():
        collector = _Collector(module, str(path.relative_to(PACKAGE.parent)))
        collector.visit(ast.parse(path.read_text(encoding="utf-8"), filename=str(path)))
        collectors.append(collector)
    return collectors


COLLECTED = _collect()


def _top(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ""


def _report(title: str, violations: list[str]) -> str:
    return f"{len(violations)} {title}:\n  " + "\n  ".join(sorted(violations))


def test_every_module_has_a_layer() -> None:
    unknown = [
        f"{c.path}: top-level name {_top(c.module)!r} has no layer in tests/test_layers.py"
        for c in COLLECTED
        if c.module != ROOT and _top(c.module) not in LAYERS
    ]
    assert not unknown, _report("modules outside the layer map", unknown)


def _layer_violations(collectors: list[_Collector]) -> list[str]:
    violations = []
    for collector in collectors:
        if collector.module == ROOT:  # the root is the facade: it may import anything
            continue
        own = _top(collector.module)
        own_layer = LAYERS.get(own)
        for item in collector.imports:
            where = f"{item.path}:{item.line}"
            lazy = "" if item.top_level else " (inside a function)"
            if item.target == ROOT:
                shown = ", ".join(item.names) or "riskengine"
                violations.append(f"{where}: imports the package root ({shown}){lazy}")
                continue
            other = _top(item.target)
            if other == own or own_layer is None or other not in LAYERS:
                continue
            layer = LAYERS[other]
            if layer > own_layer:
                violations.append(
                    f"{where}: {own} (layer {own_layer}) imports {item.target} "
                    f"(layer {layer}){lazy}"
                )
            elif layer == own_layer and layer in PEER_LAYERS:
                violations.append(
                    f"{where}: {own} imports its peer {item.target} (layer {layer}){lazy}"
                )
    return violations


def test_no_import_runs_up_the_layers_or_across_peers() -> None:
    violations = _layer_violations(COLLECTED)
    assert not violations, _report("upward or peer imports", violations)


def test_no_private_name_crosses_a_subpackage() -> None:
    violations = []
    for collector in COLLECTED:
        own = _top(collector.module)
        for item in collector.imports:
            if _top(item.target) == own:
                continue
            where = f"{item.path}:{item.line}"
            private_parts = [p for p in item.target.split(".")[2:] if _private(p)]
            if private_parts:
                violations.append(f"{where}: imports the private module {item.target}")
            for name in item.names:
                if _private(name):
                    violations.append(f"{where}: imports {item.target}.{name}")
        for line, module, attribute in collector.private_uses:
            if _top(module) != own:
                violations.append(f"{collector.path}:{line}: uses {module}.{attribute}")
    assert not violations, _report("private names used across subpackages", violations)


def _graph() -> dict[str, set[str]]:
    """Module -> modules its module-level imports execute (the root facade left out).

    Importing ``riskengine.a.b`` from outside ``riskengine.a`` also runs
    ``riskengine/a/__init__.py``: that edge counts too.
    """
    graph: dict[str, set[str]] = {c.module: set() for c in COLLECTED if c.module != ROOT}
    for collector in COLLECTED:
        if collector.module == ROOT:
            continue
        for item in collector.imports:
            if not item.top_level or item.target == ROOT:
                continue
            parts = item.target.split(".")
            for end in range(2, len(parts) + 1):
                target = ".".join(parts[:end])
                inside = collector.module == target or collector.module.startswith(target + ".")
                if target in graph and target != collector.module and not inside:
                    graph[collector.module].add(target)
    return graph


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """One cycle per back edge found by a depth-first search (iterative, sorted order)."""
    white, grey, black = 0, 1, 2
    colour = dict.fromkeys(graph, white)
    found: list[list[str]] = []
    for start in sorted(graph):
        if colour[start] != white:
            continue
        stack = [(start, iter(sorted(graph[start])))]
        path = [start]
        colour[start] = grey
        while stack:
            node, children = stack[-1]
            child = next(children, None)
            if child is None:
                colour[node] = black
                stack.pop()
                path.pop()
            elif colour[child] == grey:
                found.append([*path[path.index(child) :], child])
            elif colour[child] == white:
                colour[child] = grey
                path.append(child)
                stack.append((child, iter(sorted(graph[child]))))
    return found


def test_no_import_cycles() -> None:
    cycles = [" -> ".join(cycle) for cycle in _cycles(_graph())]
    assert not cycles, _report("import cycles (module-level imports)", cycles)


def test_only_the_store_imports_duckdb() -> None:
    violations = [
        f"{c.path}:{line}: imports {name}"
        for c in COLLECTED
        for name, line in c.third_party
        if name.split(".")[0] == "duckdb" and _top(c.module) != "store"
    ]
    assert not violations, _report("duckdb imports outside the store", violations)


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("import riskengine\n", "imports the package root"),
        ("from riskengine import Engine\n", "imports the package root (Engine)"),
        ("def f():\n    from riskengine.execution import env\n", "(inside a function)"),
        ("from riskengine.scoring import qlike\n", "imports its peer riskengine.scoring"),
    ],
)
def test_the_checks_catch_what_they_claim(source: str, expected: str) -> None:
    """The rules themselves: a fake module in sim/ (layer 1) breaking each one."""
    collector = _Collector("riskengine.sim.fake", "riskengine/sim/fake.py")
    collector.visit(ast.parse(source))
    violations = _layer_violations([collector])
    assert len(violations) == 1 and expected in violations[0], violations


def test_private_and_cycle_checks_catch_what_they_claim() -> None:
    collector = _Collector("riskengine.execution.fake", "riskengine/execution/fake.py")
    source = (
        "from riskengine.sim import market as m\nfrom riskengine.base import _x\nm._step\n"
        "def f(m):\n    return m._private_of_an_argument\n"
    )
    collector.visit(ast.parse(source))
    uses = [f"{module}.{attribute}" for _, module, attribute in collector.private_uses]
    assert uses == ["riskengine.sim.market._step"]
    assert [item.names for item in collector.imports] == [(), ("_x",)]
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c", "a"]]
    assert _cycles({"a": {"b"}, "b": set()}) == []
