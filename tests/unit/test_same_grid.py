"""cube.grid.same_grid: the one same-grid check of the prediction and change stages.

The checks it replaced (copied below from 59ae99a, ``pipeline/predict.py`` and ``pipeline/change.py``)
compared pixel sizes with ``numpy.isclose`` (absolute tolerance 1e-8: a degree grid of 1e-4° pixels
passed at 1e-5..1e-4 relative difference) and the prediction's check ignored rotation.
"""

import uuid

import numpy as np
import pytest
from affine import Affine
from odc.geo.geobox import GeoBox

from antares.cube.grid import grid_difference, grid_offset, same_grid
from antares.errors import InvalidInputError


def _old_predict_check(tile, grid) -> bool:
    """``pipeline/predict.py::_check_same_grid`` before this change (True = accepted)."""
    a, b = tile.affine, grid.affine
    same_crs = tile.crs == grid.crs
    same_res = np.isclose(a.a, b.a) and np.isclose(a.e, b.e)
    aligned = False
    if same_crs and same_res:
        dx, dy = (a.c - b.c) / b.a, (a.f - b.f) / b.e
        aligned = abs(dx - round(dx)) < 1e-3 and abs(dy - round(dy)) < 1e-3
    return bool(aligned)


def _old_change_check(pre, post) -> bool:
    """``pipeline/change.py::_grid``'s check before this change (True = accepted)."""
    a, b = pre.affine, post.affine
    same = (pre.crs == post.crs and np.isclose(a.a, b.a) and np.isclose(a.e, b.e) and a.b == b.b == 0 == a.d == b.d)
    if same:
        for origin_a, origin_b, res in ((a.c, b.c, a.a), (a.f, b.f, a.e)):
            shift = (origin_a - origin_b) / abs(res)
            same = same and abs(shift - round(shift)) < 1e-6
    return bool(same)


UTM = GeoBox((400, 300), Affine(10, 0, 500000, 0, -10, 4000000), "EPSG:32633")
DEG = GeoBox((1000, 1200), Affine(1e-4, 0, -103.5, 0, -1e-4, 20.7), "EPSG:4326")


def _centre(geobox, row, col):
    """World coordinates of a pixel centre, by the affine equation x = a·col + b·row + c, y = d·col + e·row + f."""
    a, b, c, d, e, f = geobox.affine[:6]
    return np.array([a * (col + 0.5) + b * (row + 0.5) + c, d * (col + 0.5) + e * (row + 0.5) + f])


@pytest.mark.parametrize("grid", [UTM, DEG], ids=["utm", "degrees"])
def test_identical_windows_and_disjoint_aligned_grids_pass(grid):
    assert same_grid(grid, grid) and grid_difference(grid, grid) == ""
    for rows, cols in ((slice(20, 90), slice(7, 300)), (slice(0, 1), slice(299, 300)), (slice(399, 400), slice(0, 5))):
        window = grid[rows, cols]
        assert same_grid(window, grid) and same_grid(grid, window)
        assert grid_offset(window, grid) == (rows.start, cols.start)  # the slice it was cut with
        # the window's first pixel centre is the grid's pixel centre at that offset
        np.testing.assert_allclose(_centre(window, 0, 0), _centre(grid, rows.start, cols.start), rtol=0, atol=1e-9)
        assert _old_predict_check(window, grid) and _old_change_check(window, grid)
    far = grid.translate_pix(-5000, 12000)  # whole pixels away, no overlap: still the same grid
    assert same_grid(far, grid) and grid_offset(far, grid) == (12000, -5000)


@pytest.mark.parametrize("relative", [1e-5, 1e-4])
def test_degree_pixels_1e5_to_1e4_apart_were_accepted_and_are_refused(relative):
    other = GeoBox(DEG.shape, Affine(1e-4 * (1 + relative), 0, -103.5, 0, -1e-4 * (1 + relative), 20.7), "EPSG:4326")
    assert _old_predict_check(other, DEG) and _old_change_check(DEG, other)  # the latent wrong answer
    assert not same_grid(other, DEG) and not same_grid(DEG, other)
    assert grid_difference(other, DEG).startswith("pixel size ")
    # why it is wrong: within a product 1 / (2 * relative) pixels wide, the same column index lands in another pixel
    col = int(np.ceil(0.5 / relative)) + 1
    drift = abs(_centre(other, 0, col)[0] - _centre(DEG, 0, col)[0]) / 1e-4
    assert drift > 0.5


def test_rotated_grid_was_accepted_by_predict_and_is_refused():
    rotated = GeoBox((10000, 10000), UTM.affine * Affine.rotation(0.01), "EPSG:32633")
    assert _old_predict_check(rotated, UTM)  # same a and e within isclose, rotation not looked at
    assert not _old_change_check(UTM, rotated)  # the change stage did check rotation
    assert not same_grid(rotated, UTM) and grid_difference(rotated, UTM).startswith("rotated differently")
    # pixel (9999, 0) of the rotated grid is more than a pixel away from the same pixel of the grid
    assert np.hypot(*(_centre(rotated, 9999, 0) - _centre(UTM, 9999, 0))) > 10
    both = GeoBox((50, 50), UTM.affine * Affine.rotation(30), "EPSG:32633")
    assert same_grid(both[5:20, 3:9], both)  # one rotation on both sides: the pixels coincide


