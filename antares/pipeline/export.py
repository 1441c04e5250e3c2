"""``db_to_vector``, ``db_to_raster`` and ``generate_style``: a classification as files for other tools.

Vector: objects are read with a server-side cursor and appended batch by batch with pyogrio
(memory scales with the batch, not the map); region filter, clipping, dissolving and
reprojection happen in PostGIS. FlatGeobuf and GeoJSON, whose GDAL drivers rewrite the whole
file on every append, are staged in a GeoPackage and converted in one streamed pass.
Raster: a tiled GeoTIFF is filled window by window, each window rasterised by GDAL's
``gdal_rasterize`` reading its objects from PostGIS (pixel-centre rule), then copied to a COG
with overviews (mode) and the legend's colour table. Files are written under temporary
names in their directory and renamed at the end, with a QGIS style (embedded in a
GeoPackage, ``STEM.qml`` beside anything else).
"""

from __future__ import annotations

import contextlib
import errno
import logging
import math
import os
import re
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from antares.config import Settings
from antares.errors import AlreadyExistsError, InvalidInputError, NotFoundError, UsageError
from antares.pipeline.export_requests import RasterRequest, VectorRequest, area_words, area_zone
from antares.pipeline.requests import takes

log = logging.getLogger(__name__)

#: Vector drivers by file extension (the default of ``-d``).
DRIVERS = {".gpkg": "GPKG", ".shp": "ESRI Shapefile", ".fgb": "FlatGeobuf", ".geojson": "GeoJSON"}
_APPENDABLE = {"GPKG", "ESRI Shapefile"}  # appended in linear time; the others are staged in a GeoPackage
_SHP_PARTS = (".shx", ".dbf", ".prj", ".cpg", ".qix", ".sbn", ".sbx", ".qpj")  # stale ones go on --overwrite
#: WKB bytes per db_to_vector batch: complex polygons (bis segments with holes) come in smaller batches
#: than BATCH_SIZE, so memory is bounded by bytes, not by a count of objects of any size.
BATCH_BYTES = 16 * 2**20
CACHE_MB = 64  # GDAL's block cache while the raster is written and copied to a COG: memory flat in its size
MAX_RASTER_PIXELS = 10**12  # a 10 m raster of 10,000 km x 10,000 km; beyond, --resolution is surely a mistake


def _listing(names) -> str:
    names = list(names)
    return (", ".join(names[:20]) + (f", ... ({len(names)} in all)" if len(names) > 20 else "")) or "(none)"


@dataclass(frozen=True)
class Source:
    """A classification and what exporting it needs: ids, the segments' SRID and the legend."""

    id: int
    name: str
    segmentation_id: int
    srid: int
    legend: tuple


@dataclass
class ExportReport:
    """Outcome of an export: the file, its features (or pixels) and the classes found."""

    path: Path
    driver: str
    features: int = 0
    classes: set = field(default_factory=set)
    style: str = ""
    detail: str = ""

    def lines(self) -> list[str]:
        what = "pixel(s) classified" if self.driver == "COG" else "feature(s)"
        return [f"wrote {self.path} ({self.driver}{self.detail}): {self.features} {what}, "
                f"{len(self.classes)} class(es); style {self.style}"]


class _Target:
    """FILE written through temporary files ``.STEM.TOKEN.tmp*`` in its directory; ``commit`` renames them."""

    def __init__(self, path, overwrite: bool, sidecars: tuple = ()):
        self.path = Path(path).absolute()
        self.parent = self.path.parent
        self.token = f".{self.path.stem}.{uuid.uuid4().hex[:12]}.tmp"
        if self.path.is_dir():
            raise InvalidInputError(f"-f {self.path} is a directory; give a file name.")
        if self.path.exists() and not overwrite:
            raise AlreadyExistsError(f"{self.path} exists; use --overwrite to replace it or choose another -f.")
        for suffix in sidecars:  # STEM.qml of another file of the same stem (map.shp and map.tif share map.qml)
            sidecar = self.path.with_suffix(suffix)
            if sidecar.exists() and not overwrite:
                raise AlreadyExistsError(
                    f"{sidecar} exists (the QGIS style of another file named {self.path.stem}.*?) and would be replaced "
                    f"by {self.path.name}'s; use --overwrite to replace it or choose another -f.")
        if not self.parent.is_dir():
            raise InvalidInputError(f"cannot write {self.path}: directory {self.parent} does not exist. "
                                    "Create it or choose another -f.")
        probe = self.tmp(".probe")
        try:
            os.close(os.open(probe, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666))
            probe.unlink()
        except OSError as exc:
            raise InvalidInputError(f"cannot write {self.path}: directory {self.parent} is not writable "
                                    f"({exc.strerror}). Choose another -f.") from None

    def tmp(self, suffix: str) -> Path:
        return self.parent / (self.token + suffix)

    def _parts(self) -> list[Path]:
        return [p for p in self.parent.iterdir() if p.name.startswith(self.token)]

    def commit(self) -> None:
        """Rename every temporary part to ``STEM + its suffix`` (the main file last), drop stale Shapefile parts."""
        main = self.token + self.path.suffix
        parts = sorted(self._parts(), key=lambda p: p.name == main)
        for part in parts:
            os.replace(part, self.parent / (self.path.stem + part.name[len(self.token):]))
        if self.path.suffix.lower() == ".shp":
            new = {p.name[len(self.token):].lower() for p in parts}
            for suffix in _SHP_PARTS:
                if suffix not in new:
                    self.path.with_suffix(suffix).unlink(missing_ok=True)

    def cleanup(self) -> None:
        for part in self._parts():
            part.unlink(missing_ok=True)


