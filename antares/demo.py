"""Sample data for ``antares demo``: fetch, find and draw.

The demo data are real Sentinel-2 L2A time series (with SCL) and the Copernicus HRL
Tree Cover Density 2018 of a 1 km² forest site in western Romania, shipped inside the
PyPI wheel ``nrt==0.2.1`` (EUPL-1.2; Copernicus data, free and open with attribution).
:func:`fetch_nrt` downloads the wheel once into a cache and unpacks ``nrt/data/``;
:func:`find_demo_data` says what the demo indexes: the wheel's 10 m and 20 m NetCDF cubes,
in place, with the ``netcdf`` preparer (one dataset per date, measurements from both cubes),
or per-date GeoTIFFs staged by an older antares. Only the label raster is rewritten (its
CRS stated as EPSG:3035), by :func:`stage_labels`.

Layouts ``antares demo --data DIR`` reads (the first that matches)::

    DIR/*.nc + DIR/tree_cover_density_2018_romania.tif     the wheel's nrt/data (the cache)
    DIR/original/*.nc + DIR/labels/<reference raster>.tif  ../shared/data/nrt-romania-s2l2a
    DIR/geotiff/10m/<YYYY-MM-DD>/{B02,B03,B04,B08,SCL}.tif + DIR/labels/<reference raster>.tif
"""

from __future__ import annotations

import dataclasses
import logging
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np

from antares.errors import AntaresError, InvalidInputError

log = logging.getLogger(__name__)

NRT_VERSION = "0.2.1"
NRT_CUBES = ("sentinel2_cube_subset_romania_10m.nc", "sentinel2_cube_subset_romania_20m.nc")
NRT_LABELS = "tree_cover_density_2018_romania.tif"
NRT_FILES = (*NRT_CUBES, NRT_LABELS)
STAGED_LABELS = Path("labels") / "tree_cover_density_2018.tif"
CUBE_PRODUCT, BANDS_PRODUCT = "demo_s2l2a_nc", "demo_s2l2a"
ATTRIBUTION = ("Contains modified Copernicus Sentinel data 2015-2021; Tree Cover Density: (c) European Union, "
               "Copernicus Land Monitoring Service 2018, EEA; sample data from the nrt package (EUPL-1.2)")


@dataclasses.dataclass(frozen=True)
class DemoData:
    """What ``antares demo`` indexes and trains on.

    Attributes
    ----------
    path : Path
        The folder given to ``antares index --path``.
    preparer : str
        ``netcdf`` (the NetCDF cubes, indexed in place) or ``s2_bands`` (GeoTIFFs per date and band).
    product : str
        The product the images are indexed into: ``demo_s2l2a_nc`` or ``demo_s2l2a``.
    labels : Path
        The reference raster (tree cover density, %, EPSG:3035).
    """

    path: Path
    preparer: str
    product: str
    labels: Path


def nrt_folder(cache: Path) -> Path:
    """Where :func:`fetch_nrt` unpacks the wheel's ``nrt/data`` in ``cache``."""
    return Path(cache) / f"nrt-{NRT_VERSION}" / "data"


def fetch_nrt(cache: Path) -> Path:
    """The folder holding ``nrt/data`` of the nrt wheel, downloading the wheel into ``cache`` once.

    Raises
    ------
    AntaresError
        pip cannot download the wheel (no access to the package index) or it lacks the data.
    """
    cache = Path(cache)
    data = nrt_folder(cache)
    if all((data / f).is_file() for f in NRT_FILES):
        return data
    cache.mkdir(parents=True, exist_ok=True)
    wheels = sorted(cache.glob(f"nrt-{NRT_VERSION}-*.whl"))
    if not wheels:
        log.info("downloading nrt==%s from the package index", NRT_VERSION)
        done = subprocess.run([sys.executable, "-m", "pip", "download", f"nrt=={NRT_VERSION}", "--no-deps",
                               "--only-binary", ":all:", "-d", str(cache), "-q"], capture_output=True, text=True)
        wheels = sorted(cache.glob(f"nrt-{NRT_VERSION}-*.whl"))
        if done.returncode != 0 or not wheels:
            reason = (done.stderr or done.stdout).strip().splitlines()[-1:] or ["no wheel"]
            raise AntaresError(f"cannot download the demo data (pip download nrt=={NRT_VERSION}): {reason[0]}. "
                               "Give staged data with 'antares demo --data DIR' instead.")
    tmp = data.with_name(f".data.{os.getpid()}")
    with zipfile.ZipFile(wheels[-1]) as wheel:
        members = [m for m in wheel.namelist() if m.startswith("nrt/data/") and Path(m).name in NRT_FILES]
        if len(members) != len(NRT_FILES):
            raise AntaresError(f"{wheels[-1]} lacks nrt/data/{{{', '.join(NRT_FILES)}}}.")
        tmp.mkdir(parents=True, exist_ok=True)
        for member in members:
            (tmp / Path(member).name).write_bytes(wheel.read(member))
    if data.exists():
        import shutil

        shutil.rmtree(data)
    os.replace(tmp, data)
    return data


