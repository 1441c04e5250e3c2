"""antares.prepare.terrain: Horn slope and aspect against gdaldem and WorldCereal's slope layer on the real DEMs
(the analytical and synthetic cases: tests/unit/test_terrain.py)."""

import shutil
import subprocess

import numpy as np
import pytest
from affine import Affine

from antares.prepare.terrain import slope_aspect
from helpers import angular_difference
from helpers import read_band as read

GDALDEM = shutil.which("gdaldem")  # installed by `make install` (gdal-bin); a missing one fails the tests
SLOVENIA = "eolearn-slovenia/geotiff/dem.tif"  # EPSG:32633, 9.995 m x 9.997 m pixels, 664-801 m
BELGIUM = "worldcereal-belgium/geotiff/dem/elevation.tif"  # EPSG:32631, 10 m pixels, 142-172 m
GDALDEM_NODATA = -9999.0


def gdaldem(mode, dem, tmp_path):
    """``gdaldem <mode> -compute_edges`` (Horn, degrees, azimuth; aspect with -zero_for_flat), as antares computes."""
    out = tmp_path / f"gdaldem_{mode}.tif"
    flat = ["-zero_for_flat"] if mode == "aspect" else []
    subprocess.run([GDALDEM, mode, "-q", "-compute_edges", *flat, str(dem), str(out)], check=True, capture_output=True)
    return read(out)[0]


@pytest.mark.parametrize("dem", [SLOVENIA, BELGIUM])
def test_slope_matches_gdaldem(data_dir, tmp_path, dem):
    elevation, transform, crs = read(data_dir / dem)
    slope, _ = slope_aspect(elevation, transform, crs)
    ref = gdaldem("slope", data_dir / dem, tmp_path)
    assert slope.dtype == np.float32 and slope.shape == elevation.shape
    # the edges are computed as gdaldem -compute_edges does (they were NaN: holes along every DEM's border)
    assert np.isfinite(slope).all() and (ref != GDALDEM_NODATA).all()
    assert np.abs(slope - ref).max() < 0.01  # measured: 0.0 on both DEMs, border included


@pytest.mark.parametrize("dem", [SLOVENIA, BELGIUM])
def test_aspect_matches_gdaldem(data_dir, tmp_path, dem):
    elevation, transform, crs = read(data_dir / dem)
    slope, ours = slope_aspect(elevation, transform, crs)
    ref = gdaldem("aspect", data_dir / dem, tmp_path)
    # Flat cells (slope 0, no direction): aspect 0, as gdaldem -zero_for_flat; they were NaN.
    flat = slope == 0
    assert flat.any()  # both DEMs store whole metres, so flat windows exist
    assert (ours[flat] == 0).all() and (ref[flat] == 0).all()
    assert np.isfinite(ours).all() and np.all((ours >= 0) & (ours < 360))
    compare = slope > 0.1
    assert compare.sum() > 0.7 * compare.size
    # measured: 0.0076 deg on Slovenia (gdaldem's aspect ignores its 9.995 x 9.997 m
    # non-square pixels, we do not), 3e-5 deg on Belgium (square 10 m pixels).
    assert angular_difference(ours, ref)[compare].max() < 0.01


def test_aspect_difference_on_slovenia_is_only_the_pixel_shape(data_dir, tmp_path):
    """With square pixels declared, our aspect equals gdaldem's to float32 rounding."""
    elevation, transform, crs = read(data_dir / SLOVENIA)
    square = Affine(10.0, 0.0, transform.c, 0.0, -10.0, transform.f)
    _, aspect = slope_aspect(elevation, square, crs)
    ref = gdaldem("aspect", data_dir / SLOVENIA, tmp_path)
    assert angular_difference(aspect, ref).max() < 1e-3


def test_slope_against_worldcereal_slope_layer(data_dir):
    """Loose agreement with the slope layer shipped with the WorldCereal test cube.

    That layer is not computed from the elevation raster next to it: WorldCereal loads it
    from VITO's precomputed global ``COPERNICUS30_DEM_SLOPE`` collection (Copernicus
    GLO-30, about 20 m), stored as whole degrees (0-9 here, apparently truncated: its
    mean is well below ours), and openEO resampled it to this 10 m grid. Our input, the
    10 m elevation, was itself resampled and stored as whole metres, so one 1 m step
    between neighbours already reads as a 1.4-5.7 degree slope. Per-pixel agreement is
    therefore impossible; the spatial pattern agrees once both are averaged over 100 m
    blocks (measured: correlation 0.94, mean difference +1.34 deg, largest 2.4 deg).
    """
    elevation, transform, crs = read(data_dir / BELGIUM)
    shipped = read(data_dir / "worldcereal-belgium/geotiff/dem/slope.tif")[0]
    slope, _ = slope_aspect(elevation, transform, crs)
    ours, theirs = slope[1:91, 1:91], shipped[1:91, 1:91]  # 90 x 90 interior cells
    ours_blocks = ours.reshape(9, 10, 9, 10).mean(axis=(1, 3))
    theirs_blocks = theirs.reshape(9, 10, 9, 10).mean(axis=(1, 3))
    assert np.corrcoef(ours_blocks.ravel(), theirs_blocks.ravel())[0, 1] > 0.9
    bias = float((ours_blocks - theirs_blocks).mean())
    assert 0.0 < bias < 2.0  # truncation to whole degrees and the 1 m terraces both push ours up
    assert np.abs(ours_blocks - theirs_blocks).max() < 3.0

