"""Stratified sampling on the real tree cover density raster of the Romania series (the synthetic cases:
tests/unit/test_sampling.py)."""

import numpy as np
import rasterio

from antares.sampling import bin_values, stratified_sample
from helpers import sample_counts as _counts

TCD = "nrt-romania-s2l2a/labels/tree_cover_density_2018_20m.tif"


def test_real_tree_cover_density_raster(data_dir):
    with rasterio.open(data_dir / TCD) as src:
        tcd = src.read(1)
        nodata = src.nodata
    assert tcd.shape == (50, 50) and nodata == 255
    classes = bin_values(tcd, [10, 50], nodata=nodata)
    s = stratified_sample(classes, per_class=20, seed=42)
    # observed on this raster: 92 pixels < 10 %, 352 in [10, 50) %, 2056 >= 50 %, no nodata
    assert s.available == {1: 92, 2: 352, 3: 2056}
    enough = [c for c, n in s.available.items() if n >= 20]
    assert _counts(s) == {c: 20 for c in enough} and s.shortfall == {}
    values = tcd[s.rows, s.cols].astype(float)
    lower = np.array([0, 0, 10, 50])[s.codes]
    upper = np.array([0, 10, 50, 101])[s.codes]
    assert np.all((values >= lower) & (values < upper)) and np.all(values != 255)
    # 3 x 3 patches: every sampled window lies within one bin
    p = stratified_sample(classes, per_class=20, seed=42, patch=3)
    assert p.shortfall and len(p) > 0
    for k, r, c in zip(p.codes, p.rows, p.cols):
        w = tcd[r:r + 3, c:c + 3]
        assert np.all((w >= [0, 0, 10, 50][k]) & (w < [0, 10, 50, 101][k]))