def test_sub_pixel_shift_crs_and_flip_are_refused_by_all_checks():
    for other, words in ((UTM.translate_pix(0.5, 0), "origins 0.5, 0 pixels apart"),
                         (GeoBox(UTM.shape, UTM.affine, "EPSG:32634"), "CRS EPSG:32634 vs EPSG:32633")):
        assert not same_grid(other, UTM) and not _old_predict_check(other, UTM) and not _old_change_check(UTM, other)
        assert grid_difference(other, UTM) == words
    flipped = GeoBox(UTM.shape, Affine(10, 0, 500000, 0, 10, 3996000), "EPSG:32633")
    assert not same_grid(flipped, UTM)


def test_predict_refusal_names_both_grids_the_difference_and_the_fix():
    from antares.pipeline.predict import _check_same_grid

    _check_same_grid(UTM[10:20, 10:20], UTM, "seg", "prod")  # a window passes
    other = GeoBox(DEG.shape, Affine(1.00001e-4, 0, -103.5, 0, -1.00001e-4, 20.7), "EPSG:4326")
    with pytest.raises(InvalidInputError) as err:
        _check_same_grid(other, DEG, "seg_ro", "s2_ro")
    message = str(err.value)
    assert "\n" not in message
    assert message.startswith("segmentation seg_ro is on another grid than product s2_ro (EPSG:4326")
    assert "pixel size 0.000100001 x -0.000100001 vs 0.0001 x -0.0001" in message
    assert message.endswith("segment the product (or one on its grid) first.")


def _datasets(geobox, product="p"):
    """Real ODC ``Dataset`` objects (eo3, not indexed) with one measurement ``b`` on ``geobox``'s grid."""
    from datacube.index.abstract import default_metadata_type_docs
    from datacube.index.eo3 import prep_eo3
    from datacube.model import Dataset, MetadataType, Product

    eo3 = MetadataType(next(d for d in default_metadata_type_docs() if d["name"] == "eo3"))
    prod = Product(eo3, {"name": product, "metadata_type": "eo3", "metadata": {"product": {"name": product}},
                         "measurements": [{"name": "b", "dtype": "float32", "nodata": "NaN", "units": "1"}]})
    doc = {"id": str(uuid.uuid4()), "$schema": "https://schemas.opendatacube.org/dataset", "product": {"name": product},
           "crs": str(geobox.crs), "grids": {"default": {"shape": list(geobox.shape), "transform": list(geobox.affine)}},
           "measurements": {"b": {"path": "b.tif"}}, "properties": {"datetime": "2020-01-01T00:00:00Z"}}
    return [Dataset(prod, prep_eo3(doc), uri="file:///nowhere/p.yaml")]


def test_change_grid_uses_same_grid():
    from antares.pipeline.change import _grid

    post = DEG[100:700, 250:1200]
    common = _grid(_datasets(DEG), _datasets(post), ["b"], None, ("pre", "post"))
    assert common.crs == DEG.crs and grid_offset(common, DEG) == (100, 250) and common.shape == post.shape
    other = GeoBox(DEG.shape, Affine(1.00001e-4, 0, -103.5, 0, -1.00001e-4, 20.7), "EPSG:4326")
    with pytest.raises(InvalidInputError) as err:
        _grid(_datasets(DEG), _datasets(other), ["b"], None, ("s2_2020", "s2_2024"))
    message = str(err.value)
    assert message.startswith("-p_pre s2_2020 (EPSG:4326, 0.0001 x 0.0001) and -p_post s2_2024 (EPSG:4326, ")
    assert "are on different grids (pixel size 0.0001 x -0.0001 vs 0.000100001 x -0.000100001)" in message
    assert message.endswith("put both on one grid with 'antares ingest --grid PRESET' first.")


def test_native_geobox_refuses_rotated_and_south_up_grids():
    """native_geobox builds a north-up GeoBox: it used to drop a dataset's rotation (b, d) without a word."""
    from antares.cube.load import native_geobox

    assert native_geobox(_datasets(UTM), ["b"]) == UTM
    rotated = GeoBox((100, 100), UTM.affine * Affine.rotation(0.01), "EPSG:32633")
    south_up = GeoBox(UTM.shape, Affine(10, 0, 500000, 0, 10, 3996000), "EPSG:32633")
    for geobox in (rotated, south_up):
        datasets = _datasets(geobox)
        with pytest.raises(InvalidInputError) as err:
            native_geobox(datasets, ["b"])
        assert str(err.value).startswith(f"dataset {datasets[0].id} has a rotated or not north-up grid (transform 10")
        assert str(err.value).endswith("put it on one with 'antares ingest --grid PRESET'.")
