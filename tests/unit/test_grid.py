"""Grid presets and GridSpec construction."""

import pytest
from odc.geo.geom import box

from antares.cube.grid import load_presets, make_gridspec, utm_crs
from antares.errors import InvalidInputError, UsageError

ROMANIA = box(22.14, 45.195, 22.166, 45.215, "EPSG:4326")
BRANDENBURG = box(12.48, 52.45, 12.69, 52.53, "EPSG:4326")
SOUTH = box(-47.1, -15.9, -47.0, -15.8, "EPSG:4326")  # Brasília


def test_utm_zone_of_area_centre():
    assert utm_crs(ROMANIA) == "EPSG:32634"
    assert utm_crs(BRANDENBURG) == "EPSG:32633"
    assert utm_crs(SOUTH) == "EPSG:32723"
    assert utm_crs(ROMANIA.to_crs("EPSG:3035")) == "EPSG:32634"


def test_presets_and_gridspec():
    presets = load_presets()
    assert {"utm_10m", "utm_20m", "utm_60m", "mexico_lcc_20m"} <= set(presets)
    gs = make_gridspec(ROMANIA, "utm_20m")
    assert gs.crs.epsg == 32634 and gs.tile_shape.x == 2048 and abs(gs.resolution.x) == 20
    tiles = list(gs.tiles_from_geopolygon(ROMANIA))
    assert len(tiles) == 1
    (ix, iy), geobox = tiles[0]
    assert geobox.affine.c % (20 * 2048) == 0 and geobox.affine.f % (20 * 2048) == 0  # tiles align to the origin
    override = make_gridspec(ROMANIA, "utm_20m", tile_size=512)
    assert override.tile_shape.x == 512


def test_mexico_grid_is_epsg_6372_on_grs80():
    gs = make_gridspec(box(-103.5, 20.5, -103.0, 21.0, "EPSG:4326"), "mexico_lcc_20m")
    assert gs.crs.epsg == 6372
    ellipsoid = gs.crs.proj.ellipsoid
    assert ellipsoid.name == "GRS 1980" and ellipsoid.inverse_flattening == pytest.approx(298.257222101)


def test_bad_grids():
    with pytest.raises(UsageError, match="unknown grid 'utm_7m'; presets: "):
        make_gridspec(ROMANIA, "utm_7m")
    with pytest.raises(UsageError, match="--crs, --resolution and --tile-size"):
        make_gridspec(ROMANIA, crs="EPSG:32634")
    with pytest.raises(InvalidInputError, match="must be > 0"):
        make_gridspec(ROMANIA, crs="EPSG:32634", resolution=-20, tile_size=256)
    with pytest.raises(InvalidInputError, match="is not valid"):
        make_gridspec(ROMANIA, crs="EPSG:999999", resolution=20, tile_size=256)
