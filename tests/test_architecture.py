"""The import graph keeps the layers of docs/architecture.md: no cycles, no import of a higher layer, seams hold.

Every import counts (top level, inside functions, under TYPE_CHECKING): a lazy import is still a
dependency. The layer table below is the one place the layers are defined; docs/architecture.md shows
the same table, and a test checks that the two agree.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
ROOT = "orchestrator"
PACKAGE = REPO / ROOT
DOC = REPO / "docs" / "architecture.md"

# Bottom to top. A module belongs to the layer of its longest listed prefix (``orchestrator`` itself
# names only the package's ``__init__``); it may import its own layer and the layers below, never a
# layer above.
LAYERS: list[tuple[str, tuple[str, ...]]] = [
    ("foundation", ("orchestrator", "orchestrator.errors", "orchestrator.home", "orchestrator.vocabulary")),
    (
        "runtime",
        (
            "orchestrator.settings",
            "orchestrator.logs",
            "orchestrator.retry",
            "orchestrator.jobs.backend",
            "orchestrator.metrics",
            "orchestrator.tracing",
        ),
    ),
    ("seams", ("orchestrator.spec", "orchestrator.cloud", "orchestrator.engine", "orchestrator.agent", "orchestrator.store")),
    ("domain", ("orchestrator.compile", "orchestrator.jobs", "orchestrator.cost", "orchestrator.region", "orchestrator.workdir")),
    ("targets", ("orchestrator.targets", "orchestrator.policy")),
    (
        "services",
        (
            "orchestrator.lifecycle",
            "orchestrator.gc",
            "orchestrator.policy.check",
            "orchestrator.doctor",
            "orchestrator.scaffold",
            "orchestrator.sweep",
            "orchestrator.metrics.exporter",
            "orchestrator.metrics.push",
            "orchestrator.program",
        ),
    ),
    ("cli", ("orchestrator.cli", "orchestrator.__main__")),
    ("testing", ("orchestrator.testing",)),
]

# Third-party seams: (imported module prefix, the only package prefixes allowed to import it).
SEAMS = {
    "pulumi.automation": ("orchestrator.engine",),
    "boto3": ("orchestrator.cloud",),
    "prometheus_client": ("orchestrator.metrics",),
}


def module_name(path: Path) -> str:
    """``orchestrator/cost/html.py`` -> ``orchestrator.cost.html``; a package is its ``__init__``."""
    parts = list(path.relative_to(REPO).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imported_names(path: Path) -> set[str]:
    """Every module name an import statement of ``path`` names (relative imports resolved)."""
    name = module_name(path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                base = ".".join([*anchor, base] if base else anchor)
            found.add(base)
            found.update(f"{base}.{alias.name}" for alias in node.names)
    return found


def import_graph() -> dict[str, set[str]]:
    """Module -> the package's modules it imports (``from pkg import mod`` counts as importing ``pkg.mod``)."""
    files = {module_name(p): p for p in PACKAGE.rglob("*.py")}
    graph: dict[str, set[str]] = {}
    for name, path in files.items():
        edges = set()
        for target in imported_names(path):
            while target and target not in files:
                target = target.rpartition(".")[0]
            if target and target != name and not name.startswith(target + "."):
                edges.add(target)
        graph[name] = edges
    return graph


def layer_of(module: str) -> int | None:
    """Index of the layer of ``module`` (longest matching prefix), None when no layer lists it."""
    best: tuple[int, int] | None = None
    for index, (_, prefixes) in enumerate(LAYERS):
        for prefix in prefixes:
            inside = module == prefix or (prefix != ROOT and module.startswith(prefix + "."))
            if inside and (best is None or len(prefix) > best[0]):
                best = (len(prefix), index)
    return None if best is None else best[1]


