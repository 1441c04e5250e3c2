"""Small helpers shared by the tests (plain functions; fixtures live in conftest.py)."""

import sqlalchemy as sa


def db_rows(url: str, sql: str, **params) -> list:
    """Rows of one SQL query (bound parameters) against the database at ``url``."""
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            return conn.execute(sa.text(sql), params).all()
    finally:
        engine.dispose()


def db_count(url: str, table: str) -> int:
    """Number of rows of ``table`` (``schema.name``)."""
    schema, name = table.split(".")
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            return conn.execute(sa.select(sa.func.count()).select_from(sa.table(name, schema=schema))).scalar()
    finally:
        engine.dispose()


def longest_run(flags) -> int:
    """Length of the longest run of consecutive true values."""
    best = run = 0
    for flag in flags:
        run = run + 1 if flag else 0
        best = max(best, run)
    return best
