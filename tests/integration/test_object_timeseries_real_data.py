"""``antares object_timeseries`` on real Romania L2A dates: every object's mean per date equals a numpy mean of the
GeoTIFF pixels under its label, the shape columns equal pixel counts and crack lengths of the label raster, the
table is written whole (0600), and bad inputs are refused in one line with nothing written."""

import numpy as np
import pytest
from click.testing import CliRunner

from antares.cli.main import cli
from helpers import invoke_ok

DATES = ["2018-03-13", "2018-05-07", "2018-06-06", "2018-07-01", "2018-07-06"]


@pytest.fixture(scope="module")
def ots_ro(settings, data_dir, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("ots")
    root = tmp / "ro" / "10m"
    root.mkdir(parents=True)
    for day in DATES:  # links to five of the 140 real dates, 10 m bands only
        (root / day).mkdir()
        for band in (data_dir / "nrt-romania-s2l2a" / "geotiff" / "10m" / day).iterdir():
            (root / day / band.name).symlink_to(band)
    env = {"ANTARES_DB_URL": settings.db_url, "ANTARES_HOME": str(settings.home)}
    invoke_ok(CliRunner(), ["index", "--path", str(tmp / "ro"), "--dataset_name", "s2_bands", "--product", "ots_ro"], env)
    invoke_ok(CliRunner(), ["segment", "--algorithm", "slic", "-p", "ots_ro", "-b", "B04", "-b", "B08", "-n", "ots_slic",
                            "--time", "2018-07-01", "--bbox", "22.14", "45.19", "22.17", "45.22", "-sc", "sync",
                            "--outdir", str(tmp / "seg")], env)
    return env, tmp, root


def _labels(tmp):
    import rasterio

    files = sorted((tmp / "seg").rglob("*.tif"))
    assert len(files) == 1
    with rasterio.open(files[0]) as src:
        return src.read(1).astype(np.int64), src.bounds, src.res


def test_object_means_per_date_equal_numpy_and_shapes_equal_the_raster(ots_ro):
    import os

    import pandas as pd
    import rasterio
    from rasterio.windows import from_bounds

    env, tmp, root = ots_ro
    out = tmp / "objects.parquet"
    result = invoke_ok(CliRunner(), ["object_timeseries", "-s", "ots_slic", "-p", "ots_ro", "--measurement", "B04", "--measurement", "B08",
                                     "--shape", "-f", str(out), "-sc", "sync"], env)
    labels, bounds, res = _labels(tmp)
    ids = np.unique(labels[labels > 0])
    assert f"{len(ids)} object(s) x {len(DATES)} step(s) of B04, B08" in result.output
    assert os.stat(out).st_mode & 0o777 == 0o600
    table = pd.read_parquet(out)
    assert list(table.columns[:7]) == ["segment_id", "time", "step", "B04", "B04_count", "B08", "B08_count"]
    assert len(table) == len(ids) * len(DATES)
    np.testing.assert_array_equal(np.unique(table.segment_id), ids)
    assert sorted({str(t)[:10] for t in table.time}) == DATES
    inv = np.searchsorted(ids, labels)
    for step, day in enumerate(DATES):
        rows = table[table.step == step].sort_values("segment_id")
        assert {str(t)[:10] for t in rows.time} == {day}
        for band in ("B04", "B08"):
            with rasterio.open(root / day / f"{band}.tif") as src:
                dn = src.read(1, window=from_bounds(*bounds, transform=src.transform)).astype(np.float64)
            valid = (labels > 0) & (dn != 0)  # 0 is the files' nodata
            count = np.bincount(inv[valid], minlength=len(ids))
            assert count.sum() > 0.5 * labels.size  # mostly valid pixels: the means are compared, not NaN with NaN
            total = np.bincount(inv[valid], weights=dn[valid], minlength=len(ids))
            with np.errstate(invalid="ignore", divide="ignore"):
                mean = total / count
            np.testing.assert_array_equal(rows[f"{band}_count"].to_numpy(), count)
            np.testing.assert_allclose(rows[band].to_numpy(), mean, rtol=1e-12, equal_nan=True)
    # shape columns: one value per object, repeated on its rows; area = pixels x pixel area, perimeter = crack length
    first = table[table.step == 0].sort_values("segment_id")
    pixels = np.bincount(inv[labels > 0], minlength=len(ids))
    np.testing.assert_allclose(first.area.to_numpy(), pixels * abs(res[0] * res[1]), rtol=1e-9)
    for k in np.random.default_rng(0).choice(ids, 8, replace=False):
        m = np.pad(labels == k, 1)
        crack = res[0] * (np.count_nonzero(m[1:, :] != m[:-1, :]) + np.count_nonzero(m[:, 1:] != m[:, :-1]))
        row = first[first.segment_id == k].iloc[0]
        assert row.perimeter == pytest.approx(crack, rel=1e-9)
        assert row.compactness == pytest.approx(4 * np.pi * row.area / crack ** 2, rel=1e-9)
        assert 0 <= row.elongation < 1 and 0 < row.rectangularity <= 1
    assert (table.groupby("segment_id").area.nunique() == 1).all()


def test_bad_inputs_one_line_nothing_written(ots_ro):
    env, tmp, _ = ots_ro
    runner = CliRunner()
    out = tmp / "bad.parquet"
    cases = [
        (["-s", "ots_slic", "-p", "ots_ro", "--measurement", "B99", "-f", str(out)], 1, "product ots_ro has no measurement B99"),
        (["-s", "nope_seg", "-p", "ots_ro", "-f", str(out)], 1, "segmentation 'nope_seg' does not exist"),
        (["-s", "ots_slic", "-p", "nope_product", "-f", str(out)], 1, "product 'nope_product' is not indexed"),
        (["-s", "ots_slic", "-p", "ots_ro", "-f", str(tmp / "t.csv")], 2, "the table must be a .parquet file"),
        (["-s", "ots_slic", "-p", "ots_ro", "-b", "2019-01-01", "-e", "2019-02-01", "-f", str(out)], 1,
         "product ots_ro has no dataset between 2019-01-01 and 2019-02-01"),
    ]
    for args, code, fragment in cases:
        result = runner.invoke(cli, ["object_timeseries", *args, "-sc", "sync"], env=env)
        assert result.exit_code == code and fragment in result.stderr and result.stderr.count("\n") == 1, \
            (args, result.output)
    assert not out.exists() and not (tmp / "t.csv").exists()
    assert not [p for p in tmp.iterdir() if p.name.endswith(".tmp")]
    # an existing table is kept without --overwrite, replaced with it
    out.write_bytes(b"keep")
    refused = runner.invoke(cli, ["object_timeseries", "-s", "ots_slic", "-p", "ots_ro", "--measurement", "B04", "-f", str(out),
                                  "-sc", "sync"], env=env)
    assert refused.exit_code == 1 and "exists; use --overwrite" in refused.stderr and out.read_bytes() == b"keep"
    invoke_ok(runner, ["object_timeseries", "-s", "ots_slic", "-p", "ots_ro", "--measurement", "B04", "-f", str(out),
                       "-b", "2018-07-01", "-e", "2018-07-31", "--overwrite", "-sc", "sync"], env)
    import pandas as pd

    table = pd.read_parquet(out)
    assert sorted({str(t)[:10] for t in table.time}) == ["2018-07-01", "2018-07-06"] and "B08" not in table


def test_percentile_aggregation_fit_and_predict_equal_numpy(settings, ots_ro):
    """model_fit -sp p90 and model_predict_object (the model's p90): each object's features are the 90th percentile
    of its valid pixels (numpy.nanpercentile of the GeoTIFFs), so its stored class and confidence are the model's
    prediction from those."""
    import geopandas as gpd
    import rasterio
    import shapely
    from rasterio.windows import from_bounds

    from antares.config import load_settings
    from antares.cube.index import connect
    from antares.pipeline.train import load_model
    from helpers import db_rows

    env, tmp, root = ots_ro
    day = "2018-07-01"
    labels, bounds, res = _labels(tmp)
    dc = connect(env["ANTARES_DB_URL"])
    try:
        measurements = dc.index.products.get_by_name("ots_ro").definition["measurements"]
    finally:
        dc.close()
    names = [m["name"] for m in measurements]
    values = []
    for m in measurements:
        files = {p.stem.upper(): p for p in (root / day).iterdir()}
        with rasterio.open(files[m["name"].upper()]) as src:
            v = src.read(1, window=from_bounds(*bounds, transform=src.transform)).astype(np.float64)
            crs = src.crs
        values.append(np.where(v == m["nodata"], np.nan, v) if m.get("nodata") is not None else v)
    values = np.stack(values)
    # 40 training squares of 3 x 3 pixels, labelled by their centre's NIR (independent of the features' statistic)
    rng = np.random.default_rng(1)
    rows, cols = rng.integers(2, labels.shape[0] - 2, 40), rng.integers(2, labels.shape[1] - 2, 40)
    nir = values[names.index("B08"), rows, cols]
    x0, y0 = bounds.left + cols * res[0], bounds.top - rows * res[1]
    boxes = shapely.box(x0 - res[0], y0 - 2 * res[1], x0 + 2 * res[0], y0 + res[1])
    frame = gpd.GeoDataFrame({"kind": np.where(nir > np.nanmedian(nir), "bright", "dark")}, geometry=boxes, crs=crs)
    frame.to_file(tmp / "squares.gpkg")
    runner = CliRunner()
    invoke_ok(runner, ["ingest_training", str(tmp / "squares.gpkg"), "--field", "kind", "--dataset", "ots_sq"], env)
    invoke_ok(runner, ["model_fit", "-model", "rf", "-p", "ots_ro", "-t", "ots_sq", "--name", "ots_rf90", "-sp", "p90",
                       "-b", day, "-e", day, "--cv", "2", "-extra", "n_estimators=20", "-sc", "sync"], env)
    bad = runner.invoke(cli, ["model_fit", "-model", "rf", "-p", "ots_ro", "-t", "ots_sq", "--name", "ots_bad",
                              "-sp", "p101", "-b", day, "-e", day], env=env)
    assert bad.exit_code == 2 and "or a percentile pNN" in bad.stderr and bad.stderr.count("\n") == 1, bad.output
    invoke_ok(runner, ["model_predict_object", "-p", "ots_ro", "-m", "ots_rf90", "-s", "ots_slic", "--name", "ots_map90",
                       "-b", day, "-e", day, "-sc", "sync"], env)
    s = load_settings(flags={"db_url": settings.db_url, "home": str(settings.home)}, environ={})
    estimator, meta = load_model(s, "ots_rf90")
    assert meta["aggregation"] == "p90" and meta["features"] == names
    ids = np.unique(labels[labels > 0])
    features = np.array([[np.nanpercentile(values[b][labels == k], 90) for b in range(len(names))] for k in ids])
    ok = np.isfinite(features).all(axis=1)
    proba = estimator.predict_proba(features[ok])
    stored = db_rows(settings.db_url, "SELECT p.segment_id, p.class_code, p.confidence FROM antares.prediction p JOIN "
                     "antares.classification c ON c.id = p.classification_id WHERE c.name = 'ots_map90' ORDER BY 1")
    assert [r[0] for r in stored] == ids[ok].tolist() and len(stored) > 10
    np.testing.assert_array_equal([r[1] for r in stored], estimator.classes_[np.argmax(proba, axis=1)])
    np.testing.assert_allclose([r[2] for r in stored], proba.max(axis=1), rtol=1e-6)
    # the mean would give other features: the test can tell the statistics apart
    means = np.array([[np.nanmean(values[b][labels == k]) for b in range(len(names))] for k in ids])
    assert not np.allclose(means[ok], features[ok])


def _shapes_of(geoms):
    """area, perimeter, compactness, elongation, rectangularity straight from shapely (not antares' code)."""
    import shapely

    out = []
    for g in geoms:
        rect = shapely.minimum_rotated_rectangle(g)
        xy = np.asarray(rect.exterior.coords)
        sides = np.hypot(*np.diff(xy, axis=0).T)[:2]
        out.append([g.area, g.length, 4 * np.pi * g.area / g.length ** 2, 1 - sides.min() / sides.max(),
                    g.area / rect.area])
    return np.array(out)


def test_mean_std_shape_fit_and_predict_equal_an_independent_sklearn_fit(settings, ots_ro):
    """model_fit -sp mean std shape, then model_predict_object: the training table is the numpy mean and std
    (ddof 0) of the pixels in each training rectangle plus its shapely shape; a scikit-learn forest fitted on that
    table independently predicts the stored classes of the segments, whose features are the numpy mean and std of
    their pixels and the shape of their pixel polygons (rasterio.features.shapes). A prediction request that
    cannot give the shape columns is refused in one line."""
    import geopandas as gpd
    import rasterio
    import rasterio.features
    import shapely
    from rasterio.windows import from_bounds
    from sklearn.ensemble import RandomForestClassifier

    from antares.config import load_settings
    from antares.cube.index import connect
    from antares.pipeline.train import load_model
    from helpers import db_rows

    env, tmp, root = ots_ro
    day = "2018-07-01"
    labels, bounds, res = _labels(tmp)
    dc = connect(env["ANTARES_DB_URL"])
    try:
        measurements = dc.index.products.get_by_name("ots_ro").definition["measurements"]
    finally:
        dc.close()
    names = [m["name"] for m in measurements]
    values = []
    files = {p.stem.upper(): p for p in (root / day).iterdir()}
    for m in measurements:
        with rasterio.open(files[m["name"].upper()]) as src:
            v = src.read(1, window=from_bounds(*bounds, transform=src.transform)).astype(np.float64)
            crs = src.crs
        values.append(np.where(v == m["nodata"], np.nan, v) if m.get("nodata") is not None else v)
    values = np.stack(values)
    # 40 training rectangles of 1..5 x 1..5 pixels on the pixel grid, labelled by the NIR of their corner pixel
    rng = np.random.default_rng(2)
    rows, cols = rng.integers(2, labels.shape[0] - 7, 40), rng.integers(2, labels.shape[1] - 7, 40)
    heights, widths = rng.integers(1, 6, 40), rng.integers(1, 6, 40)
    nir = values[names.index("B08"), rows, cols]
    x0, y0 = bounds.left + cols * res[0], bounds.top - rows * res[1]
    boxes = shapely.box(x0, y0 - heights * res[1], x0 + widths * res[0], y0)
    kinds = np.where(nir > np.nanmedian(nir), "bright", "dark")
    gpd.GeoDataFrame({"kind": kinds}, geometry=boxes, crs=crs).to_file(tmp / "rects.gpkg")
    runner = CliRunner()
    invoke_ok(runner, ["ingest_training", str(tmp / "rects.gpkg"), "--field", "kind", "--dataset", "ots_rect"], env)
    invoke_ok(runner, ["model_fit", "-model", "rf", "-p", "ots_ro", "-t", "ots_rect", "--name", "ots_rfshape",
                       "-sp", "mean", "std", "shape", "-b", day, "-e", day, "-extra", "n_estimators=20", "-sc", "sync"], env)
    s = load_settings(flags={"db_url": settings.db_url, "home": str(settings.home)}, environ={})
    estimator, meta = load_model(s, "ots_rfshape")
    assert meta["aggregation"] == "mean std shape" and meta["features"] == names
    assert meta["columns"] == ([f"{n}_mean" for n in names] + [f"{n}_std" for n in names] +
                               ["area", "perimeter", "compactness", "elongation", "rectangularity"])
    # the independent table: rows in the order of the training file, the samples' ids
    pixels = [values[:, r:r + h, c:c + w].reshape(len(names), -1) for r, c, h, w in zip(rows, cols, heights, widths)]
    X = np.column_stack([np.array([np.nanmean(p, axis=1) for p in pixels]),
                         np.array([np.nanstd(p, axis=1) for p in pixels]), _shapes_of(boxes)])
    np.testing.assert_allclose(X[:, -5], heights * widths * res[0] * res[1])
    codes = {e["name"]: e["code"] for e in meta["legend"]}
    y = np.array([codes[k] for k in kinds])
    ok = np.isfinite(X).all(axis=1)
    assert ok.sum() >= 30
    independent = RandomForestClassifier(n_estimators=20, random_state=0).fit(X[ok], y[ok])
    # the segments' features, as independently
    invoke_ok(runner, ["model_predict_object", "-p", "ots_ro", "-m", "ots_rfshape", "-s", "ots_slic", "--name",
                       "ots_mapshape", "-b", day, "-e", day, "-sc", "sync"], env)
    with rasterio.open(sorted((tmp / "seg").rglob("*.tif"))[0]) as src:
        transform = src.transform
    ids = np.unique(labels[labels > 0])
    parts = {}
    for geom, k in rasterio.features.shapes(labels.astype(np.int32), mask=labels > 0, transform=transform):
        parts.setdefault(int(k), []).append(shapely.geometry.shape(geom))
    seg_shapes = _shapes_of([shapely.union_all(parts[int(k)]) for k in ids])
    seg = np.array([np.r_[np.nanmean(values[:, labels == k], axis=1), np.nanstd(values[:, labels == k], axis=1)]
                    for k in ids])
    features = np.column_stack([seg, seg_shapes])
    good = np.isfinite(features).all(axis=1)
    stored = db_rows(settings.db_url, "SELECT p.segment_id, p.class_code, p.confidence FROM antares.prediction p JOIN "
                     "antares.classification c ON c.id = p.classification_id WHERE c.name = 'ots_mapshape' ORDER BY 1")
    assert [r[0] for r in stored] == ids[good].tolist() and len(stored) > 10
    proba = independent.predict_proba(features[good])
    np.testing.assert_array_equal([r[1] for r in stored], independent.classes_[np.argmax(proba, axis=1)])
    np.testing.assert_allclose([r[2] for r in stored], proba.max(axis=1), rtol=1e-6)
    # without the shape columns (or with fewer statistics) the model cannot predict: one line, nothing stored
    for sp in (["mean", "std"], ["mean", "shape"]):
        refused = runner.invoke(cli, ["model_predict_object", "-p", "ots_ro", "-m", "ots_rfshape", "-s", "ots_slic",
                                      "--name", "ots_mapnoshape", "-sp", *sp, "-b", day, "-e", day, "-sc", "sync"], env=env)
        assert refused.exit_code == 1 and "was fitted on -sp mean std shape" in refused.stderr \
            and refused.stderr.count("\n") == 1, refused.output
    assert not db_rows(settings.db_url, "SELECT 1 FROM antares.classification WHERE name = 'ots_mapnoshape'")
    # shape needs objects: pixel samples refuse it
    bad = runner.invoke(cli, ["model_fit", "-model", "rf", "-p", "ots_ro", "-t", "ots_rect", "--name", "ots_bad2",
                              "-sp", "mean", "shape", "--unit", "pixels", "-b", day, "-e", day], env=env)
    assert bad.exit_code == 2 and "shape describes objects" in bad.stderr and bad.stderr.count("\n") == 1, bad.output


def test_unit_segments_samples_equal_a_geopandas_overlay(settings, ots_ro):
    """model_fit --unit segments -s SEG: the samples are the segments more than half inside one training rectangle
    (an independent geopandas overlay of the segment polygons and the rectangles, by area: the rectangles lie on
    the pixel grid, so area shares are pixel shares), labelled with its class; their features are the numpy mean
    of all their pixels and the shapely shape of their polygon; CV is grouped by rectangle and counts segments."""
    import geopandas as gpd
    import pandas as pd
    import rasterio
    import rasterio.features
    import shapely
    from rasterio.windows import from_bounds

    env, tmp, root = ots_ro
    day = "2018-07-01"
    labels, bounds, res = _labels(tmp)
    from antares.cube.index import connect

    dc = connect(env["ANTARES_DB_URL"])
    try:
        measurements = dc.index.products.get_by_name("ots_ro").definition["measurements"]
    finally:
        dc.close()
    names = [m["name"] for m in measurements]
    files = {p.stem.upper(): p for p in (root / day).iterdir()}
    values = []
    for m in measurements:
        with rasterio.open(files[m["name"].upper()]) as src:
            v = src.read(1, window=from_bounds(*bounds, transform=src.transform)).astype(np.float64)
            crs = src.crs
        values.append(np.where(v == m["nodata"], np.nan, v) if m.get("nodata") is not None else v)
    values = np.stack(values)
    nir = names.index("B08")
    rng = np.random.default_rng(5)
    n = 24
    side = min(labels.shape) // 3
    rows, cols = rng.integers(0, labels.shape[0] - side, n), rng.integers(0, labels.shape[1] - side, n)
    heights, widths = rng.integers(side // 3, side, n), rng.integers(side // 3, side, n)
    x0, y0 = bounds.left + cols * res[0], bounds.top - rows * res[1]
    rects = gpd.GeoDataFrame({"kind": np.where(values[nir, rows + heights // 2, cols + widths // 2] >
                                               np.nanmedian(values[nir]), "bright", "dark"), "rect": np.arange(n)},
                             geometry=shapely.box(x0, y0 - heights * res[1], x0 + widths * res[0], y0), crs=crs)
    rects[["kind", "geometry"]].to_file(tmp / "big.gpkg")
    runner = CliRunner()
    invoke_ok(runner, ["ingest_training", str(tmp / "big.gpkg"), "--field", "kind", "--dataset", "ots_big"], env)
    # the independent overlay
    with rasterio.open(sorted((tmp / "seg").rglob("*.tif"))[0]) as src:
        transform = src.transform
    parts = {}
    for geom, k in rasterio.features.shapes(labels.astype(np.int32), mask=labels > 0, transform=transform):
        parts.setdefault(int(k), []).append(shapely.geometry.shape(geom))
    segs = gpd.GeoDataFrame({"segment": list(parts)}, geometry=[shapely.union_all(g) for g in parts.values()], crs=crs)
    segs["seg_area"] = segs.area
    inter = gpd.overlay(segs, rects, how="intersection", keep_geom_type=True)
    inter["share"] = inter.area / inter.seg_area
    major = inter[inter.share > 0.5].sort_values(["segment", "share"], ascending=[True, False])
    major = major.drop_duplicates("segment")
    assert len(major) >= 6 and major.kind.nunique() == 2, (labels.shape, len(parts), len(major))  # of 23 segments
    out = tmp / "segments.parquet"
    result = invoke_ok(runner, ["model_fit", "-p", "ots_ro", "-t", "ots_big", "--unit", "segments", "-s", "ots_slic",
                                "-sp", "mean", "shape", "-b", day, "-e", day, "-filename", str(out), "-sc", "sync"], env)
    table = pd.read_parquet(out)
    X = []
    for k in major.segment:
        px = values[:, labels == k]
        X.append(np.r_[np.nanmean(px, axis=1), _shapes_of([segs.geometry[segs.segment == k].iloc[0]])[0]])
    X = np.array(X)
    keep = np.isfinite(X).all(axis=1)
    assert f"training table of {keep.sum()} segment sample(s) from {n} training sample(s)" in result.output
    assert list(table.columns) == [f"{b}_mean" for b in names] + [
        "area", "perimeter", "compactness", "elongation", "rectangularity", "class", "group"]
    np.testing.assert_allclose(table.iloc[:, :-2].to_numpy(), X[keep], rtol=1e-9)
    kinds = dict(zip(rects.rect, rects.kind))
    codes = {"bright": 1, "dark": 2}  # sorted class names (the training set's legend)
    np.testing.assert_array_equal(table["class"], [codes[kinds[r]] for r in major.rect[keep]])
    # grouped by rectangle: one group per rectangle, one rectangle per group
    pairs = set(zip(table.group, major.rect[keep]))
    assert len(pairs) == len(set(table.group)) == len(set(major.rect[keep]))
    fitted = invoke_ok(runner, ["model_fit", "-model", "rf", "-p", "ots_ro", "-t", "ots_big", "--unit", "segments", "-s",
                                "ots_slic", "--name", "ots_rfseg", "--cv", "2", "-extra", "n_estimators=20", "-b", day,
                                "-e", day, "-sc", "sync"], env)
    assert "2-fold grouped cross-validation, accuracy counted in held-out segments:" in fitted.output
    assert f"fitted on {keep.sum()} segment sample(s)" in fitted.output
    assert "OA counted in area (held-out segments weighted by their pixels):" in fitted.output
    bad = runner.invoke(cli, ["model_fit", "-model", "rf", "-p", "ots_ro", "-t", "ots_big", "--unit", "segments",
                              "--name", "ots_x", "-b", day, "-e", day], env=env)
    assert bad.exit_code == 2 and "--unit 'segments' needs -s (its samples are segments)" in bad.stderr \
        and bad.stderr.count("\n") == 1, bad.output
