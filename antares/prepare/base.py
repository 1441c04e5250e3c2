"""The preparer contract and the eo3 document builder shared by all preparers."""

from __future__ import annotations

import datetime as dt
import logging
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

from antares.errors import InvalidInputError

log = logging.getLogger(__name__)

# Namespace of antares dataset ids: uuid5(NAMESPACE, key), each preparer building the key from
# what identifies a dataset (resolved paths, tile and time), so that preparing the same files
# again gives the same id and re-indexing is a no-op.
NAMESPACE = uuid.UUID("6c0d6f4e-5a2b-5d0e-9a63-7c1f0e3a4b21")


def dataset_id(key: str) -> uuid.UUID:
    """The stable id of the dataset identified by ``key`` (uuid5)."""
    return uuid.uuid5(NAMESPACE, key)


@dataclass(frozen=True)
class MeasurementFile:
    """One measurement file: its path, band index, CRS, shape (y, x), affine transform, nodata and dtype.

    ``nodata`` is the file's (None: the file declares none); ``dtype`` the file's numpy dtype name
    (None: unknown, e.g. a remote STAC asset not opened). ``scale_factor`` and ``add_offset`` are the
    packing the file declares (CF: ``value = stored * scale_factor + add_offset``; None: none declared),
    ``units`` its units (None: not declared) and ``variable`` its name for the band (a NetCDF variable).
    """

    name: str
    path: Path
    crs: str
    shape: tuple[int, int]
    transform: tuple[float, ...]  # a, b, c, d, e, f
    nodata: float | None = None
    band: int = 1
    dtype: str | None = None
    scale_factor: float | None = None
    add_offset: float | None = None
    units: str | None = None
    variable: str | None = None

    @property
    def where(self) -> str:
        """How messages name it: ``FILE variable VAR`` or ``FILE band N``."""
        return f"{self.path} variable {self.variable}" if self.variable else f"{self.path} band {self.band}"

    @property
    def packed(self) -> bool:
        """Whether the file declares a packing (``scale_factor`` or ``add_offset``)."""
        return self.scale_factor is not None or self.add_offset is not None


@dataclass
class Candidate:
    """A dataset found on disk, before its document is built."""

    key: str  # stable identity for the uuid5 id (see each preparer)
    label: str  # how to name it in messages
    files: dict = field(default_factory=dict)  # measurement -> path (or anything the preparer needs)
    properties: dict = field(default_factory=dict)


@dataclass
class PrepareResult:
    """Documents built and failures (``(label, message)``) of one preparer run."""

    documents: list = field(default_factory=list)
    failures: list = field(default_factory=list)
    bands: dict = field(default_factory=dict)  # dataset id -> {measurement: MeasurementFile} (what the files hold)


