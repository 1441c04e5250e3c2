"""``antares/db/`` is the only door to SQL, and no SQL anywhere is built by formatting strings.

The tests read the source: every statement on the antares database is written in a
repository module of ``antares/db/`` (SQL text or SQLAlchemy statements), and SQL text is never
assembled with f-strings, ``%`` or ``.format`` (values are bound parameters; names that vary are
SQLAlchemy identifiers).
"""

import re
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[2] / "antares"

#: What marks a line as a SQL statement (text or a SQLAlchemy construct or import).
SQL = re.compile(
    r"""\bsa\.(text|select|insert|update|delete|table|column)\("""
    r"""|\btext\(\s*['"]"""
    r"""|['"]\s*(SELECT|INSERT\s+INTO|DELETE\s+FROM|CREATE\s+(TABLE|TEMP|SCHEMA|EXTENSION|INDEX|DATABASE)|ANALYZE|COPY)\b"""
    r"""|\bUPDATE\s+\w+(\.\w+)?\s+SET\b"""
    r"""|\bexec_driver_sql\(|\bcopy_expert\(|\bcursor\(\)"""
    r"""|^\s*(import\s+sqlalchemy\b(?!\.engine|\.exc)|from\s+sqlalchemy(\.(sql|orm|dialects|schema))?\s+import\s+(?!make_url|ArgumentError))"""
    r"""|\bantares\.db\.schema\b"""
)

#: Files outside ``antares/db/`` allowed to hold what :data:`SQL` matches, and why.
ALLOWED = {
    # SQLite statements on a GeoPackage file (its QGIS layer_styles table), not the antares database
    "export/style.py",
    # an ogr2ogr command quoted in an error message (to buffer points into polygons), never executed
    "pipeline/samples.py",
}

#: SQL text built by formatting: an f-string, ``%`` or ``.format`` applied to SQL.
FORMATTED = re.compile(
    r"""\b(text|execute|exec_driver_sql|scalar|copy_expert|SQL)\(\s*f['"]"""
    r"""|\bf['"]{1,3}\s*(SELECT|INSERT|UPDATE|DELETE|CREATE|DROP|ALTER|WITH|COPY|ANALYZE)\b"""
    r"""|(['"])\s*(SELECT|INSERT|UPDATE|DELETE|CREATE|DROP|ALTER|WITH)\b(?:(?!\3).)*\3+\s*(%\s*[(\w]|\.format\()"""
)


def _sources():
    return sorted(p for p in PACKAGE.rglob("*.py") if "__pycache__" not in p.parts)


def _hits(pattern, paths):
    return [f"{p.relative_to(PACKAGE)}:{n}: {line.strip()}" for p in paths
            for n, line in enumerate(p.read_text(encoding="utf-8").splitlines(), 1) if pattern.search(line)]


def test_the_patterns_find_sql():
    """The patterns catch the forms of SQL this test guards against (so that a clean result means something)."""
    caught = ['sa.text("SELECT 1")', "conn.execute(text('DELETE FROM antares.run'))",
              '"INSERT INTO antares.segment (segment_id) VALUES (1)"', "query = sa.select(Model.id)",
              "from antares.db.schema import Model", "import sqlalchemy as sa", "cur.copy_expert(sql, fh)",
              '"UPDATE antares.segmentation SET name = :name"', "conn.exec_driver_sql(statement)"]
    assert [s for s in caught if not SQL.search(s)] == []
    formatted = ['sa.text(f"SELECT * FROM {table}")', 'conn.execute(f"DELETE FROM {t}")',
                 'f"SELECT count(*) FROM v WHERE true{clause}"', '"SELECT %s FROM t" % (column,)',
                 '"DELETE FROM {}".format(table)', '"""WITH v AS (SELECT 1) SELECT %(x)s""" % (x,)']
    assert [s for s in formatted if not FORMATTED.search(s)] == []
    fine = ['from sqlalchemy.engine import make_url', 'log.info("selected %s", x)',
            '''"UPDATE t SET at = strftime('%Y','now') WHERE a = ?", (a,)''',
            'raise NotFoundError(f"model {name} does not exist")', 'cur.execute("SELECT 1 WHERE x = %s", (x,))']
    assert [s for s in fine if FORMATTED.search(s)] == []
    assert not SQL.search(fine[0])


def test_no_sql_outside_db():
    outside = [p for p in _sources() if p.relative_to(PACKAGE).parts[0] != "db"]
    offenders = [h for h in _hits(SQL, outside) if h.split(":")[0] not in ALLOWED]
    assert offenders == [], "SQL outside antares/db/ (move it into a repository function there):\n" + "\n".join(offenders)


def test_allowed_files_still_need_it():
    """An allow-list entry goes once its file no longer holds SQL."""
    stale = [f for f in ALLOWED if not _hits(SQL, [PACKAGE / f])]
    assert stale == []


def test_no_sql_built_by_formatting():
    offenders = _hits(FORMATTED, _sources())
    assert offenders == [], "SQL built from strings (use bound parameters or SQLAlchemy identifiers):\n" + \
        "\n".join(offenders)
