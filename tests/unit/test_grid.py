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


def test_metres_given_for_a_crs_in_degrees_are_refused():
    with pytest.raises(InvalidInputError, match=r"resolution 10 is in the units of EPSG:4326, degrees .* --crs EPSG:32634"):
        make_gridspec(ROMANIA, crs="EPSG:4326", resolution=10, tile_size=256)
    assert make_gridspec(ROMANIA, crs="EPSG:4326", resolution=0.0001, tile_size=256).resolution.x == 0.0001


def test_pixel_areas_in_m2_whatever_the_crs():
    """Against pyproj's geodesic area of the grid's own cells (an independent computation, per pixel)."""
    import numpy as np
    from odc.geo.geobox import GeoBox
    from pyproj import Geod

    from antares.cube.grid import pixel_areas

    geographic = GeoBox.from_bbox((22.14, 45.19, 22.17, 45.22), "EPSG:4326", resolution=0.0001)
    areas = pixel_areas(geographic)
    geod = Geod(ellps="WGS84")
    for row in (0, 150, geographic.shape[0] - 1):
        cell = geographic[row:row + 1, 7:8].extent.geom
        expected, _ = geod.geometry_area_perimeter(cell)
        assert areas[row, 0] == pytest.approx(abs(expected), rel=1e-6)
    assert 85 < areas.min() < areas.max() < 90  # 0.0001 deg at 45 N: about 7.9 m x 11.1 m
    utm = GeoBox.from_bbox((500000, 5000000, 510000, 5010000), "EPSG:32634", resolution=10)
    assert np.unique(pixel_areas(utm)).size == 1 and pixel_areas(utm)[0, 0] == pytest.approx(100 / 0.9996 ** 2, rel=1e-4)
    laea = GeoBox.from_bbox((5263000, 2539000, 5264000, 2540000), "EPSG:3035", resolution=20)
    assert pixel_areas(laea)[0, 0] == pytest.approx(400, rel=1e-9)  # an equal-area projection


def test_tiles_are_cut_to_the_area():
    from antares.cube.grid import area_tiles

    gridspec = make_gridspec(ROMANIA, "utm_10m")
    small = box(22.150, 45.203, 22.152, 45.2045, "EPSG:4326")
    ((tile, geobox),) = list(area_tiles(gridspec, small))
    assert geobox.shape[0] * geobox.shape[1] < 400
    assert geobox.extent.contains(small.to_crs(geobox.crs))  # whole pixels covering the area
    assert geobox.affine.c % 10 == 0 and geobox.affine.f % 10 == 0  # on the tile's grid


def _blocks_by_hand(geobox, size):
    """The loop ``blocks`` replaced (three copies of it): rows then columns, edge blocks cut to the shape."""
    ny, nx = geobox.shape
    for y0 in range(0, ny, size):
        for x0 in range(0, nx, size):
            rows, cols = slice(y0, min(y0 + size, ny)), slice(x0, min(x0 + size, nx))
            yield geobox[rows, cols], (rows, cols)


@pytest.mark.parametrize("size", [37, 48, 512, 1024, 5000])
def test_blocks_are_the_hand_loops_blocks(size):
    """odc-geo's GeoboxTiles partition equals the hand loop: same order, slices and GeoBoxes (edges included)."""
    from affine import Affine
    from odc.geo.geobox import GeoBox

    from antares.cube.grid import blocks

    utm_10m = make_gridspec(ROMANIA, "utm_10m")
    grids = [
        next(iter(utm_10m.tiles_from_geopolygon(ROMANIA)))[1],  # a preset tile cut to Romania's test area
        GeoBox.from_bbox(BRANDENBURG.to_crs("EPSG:32633").boundingbox, "EPSG:32633", resolution=20),
        GeoBox((1999, 1033), Affine(9.995, 0, 399960.0, 0, -9.997, 5800020.0), "EPSG:32633"),  # non-square pixels
    ]
    for geobox in grids:
        expected = list(_blocks_by_hand(geobox, size))
        got = list(blocks(geobox, size))
        assert [index for _, index in got] == [index for _, index in expected]
        assert all(a == b for (a, _), (b, _) in zip(got, expected))
        assert sum(b.shape[0] * b.shape[1] for b, _ in got) == geobox.shape[0] * geobox.shape[1]