class Preparer:
    """Turns files into eo3 dataset documents.

    Subclasses set ``name`` and ``default_product`` and implement :meth:`find`
    (yield candidates under a directory) and :meth:`prepare` (one candidate -> one
    eo3 document, raising :class:`InvalidInputError` naming the file when it is unusable).
    """

    name = "base"
    default_product = ""
    only: set | None = None  # measurements to keep (``--bands``); files of the others are skipped where possible

    def find(self, root: Path, failures: list) -> Iterator[Candidate]:  # pragma: no cover - interface
        """Yield the datasets under ``root``; append ``(file, message)`` to ``failures`` for
        files that look like inputs but cannot be used."""
        raise NotImplementedError

    def prepare(self, candidate: Candidate, product: dict, product_name: str) -> dict:  # pragma: no cover - interface
        """Build the eo3 document of ``candidate`` for product ``product_name``, whose measurements
        (names and aliases) are those of the definition ``product``."""
        raise NotImplementedError

    def run(self, root: str | Path, product: dict, product_name: str | None = None, progress=None) -> PrepareResult:
        """Prepare every dataset under ``root``; a failing one is recorded, the others proceed.

        ``product`` is the definition whose measurements the files are matched to;
        ``product_name`` (default: its name) is the product the documents are for;
        ``progress(done, total)`` is called after each dataset (prepared or failed), ``total``
        being the number of datasets found (each one's pixels are decoded to verify them).

        Raises
        ------
        InvalidInputError
            ``root`` does not exist, or nothing under it is recognised by this preparer.
        """
        root = Path(root)
        if not root.exists():
            raise InvalidInputError(f"{root} does not exist.")
        result = PrepareResult()
        candidates = list(self.find(root, result.failures))
        if not candidates and not result.failures:
            raise InvalidInputError(f"nothing under {root} is recognised by the '{self.name}' preparer ({self.describe()}).")
        self._bands = {}
        for done, candidate in enumerate(candidates, 1):
            try:
                doc = self.prepare(candidate, product, product_name or product["name"])
            except InvalidInputError as exc:
                result.failures.append((candidate.label, str(exc)))
            else:
                result.documents.append(doc)
                result.bands[doc["id"]] = self._bands.pop(doc["id"], {})
            if progress:
                progress(done, len(candidates))
        return result

    def build_document(self, id_: uuid.UUID, product: str, bands: list[MeasurementFile], properties: dict,
                       lineage: dict | None = None, label: str = "") -> dict:
        """:func:`build_document`, remembering ``bands`` (their dtypes and nodata) for :meth:`run`'s result."""
        doc = build_document(id_, product, bands, properties, lineage, label)
        if not hasattr(self, "_bands"):
            self._bands = {}
        self._bands[doc["id"]] = {b.name: b for b in bands}
        return doc

    def describe(self) -> str:
        """What this preparer looks for (used in 'nothing recognised' messages)."""
        return self.__doc__.strip().splitlines()[0] if self.__doc__ else self.name


def measurement_names(product: dict) -> dict:
    """Upper-cased measurement names and aliases of the definition ``product`` -> measurement name."""
    names = {m["name"].upper(): m["name"] for m in product["measurements"]}
    names.update({a.upper(): m["name"] for m in product["measurements"] for a in m.get("aliases", [])})
    return names


def read_band(name: str, path: Path, band: int = 1) -> MeasurementFile:
    """Read the georeferencing of one raster band.

    Raises
    ------
    InvalidInputError
        The file cannot be opened as a raster, or has no CRS.
    """
    import rasterio

    try:
        with rasterio.open(path) as src:
            if src.crs is None:
                raise InvalidInputError(f"{path} has no CRS; assign one (gdal_edit.py -a_srs EPSG:XXXX) and retry.")
            if band > src.count:
                raise InvalidInputError(f"{path} has {src.count} band(s); band {band} was expected.")
            return MeasurementFile(name, Path(path), _crs_string(src.crs), (src.height, src.width), tuple(src.transform)[:6],
                        src.nodatavals[band - 1], band, src.dtypes[band - 1])
    except rasterio.errors.RasterioIOError as exc:
        raise InvalidInputError(
            f"{path} cannot be read as a raster (corrupt, truncated or not a raster): {str(exc).splitlines()[0]}"
        ) from exc


def _crs_string(crs) -> str:
    epsg = crs.to_epsg()
    return f"epsg:{epsg}" if epsg else crs.to_wkt()


