"""``register_region``: region polygons from any vector file GDAL/OGR reads."""

from __future__ import annotations

import contextlib
import logging
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from antares.config import Settings
from antares.errors import AlreadyExistsError, InvalidInputError, UsageError

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RegionSummary:
    """A region as registered: name, area (km², geodesic on WGS84) and number of source features."""

    name: str
    area_km2: float
    features: int


def read_vector(path: str | Path, layer: str | None = None, where: str | None = None):
    """Read a vector layer with pyogrio, checking the file, layer, filter and CRS.

    Parameters
    ----------
    path : path
        Any vector file GDAL/OGR reads (GeoPackage, Shapefile, GeoJSON, FlatGeobuf, ...).
    layer : str, optional
        Layer name; required when the file has more than one layer with geometries (tables
        without geometry, such as QGIS's ``layer_styles``, are not counted).
    where : str, optional
        OGR SQL WHERE expression selecting features, e.g. ``"NAME_1 = 'Jalisco'"``.

    Returns
    -------
    geopandas.GeoDataFrame
        The selected features with a geometry, in the file's CRS, in 2-D: Z and M coordinates are
        dropped (``shapely.force_2d``). ``attrs`` holds ``layer``, ``features`` (features read),
        ``no_geometry`` (of them dropped: no or an empty geometry) and ``flattened`` (geometries
        that had Z or M coordinates; ``dimensions`` says which).

    Raises
    ------
    InvalidInputError
        Missing or unreadable file, unknown layer (the layers are listed), invalid
        filter, no CRS, coordinates outside the range of a geographic CRS (a wrong CRS),
        or an empty selection.
    """
    import pyogrio
    import shapely

    path = Path(path)
    if not path.exists():
        raise InvalidInputError(f"vector file {path} does not exist.")
    measured: list = []
    try:
        with _measures_dropped(measured):
            listed = [(str(name), kind) for name, kind in pyogrio.list_layers(path)]
    except Exception as exc:  # pyogrio raises DataSourceError and friends
        raise InvalidInputError(f"{path} is not a vector file GDAL/OGR can read: {str(exc).splitlines()[0]}") from exc
    layers = [name for name, _ in listed]
    if not layers:
        raise InvalidInputError(f"{path} has no layers.")
    if layer is None:
        # tables without geometry (QGIS's layer_styles, which antares's own GeoPackages carry) are not candidates
        spatial = [name for name, kind in listed if kind is not None]
        if len(spatial) != 1:
            raise InvalidInputError(f"{path} has {len(spatial) or len(layers)} layers "
                                    f"({', '.join(spatial or layers)}); choose one with --layer.")
        layer = spatial[0]
    elif layer not in layers:
        raise InvalidInputError(f"{path} has no layer '{layer}'; its layers are: {', '.join(layers)}.")
    try:
        with _measures_dropped(measured):
            frame = pyogrio.read_dataframe(path, layer=layer, where=where)
    except Exception as exc:
        what = f"the filter --where {where!r}" if where else "the layer"
        raise InvalidInputError(f"cannot read {path} (layer {layer}) with {what}: {str(exc).splitlines()[0]}") from exc
    if frame.crs is None:
        raise InvalidInputError(
            f"{path} (layer {layer}) has no CRS. Assign one, e.g. 'ogr2ogr -a_srs EPSG:4326 fixed.gpkg {path.name}'."
        )
    read = len(frame)
    geoms = np.asarray(frame.geometry.values, dtype=object)
    frame, flattened = _force_2d(frame[~(shapely.is_missing(geoms) | shapely.is_empty(geoms))])
    counts = {"features": read, "no_geometry": read - len(frame), "flattened": len(frame) if measured else flattened,
              "dimensions": "Z and M" if measured else "Z"}
    if frame.empty:
        selection = f"matching --where {where!r}" if where else "with a geometry"
        raise InvalidInputError(f"{path} (layer {layer}) has no features {selection}.")
    if frame.crs.is_geographic:
        minx, miny, maxx, maxy = (float(v) for v in frame.total_bounds)
        if minx < -180 - 1e-6 or maxx > 360 + 1e-6 or miny < -90 - 1e-6 or maxy > 90 + 1e-6:
            raise InvalidInputError(
                f"{path} (layer {layer}) declares the geographic CRS {frame.crs.to_string()}, but its coordinates "
                f"({minx:.6g}, {miny:.6g}, {maxx:.6g}, {maxy:.6g}) are not longitudes and latitudes: the file's CRS is "
                f"wrong. Assign the one they are in, e.g. 'ogr2ogr -a_srs EPSG:XXXX fixed.gpkg {path.name}'.")
    frame.attrs.update(counts, layer=layer)
    return frame


