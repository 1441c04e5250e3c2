"""Repository functions for PostGIS's catalogue of coordinate reference systems (``spatial_ref_sys``)."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.orm import Session

_SPATIAL_REF_SYS = sa.table("spatial_ref_sys", sa.column("srid"), sa.column("auth_name"), sa.column("auth_srid"),
                            sa.column("srtext"))


def spatial_ref(session: Session, srid: int):
    """PostGIS's record of ``srid`` as a row ``(auth_name, auth_srid, srtext)``, or None if PostGIS does not know it."""
    t = _SPATIAL_REF_SYS
    return session.execute(sa.select(t.c.auth_name, t.c.auth_srid, t.c.srtext).where(t.c.srid == srid)).first()
