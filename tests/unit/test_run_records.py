"""Only ``antares.pipeline.run`` writes run records (issue 17: one run lifecycle, not five copies).

The repository functions that write ``antares.run`` / ``antares.run_tile`` (``antares.db.runs``)
are imported by ``antares/pipeline/run.py`` alone (the CLI's ``list runs`` reads with
``list_runs``), and no module holds SQL text that writes those tables.
"""

import ast
import re
from pathlib import Path

import antares

PACKAGE = Path(antares.__file__).resolve().parent
WRITERS = {"start_run", "begin_run", "create_run", "finish_run", "record_tile", "mark_interrupted", "discard_run",
           "claim_name"}


def _imports_of_runs(path: Path) -> set:
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module == "antares.db.runs":
            names |= {alias.name for alias in node.names}
    return names


def test_only_recorded_run_writes_run_records():
    importers = {str(p.relative_to(PACKAGE)): _imports_of_runs(p) & WRITERS for p in PACKAGE.rglob("*.py")}
    assert {p: n for p, n in importers.items() if n} == {
        "pipeline/run.py": {"begin_run", "claim_name", "create_run", "discard_run", "finish_run", "mark_interrupted",
                            "record_tile"}}
    sql = re.compile(r"(INSERT\s+INTO|UPDATE|DELETE\s+FROM)\s+antares\.run(_tile)?\b", re.IGNORECASE)
    assert [str(p) for p in PACKAGE.rglob("*.py") if sql.search(p.read_text())] == []