def find_demo_data(data: Path, staging: Path, stage: bool = True) -> DemoData:
    """The demo's inputs in ``data``, in one of the layouts of the module docstring.

    NetCDF cubes are preferred to staged GeoTIFFs where a folder has both. The reference raster
    is ``data/labels/*.tif``; failing that, the wheel's ``tree_cover_density_2018_romania.tif``
    beside the cubes, written by :func:`stage_labels` to ``staging/labels/`` (only if ``stage``;
    otherwise its path is returned as it will be, for ``--dry-run``).

    Parameters
    ----------
    data : Path
        The folder of the demo data (``--data``, or the wheel's ``nrt/data`` in the cache).
    staging : Path
        Where the rewritten label raster goes (``$ANTARES_HOME/demo_data``).
    stage : bool
        Write the label raster if it is needed and missing.

    Returns
    -------
    DemoData

    Raises
    ------
    InvalidInputError
        ``data`` holds none of the layouts, or no reference raster.

    Examples
    --------
    >>> find_demo_data(Path("../shared/data/nrt-romania-s2l2a"), Path("/tmp/home/demo_data")).preparer  # doctest: +SKIP
    'netcdf'
    """
    from antares.prepare.netcdf import SUFFIXES

    data = Path(data)
    labels = sorted((data / "labels").glob("*.tif")) if (data / "labels").is_dir() else []
    for folder in (data, data / "original"):
        if folder.is_dir() and any(p.suffix.lower() in SUFFIXES for p in folder.iterdir() if p.is_file()):
            if labels:
                return DemoData(folder, "netcdf", CUBE_PRODUCT, labels[0])
            if (folder / NRT_LABELS).is_file():
                staged = Path(staging) / STAGED_LABELS
                if stage:
                    stage_labels(folder / NRT_LABELS, staged)
                return DemoData(folder, "netcdf", CUBE_PRODUCT, staged)
            break
    bands = data / "geotiff" / "10m"
    if bands.is_dir() and any(bands.glob("*/B04.tif")):
        if labels:
            return DemoData(bands, "s2_bands", BANDS_PRODUCT, labels[0])
    raise InvalidInputError(f"{data} is not demo data: expected NetCDF cubes (DIR/*.nc with {NRT_LABELS}, or "
                            "DIR/original/*.nc) or GeoTIFFs DIR/geotiff/10m/<YYYY-MM-DD>/{B02,B03,B04,B08,SCL}.tif, "
                            "and a reference raster in DIR/labels/.")


def stage_labels(tcd: Path, path: Path) -> Path:
    """Write the label raster ``tcd`` to ``path`` with its CRS stated as EPSG:3035; returns ``path``.

    The wheel's file states ``IGNF:ETRS89LAEA``, the same CRS under another name; the pixels,
    grid and nodata are copied unchanged. An existing ``path`` is kept.
    """
    import rasterio

    path = Path(path)
    if path.exists():
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    with rasterio.open(tcd) as src:
        profile = src.profile
        values = src.read()
    profile.update(crs="EPSG:3035")
    tmp = path.with_name(f".{path.name}.tmp")
    with rasterio.open(tmp, "w", **profile) as dst:
        dst.write(values)
    os.replace(tmp, path)
    return path


def footprint_file(raster: Path, path: Path) -> Path:
    """A GeoPackage holding the footprint polygon of ``raster`` (for ``register_region``)."""
    import geopandas as gpd
    import rasterio
    from shapely.geometry import box

    with rasterio.open(raster) as src:
        frame = gpd.GeoDataFrame({"name": ["demo_site"]}, geometry=[box(*src.bounds)], crs=src.crs)
    path.parent.mkdir(parents=True, exist_ok=True)
    frame.to_file(path, driver="GPKG")
    return path


def quicklook(raster: Path, legend: list, path: Path, title: str) -> Path:
    """A PNG of a classified raster coloured by its legend, with the legend drawn beside it."""
    import rasterio
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.colors import ListedColormap
    from matplotlib.figure import Figure
    from matplotlib.patches import Patch

    with rasterio.open(raster) as src:
        classes = src.read(1)
        bounds = src.bounds
        crs = src.crs.to_string() if src.crs else "no CRS"
    colours = ["#ffffff"] * (max(e["code"] for e in legend) + 1)
    for e in legend:
        colours[e["code"]] = e["colour"]
    figure = Figure(figsize=(7, 5.5), dpi=120)
    FigureCanvasAgg(figure)
    ax = figure.add_subplot(1, 1, 1)
    shown = np.ma.masked_equal(classes, 0)
    ax.imshow(shown, cmap=ListedColormap(colours), vmin=0, vmax=len(colours) - 1, interpolation="nearest",
              extent=(bounds.left, bounds.right, bounds.bottom, bounds.top))
    ax.set_title(title, fontsize=10)
    ax.ticklabel_format(style="plain", useOffset=False)
    ax.tick_params(labelsize=7)
    ax.legend(handles=[Patch(facecolor=e["colour"], edgecolor="#333333", label=e["name"]) for e in legend],
              loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8, frameon=False)
    ax.set_xlabel(f"x (m), {crs}", fontsize=7)
    ax.set_ylabel("y (m)", fontsize=7)
    figure.text(0.01, 0.005, ATTRIBUTION, fontsize=5, color="#555555")
    tmp = path.with_name(f".{path.name}.tmp.png")
    figure.savefig(tmp, format="png", bbox_inches="tight")
    os.replace(tmp, path)
    return path