@contextlib.contextmanager
def _writing(*targets: _Target):
    """On an error remove the temporary files.

    A failed write (an OSError, an error of GDAL through rasterio or pyogrio, of SQLite in a
    GeoPackage) becomes one :class:`~antares.errors.WriteError` naming the file and the free space.
    """
    from antares.cube.write import is_write_failure, write_failure

    try:
        yield
    except BaseException as exc:  # the free space is measured before the temporary files go
        error = write_failure(targets[0].path, exc, "free some space or choose another -f") if is_write_failure(exc) else exc
        for target in targets:
            target.cleanup()
        if error is not exc:
            raise error from exc
        raise


def _check_features(path: Path, layer: str | None, expected: int, name: Path) -> None:
    """Re-open the vector file ``path`` and compare its features with the ``expected`` number written.

    Raises
    ------
    WriteError
        Another number of features was read back (``name``, the user's file, and the free space named).
    """
    import pyogrio

    from antares.cube.write import read_back_failure

    got = pyogrio.read_info(path, layer=layer, force_feature_count=True)["features"]
    if got != expected:
        raise read_back_failure(name, got, expected, "feature(s)", "free some space or choose another -f")


def vector_driver(path, driver: str | None = None) -> str:
    """The OGR driver for ``path``: ``driver`` if given, else its extension's; UsageError listing the valid ones."""
    suffix = Path(path).suffix.lower()
    valid = ", ".join(f"{d!r} ({s})" for s, d in DRIVERS.items())
    if driver is None:
        if suffix not in DRIVERS:
            raise UsageError(f"cannot tell the format of {path} from its extension {suffix or '(none)'!r}; "
                             f"use one of {', '.join(DRIVERS)} or give -d, one of {valid}.")
        return DRIVERS[suffix]
    match = {d.lower(): d for d in DRIVERS.values()}.get(driver.lower())
    if match is None:
        raise UsageError(f"-d {driver!r} is not a supported driver; valid: {valid}.")
    if match == "ESRI Shapefile" and suffix != ".shp":
        raise UsageError(f"a Shapefile's -f must end in .shp. Got {path}.")
    return match


def _source(conn, name: str) -> Source:
    from antares.db.classifications import classification, classification_names
    from antares.db.segmentations import segment_srid
    from antares.db.training import scheme_legend
    from antares.legend import LegendEntry

    row = classification(conn, name)
    if row is None:
        known = classification_names(conn)
        raise NotFoundError(f"classification '{name}' does not exist; classifications: {_listing(known)}. "
                            "Create one with 'antares model_predict_object'.")
    legend = scheme_legend(conn, row.scheme_id)
    if not legend:
        legend = [LegendEntry(int(e["code"]), e["name"], e["colour"]) for e in (row.meta or {}).get("legend", [])]
    srid = segment_srid(conn, row.segmentation_id)
    if srid is None:
        raise InvalidInputError(f"the segmentation of classification '{name}' has no segments; re-run 'antares segment'.")
    return Source(row.id, name, row.segmentation_id, int(srid), tuple(legend))


def _region_id(conn, region: str | None) -> int | None:
    if region is None:
        return None
    from antares.db.regions import all_region_names, region_id

    rid = region_id(conn, region)
    if rid is None:
        known = all_region_names(conn)
        raise NotFoundError(f"region '{region}' is not registered. Registered regions: {_listing(known)}. "
                            "Add it with 'antares register_region NAME FILE'.")
    return rid


def _epsg_of(crs: str) -> int:
    """The EPSG code of a PROJ string or WKT (pyproj, confidence ≥ 70 %), else a UsageError."""
    from pyproj import CRS
    from pyproj.exceptions import CRSError

    try:
        parsed = CRS.from_user_input(str(crs).strip())
    except CRSError:
        raise UsageError(f"--crs must be an EPSG code such as 4326 or EPSG:32633, or a PROJ string. Got {crs!r}.") from None
    epsg = parsed.to_epsg(min_confidence=70)
    if epsg is None:
        raise UsageError(f"--crs {crs!r} has no EPSG equivalent; give the EPSG code of the CRS (e.g. 32614).")
    return epsg


