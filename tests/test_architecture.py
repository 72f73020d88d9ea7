"""The shape of the house (docs/DEVELOPING.md): imports run one way, upstream to downstream.

The module list is generated from the package tree, so a new module must be placed in ``LAYERS``
before the suite passes, and a new import against the direction (a "back-edge") fails here with
the file and line that makes it. Function-level (lazy) imports count too: a lazy back-edge is
still a cycle waiting to happen.
"""

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "helpers"

#: Top-level modules and subpackages of ``helpers``, upstream first. A module may import any
#: module of its own layer or of a layer above it (a smaller number), never one below.
LAYERS = {
    "__init__": 0, "errors": 0, "_io": 0, "validate": 0,
    "config": 1, "nirspec": 1, "skyplane": 1,
    "simulate": 2,
    "archive": 3,
    "sources": 4,
    "astrometry": 5,
    "targets": 6,
    "msa": 7,
    "planning": 8,
    "export": 9,
    "plotting": 10, "widgets": 10,
    "chain": 11,
}

#: Layers that compute: they must work without matplotlib (no display on CI, in batch jobs).
NO_MATPLOTLIB = {name for name, layer in LAYERS.items() if layer < LAYERS["plotting"]}


def _top_level(path):
    """``helpers/astrometry/verdict.py`` -> ``astrometry``; ``helpers/errors.py`` -> ``errors``."""
    parts = path.relative_to(PACKAGE).with_suffix("").parts
    return parts[0]


def _module_parts(path):
    parts = ("helpers",) + path.relative_to(PACKAGE).with_suffix("").parts
    return parts[:-1] if parts[-1] == "__init__" else parts


def _imports(path, text=None):
    """Yield ``(lineno, top-level helpers module imported, is_matplotlib)`` for one source file."""
    tree = ast.parse(path.read_text() if text is None else text, filename=str(path))
    here = _module_parts(path)
    package = here if path.name == "__init__.py" else here[:-1]
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                name = alias.name.split(".")
                if name[0] == "helpers" and len(name) > 1:
                    yield node.lineno, name[1], False
                yield node.lineno, None, name[0] == "matplotlib"
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[: len(package) - (node.level - 1)]
                target = list(base) + (node.module.split(".") if node.module else [])
                if len(target) == 1:  # "from .. import x" at the top: the names are modules
                    for alias in node.names:
                        yield node.lineno, alias.name, False
                else:
                    yield node.lineno, target[1], False
            else:
                name = (node.module or "").split(".")
                if name[0] == "helpers":
                    if len(name) > 1:
                        yield node.lineno, name[1], False
                    else:
                        for alias in node.names:
                            yield node.lineno, alias.name, False
                yield node.lineno, None, name[0] == "matplotlib"


def _module_level_matplotlib(path):
    tree = ast.parse(path.read_text(), filename=str(path))
    for node in tree.body:  # module level only: lazy imports inside functions are allowed
        if isinstance(node, ast.Import) and any(a.name.split(".")[0] == "matplotlib" for a in node.names):
            yield node.lineno
        if isinstance(node, ast.ImportFrom) and not node.level and (node.module or "").split(".")[0] == "matplotlib":
            yield node.lineno


SOURCE_FILES = sorted(PACKAGE.rglob("*.py"))


def test_every_module_is_placed_in_a_layer():
    unplaced = sorted({_top_level(p) for p in SOURCE_FILES} - set(LAYERS))
    assert not unplaced, f"place these helpers modules in LAYERS (tests/test_architecture.py) and docs/DEVELOPING.md: {unplaced}"


def test_the_tree_is_split_by_concern():
    """Issue #11: no module over 900 lines (aim ~600)."""
    too_long = {str(p.relative_to(ROOT)): n for p in SOURCE_FILES if (n := len(p.read_text().splitlines())) > 900}
    assert not too_long, f"split these modules by concern: {too_long}"


@pytest.mark.parametrize("path", SOURCE_FILES, ids=lambda p: str(p.relative_to(PACKAGE)))
def test_imports_run_downstream(path):
    source = _top_level(path)
    back_edges = [
        f"{path.relative_to(ROOT)}:{lineno} imports helpers.{target} (layer {LAYERS[target]}) "
        f"from {source} (layer {LAYERS[source]})"
        for lineno, target, _ in _imports(path)
        if target is not None and LAYERS.get(target, -1) > LAYERS.get(source, 99)
    ]
    assert not back_edges, "imports against the direction of docs/DEVELOPING.md:\n" + "\n".join(back_edges)


@pytest.mark.parametrize(
    "path", [p for p in SOURCE_FILES if _top_level(p) in NO_MATPLOTLIB], ids=lambda p: str(p.relative_to(PACKAGE))
)
def test_computing_modules_have_no_module_level_matplotlib(path):
    lines = list(_module_level_matplotlib(path))
    assert not lines, f"{path.relative_to(ROOT)} imports matplotlib at module level (lines {lines}); import it lazily"


def test_the_checker_sees_a_back_edge():
    """Guard the guard: relative, absolute and lazy imports of downstream modules are all seen."""
    probe = PACKAGE / "sources" / "probe.py"  # never written: the text is passed in
    text = (
        "from ..export import write_mpt_catalog\n"
        "from .. import msa\n"
        "import helpers.widgets\n"
        "def f():\n    from ..plotting.msa import OverlayScene\n"
        "from . import catalog\n"
    )
    seen = sorted(t for _, t, _ in _imports(probe, text) if t)
    assert seen == ["export", "msa", "plotting", "sources", "widgets"]
    assert all(LAYERS[t] > LAYERS["sources"] for t in seen if t != "sources")
