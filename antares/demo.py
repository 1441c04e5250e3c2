"""Sample data for ``antares demo``: fetch, stage and draw.

The demo data are real Sentinel-2 L2A time series (with SCL) and the Copernicus HRL
Tree Cover Density 2018 of a 1 km² forest site in western Romania, shipped inside the
PyPI wheel ``nrt==0.2.1`` (EUPL-1.2; Copernicus data, free and open with attribution).
:func:`fetch_nrt` downloads the wheel once into a cache and unpacks ``nrt/data/``;
:func:`stage_nrt` writes one GeoTIFF per date and band (the layout ``antares index
--dataset_name s2_bands`` reads) and the label raster.

Staged layout (also what ``antares demo --data DIR`` expects)::

    DIR/geotiff/10m/<YYYY-MM-DD>/{B02,B03,B04,B08,SCL}.tif
    DIR/labels/<reference raster>.tif
"""

from __future__ import annotations

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
NRT_FILES = ("sentinel2_cube_subset_romania_10m.nc", "tree_cover_density_2018_romania.tif")
BANDS_10M = {"B2": "B02", "B3": "B03", "B4": "B04", "B8": "B08", "SCL": "SCL"}
ATTRIBUTION = ("Contains modified Copernicus Sentinel data 2015-2021; Tree Cover Density: (c) European Union, "
               "Copernicus Land Monitoring Service 2018, EEA; sample data from the nrt package (EUPL-1.2)")


def fetch_nrt(cache: Path) -> Path:
    """The folder holding ``nrt/data`` of the nrt wheel, downloading the wheel into ``cache`` once.

    Raises
    ------
    AntaresError
        pip cannot download the wheel (no access to the package index) or it lacks the data.
    """
    cache = Path(cache)
    data = cache / f"nrt-{NRT_VERSION}" / "data"
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


def _nc_times(tags: dict) -> list:
    import datetime as dt

    units = tags["time#units"]  # e.g. "days since 2015-08-01 00:00:00"
    step, _, origin = units.partition(" since ")
    if step != "days":
        raise InvalidInputError(f"unexpected time units {units!r} in the demo cube.")
    start = dt.datetime.fromisoformat(origin.strip())
    values = tags["NETCDF_DIM_time_VALUES"].strip("{}").split(",")
    return [start + dt.timedelta(days=float(v)) for v in values]


def stage_nrt(data: Path, out: Path, year: int | None = None) -> Path:
    """Write the 10 m cube of ``data`` as GeoTIFFs per date and band (only ``year`` if given) and the labels.

    The cube's grid comes from its ``x``/``y`` coordinate variables (pixel centres), its CRS
    from ``spatial_ref`` (ETRS89-LAEA, EPSG:3035). Returns ``out``. Existing files are kept.
    """
    import rasterio
    from rasterio.transform import from_origin

    import warnings

    from rasterio.errors import NotGeoreferencedWarning

    cube = Path(data) / NRT_FILES[0]
    out = Path(out)
    warnings.simplefilter("ignore", NotGeoreferencedWarning)  # the cube's grid is read from x/y below
    # rows in file order (GDAL would flip them, reading netCDF bottom-up); y decreases, so row 0 is the north
    with rasterio.Env(CPL_LOG="/dev/null", GDAL_NETCDF_BOTTOMUP="NO"):
        with rasterio.open(f"netcdf:{cube}:x") as src:
            x = src.read(1)[0]
        with rasterio.open(f"netcdf:{cube}:y") as src:
            y = src.read(1)[0]
        res = float(x[1] - x[0])
        if not (y[1] - y[0] == -res and res > 0):
            raise InvalidInputError(f"{cube}: expected square pixels with y decreasing; got dx {res}, dy {y[1] - y[0]}.")
        transform = from_origin(float(x[0]) - res / 2, float(y[0]) + res / 2, res, res)
        for var, band in BANDS_10M.items():
            with rasterio.open(f"netcdf:{cube}:{var}") as src:
                times = _nc_times(src.tags())
                values = src.read()
            for i, when in enumerate(times):
                if year is not None and when.year != year:
                    continue
                path = out / "geotiff" / "10m" / f"{when:%Y-%m-%d}" / f"{band}.tif"
                if path.exists():
                    continue
                path.parent.mkdir(parents=True, exist_ok=True)
                profile = {"driver": "GTiff", "width": values.shape[2], "height": values.shape[1], "count": 1,
                           "dtype": values.dtype, "crs": "EPSG:3035", "transform": transform, "nodata": 0,
                           "compress": "deflate"}
                tmp = path.with_name(f".{path.name}.tmp")
                with rasterio.open(tmp, "w", **profile) as dst:
                    dst.write(values[i], 1)
                os.replace(tmp, path)
    labels = out / "labels" / "tree_cover_density_2018.tif"
    if not labels.exists():
        labels.parent.mkdir(parents=True, exist_ok=True)
        with rasterio.open(Path(data) / NRT_FILES[1]) as src:
            profile = src.profile
            values = src.read()
        profile.update(crs="EPSG:3035")  # the file's IGNF:ETRS89LAEA is the same CRS
        tmp = labels.with_name(f".{labels.name}.tmp")
        with rasterio.open(tmp, "w", **profile) as dst:
            dst.write(values)
        os.replace(tmp, labels)
    return out


def check_staged(data: Path) -> tuple[Path, Path]:
    """(band folder, label raster) of staged data; InvalidInputError saying what is missing."""
    data = Path(data)
    bands = data / "geotiff" / "10m"
    labels = sorted((data / "labels").glob("*.tif")) if (data / "labels").is_dir() else []
    if not bands.is_dir() or not any(bands.glob("*/B04.tif")):
        raise InvalidInputError(f"{data} is not staged demo data: expected {bands}/<YYYY-MM-DD>/{{B02,B03,B04,B08,SCL}}.tif.")
    if not labels:
        raise InvalidInputError(f"{data} is not staged demo data: expected a reference raster in {data / 'labels'}/.")
    return bands, labels[0]


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
