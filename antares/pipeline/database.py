"""``antares init``: PostGIS, the ODC index, the antares schema and the built-in products."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from antares.config import Settings, mask_password

log = logging.getLogger(__name__)

INIT_LOCK = 0x616E7461726573  # the advisory lock key of 'antares init' ("antares" in ASCII)


@dataclass
class InitReport:
    """What ``antares init`` did. ``changed`` is False when the database was already complete."""

    url: str
    postgis_created: bool = False
    odc_created: bool = False
    schema_before: str | None = None
    schema_after: str | None = None
    products: list = field(default_factory=list)

    @property
    def changed(self) -> bool:
        return (
            self.postgis_created
            or self.odc_created
            or self.schema_before != self.schema_after
            or any(p.action != "unchanged" for p in self.products)
        )

    def lines(self) -> list[str]:
        """Human-readable summary, one line per item."""
        out = [f"database: {mask_password(self.url)}"]
        out.append("PostGIS extension: " + ("created" if self.postgis_created else "present"))
        out.append("ODC index (postgis driver): " + ("created" if self.odc_created else "present"))
        if self.schema_before == self.schema_after:
            out.append(f"antares schema: revision {self.schema_after} (up to date)")
        else:
            out.append(f"antares schema: migrated from {self.schema_before or 'nothing'} to revision {self.schema_after}")
        for p in self.products:
            out.append(f"product {p.name}: {p.action}" + (f" ({p.detail})" if p.detail else ""))
        if not self.changed:
            out.append("Nothing changed: the database was already initialised.")
        return out


def init_database(settings: Settings) -> InitReport:
    """Create or complete everything antares needs in its database.

    In order: check that the antares schema is not newer than this code; create the
    PostGIS extension; create the ODC index (postgis driver, no role set-up);
    migrate the antares schema with the shipped Alembic migrations; add the
    built-in product definitions from ``config/products``. Every step is
    idempotent, so a second call changes nothing; calls at once on one database
    take turns (a PostgreSQL advisory lock), so they are safe too.

    Parameters
    ----------
    settings : Settings

    Returns
    -------
    InitReport

    Raises
    ------
    DatabaseError
        The database is unreachable or PostGIS cannot be installed.
    SchemaVersionError
        The database has a newer antares schema (nothing is changed).
    """
    from antares.cube import index as cube_index
    from antares.db import migrate
    from antares.db.engine import database_url, make_engine
    from antares.db.setup import advisory_lock, advisory_unlock, ensure_postgis
    from antares.resources import builtin_product_files

    url = database_url(settings)
    engine = make_engine(url)
    report = InitReport(url=url)
    docs = [cube_index.read_product_definition(path) for path in builtin_product_files()]
    try:
        with engine.connect() as lock:
            # one init at a time per database: a second waits, then finds everything done
            advisory_lock(lock, INIT_LOCK)
            with engine.connect() as conn:
                migrate.check_revision(conn)  # refuse a newer schema before changing anything
            with engine.begin() as conn:
                report.postgis_created = ensure_postgis(conn)
            report.odc_created = cube_index.init_index(url)
            with engine.begin() as conn:
                report.schema_before, report.schema_after = migrate.upgrade(conn)
            dc = cube_index.connect(url)
            try:
                report.products = [cube_index.add_product(dc, doc) for doc in docs]
            finally:
                dc.close()
            advisory_unlock(lock, INIT_LOCK)
    finally:
        engine.dispose()
    return report
