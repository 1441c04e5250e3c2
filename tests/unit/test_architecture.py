"""The directions imports take between the layers of antares (docs/architecture.md), read from the source.

Every module under ``antares/`` is parsed (nothing is imported): its ``import`` statements,
at the top or inside functions, and the ``"module:attribute"`` strings that registries import
on first use, are the edges checked here.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import antares

PACKAGE = Path(antares.__file__).resolve().parent

#: Modules that everything may import and that import nothing above them.
FOUNDATION = ("antares.errors", "antares.config", "antares.names", "antares.params", "antares.registry",
              "antares.legend")
#: Plugin families: what a plugin package builds on must not reach the database, the stages or the CLI.
PLUGIN_PACKAGES = ("antares.segmentation", "antares.models", "antares.recipes", "antares.prepare", "antares.change",
                   "antares.deep")


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _modules() -> dict[str, Path]:
    return {_module_name(path): path for path in sorted(PACKAGE.rglob("*.py"))}


def _imports(module: str, path: Path) -> list[tuple[int, str]]:
    """``(line, imported module)`` of every import of ``module`` (relative ones resolved) and plugin string."""
    is_package = path.name == "__init__.py"
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parent = module.split(".")[: len(module.split(".")) - node.level + is_package]
                base = ".".join(parent + ([node.module] if node.module else []))
            # ``from antares import train`` imports antares.train; ``from antares.x import f`` imports antares.x
            found += [(node.lineno, f"{base}.{alias.name}" if f"{base}.{alias.name}" in _MODULES else base)
                      for alias in node.names]
        elif isinstance(node, ast.Constant) and isinstance(node.value, str) and node.value.startswith("antares."):
            target, colon, attribute = node.value.partition(":")
            if colon and attribute.isidentifier() and target in _MODULES:
                found.append((node.lineno, target))
    return found


_MODULES = _modules()
EDGES = {module: _imports(module, path) for module, path in _MODULES.items()}


def _within(module: str, packages) -> bool:
    return any(module == p or module.startswith(p + ".") for p in packages)


def _violations(importers, forbidden) -> list[str]:
    return [f"{_MODULES[module].relative_to(PACKAGE.parent)}:{line} imports {target}"
            for module, edges in EDGES.items() if _within(module, importers)
            for line, target in edges if _within(target, forbidden) and not _within(module, forbidden)]


def test_the_scan_sees_the_imports_it_checks():
    """The rules below could pass by finding nothing: these edges exist and must be seen."""
    seen = {(module, target) for module, edges in EDGES.items() for _, target in edges}
    assert ("antares.cli.segment", "antares.pipeline.segment") in seen  # inside a function
    assert ("antares.pipeline.run", "antares.db.runs") in seen
    assert ("antares.cli.main", "antares.cli.segment") in seen  # a "module:attribute" command string
    assert ("antares.segmentation.registry", "antares.segmentation.bis") in seen
    assert ("antares.pipeline.samples", "antares.legend") in seen  # from antares.legend import ...
    assert any(module.startswith("antares.cube.") and target.startswith("datacube") for module, target in seen)


def test_nothing_outside_cli_imports_cli():
    assert _violations(["antares"], ["antares.cli"]) == []


def test_only_cube_imports_datacube():
    """``cube/`` is the only door to the Open Data Cube."""
    outside = [m for m in _MODULES if m != "antares" and not _within(m, ["antares.cube"])]
    assert _violations(outside, ["datacube"]) == []


def test_cube_does_not_import_the_database_layer():
    """The ODC door takes a URL or a connection; it does not reach into antares's own schema or engine."""
    assert _violations(["antares.cube"], ["antares.db"]) == []


def test_below_the_stages_nothing_imports_pipeline():
    """Only the CLI drives the stages: the library under them never reaches back up."""
    library = [m for m in _MODULES if m != "antares" and not _within(m, ["antares.cli", "antares.pipeline"])]
    assert _violations(library, ["antares.pipeline"]) == []


@pytest.mark.parametrize("package", PLUGIN_PACKAGES)
def test_plugin_packages_reach_neither_database_nor_stages_nor_cli(package):
    assert _violations([package], ["antares.db", "antares.pipeline", "antares.cli"]) == []


def test_the_foundation_imports_only_the_foundation():
    """Settings, errors, names, parameters, registries and legends stay cheap to import and free of cycles."""
    others = [m for m in _MODULES if m != "antares" and not _within(m, FOUNDATION)]
    assert _violations(FOUNDATION, others) == []
