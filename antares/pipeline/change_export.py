"""``db_to_vector -n CHANGE``: the objects of a change detection as a vector file.

Fields ``object_id, area_m2, pixel_count, score, pre_class, post_class, class_tie`` (classes as legend codes;
empty without classifications), geometries as MultiPolygons in the detection's CRS or ``--crs``. Written under a
temporary name and renamed once complete and read back (the same machinery as the classification export).
"""

from __future__ import annotations

import logging

import numpy as np

from antares.config import Settings
from antares.errors import InvalidInputError
from antares.pipeline.change_requests import ChangeExportRequest
from antares.pipeline.requests import takes

log = logging.getLogger(__name__)

FIELDS = ["object_id", "area_m2", "pixel_count", "score", "pre_class", "post_class", "class_tie"]


def is_change(settings: Settings, name: str) -> bool:
    """True when ``name`` is a change detection and not a classification."""
    from antares.db.changes import change_detection
    from antares.db.classifications import classification_exists
    from antares.db.engine import session_scope

    with session_scope(settings) as session:
        return change_detection(session, name) is not None and not classification_exists(session, name)


@takes(ChangeExportRequest)
def change_to_vector(settings: Settings, request: ChangeExportRequest, progress=None):
    """Write the change objects of change detection ``request.name`` to ``request.path``.

    Parameters
    ----------
    settings : Settings
    request : ChangeExportRequest
        (or its fields: ``change_to_vector(settings, name, path, layer=..., driver=..., crs=..., overwrite=...)``)
    progress : callable, optional
        ``progress(done, total)`` after each batch written: objects so far, of the detection's objects.

    Returns
    -------
    antares.pipeline.export.ExportReport

    Raises
    ------
    UsageError
        An unknown driver or CRS.
    AlreadyExistsError
        ``path`` exists and ``overwrite`` is False.
    InvalidInputError
        The change detection has no object.
    WriteError
        The file could not be written completely, or another number of features was read back.
    """
    from pyogrio.raw import write

    from antares.db.changes import change_detection, change_objects_query
    from antares.db.engine import open_database
    from antares.pipeline.export import (ExportReport, _check_features, _convert, _output_crs, _Target, _writing,
                                         vector_driver)

    name, path, layer, crs, overwrite = request.name, request.path, request.layer, request.crs, request.overwrite
    driver = vector_driver(path, request.driver)
    target = _Target(path, overwrite, sidecars=())
    report = ExportReport(target.path, driver, detail=f", layer {layer or name}" if driver == "GPKG" else "")
    engine = open_database(settings)
    direct = driver in ("GPKG", "ESRI Shapefile")
    out = target.tmp(target.path.suffix if direct else ".stage.gpkg")
    with _writing(target):
        with engine.connect() as conn:
            row = change_detection(conn, name)
            srid = int(row.crs.split(":")[1]) if row.crs.upper().startswith("EPSG:") else None
            if srid is None:
                raise InvalidInputError(f"change detection '{name}' is in a CRS without an EPSG code; cannot export it.")
            out_srid, out_crs = _output_crs(conn, crs, srid)
            result = conn.execution_options(stream_results=True).execute(change_objects_query(row.id, srid, out_srid))
            while rows := result.fetchmany(10_000):
                cols = list(zip(*rows))
                data = [np.array(cols[0], np.int64), np.array(cols[1], float), np.array(cols[2], np.int64),
                        np.array(cols[3], float),
                        np.array([-1 if v is None else v for v in cols[4]], np.int32),
                        np.array([-1 if v is None else v for v in cols[5]], np.int32),
                        np.array([-1 if v is None else int(v) for v in cols[6]], np.int32)]
                geometry = np.array([bytes(g) for g in cols[7]], dtype=object)
                write(out, geometry, data, FIELDS, layer=layer or name, driver=driver if direct else "GPKG",
                      geometry_type="MultiPolygon", crs=out_crs, promote_to_multi=True, append=report.features > 0)
                report.features += len(rows)
                report.classes.update(c for c in cols[5] if c is not None)
                if progress:
                    progress(report.features, row.n_objects)
        if report.features == 0:
            raise InvalidInputError(f"change detection '{name}' has no change object; nothing to write.")
        if not direct:
            _convert(out, target.tmp(target.path.suffix), driver, layer or name, 10_000)
            out.unlink()
        _check_features(target.tmp(target.path.suffix), (layer or name) if driver == "GPKG" else None, report.features,
                        target.path)
        report.style = "none (change objects; -1 = no class)"
        target.commit()
    return report