def _output_crs(conn, crs: str | None, default: int) -> tuple[int, str]:
    """(SRID, CRS text for GDAL) of ``--crs`` or of ``default``.

    ``crs`` is an EPSG code (``4326``, ``EPSG:4326``) or a PROJ string / WKT with an EPSG
    equivalent (antares3's ``-p "+proj=utm +zone=14 +datum=WGS84 +units=m +no_defs"``), which
    is matched to its EPSG code by pyproj; a CRS without one is refused (PostGIS transforms by SRID).
    """
    srid = default
    if crs is not None:
        match = re.fullmatch(r"(?:epsg:)?(\d+)", str(crs).strip(), re.IGNORECASE)
        if match is not None:
            srid = int(match.group(1))
        else:
            srid = _epsg_of(crs)
    from antares.db.spatial import spatial_ref

    row = spatial_ref(conn, srid)
    if row is None:
        raise InvalidInputError(f"--crs {crs or srid}: EPSG:{srid} is unknown to PostGIS (spatial_ref_sys); "
                                "give another EPSG code.")
    return srid, (f"EPSG:{row.auth_srid}" if row.auth_name == "EPSG" else row.srtext)


def _columns(rows, names: dict, dissolve: bool):
    """(field names, field arrays, WKB geometries) of one batch of rows."""
    cols = list(zip(*rows))
    codes = np.array(cols[0 if dissolve else 1], np.int32)
    classes = np.array([names.get(int(c), f"class {c}") for c in codes], dtype=object)
    geometry = np.array([bytes(g) for g in cols[-1]], dtype=object)
    if dissolve:
        return (["code", "class", "objects", "area_m2", "confidence"],
                [codes, classes, np.array(cols[1], np.int64), np.array(cols[2], float), np.array(cols[3], float)], geometry)
    return (["segment_id", "code", "class", "confidence", "entropy", "area_m2"],
            [np.array(cols[0], np.int64), codes, classes, *(np.array(c, float) for c in cols[2:5])], geometry)


@takes(VectorRequest)
def db_to_vector(settings: Settings, request: VectorRequest, progress=None) -> ExportReport:
    """Write the objects of classification ``request.name`` to a vector file, with a QGIS style.

    The old form ``db_to_vector(settings, name, path, region=None, layer=None, driver=None, crs=None,
    clip=False, dissolve=False, overwrite=False, batch_size=BATCH_SIZE, area=None)`` builds the request.

    Parameters
    ----------
    settings : antares.config.Settings
    request : antares.pipeline.export_requests.VectorRequest
        Its fields:
    name : str
        A classification (``antares model_predict_object``).
    path : str or path-like
        The file; its extension gives the driver unless ``driver`` (GPKG, ESRI Shapefile,
        FlatGeobuf, GeoJSON) is given.
    region : str, optional
        Only objects intersecting this registered region; ``clip`` cuts them to it.
    area : odc.geo.geom.Geometry, optional
        Instead of ``region``: only objects intersecting this geometry (``--bbox``, ``-lat``/``-long``).
    layer : str, optional
        Layer name (GeoPackage, GeoJSON); default ``name``.
    crs : str, optional
        ``EPSG:CODE`` or ``CODE``; default the segmentation's CRS.
    dissolve : bool
        One multipolygon per class: ``code, class, objects, area_m2, confidence`` (area-weighted).
    batch_size : int
        Most rows read and written at a time; fewer when their geometries exceed ``BATCH_BYTES``
        (16 MiB of WKB) together. Memory scales with the batch, not with the number of objects.
    progress : callable(done, total), optional
        Called after each batch written: ``done`` objects (rows) so far, of ``total`` (the
        classified objects; ``None`` with ``region`` or ``dissolve``, whose row count is known at the end).

    Returns
    -------
    ExportReport
        Fields ``segment_id, code, class, confidence, entropy, area_m2`` (true m² whatever the
        segmentation's CRS; with ``clip``, of the part inside). Objects without a prediction are left out.

    The export is recorded as a run (kind ``db_to_vector``, named by the file; ``antares run show``):
    the classification (or change detection) and region read, the files written with their sizes
    and SHA-256, the command line.

    Raises
    ------
    RunningError
        The same file is being exported by another run, or the classification is being made.
    NotFoundError
        Unknown classification or region (the known ones are listed).
    UsageError
        Unknown driver or extension, invalid ``crs``, ``clip`` without ``region`` or ``area`` (the request).
    AlreadyExistsError
        ``path`` exists and ``overwrite`` is False.
    InvalidInputError
        The directory is missing or not writable; no object to write.
    WriteError
        The file could not be written completely (a full disk ...), or another number of
        features was read back; nothing is left behind.

    Examples
    --------
    >>> db_to_vector(settings, "map_2018", "map.gpkg", region="jalisco", clip=True)  # doctest: +SKIP
    """
    name, region = request.name, request.region
    params = {"name": name, "path": str(Path(request.path).absolute()), "region": region,
              "area": _area_param(request.area), "layer": request.layer,
              "driver": request.driver, "crs": request.crs, "clip": request.clip, "dissolve": request.dissolve,
              "overwrite": request.overwrite}

    def work():
        report = _db_to_vector(settings, request, progress)
        return report, *_export_record(report, name, region)

    return _recorded_export(settings, "db_to_vector", name, params, work)