@contextlib.contextmanager
def _measures_dropped(seen: list):
    """Record in ``seen``, instead of printing, pyogrio's warnings that it dropped M (measure) coordinates."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        yield
    for w in caught:
        if "Measured (M)" in str(w.message):
            seen.append(w)
        else:
            warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)


def _force_2d(frame):
    """(``frame`` with its geometries in 2-D by ``shapely.force_2d``, how many had Z or M coordinates)."""
    import shapely

    geoms = np.asarray(frame.geometry.values, dtype=object)
    flat = shapely.has_z(geoms) | shapely.has_m(geoms)
    if not flat.any():
        return frame, 0
    return frame.set_geometry(shapely.force_2d(geoms), crs=frame.crs), int(flat.sum())


def flattened_note(frame, path) -> str | None:
    """The line saying that :func:`read_vector` dropped Z/M coordinates of ``frame``, or None."""
    n = frame.attrs.get("flattened", 0)
    if not n:
        return None
    return (f"{n} geometr{'y' if n == 1 else 'ies'} of {path} (layer {frame.attrs['layer']}) had "
            f"{frame.attrs['dimensions']} coordinates: dropped (2-D geometries are used)")


def _polygonal(geom):
    """The polygon parts of ``geom`` as a MultiPolygon (None if there are none)."""
    from shapely.geometry import GeometryCollection, MultiPolygon, Polygon

    if isinstance(geom, Polygon):
        return MultiPolygon([geom])
    if isinstance(geom, MultiPolygon):
        return geom
    if isinstance(geom, GeometryCollection):
        parts = []
        for member in geom.geoms:
            polygons = _polygonal(member)
            if polygons is not None:
                parts.extend(polygons.geoms)
        return MultiPolygon(parts) if parts else None
    return None


def geodesic_area_km2(geom) -> float:
    """Area on the WGS84 ellipsoid (km²) of a polygonal geometry in EPSG:4326 (lon, lat)."""
    from pyproj import Geod

    area, _ = Geod(ellps="WGS84").geometry_area_perimeter(geom)
    return abs(area) / 1e6


def register_region(
    settings: Settings,
    name: str,
    path: str | Path,
    layer: str | None = None,
    where: str | None = None,
    name_field: str | None = None,
    overwrite: bool = False,
) -> list[RegionSummary]:
    """Register region polygons from a vector file.

    Without ``name_field`` the selected features are dissolved into one region
    called ``name``. With ``name_field``, features are grouped by that attribute and
    each group becomes a region named by its value; ``name`` is recorded as their
    collection. Geometries are repaired (``make_valid``), transformed once to
    EPSG:4326 and stored as MultiPolygons; the area is geodesic on WGS84.

    Raises
    ------
    InvalidInputError
        See :func:`read_vector`; also a missing ``name_field`` (fields listed) or a
        layer without polygons.
    AlreadyExistsError
        A region of the same name exists and ``overwrite`` is False (nothing is written).
    RunningError
        A ``register_region`` of the same name is running.

    The call is recorded as a run (kind ``register_region``; ``antares run show``): the file read
    (path, layer, SHA-256), the regions written with their areas, and the command line.
    """
    import shapely

    from antares.db.engine import session_scope
    from antares.db.regions import region_names, replace_regions
    from antares.pipeline.run import recorded_step
    from antares.provenance import file_sha256

    frame = read_vector(path, layer, where)
    layer = frame.attrs["layer"]
    note = flattened_note(frame, path)
    if note:
        log.warning(note)
    if name_field is not None and name_field not in frame.columns:
        fields = [c for c in frame.columns if c != frame.geometry.name]
        raise InvalidInputError(f"{path} (layer {layer}) has no field '{name_field}'; its fields are: {', '.join(fields) or '(none)'}.")
    source_crs = frame.crs.to_string()
    geoms = shapely.make_valid(frame.geometry.values.to_numpy() if hasattr(frame.geometry.values, "to_numpy") else frame.geometry.values)
    n_invalid = int((~frame.geometry.is_valid).sum())
    if n_invalid:
        log.info("repaired %d invalid geometr%s in %s", n_invalid, "y" if n_invalid == 1 else "ies", path)
    frame = frame.set_geometry(geoms, crs=frame.crs).to_crs("EPSG:4326")
    groups = {name: frame} if name_field is None else {str(k): g for k, g in frame.groupby(name_field, sort=True)}

    rows, summaries = [], []
    for region_name, group in groups.items():
        merged = _polygonal(shapely.make_valid(shapely.union_all(group.geometry.values)))
        if merged is None or merged.is_empty:
            kinds = ", ".join(sorted(set(group.geometry.geom_type)))
            raise InvalidInputError(f"{path} (layer {layer}) holds {kinds} geometries; a region must be a polygon.")
        area = geodesic_area_km2(merged)
        rows.append({
            "name": region_name,
            "collection": name if name_field else None,
            "wkb": shapely.to_wkb(merged),
            "area_km2": area,
            "source": f"{Path(path).resolve()}:{layer}" + (f" where {where}" if where else ""),
            "source_crs": source_crs,
        })
        summaries.append(RegionSummary(region_name, area, len(group)))

    def work():
        with session_scope(settings) as session:
            existing = region_names(session, [r["name"] for r in rows])
            if existing and not overwrite:
                raise AlreadyExistsError(
                    f"region{'s' if len(existing) > 1 else ''} {', '.join(sorted(existing))} already registered; "
                    "use --overwrite to replace or choose another name."
                )
            replace_regions(session, rows)
        # the SHA-256 tells which version of the file was read
        inputs = {"file": str(Path(path).resolve()), "layer": layer, "sha256": file_sha256(path)}
        outputs = {"regions": {s.name: {"area_km2": s.area_km2, "features": s.features} for s in summaries},
                   "replaced": sorted(existing)}
        return summaries, inputs, outputs

    params = {"name": name, "file": str(path), "layer": layer, "where": where, "name_field": name_field,
              "overwrite": overwrite}
    return recorded_step(settings, "register_region", name, params, work)


def check_region_name(name: str) -> str:
    """Validate a region name given on the command line."""
    if not name or not name.strip():
        raise UsageError("a region name must not be empty.")
    return name
