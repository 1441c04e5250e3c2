"""The layers' import rules, read from the source: which package may import what.

- only ``antares.cube`` imports ``datacube`` (the one door to ODC);
- ``antares.cube`` does not import ``antares.db`` (it is given URLs, not the database layer);
- nothing outside ``antares.cli`` imports it (the console script ``antares=antares.cli.main:main``
  is declared in setup.py, not imported by a module).

Every import counts, including those inside functions (antares imports heavy libraries lazily).
"""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[2] / "antares"


def module_name(path: Path, root: Path = PACKAGE) -> str:
    """``antares.pipeline.tiles`` for ``<root>/pipeline/tiles.py`` (a package's ``__init__`` is the package)."""
    parts = path.relative_to(root.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imported_modules(path: Path, root: Path = PACKAGE) -> set[str]:
    """The absolute names of the modules ``path`` imports (``from a import b`` counts ``a`` and ``a.b``)."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    module = module_name(path, root)
    package = module.split(".") if path.name == "__init__.py" else module.split(".")[:-1]
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # relative: resolved against the module's package
                source = ".".join(package[:len(package) - node.level + 1] + ([node.module] if node.module else []))
            else:
                source = node.module
            names.add(source)
            names.update(f"{source}.{alias.name}" for alias in node.names)
    return names


def _within(name: str, prefix: str) -> bool:
    return name == prefix or name.startswith(prefix + ".")


def imports_of(target: str, importers, root: Path = PACKAGE) -> list[str]:
    """``module: name`` for each module of ``root`` chosen by ``importers(module)`` that imports ``target`` (or below)."""
    found = []
    for path in sorted(root.rglob("*.py")):
        module = module_name(path, root)
        if importers(module):
            found += [f"{module}: {name}" for name in sorted(imported_modules(path, root)) if _within(name, target)]
    return found


def test_the_walk_sees_every_kind_of_import(tmp_path):
    """Top-level, lazy (in a function), ``from`` and relative imports are all found, and only imports."""
    root = tmp_path / "antares"
    (root / "pipeline").mkdir(parents=True)
    (root / "cli").mkdir()
    (root / "pipeline" / "x.py").write_text(
        'import numpy as np\n\n"""import datacube"""\n\ndef f():\n    from datacube.api.query import solar_day\n'
        "    from ..cli import main\n    import datacube\n")
    (root / "cli" / "y.py").write_text("import datacube\nfrom . import main\n")
    assert imported_modules(root / "pipeline" / "x.py", root) == {
        "numpy", "datacube", "datacube.api.query", "datacube.api.query.solar_day", "antares.cli", "antares.cli.main"}
    assert imports_of("datacube", lambda m: not _within(m, "antares.cube"), root) == [
        "antares.cli.y: datacube", "antares.pipeline.x: datacube", "antares.pipeline.x: datacube.api.query",
        "antares.pipeline.x: datacube.api.query.solar_day"]
    assert imports_of("antares.cli", lambda m: not _within(m, "antares.cli"), root) == [
        "antares.pipeline.x: antares.cli", "antares.pipeline.x: antares.cli.main"]


def test_the_package_is_walked():
    """The rules below look at antares's modules (a wrong path would make them pass on nothing)."""
    modules = {module_name(p) for p in PACKAGE.rglob("*.py")}
    assert {"antares.cube.index", "antares.pipeline.tiles", "antares.cli.main"} <= modules
    assert "datacube" in {n.split(".")[0] for n in imported_modules(PACKAGE / "cube" / "index.py")}


def test_only_cube_imports_datacube():
    assert imports_of("datacube", lambda m: not _within(m, "antares.cube")) == []


def test_cube_does_not_import_the_database_layer():
    assert imports_of("antares.db", lambda m: _within(m, "antares.cube")) == []


def test_cli_is_imported_by_nothing_else():
    assert imports_of("antares.cli", lambda m: not _within(m, "antares.cli")) == []