def _db_to_vector(settings: Settings, request: VectorRequest, progress=None) -> ExportReport:
    """:func:`db_to_vector`, without its run."""
    from pyogrio.raw import write

    from antares.db.classifications import objects_query, prediction_count
    from antares.db.engine import open_database
    from antares.export.style import embed_gpkg_style, vector_qml, write_qml
    from antares.legend import legend_from_codes

    from antares.pipeline.change_export import change_to_vector, is_change
    from antares.pipeline.change_requests import ChangeExportRequest

    name, path, region, area, layer = request.name, request.path, request.region, request.area, request.layer
    crs, clip, dissolve, overwrite, batch_size = request.crs, request.clip, request.dissolve, request.overwrite, \
        request.batch_size
    if is_change(settings, name):  # a change detection's objects (antares detect_change)
        if region or area is not None or clip or dissolve:
            raise UsageError(f"'{name}' is a change detection: -region, --bbox, --clip and --dissolve apply to "
                             "classifications.")
        return change_to_vector(settings, ChangeExportRequest(name, path, layer, request.driver, crs, overwrite),
                                progress=progress)
    driver = vector_driver(path, request.driver)
    target = _Target(path, overwrite, sidecars=() if driver == "GPKG" else (".qml",))
    report = ExportReport(target.path, driver, detail=f", layer {layer or name}" if driver == "GPKG" else "")
    engine = open_database(settings)
    with _writing(target):
        with engine.connect() as conn:
            src = _source(conn, name)
            zone = area_zone(_region_id(conn, region), area, src.srid)
            out_srid, out_crs = _output_crs(conn, crs, src.srid)
            total = prediction_count(conn, src.id) if zone is None and not dissolve else None
        query = objects_query(src.id, src.segmentation_id, src.srid, zone, clip, dissolve, out_srid)
        names = {e.code: e.name for e in src.legend}
        direct = driver in _APPENDABLE
        out = target.tmp(target.path.suffix if direct else ".stage.gpkg")
        with engine.connect() as conn:
            result = conn.execution_options(stream_results=True, max_row_buffer=batch_size).execute(query)
            size = min(batch_size, 10_000)  # a first batch to learn the objects' size in bytes
            while rows := result.fetchmany(size):
                size = max(1, min(batch_size, int(BATCH_BYTES * len(rows) / max(1, sum(len(r[-1]) for r in rows)))))
                fields, data, geometry = _columns(rows, names, dissolve)
                write(out, geometry, data, fields, layer=layer or name, driver=driver if direct else "GPKG",
                      geometry_type="MultiPolygon", crs=out_crs, promote_to_multi=True, append=report.features > 0)
                report.features += len(rows)
                report.classes.update(np.unique(data[fields.index("code")]).tolist())
                if progress:
                    progress(report.features, total)
        if report.features == 0:
            raise InvalidInputError(f"classification '{name}' has no predicted object{area_words(region, area)}; "
                                    "nothing to write.")
        if not direct:
            _convert(out, target.tmp(target.path.suffix), driver, layer or name, batch_size)
            out.unlink()
        _check_features(target.tmp(target.path.suffix), (layer or name) if driver == "GPKG" else None, report.features,
                        target.path)
        legend = list(src.legend) or legend_from_codes(report.classes)
        qml = vector_qml(legend, attribute="code")
        if driver == "GPKG":
            embed_gpkg_style(target.tmp(target.path.suffix), layer or name, qml)
            report.style = "embedded (layer_styles)"
        else:
            write_qml(target.tmp(".qml"), qml)
            report.style = str(target.path.with_suffix(".qml"))
        target.commit()
    log.debug("%s: %d feature(s) of %s", target.path, report.features, name)
    return report


def _convert(stage: Path, dest: Path, driver: str, layer: str, batch_size: int) -> None:
    """Copy the staged GeoPackage to ``dest`` in ``driver`` in one streamed pass (Arrow batches)."""
    from pyogrio.raw import open_arrow, write_arrow

    with open_arrow(stage, use_pyarrow=False, batch_size=batch_size) as (meta, reader):
        write_arrow(reader, dest, layer=layer, driver=driver, geometry_name=meta["geometry_name"] or "geom",
                    geometry_type="MultiPolygon", crs=meta["crs"])


