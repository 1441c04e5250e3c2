"""The detection pass scores the tile its process kept from the fitting pass without reading it again, and a
process never holds more than one tile (``antares.pipeline.change_tiles``)."""

import pickle

import numpy as np
import pytest
from odc.geo.geobox import GeoBox
from rasterio import Affine
from sqlalchemy.exc import OperationalError

from antares.change import get_change_method
from antares.pipeline import change_tiles
from antares.pipeline.change_tiles import ChangeTileJob, create_outputs, detect_tile, forget_kept, open_output

UNREACHABLE = "postgresql+psycopg2://antares@127.0.0.1:1/none"  # a task that reads fails: nothing listens there


def _pair(shape=(64, 64), bands=3):
    rng = np.random.default_rng(3)
    pre = (1000 + 40 * rng.normal(size=(bands,) + shape)).astype(np.float32)
    post = (1.1 * pre + 5 * rng.normal(size=pre.shape)).astype(np.float32)
    post[:, 10:20, 30:50] += 200
    pre[0, 5, 5] = np.nan
    return pre, post


def _job(method, index, workdir, shape=(64, 64)):
    geobox = GeoBox(shape, Affine(10, 0, 500000, 0, -10, 5800000), "EPSG:32633")
    return ChangeTileJob(UNREACHABLE, ("a", "b"), ("B1", "B2", "B3"), ((), ()), geobox[index], index, method,
                         str(workdir), shape)


def test_the_kept_tile_is_scored_without_a_read_and_another_tile_empties_the_slot(tmp_path):
    pre, post = _pair()
    method = get_change_method("imadmaf", max_samples=1000).fit(lambda: [(pre, post, (0, 0))])
    top, bottom = (slice(0, 32), slice(0, 64)), (slice(32, 64), slice(0, 64))
    create_outputs(str(tmp_path), (64, 64))
    try:
        change_tiles._keep(_job(method, top, tmp_path), (pre[:, top[0]], post[:, top[0]]))
        changed, valid = detect_tile(_job(method, top, tmp_path))  # no read: the URL is unreachable
        score, change = method.detect(pre[:, top[0]], post[:, top[0]])
        assert (changed, valid) == (int((change == 1).sum()), int((change != 255).sum())) and changed > 0
        np.testing.assert_array_equal(open_output(str(tmp_path), "change", (64, 64))[top], change)
        np.testing.assert_array_equal(open_output(str(tmp_path), "score", (64, 64))[top], score)
        assert not change_tiles._KEPT  # taken: the process holds no tile any more
        # the kept tile is another tile's (or another run's): dropped, and this tile is read (here: fails)
        change_tiles._keep(_job(method, top, tmp_path), (pre[:, top[0]], post[:, top[0]]))
        with pytest.raises(OperationalError, match="port 1 failed"):
            detect_tile(_job(method, bottom, tmp_path))
        assert not change_tiles._KEPT
        change_tiles._keep(_job(method, top, tmp_path.parent), (pre[:, top[0]], post[:, top[0]]))
        with pytest.raises(OperationalError, match="port 1 failed"):  # same tile position, another run's work directory: read, not reused
            detect_tile(_job(method, top, tmp_path))
    finally:
        forget_kept()


def test_a_fit_part_holds_the_sample_not_the_tile():
    """What a fitting task sends back is bounded by max_samples (plus MAF's edge rows), whatever the tile's size."""
    method = get_change_method("imadmaf", max_samples=1000)
    sizes = []
    for side in (64, 256):
        rng = np.random.default_rng(side)
        pre = (1000 + 40 * rng.normal(size=(3, side, side))).astype(np.float32)
        post = (pre + 5 * rng.normal(size=pre.shape)).astype(np.float32)
        part = method.fit_part(pre, post, (0, 0))
        assert len(part.bits) == 1000 and part.valid == side * side
        sizes.append(len(pickle.dumps(part)))
    edges = 4 * (256 - 64) * 6 * 4  # 4 edges of 2p float32 values grow with the side
    assert sizes[1] - sizes[0] <= edges + 4096
    assert sizes[1] < 256 * 256 * 3 * 4  # far below one date of the tile