def _blockread_aligned_by_hand(grid, crs, geobox):
    """cube/blockread.py's check before grid_offset."""
    a, b, c, d, e, f = grid["transform"][:6]
    g = geobox.affine
    if crs != geobox.crs or b or d or abs(a - g.a) > 1e-9 * abs(g.a) or abs(e - g.e) > 1e-9 * abs(g.e):
        return None
    col, row = (c - g.c) / g.a, (f - g.f) / g.e
    if abs(col - round(col)) > 1e-6 or abs(row - round(row)) > 1e-6:
        return None
    return round(row), round(col)


def _grid_pairs(seed, n=2000):
    """(src, dst) GeoBoxes: aligned, shifted by fractions of a pixel, other resolutions (2x: an overview), rotated,
    other CRS; UTM and EPSG:4326, odd sizes, offsets left/above and right/below."""
    import random

    from affine import Affine
    from odc.geo.geobox import GeoBox

    rng = random.Random(seed)
    for _ in range(n):
        crs, res, x0, y0 = rng.choice([("EPSG:32633", 10.0, 500000.0, 4000000.0), ("EPSG:32633", 20.0, 399995.5, 5806002.5),
                                       ("EPSG:4326", 0.0001, 22.1, 45.3), ("EPSG:4326", 1 / 3600, -101.25, 19.75),
                                       ("EPSG:3035", 9.995, 5263362.576551932, 2539524.2149151857)])
        dst = GeoBox((rng.randint(1, 301), rng.randint(1, 301)), Affine(res, 0, x0, 0, -res, y0), crs)
        kind = rng.choice(["aligned", "aligned", "fraction", "tiny", "scale", "scale2", "rotated", "crs"])
        dc, dr = rng.randint(-400, 400), rng.randint(-400, 400)
        sx = sy = res
        if kind == "fraction":
            dc += rng.choice([0.5, 0.25, 0.01, 0.002, 0.0005])
        elif kind == "tiny":  # rounding-size shifts, inside every tolerance
            dc += rng.choice([1e-9, -1e-9, 1e-8])
            dr += rng.choice([1e-9, -1e-9])
        elif kind == "scale":
            sx = sy = res * rng.choice([1 + 1e-4, 1 - 1e-3, 1.5, 1 + 1e-12])
        elif kind == "scale2":
            sx = sy = res * 2
        affine = Affine(sx, 0, x0 + dc * res, 0, -sy, y0 - dr * res)
        if kind == "rotated":
            affine = affine * Affine.rotation(rng.choice([0.5, 90, 1e-3]))
        src_crs = "EPSG:32634" if kind == "crs" and crs == "EPSG:32633" else crs
        yield GeoBox((rng.randint(1, 301), rng.randint(1, 301)), affine, src_crs), dst


def test_grid_offset_equals_the_blockread_hand_check():
    """odc-geo's compute_reproject_roi paste check (grid_offset) gives GridReader's hand-written check's answers:
    the same offsets, the same refusals (fractions of a pixel, other sizes, 2x overviews, rotations, other CRSs)."""
    from antares.cube.grid import grid_offset

    kinds = {True: 0, False: 0}
    for src, dst in _grid_pairs(3):
        grid = {"shape": list(src.shape), "transform": list(src.affine)[:6]}
        assert grid_offset(src, dst, 1e-6, 1e-9) == _blockread_aligned_by_hand(grid, src.crs, dst), (src, dst)
        kinds[grid_offset(src, dst, 1e-6, 1e-9) is not None] += 1
    assert min(kinds.values()) > 500  # both answers are well represented