def _grid(extent, resolution: float, crs: str, product_grid=None):
    """The GeoBox of the pixels of size ``resolution`` covering ``extent``, every point of it inside.

    Pixel edges lie on the lines of ``product_grid`` (the GeoBox of the product the
    classification was segmented on) when it is in ``crs`` and not rotated: at the product's
    own resolution the exported pixels are the product's pixels. Otherwise they lie on
    multiples of ``resolution``, as before.

    odc-geo's ``GeoBox.from_bbox(anchor=...)`` computes the same grid away from grid lines,
    but not on them: on extents built on grid lines (objects traced from a product's pixels)
    it gave another shape in 274 of 3,000 UTM and 2,197 of 3,000 EPSG:4326 cases, and its
    bounds missed the extent by rounding in 71 and 631 of them with ``tol=0`` (with its
    default ``tol`` it drops the pixel of an object that overhangs a line by 1e-11 m, e.g. a
    region transformed from EPSG:4326); tests/unit/test_export_grid.py. The grid is therefore
    computed here, on the product's origin, and checked to cover the extent.

    Parameters
    ----------
    extent : (float, float, float, float)
        ``(minx, miny, maxx, maxy)`` in ``crs``.
    resolution : float
        Pixel size in units of ``crs`` (square pixels, y pointing down).
    crs : str
        ``EPSG:n`` or WKT.
    product_grid : odc.geo.geobox.GeoBox, optional

    Returns
    -------
    odc.geo.geobox.GeoBox
        At least one pixel a side.
    """
    from affine import Affine
    from odc.geo.crs import CRS
    from odc.geo.geobox import GeoBox

    ox = oy = 0.0
    if product_grid is not None and product_grid.crs == CRS(crs) and product_grid.axis_aligned:
        ox, oy = product_grid.affine.c % resolution, product_grid.affine.f % resolution
    x0 = ox + math.floor((extent[0] - ox) / resolution) * resolution
    y1 = oy + math.ceil((extent[3] - oy) / resolution) * resolution
    x0 -= resolution if x0 > extent[0] else 0.0  # rounding put the line a hair inside the extent
    y1 += resolution if y1 < extent[3] else 0.0
    width, height = (max(1, math.ceil(v / resolution)) for v in (extent[2] - x0, y1 - extent[1]))
    width += 1 if x0 + width * resolution < extent[2] else 0
    height += 1 if y1 - height * resolution > extent[1] else 0
    return GeoBox((height, width), Affine(resolution, 0, x0, 0, -resolution, y1), CRS(crs))


def _product_grid(settings: Settings, conn, segmentation_id: int):
    """The pixel grid of the segmentation's label rasters (an odc-geo GeoBox), or None.

    The grid stored with the segmentation (``segment`` writes it), read without the ODC index:
    importing ``datacube`` and connecting to its index cost seconds per command. Segmentations
    stored before migration 0006 have none: then the GeoBox of one dataset of the label product,
    else of the product it segmented, from the ODC index.
    """
    from antares.cube.grid import geobox_of_record
    from antares.db.segmentations import segmentation_by_id, segmentation_grid

    stored = segmentation_grid(conn, segmentation_id)
    if stored is not None:
        return geobox_of_record(stored)
    from antares.cube.index import connect
    from antares.cube.load import product_geobox
    from antares.db.engine import database_url

    row = segmentation_by_id(conn, segmentation_id)
    if row is None:
        return None
    dc = connect(database_url(settings))
    try:
        for product in (row.name, row.product):
            geobox = product_geobox(dc, product) if product else None
            if geobox is not None:
                return geobox
    finally:
        dc.close()
    return None


def _gdal_source(url: str) -> tuple[str, dict]:
    """GDAL's ``PG:`` connection string of the SQLAlchemy ``url`` and the environment holding its password.

    The password (of the URL's authority, else a ``?password=`` query parameter) goes in
    ``PGPASSWORD`` (never on a command line, where ``ps`` shows it); the other libpq
    parameters of the URL's query (``host=/socket/dir``, ``sslmode``) are kept, and antares's
    connect timeout and TCP keepalives added unless the URL sets them.
    """
    from sqlalchemy.engine import make_url

    from antares.db.engine import CONNECT_ARGS

    u = make_url(url)
    params = {"host": u.host, "port": u.port, "dbname": u.database, "user": u.username}
    params.update({k: v if isinstance(v, str) else v[-1] for k, v in u.query.items()})
    query_password = params.pop("password", None)  # libpq reads ?password= too: never on the command line
    password = u.password or query_password
    for key, value in CONNECT_ARGS.items():
        params.setdefault(key, value)

    def quoted(value) -> str:
        return "'" + str(value).replace("\\", "\\\\").replace("'", "\\'") + "'"

    env = dict(os.environ, PGAPPNAME="antares db_to_raster")
    if password:
        env["PGPASSWORD"] = password
    return "PG:" + " ".join(f"{k}={quoted(v)}" for k, v in params.items() if v is not None), env


def _gdal_rasterize() -> str:
    """The path of GDAL's ``gdal_rasterize``; an error naming the package when it is missing."""
    import shutil

    path = shutil.which("gdal_rasterize")
    if path is None:
        raise InvalidInputError("db_to_raster needs GDAL's gdal_rasterize, which is not on PATH; install the Debian "
                                "package gdal-bin ('make install' does) or put GDAL's tools on PATH.")
    return path