def cycles(graph: dict[str, set[str]]) -> list[frozenset[str]]:
    """The strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[frozenset[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for nxt in graph.get(node, ()):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(frozenset(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_every_module_has_a_layer() -> None:
    """A new module or package is placed in the layer table before it lands."""
    unplaced = sorted(m for m in import_graph() if layer_of(m) is None)
    assert unplaced == [], f"add these to LAYERS (and docs/architecture.md): {unplaced}"


def test_no_module_imports_a_higher_layer() -> None:
    """Lower layers never import higher ones (every import counts, lazy and TYPE_CHECKING ones too)."""
    graph = import_graph()
    upward = []
    for module, targets in sorted(graph.items()):
        for target in sorted(targets):
            low, high = layer_of(module), layer_of(target)
            if low is not None and high is not None and high > low:
                upward.append(f"{module} ({LAYERS[low][0]}) imports {target} ({LAYERS[high][0]})")
    assert upward == [], "\n".join(upward)


def test_no_import_cycle() -> None:
    """No two modules depend on each other, directly or through others."""
    found = [sorted(c) for c in cycles(import_graph())]
    assert found == [], f"import cycles: {found}"


def test_cycle_finder_finds_a_cycle() -> None:
    """The cycle check can fail: two modules importing each other are reported, a chain is not."""
    assert cycles({"a": {"b"}, "b": {"a"}, "c": {"a"}}) == [frozenset({"a", "b"})]
    assert cycles({"a": {"b"}, "b": {"c"}, "c": set()}) == []


def test_third_party_seams_hold() -> None:
    """Only the engine package imports pulumi.automation; only the cloud package imports boto3."""
    leaks = []
    for path in PACKAGE.rglob("*.py"):
        name = module_name(path)
        for imported in imported_names(path):
            for seam, owners in SEAMS.items():
                inside = any(name == o or name.startswith(o + ".") for o in owners)
                if (imported == seam or imported.startswith(seam + ".")) and not inside:
                    leaks.append(f"{name} imports {imported}")
    assert leaks == [], "\n".join(sorted(leaks))


def documented_layers() -> list[tuple[str, tuple[str, ...]]]:
    """The layer table of docs/architecture.md: (layer, module prefixes) per row, bottom to top."""
    text = DOC.read_text()
    section = text.split("## Layers", 1)[1].split("\n## ", 1)[0]
    rows = []
    for line in section.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) < 3 or not cells[0].isdigit():
            continue
        rows.append((int(cells[0]), cells[1], tuple(re.findall(r"`([\w.]+)`", cells[2]))))
    return [(name, prefixes) for _, name, prefixes in sorted(rows)]


def test_docs_show_the_same_layers() -> None:
    """docs/architecture.md's layer table lists the same layers, in the same order, with the same modules."""
    assert documented_layers() == LAYERS


# Files that lived beside the repository while it was written; the repository never cites them.
OUTSIDE = ("DESIGN" + ".md", "STYLE" + ".md", "shared" + "/notes", "/work" + "/shared")


def test_nothing_cites_a_file_outside_the_repository() -> None:
    """Code, tests and docs cite the repository's own docs, never a file a clone does not have."""
    roots = ["orchestrator", "policies", "tests", "docs", "bench", "examples", "README.md", "pyproject.toml", "Makefile"]
    files = [p for r in roots for p in ([REPO / r] if (REPO / r).is_file() else (REPO / r).rglob("*"))]
    cited = []
    for path in files:
        if path.suffix not in {".py", ".md", ".toml", ".yaml", ".yml", ".json", ".txt", ""} or not path.is_file():
            continue
        text = path.read_text(errors="replace")
        cited += [f"{path.relative_to(REPO)}: {name}" for name in OUTSIDE if name in text]
    assert cited == []


def test_every_test_says_what_it_pins() -> None:
    """Each test function has a docstring (one line saying what behaviour it pins)."""
    bare = []
    for path in (REPO / "tests").rglob("test_*.py"):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.FunctionDef) and node.name.startswith("test_") and not ast.get_docstring(node):
                bare.append(f"{path.relative_to(REPO)}::{node.name}")
    assert bare == []
