"""``dem``: digital elevation models (any DEM GeoTIFF, zipped SRTM CGIAR tiles) with slope and aspect.

For each DEM found, :func:`antares.prepare.terrain.write_slope_aspect` writes
``<stem>_slope.tif`` and ``<stem>_aspect.tif`` (Horn 1981, as ``gdaldem``; COGs,
float32, NaN no-data) and the eo3 document of product ``srtm`` gets three
measurements: ``elevation`` (band 1 of the DEM itself, read in place), ``slope`` and
``aspect``.

What is a DEM
    ``--path`` names a DEM file (``.tif``/``.tiff``, or a ``.zip`` holding one, as the
    CGIAR-CSI SRTM 90 m tiles ``srtm_39_03.zip`` are distributed), or a folder of
    DEMs only: every ``*.tif``/``*.tiff``/``*.zip`` under it is taken for a DEM, except
    the ``*_slope.tif``/``*_aspect.tif`` that antares wrote itself. A folder that also
    holds other rasters (e.g. ``worldcereal-belgium/geotiff/dem`` has ``elevation.tif``
    and a ``slope.tif``) must be indexed by naming the DEM file.
    Zipped DEMs are read through GDAL's ``/vsizip/``, without unpacking; their
    ``elevation`` path in the document is a ``zip:///...zip!/member.tif`` URI.

Where slope and aspect go
    ``outdir`` (``--outdir``); by default beside the DEM (beside the ``.zip`` for a
    zipped one). With ``--outdir`` and a folder, the sub-folders of the DEMs under it
    are mirrored under ``outdir`` so that DEMs with the same name do not overwrite
    each other's outputs. A folder that cannot be written fails that DEM.

Acquisition time
    eo3 needs a datetime. It is the DEM's acquisition date when its tags give one
    (``ACQUISITION_DATE``, ``ACQUISITION_DATETIME``, ``DATE_ACQUIRED``), otherwise
    2000-02-11 UTC, the start of the Shuttle Radar Topography Mission. The property
    ``antares:datetime_source`` says which.

Dataset ids are uuid5 of the product name and the resolved DEM path (for a zipped DEM,
the resolved ``.zip`` path and the member), so re-indexing the same DEM is a no-op
(its slope and aspect are recomputed and replaced atomically).
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import tempfile
import zipfile
from pathlib import Path, PurePosixPath
from typing import Iterator

from antares.errors import InvalidInputError
from antares.prepare.base import Candidate, Preparer, dataset_id, parse_datetime, read_band

log = logging.getLogger(__name__)

#: Used when the DEM's tags give no acquisition date: the SRTM mission (11-22 February 2000).
SRTM_DATE = dt.datetime(2000, 2, 11, tzinfo=dt.timezone.utc)

#: File tags (dataset or band 1, any case) read as the DEM's acquisition date.
DATE_TAGS = ("ACQUISITION_DATE", "ACQUISITION_DATETIME", "DATE_ACQUIRED")

RASTER_SUFFIXES = {".tif", ".tiff"}
OUTPUT_SUFFIXES = ("_slope", "_aspect")


def elevation_band(path: str, band: str | None, label: str) -> int:
    """The 1-based elevation band of the DEM at ``path``: ``band`` (a description or a number) or the only one.

    Raises
    ------
    InvalidInputError
        The file has several bands and ``band`` is not given, or ``band`` names none of them
        (the bands are listed).
    """
    import rasterio

    try:
        with rasterio.open(path) as src:
            count, descriptions = src.count, src.descriptions
    except rasterio.errors.RasterioIOError as exc:
        raise InvalidInputError(f"cannot read DEM {label}: {str(exc).splitlines()[0]}") from exc
    listed = ", ".join(f"{i} ({d})" if d else str(i) for i, d in enumerate(descriptions, start=1))
    if band is None:
        if count == 1:
            return 1
        raise InvalidInputError(f"{label} has {count} bands ({listed}); a DEM has one: choose the elevation band "
                                "with --band NAME or --band N.")
    if str(band).isdigit() and 1 <= int(band) <= count:
        return int(band)
    matches = [i for i, d in enumerate(descriptions, start=1) if d and d.lower() == str(band).lower()]
    if len(matches) != 1:
        raise InvalidInputError(f"--band {band} is not a band of {label}; its bands: {listed}.")
    return matches[0]


def check_elevations(path: str, band: int, label: str) -> None:
    """Warn (log) when band ``band`` of ``path`` does not look like elevations in metres.

    Implausible: every valid value below -500 m (lower than any land surface), or values
    in the range of radar backscatter in dB (all within -60..+10 with a negative median).
    """
    import numpy as np
    import rasterio

    with rasterio.open(path) as src:
        values = src.read(band, masked=True).astype(np.float64).filled(np.nan)
    valid = values[np.isfinite(values)]
    if not valid.size:
        return
    low, high, median = float(valid.min()), float(valid.max()), float(np.median(valid))
    if high < -500:
        reason = "every value is below -500 m"
    elif low >= -60 and high <= 10 and median < 0:
        reason = "the values look like radar backscatter in dB"
    else:
        return
    log.warning("%s band %d does not look like elevations in metres (%s: %.1f to %.1f, median %.1f); "
                "if another band holds them, index with --band NAME|N.", label, band, reason, low, high, median)


def _is_output(name: str) -> bool:
    """Whether ``name`` is a slope or aspect file antares wrote (``<stem>_slope.tif``)."""
    stem = PurePosixPath(name).stem
    return stem.endswith(OUTPUT_SUFFIXES)


class DemPreparer(Preparer):
    """DEM GeoTIFFs (*.tif, *.tiff) or zipped SRTM tiles (*.zip holding a .tif); --path should name DEM files or a folder of DEMs only"""

    name = "dem"
    default_product = "srtm"

    def __init__(self, outdir: str | None = None, verify: bool = True, band: str | None = None):
        """
        Parameters
        ----------
        outdir : str, optional
            Folder for the slope and aspect COGs (created when missing); default: beside each DEM.
        band : str, optional
            The elevation band of multi-band files: its description (e.g. ``elevation``) or its
            1-based number. Required for a file of more than one band.
        verify : bool
            Accepted for uniformity with the other preparers. Every DEM pixel is decoded anyway
            to compute slope and aspect, so a corrupt DEM always fails at indexing.
        """
        self.outdir = Path(outdir) if outdir is not None else None
        self.verify = verify
        self.band = band
        self._outputs: dict[Path, str] = {}  # slope/aspect file -> DEM that wrote it in this run

    def find(self, root: Path, failures: list) -> Iterator[Candidate]:
        """Yield one candidate per DEM: each raster file, and each ``.tif`` inside each ``.zip``.

        A ``.zip`` that cannot be read or holds no ``.tif`` is a failure.
        """
        if root.is_file():
            files = [root]
        else:
            files = sorted(
                p for p in root.rglob("*")
                if p.is_file() and (p.suffix.lower() in RASTER_SUFFIXES or p.suffix.lower() == ".zip")
                and not p.name.startswith(".") and not _is_output(p.name)
            )
            skipped = sorted(p.name for p in root.rglob("*") if p.suffix.lower() in RASTER_SUFFIXES and _is_output(p.name))
            if skipped:
                log.debug("skipping slope/aspect outputs under %s: %s", root, ", ".join(skipped))
        for path in files:
            rel_dir = Path(".") if path == root else path.parent.relative_to(root)
            if path.suffix.lower() == ".zip":
                yield from self._zip_members(path, rel_dir, failures)
                continue
            resolved = path.resolve()
            yield Candidate(key=str(resolved), label=str(path),
                            files={"gdal": str(resolved), "uri": None, "beside": path.parent, "rel_dir": rel_dir})

    def _zip_members(self, path: Path, rel_dir: Path, failures: list) -> Iterator[Candidate]:
        resolved = path.resolve()
        try:
            with zipfile.ZipFile(path) as archive:
                members = [m for m in archive.namelist()
                           if PurePosixPath(m).suffix.lower() in RASTER_SUFFIXES and not _is_output(m)]
        except (OSError, zipfile.BadZipFile) as exc:
            failures.append((str(path), f"{path} cannot be read as a zip archive ({exc}); expected a zipped DEM such as an SRTM tile."))
            return
        if not members:
            failures.append((str(path), f"{path} holds no .tif file; expected a zipped DEM GeoTIFF such as an SRTM CGIAR tile."))
            return
        for member in members:
            yield Candidate(
                key=f"{resolved}!/{member}", label=f"{path}!/{member}",
                files={"gdal": f"/vsizip/{resolved}/{member}", "uri": f"zip://{resolved}!/{member}",
                       "beside": path.parent, "rel_dir": rel_dir},
            )

    def prepare(self, candidate: Candidate, product: dict, product_name: str) -> dict:
        """Write slope and aspect of one DEM and build its eo3 document.

        Returns
        -------
        dict
            eo3 document: measurements ``elevation`` (the DEM, band 1, in its own CRS and
            units, metres expected), ``slope`` and ``aspect`` (degrees, float32, NaN where the DEM has no height),
            one ``default`` grid (the DEM's), ``datetime`` as described in the module docstring.

        Raises
        ------
        InvalidInputError
            The DEM cannot be read, has no CRS or an unsuitable one (see
            :func:`antares.prepare.terrain.slope_aspect`); the output folder cannot be
            written; another DEM of this run writes the same output files.
        """
        from antares.prepare.terrain import write_slope_aspect

        files = candidate.files
        names = {m["name"] for m in product["measurements"]}
        missing = {"elevation", "slope", "aspect"} - names
        if missing:
            raise InvalidInputError(
                f"product {product['name']} has no measurement(s) {', '.join(sorted(missing))}; "
                f"the dem preparer needs elevation, slope and aspect (index into srtm or a product derived from it)."
            )
        index = elevation_band(files["gdal"], self.band, candidate.label)
        elevation = read_band("elevation", files["gdal"], index)  # fails on no CRS, naming the file
        check_elevations(files["gdal"], index, candidate.label)
        when, source = _acquisition_time(files["gdal"])
        outdir = files["beside"] if self.outdir is None else self.outdir / files["rel_dir"]
        self._check_outputs(candidate, outdir)
        outputs = write_slope_aspect(files["gdal"], outdir, index)
        bands = [elevation, read_band("slope", outputs["slope"]), read_band("aspect", outputs["aspect"])]
        properties = {"datetime": when, "antares:datetime_source": source}
        doc = self.build_document(dataset_id(f"dem:{product_name}:{candidate.key}"), product_name, bands, properties,
                             label=candidate.label)
        if files["uri"] is not None:
            doc["measurements"]["elevation"]["path"] = files["uri"]
        return doc

    def _check_outputs(self, candidate: Candidate, outdir: Path) -> None:
        """Fail unless ``outdir`` can be written and no other DEM of this run writes the same outputs."""
        stem = PurePosixPath(candidate.files["gdal"]).stem
        targets = [(outdir / f"{stem}{suffix}.tif").absolute() for suffix in OUTPUT_SUFFIXES]
        for target in targets:
            other = self._outputs.get(target)
            if other is not None and other != candidate.key:
                raise InvalidInputError(
                    f"DEM {candidate.label} would overwrite {target}, written for {other}; "
                    "rename one of the DEMs or index them separately with different --outdir folders."
                )
        hint = "pass --outdir with a writable folder" if self.outdir is None else "choose a writable --outdir"
        try:
            outdir.mkdir(parents=True, exist_ok=True)
            fd, probe = tempfile.mkstemp(prefix=".antares-write-test.", dir=outdir)
            os.close(fd)
            os.unlink(probe)
        except OSError as exc:
            raise InvalidInputError(
                f"cannot write the slope and aspect of DEM {candidate.label} to {outdir} "
                f"({exc.strerror or type(exc).__name__}); {hint}."
            ) from None
        for target in targets:
            self._outputs[target] = candidate.key


def _acquisition_time(gdal_path: str) -> tuple[dt.datetime, str]:
    """The DEM's acquisition time from its tags, else the SRTM date; and where it came from."""
    import rasterio

    with rasterio.open(gdal_path) as src:
        tags = {**{k.upper(): v for k, v in src.tags(1).items()}, **{k.upper(): v for k, v in src.tags().items()}}
    for key in DATE_TAGS:
        text = tags.get(key)
        if not text:
            continue
        try:
            return parse_datetime(text.strip()), f"tag {key}"
        except ValueError:
            log.warning("DEM %s: tag %s=%r is not a date; using %s", gdal_path, key, text, SRTM_DATE.date())
    return SRTM_DATE, "default: SRTM mission (2000-02-11)"