def _burn(tool: str, source: tuple, sql: str, attribute: str, win, transform, dtype: str, init: str,
          path: Path, where: str) -> np.ndarray:
    """``attribute`` of the rows of ``sql`` burnt into the pixels of ``win`` by gdal_rasterize (pixel-centre rule).

    GDAL reads the objects from PostGIS itself and rasterises them in C++ (rasterio's ``rasterize``
    spent ~40 s of 45 on 1 M objects turning geometries into GeoJSON in Python); the window's
    raster goes through a temporary GeoTIFF ``path`` (removed) into an array of shape
    ``(win.height, win.width)`` and type ``dtype``.

    Raises
    ------
    ConnectionLostError
        GDAL could not reach the database.
    OSError
        gdal_rasterize could not write the window's raster (it exits 0 then: its stderr is read).
    InvalidInputError
        gdal_rasterize failed otherwise (its last message is given).
    """
    import subprocess

    import rasterio
    from rasterio.windows import bounds

    from antares.errors import ConnectionLostError

    conninfo, env = source  # the password is in env (PGPASSWORD), never in conninfo
    left, bottom, right, top = bounds(win, transform)
    cmd = [tool, "-q", "-a", attribute, "-sql", sql, "-te", repr(left), repr(bottom), repr(right), repr(top),
           "-ts", str(win.width), str(win.height), "-ot", dtype, "-init", init, "-of", "GTiff", conninfo, str(path)]
    done = subprocess.run(cmd, env=env, capture_output=True, text=True)
    # gdal_rasterize exits 0 when GDAL could not write its raster (a full disk): its errors are on stderr
    if done.returncode != 0 or re.search(r"^ERROR \d+:", done.stderr or "", re.MULTILINE):
        message = " ".join((done.stderr or done.stdout or "no message").split())[-400:]
        log.debug("gdal_rasterize failed (exit %d): %s", done.returncode, done.stderr)
        if re.search(r"No space left|Write error|Disk full|quota|I/O error|write failed", message, re.IGNORECASE):
            # the partial window is left to the caller's clean-up, after it has measured the free space
            raise OSError(errno.EIO, f"gdal_rasterize could not write {where} ({message[-200:]})")
        path.unlink(missing_ok=True)
        if re.search(r"connect|server closed|terminating connection|PQ", message, re.IGNORECASE):
            raise ConnectionLostError(f"gdal_rasterize could not read the objects from the database "
                                      f"({conninfo}): {message}. Nothing was written; re-run when "
                                      "the database is reachable.")
        raise InvalidInputError(f"gdal_rasterize failed on {where}: {message}. Nothing was written.")
    try:
        with rasterio.open(path) as src:
            return src.read(1)
    finally:
        path.unlink(missing_ok=True)


def _rasterise(tool: str, source: tuple, sql: str, win, transform, dtype: str, zone, with_confidence: bool,
               scratch: Path, where: str):
    """(codes, confidence or None) of one window, or None when no object is in it."""
    from rasterio.features import geometry_mask
    from rasterio.windows import transform as window_transform

    codes = _burn(tool, source, sql, "code", win, transform, {"uint8": "Byte", "uint16": "UInt16"}[dtype], "0",
                  scratch, where)
    if zone is not None:
        codes[geometry_mask([zone], out_shape=codes.shape, transform=window_transform(win, transform))] = 0
    if not codes.any():
        return None
    conf = None
    if with_confidence:
        conf = _burn(tool, source, sql, "confidence", win, transform, "Float32", "nan", scratch, where)
        conf[codes == 0] = np.nan
    return codes, conf


@takes(RasterRequest)
def db_to_raster(settings: Settings, request: RasterRequest, progress=None) -> ExportReport:
    """Rasterise the class codes of classification ``request.name`` into a Cloud-Optimised GeoTIFF.

    The old form ``db_to_raster(settings, name, path, resolution, crs=None, region=None, overwrite=False,
    confidence=False, window=WINDOW, area=None, progress=None)`` builds the request.

    A change detection ``name`` is rasterised as transition codes instead
    (:func:`antares.pipeline.change_raster.change_to_raster`).

    Band 1 holds class codes by the pixel-centre rule: uint8 if all codes are <= 255, else
    uint16; 0 = nodata. The pixels lie on the grid of the product the classification was
    segmented on when the output CRS is the product's (its pixels at the product's resolution),
    else on multiples of ``resolution``; blocks 512, DEFLATE, overviews by mode, the legend's
    colour table, ``STEM.qml`` beside.

    Parameters
    ----------
    resolution : float
        Pixel size in units of the output CRS (``crs``, default the segmentation's).
    region : str, optional
        Cover the region's extent (default: the predicted objects'); pixels outside it are nodata.
    area : odc.geo.geom.Geometry, optional
        Instead of ``region``, a geometry (``--bbox``, ``-lat``/``-long``), used the same way.
    confidence : bool
        Also write ``STEM_confidence.tif``: float32, NaN = nodata.
    window : int
        Side in pixels of the windows rasterised one at a time (memory scales with its square).
    progress : callable(done, total), optional
        Called after every window.

    Each window's objects are read and rasterised by GDAL's ``gdal_rasterize`` (Debian package
    gdal-bin) straight from PostGIS, clipped to the window: C++ from the database to the pixels.

    The export is recorded as a run (kind ``db_to_raster``, named by the file; ``antares run show``):
    the classification and region read, the files written with their sizes and SHA-256, the command line.

    Raises
    ------
    RunningError
        The same file is being exported by another run, or the classification is being made.
    NotFoundError, UsageError, AlreadyExistsError, InvalidInputError
        As :func:`db_to_vector`; also for ``resolution`` <= 0, a missing ``gdal_rasterize`` or a
        failure of it.
    ConnectionLostError
        gdal_rasterize could not reach the database.
    WriteError
        A file could not be written completely (a full disk ...), or the COG read back holds
        another number of classified pixels than were written; nothing is left behind.
    """
    name, region = request.name, request.region
    params = {"name": name, "path": str(Path(request.path).absolute()), "resolution": request.resolution,
              "crs": request.crs, "region": region, "area": _area_param(request.area), "overwrite": request.overwrite,
              "confidence": request.confidence, "window": request.window}

    def work():
        report = _db_to_raster(settings, request, progress)
        return report, *_export_record(report, name, region)

    return _recorded_export(settings, "db_to_raster", name, params, work)