def check_pixels(path: Path, band: int = 1) -> None:
    """Decode the whole band once so that a corrupt or truncated file fails at indexing, not at load.

    JPEG 2000 is decoded on one thread: GDAL's JP2OpenJPEG driver reports a tile that fails to
    decode (a truncated file: "Stream too short") from its decoding threads only to the process's
    stderr and returns zeros; decoded in the calling thread, the error reaches rasterio and is raised.
    """
    import rasterio

    import numpy as np
    from rasterio.windows import Window

    options = {"GDAL_NUM_THREADS": 1} if Path(path).suffix.lower() in (".jp2", ".j2k") else {}
    try:
        with rasterio.Env(**options), rasterio.open(path) as src:
            itemsize = np.dtype(src.dtypes[band - 1]).itemsize
            step = max(1, (64 << 20) // max(1, src.width * itemsize))  # strips of about 64 MB
            for row in range(0, src.height, step):
                src.read(band, window=Window(0, row, src.width, min(step, src.height - row)))
    except rasterio.errors.RasterioError as exc:
        cause = exc.__cause__ or exc
        raise InvalidInputError(f"{path} is corrupt or truncated: {str(cause).splitlines()[0]}") from exc


def parse_datetime(text: str) -> dt.datetime:
    """Parse dates such as 2018-01-07, 20180107, 20170216T102101, 2018-01-07T10:21:01Z (UTC)."""
    for fmt in ("%Y-%m-%d", "%Y%m%d", "%Y%m%dT%H%M%S", "%Y-%m-%dT%H%M%S", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%dT%H:%M:%SZ",
                "%Y-%m-%dT%H:%M:%S.%fZ", "%Y-%m"):
        try:
            return dt.datetime.strptime(text, fmt).replace(tzinfo=dt.timezone.utc)
        except ValueError:
            continue
    raise ValueError(f"cannot parse date {text!r}")


def build_document(
    id_: uuid.UUID,
    product: str,
    bands: list[MeasurementFile],
    properties: dict,
    lineage: dict | None = None,
    label: str = "",
) -> dict:
    """An eo3 dataset document for ``bands`` (one grid per distinct shape/transform).

    The grid with the most bands (ties: the finest) is ``default``; others are named by
    their resolution (``20m``, ``60m``, ...). Measurement paths are absolute
    ``file://`` URIs. The footprint is the extent of the default grid in its CRS.

    Raises
    ------
    InvalidInputError
        The bands are in different CRSs.
    """
    crss = [b.crs for b in bands]
    if len(set(crss)) > 1:
        from collections import Counter

        common = Counter(crss).most_common(1)[0][0]
        odd = ", ".join(f"{b.path} is in {b.crs}" for b in bands if b.crs != common)
        raise InvalidInputError(f"{odd} while its siblings are in {common}; all band files of a dataset must share one CRS.")
    grids: dict[tuple, list[MeasurementFile]] = {}
    for b in bands:
        grids.setdefault((b.shape, b.transform), []).append(b)
    ordered = sorted(grids, key=lambda g: (-len(grids[g]), abs(g[1][0])))
    names = {}
    for i, g in enumerate(ordered):
        res = abs(g[1][0])
        name = "default" if i == 0 else f"{res:g}m"
        while name in names.values():
            name += "_"
        names[g] = name
    default_shape, t = ordered[0]
    x0, y0 = t[2], t[5]
    x1, y1 = x0 + t[0] * default_shape[1], y0 + t[4] * default_shape[0]
    xs, ys = sorted((x0, x1)), sorted((y0, y1))
    measurements = {}
    for b in bands:
        entry = {"path": b.path.resolve().as_uri()}
        if b.band != 1:
            entry["band"] = b.band
        if names[(b.shape, b.transform)] != "default":
            entry["grid"] = names[(b.shape, b.transform)]
        measurements[b.name] = entry
    props = {"odc:file_format": "GeoTIFF", **properties}
    if isinstance(props.get("datetime"), dt.datetime):
        props["datetime"] = props["datetime"].isoformat()
    return {
        "$schema": "https://schemas.opendatacube.org/dataset",
        "id": str(id_),
        "product": {"name": product},
        "crs": bands[0].crs,
        "geometry": {"type": "Polygon", "coordinates": [[[xs[0], ys[0]], [xs[1], ys[0]], [xs[1], ys[1]], [xs[0], ys[1]], [xs[0], ys[0]]]]},
        "grids": {names[g]: {"shape": list(g[0]), "transform": [*g[1], 0.0, 0.0, 1.0]} for g in ordered},
        "properties": props,
        "measurements": measurements,
        "lineage": lineage or {},
    }