def _area_param(area) -> dict | None:
    """An area (``--bbox``, ``-lat``/``-long``) as a run records it: its CRS and WKT."""
    return None if area is None else {"crs": str(area.crs), "wkt": area.wkt}


def _recorded_export(settings: Settings, kind: str, name: str, params: dict, work):
    """``work()`` as a recorded run of ``kind`` named by the file written; it holds the name of the
    classification (or change detection) it reads, so that it is not replaced while being exported."""
    from antares.pipeline.change_export import is_change
    from antares.pipeline.run import recorded_step

    made_by = "detect_change" if is_change(settings, name) else "model_predict_object"
    return recorded_step(settings, kind, params["path"], params, work, reads=((made_by, name),))


def _export_record(report: ExportReport, name: str, region: str | None) -> tuple[dict, dict]:
    """The inputs and outputs a run of an export records: what it read, the files it wrote."""
    from antares.provenance import written_files

    path = Path(report.path)
    files = written_files(path, path.with_suffix(".qml"), path.with_name(f"{path.stem}_confidence.tif"))
    if path.suffix.lower() == ".shp":
        files.update(written_files(*(path.with_suffix(s) for s in _SHP_PARTS)))
    inputs = {"results": [name] + ([f"region {region}"] if region else [])}
    outputs = {"files": files, "features" if report.driver != "COG" else "pixels": report.features,
               "classes": sorted(int(c) for c in report.classes)}
    return inputs, outputs


def _db_to_raster(settings: Settings, request: RasterRequest, progress=None) -> ExportReport:
    """:func:`db_to_raster`, without its run."""
    import rasterio
    import rasterio.shutil
    import shapely
    from rasterio.windows import Window, bounds as window_bounds

    from antares.cube.grid import blocks
    from antares.cube.write import check_written, count_valid
    from antares.db.classifications import max_class_code, objects_extent, objects_in_box_sql
    from antares.db.engine import open_database
    from antares.db.regions import region_wkb
    from antares.export.style import raster_qml, write_qml

    name, path, resolution, crs, region, area = (request.name, request.path, request.resolution, request.crs,
                                                 request.region, request.area)
    overwrite, confidence, window = request.overwrite, request.confidence, request.window
    from antares.pipeline.change_export import is_change

    if is_change(settings, name):  # a change detection's objects: transition codes (antares detect_change)
        from antares.pipeline.change_raster import change_to_raster

        if region or area is not None or confidence:
            raise UsageError(f"'{name}' is a change detection: -region, --bbox and --confidence apply to "
                             "classifications.")
        return change_to_raster(settings, name, path, resolution, crs, overwrite, progress)
    tool = _gdal_rasterize()
    targets = [_Target(path, overwrite, sidecars=(".qml",))]
    if confidence:
        targets.append(_Target(targets[0].path.with_name(f"{targets[0].path.stem}_confidence.tif"), overwrite))
    engine = open_database(settings)
    with _writing(*targets):
        with engine.connect() as conn:
            src = _source(conn, name)
            region_id = _region_id(conn, region)
            out_srid, out_crs = _output_crs(conn, crs, src.srid)
            region_id = area_zone(region_id, area, src.srid)  # a Zone of the area, in the segments' CRS
            extent = objects_extent(conn, src.id, src.segmentation_id, src.srid, region_id, out_srid)
            max_code = max_class_code(conn, src.id)
            if area is not None:  # pixels outside it are nodata
                zone = area.to_crs(f"EPSG:{out_srid}", resolution="auto").geom
            else:
                zone = None if region_id is None else shapely.from_wkb(region_wkb(conn, region_id, out_srid))
            product_grid = _product_grid(settings, conn, src.segmentation_id)
        if extent is None or max_code is None:
            raise InvalidInputError(f"classification '{name}' has no predicted object; nothing to rasterise.")
        dtype = "uint8" if max(max_code, *(e.code for e in src.legend)) <= 255 else "uint16"
        grid = _grid(extent, resolution, out_crs, product_grid)
        transform, (height, width) = grid.affine, grid.shape
        if width * height > MAX_RASTER_PIXELS or max(width, height) > 2**31 - 1:
            raise InvalidInputError(
                f"--resolution {resolution:g} gives a raster of {width:,} x {height:,} pixels over the "
                f"{extent[2] - extent[0]:g} x {extent[3] - extent[1]:g} extent of classification '{name}' ({out_crs}), "
                f"more than {MAX_RASTER_PIXELS:.0e} pixels; choose a coarser --resolution (in units of the output CRS).")
        profile = dict(driver="GTiff", width=width, height=height, count=1, transform=transform, tiled=True,
                       crs=rasterio.crs.CRS.from_user_input(out_crs), blockxsize=512, blockysize=512,
                       compress="deflate", BIGTIFF="IF_SAFER", SPARSE_OK=True)
        report = ExportReport(targets[0].path, "COG", detail=f", {width} x {height} pixels of {resolution:g}, "
                                                             f"{out_crs}, {dtype}")
        windows = [Window(cols.start, rows.start, cols.stop - cols.start, rows.stop - rows.start)
                   for _, (rows, cols) in blocks(grid, window)]  # row by row, edge windows cut to the raster
        source = _gdal_source(engine.url.render_as_string(hide_password=False))
        work = [t.tmp(".work.tif") for t in targets]
        written = [0] * len(targets)  # valid pixels written into each output
        with contextlib.ExitStack() as stack:
            # GDAL's block cache (default 5 % of RAM) would otherwise grow with the raster up to its cap
            stack.enter_context(rasterio.Env(GDAL_CACHEMAX=CACHE_MB))
            out = [stack.enter_context(rasterio.open(work[0], "w", dtype=dtype, nodata=0, **profile))]
            if confidence:
                out.append(stack.enter_context(rasterio.open(work[1], "w", dtype="float32", nodata=np.nan, **profile)))
            for done, win in enumerate(windows, 1):
                left, bottom, right, top = window_bounds(win, transform)
                pad = resolution  # objects clipped to the window plus a pixel
                sql = objects_in_box_sql(src.id, src.segmentation_id, src.srid, out_srid, region_id,
                                         (left - pad, bottom - pad, right + pad, top + pad),
                                         max(right - left, top - bottom) / 32)
                arrays = _rasterise(tool, source, sql, win, transform, dtype, zone, confidence,
                                    targets[0].tmp(".window.tif"), f"window {done} of {len(windows)}")
                if arrays is not None:
                    for k, (dst, data) in enumerate(zip(out, arrays)):
                        dst.write(data, 1, window=win)
                        written[k] += count_valid(data, dst.nodata)
                    report.features += int(np.count_nonzero(arrays[0]))
                    report.classes.update(np.unique(arrays[0][arrays[0] > 0]).tolist())
                if progress:
                    progress(done, len(windows))
            out[0].write_colormap(1, {0: (0, 0, 0, 0), **{
                e.code: (*(int(e.colour[i:i + 2], 16) for i in (1, 3, 5)), 255) for e in src.legend}})
        for target, tmp, resampling in zip(targets, work, ("MODE", "AVERAGE")):
            with rasterio.Env(GDAL_CACHEMAX=CACHE_MB):
                rasterio.shutil.copy(tmp, target.tmp(target.path.suffix), driver="COG", COMPRESS="DEFLATE",
                                     BLOCKSIZE=512, BIGTIFF="IF_SAFER", NUM_THREADS="ALL_CPUS",
                                     OVERVIEW_RESAMPLING=resampling)
            tmp.unlink()
        for target, expected in zip(targets, written):  # the COGs read back: every pixel written is there
            check_written(target.tmp(target.path.suffix), expected, target.path, "free some space or choose another -f")
        report.style = "none (the scheme has no legend)"
        if src.legend:
            write_qml(targets[0].tmp(".qml"), raster_qml(list(src.legend), nodata=0))
            report.style = str(targets[0].path.with_suffix(".qml"))
        for target in targets:
            target.commit()
        if confidence:
            report.detail += f"; confidence {targets[1].path}"
    return report


def generate_style(settings: Settings, scheme: str, kind: str = "vector", path=None, overwrite: bool = False) -> str:
    """The QGIS style (QML) of class scheme ``scheme``, written atomically to ``path`` unless None or "-".

    ``kind`` "vector" is categorized on the attribute ``code`` (what :func:`db_to_vector`
    writes), "raster" paletted on band 1 with 0 transparent.

    Raises
    ------
    NotFoundError
        Unknown scheme (the schemes are listed).
    UsageError, AlreadyExistsError, InvalidInputError
        Bad ``kind``; ``path`` exists without ``overwrite``; its directory is missing or not writable.
    """
    from antares.db.engine import session_scope
    from antares.db.training import list_schemes, scheme_id, scheme_legend
    from antares.export.style import raster_qml, vector_qml, write_qml

    if kind not in ("vector", "raster"):
        raise UsageError(f"--type must be vector or raster. Got {kind!r}.")
    target = None if path in (None, "-") else _Target(path, overwrite)
    with session_scope(settings) as session:
        sid = scheme_id(session, scheme)
        if sid is None:
            known = [s["name"] for s in list_schemes(session)]
            raise NotFoundError(f"class scheme '{scheme}' does not exist; schemes: {_listing(known)}. "
                                "Create one with 'antares ingest_training'.")
        legend = scheme_legend(session, sid)
    qml = vector_qml(legend, attribute="code") if kind == "vector" else raster_qml(legend, nodata=0)
    if target is not None:
        write_qml(target.path, qml)
    return qml
