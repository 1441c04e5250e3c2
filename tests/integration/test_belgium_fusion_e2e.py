"""S1 + S2 fusion on the cube, end to end on WorldCereal's Belgium patch (issue 19): the built-in s1_s2_monthly recipe
(one product: S2 bands and indices + S1 features on 12 monthly steps) → SLIC segments → training polygons from
WorldCereal's own crop-type map → pse_tae with --sensors s1,s2 --fusion pse → model_predict_object → db_to_vector.

The labels are WorldCereal MODEL OUTPUT, not ground truth: the test measures AGREEMENT with them. The crop-type map is
'other_crop' on 99.5 % of the patch; it is only meaningful inside WorldCereal's cropland mask, so the labels are the
crop-type class where the cropland product says cropland, and 'no_cropland' elsewhere. Training polygons are the 5 × 5
pixel blocks of one label in the WEST half of the patch (classes with at least 3 blocks). Objects are compared with the
majority label of their pixels: all of them, and those wholly in the east half (no training pixel). Also: the two-product path (the raw S2 and S1 products, each with its own dates, early fusion with linear
interpolation) and the refusals in one line."""

import numpy as np
import pytest
import rasterio
from click.testing import CliRunner

from antares.cli.main import cli
from helpers import belgium_s1_s2_monthly, db_rows, invoke_ok

SET_SIZE = 16
BLOCK = 5
PRODUCTS = "worldcereal-belgium/geotiff/products"


def _worldcereal_labels(data_dir):
    """(names (y, x) of str) on the 100 × 100 grid: the crop-type class inside the cropland mask, else no_cropland."""
    with rasterio.open(data_dir / PRODUCTS / "worldcereal_croptype_model_output.tif") as src:
        croptype, names = src.read(1), [d.removeprefix("probability_") for d in src.descriptions[2:]]
        transform = src.transform
    with rasterio.open(data_dir / PRODUCTS / "worldcereal_cropland_model_output.tif") as src:
        cropland = src.read(1)
    labels = np.where(cropland == 1, np.array(names, dtype=object)[croptype], "no_cropland")
    return labels, transform


@pytest.fixture(scope="module")
def be(settings, data_dir, tmp_path_factory):
    import geopandas as gpd
    import shapely

    tmp = tmp_path_factory.mktemp("bef")
    env = {"ANTARES_DB_URL": settings.db_url, "ANTARES_HOME": str(settings.home)}
    runner = CliRunner()
    product = belgium_s1_s2_monthly(runner, env, data_dir, tmp, "bef", terrain=False, tile_size=128)
    labels, transform = _worldcereal_labels(data_dir)
    rows = []
    for r in range(0, 100, BLOCK):
        for c in range(0, 50, BLOCK):  # the west half
            block = labels[r:r + BLOCK, c:c + BLOCK]
            if (block == block[0, 0]).all():
                x0, y0 = transform * (c, r)
                x1, y1 = transform * (c + BLOCK, r + BLOCK)
                rows.append((block[0, 0], shapely.box(x0, y1, x1, y0).buffer(-1)))  # pixel centres inside only
    frame = gpd.GeoDataFrame({"crop": [r[0] for r in rows]}, geometry=[r[1] for r in rows], crs="EPSG:32631")
    counts = frame.crop.value_counts()
    frame = frame[frame.crop.isin(counts[counts >= 3].index)]
    frame.to_file(tmp / "bef_train.gpkg")
    invoke_ok(runner, ["ingest_training", str(tmp / "bef_train.gpkg"), "--field", "crop", "--dataset", "bef_train"], env)
    # the patch is 1 km across and the training polygons are its west half: the default 1 km validation blocks would
    # hold out half of them (two blocks), so the early-stopping split is a stratified random one here (--val-spatial 0)
    fit = invoke_ok(runner, ["model_fit_timeseries", "-p", product, "-t", "bef_train", "--sensors", "s1,s2", "--fusion",
                             "pse", "-model", "pse_tae", "--set-size", str(SET_SIZE), "--name", "bef_pse", "--device",
                             "cpu", "--seed", "2", "-extra", "epochs=15", "-extra", "batch_size=16", "--val-spatial", "0",
                             "-sc", "sync"], env)
    invoke_ok(runner, ["segment", "--algorithm", "slic", "-p", product, "-b", "ndvi", "-b", "s1_vh", "-n", "bef_slic",
                       "--time", "2021-07-16", "--bbox", "664000", "5611120", "665000", "5612120", "--bbox-crs", "EPSG:32631",
                       "-extra", "n_segments=150", "-extra", "compactness=0.1", "-sc", "sync",
                       "--outdir", str(tmp / "seg")], env)
    return env, tmp, product, fit, frame, labels


def _settings(settings):
    from antares.config import load_settings

    return load_settings(flags={"db_url": settings.db_url, "home": str(settings.home)}, environ={})


def test_fit_stores_the_sensors_and_their_channels(settings, be):
    from antares.pipeline.train import load_model

    env, tmp, product, fit, frame, _ = be
    assert "model bef_pse: pse_tae fitted on" in fit.stdout
    assert f"x {SET_SIZE} pixel(s), s1 12 step(s) x 4 channel(s) of {product}; s2 12 step(s) x 10 channel(s)" in fit.stdout
    assert "fusion pse" in fit.stdout
    estimator, meta = load_model(_settings(settings), "bef_pse")
    assert meta["fusion"] == "pse" and meta["mode"] == "pse" and meta["origin"] == 2020
    layout = {g["sensor"]: g for g in meta["layout"]}
    assert layout["s1"]["channels"] == ["s1_vv", "s1_vh", "s1_vh_vv", "s1_rvi"]
    assert layout["s2"]["channels"] == ["blue", "green", "red", "re1", "nir", "swir1", "swir2", "ndvi", "ndwi", "ndbi"]
    # month centres, days since 1 January 2020: 2020-11-15/16 ... 2021-10-16
    assert layout["s1"]["days"] == layout["s2"]["days"] and len(layout["s2"]["days"]) == 12
    assert 319 <= layout["s2"]["days"][0] <= 320 and 654 <= layout["s2"]["days"][-1] <= 655
    assert sorted(estimator.config["sensors"]) == ["s1", "s2"]
    assert sum(meta["samples_per_class"].values()) == len(frame)
    shown = invoke_ok(CliRunner(), ["model", "show", "bef_pse"], env).output
    assert (f"pixel sets: {SET_SIZE} pixels drawn per polygon or object (seed 2) at s1 12 time(s) of {product}; s2 12 "
            f"time(s) of {product} (the same pixels in each)") in shown
    assert "architecture pse_tae, fusion pse (pse)" in shown


def test_predict_agrees_with_worldcereal_and_equals_an_independent_application(settings, be, data_dir):
    import geopandas as gpd

    from antares.deep.data import SensorSeries
    from antares.deep.pixelsets import draw_pixel_sets
    from antares.pipeline.inspect import load_product
    from antares.pipeline.train import load_model

    env, tmp, product, _, frame, wc = be
    runner = CliRunner()
    invoke_ok(runner, ["model_predict_object", "-p", product, "-m", "bef_pse", "-s", "bef_slic", "--name", "bef_map",
                       "-sc", "sync"], env)
    out = tmp / "bef_map.gpkg"
    invoke_ok(runner, ["db_to_vector", "-n", "bef_map", "-f", str(out)], env)
    exported = gpd.read_file(out, layer="bef_map")

    # independent re-application: the label raster and the product read here, the draw per sensor with numpy
    files = sorted((tmp / "seg").rglob("*.tif"))
    assert len(files) == 1  # one label tile: objects inside it, and objects on its border (gathered apart)
    with rasterio.open(files[0]) as src:
        labels, transform = src.read(1).astype(np.int64), src.transform
    assert labels.shape == (100, 100) and (transform.c, transform.f) == (664000, 5612120)
    data = load_product(_settings(settings), product)[0]
    xs, ys = transform.c + 5 + 10 * np.arange(100), transform.f - 5 - 10 * np.arange(100)
    data = data.sel(x=xs, y=ys)
    estimator, meta = load_model(_settings(settings), "bef_pse")
    border = np.unique(np.concatenate([labels[0], labels[-1], labels[:, 0], labels[:, -1]]))
    border = border[border > 0]
    expected = {}
    for mask in ((labels > 0) & ~np.isin(labels, border), np.isin(labels, border)):
        ids, index = np.unique(labels[mask], return_inverse=True)
        inputs = {}
        for g in meta["layout"]:
            values = np.stack([data[c].values[:, mask] for c in g["channels"]], axis=1)  # (T, C, m)
            sets, _ = draw_pixel_sets(index, values, len(ids), SET_SIZE, meta["seed"])
            inputs[g["sensor"]] = SensorSeries(sets, np.array(g["days"]), g["channels"])
        proba = estimator.predict_proba(inputs)
        for k, p in zip(ids, proba):
            expected[int(k)] = (int(estimator.classes_[np.argmax(p)]), float(p.max()))
    rows = db_rows(settings.db_url, "SELECT p.segment_id, p.class_code, p.confidence FROM antares.prediction p JOIN "
                   "antares.classification c ON c.id = p.classification_id WHERE c.name = 'bef_map' ORDER BY 1")
    assert [r[0] for r in rows] == sorted(expected) and len(rows) > 50
    for seg_id, code, confidence in rows:
        assert code == expected[seg_id][0]
        assert confidence == pytest.approx(expected[seg_id][1], rel=1e-5)

    # agreement with WorldCereal's labels (model output): each object's majority label over its pixels
    legend = {e["code"]: e["name"] for e in meta["legend"]}
    majority = {}
    for k in np.unique(labels[labels > 0]):
        names, counts = np.unique(wc[labels == k], return_counts=True)
        majority[int(k)] = names[np.argmax(counts)]
    ids = exported["segment_id"].astype(int).to_numpy()
    assert sorted(ids) == sorted(expected)
    predicted = exported["class"].astype(str).to_numpy()
    assert all(legend[expected[i][0]] == c for i, c in zip(ids, predicted))  # the export carries the predictions
    truth = np.array([majority[i] for i in ids])
    east = np.array([(np.nonzero(labels == i)[1] >= 50).all() for i in ids])  # objects without a training pixel
    lines = []
    for part, name in ((np.ones(len(ids), bool), "all objects"), (east, "objects in the east half (held out)")):
        names, counts = np.unique(truth[part], return_counts=True)
        agreement = float((predicted[part] == truth[part]).mean())
        majority_rate = float(counts.max() / counts.sum())
        lines.append(f"{name}: {int(part.sum())}, agreement with WorldCereal {agreement:.3f}, majority-class rate "
                     f"{majority_rate:.3f} ({names[np.argmax(counts)]}); per class: "
                     + ", ".join(f"{n} {int((truth[part] == n).sum())} objects, "
                                 f"{float((predicted[part][truth[part] == n] == n).mean()):.3f}" for n in names))
        assert part.sum() >= 20 and agreement > majority_rate, lines[-1]
    print("\nBelgium pse_tae s1+s2 pse fusion, " + "\n".join(lines))


def test_two_products_each_with_its_dates(settings, be):
    """The raw S2 (9 bands, uint16, two empty months) and S1 (VV, VH in dB) products: one sensor each, recognised by
    their measurement names; early fusion aligns S1 to the S2 dates (linear), with minimum-sequence sampling and the
    geometric features; prediction reads both products and classifies every object."""
    from antares.object_features import GEOMETRY_FEATURES
    from antares.pipeline.train import load_model

    env, tmp, product, _, frame, _ = be
    runner = CliRunner()
    fit = invoke_ok(runner, ["model_fit_timeseries", "-p", "bef_s2", "-p", "bef_s1", "-t", "bef_train", "--sensors",
                             "s1,s2", "--fusion", "early", "--interpolate", "linear", "-model", "ltae", "--set-size",
                             "8", "--min-temp-seq", "6", "--geometry", "--name", "bef_two", "--device", "cpu", "-extra", "epochs=2",
                             "-extra", "batch_size=32", "-sc", "sync"], env)
    assert "s1 12 step(s) x 2 channel(s) of bef_s1; s2 12 step(s) x 9 channel(s) of bef_s2; fusion early" in fit.stdout
    _, meta = load_model(_settings(settings), "bef_two")
    assert meta["params"]["min_temp_seq"] == 6 and meta["params"]["interpolate"] == "linear"
    assert meta["extra_features"] == list(GEOMETRY_FEATURES)  # with the cover ratio, at fit and at prediction
    assert [g["product"] for g in meta["layout"]] == ["bef_s1", "bef_s2"]
    invoke_ok(runner, ["model_predict_object", "-p", "bef_s2", "-m", "bef_two", "-s", "bef_slic", "--name", "bef_two_map",
                       "-sc", "sync"], env)
    n = db_rows(settings.db_url, "SELECT count(*) FROM antares.prediction p JOIN antares.classification c ON "
                "c.id = p.classification_id WHERE c.name = 'bef_two_map'")[0][0]
    objects = db_rows(settings.db_url, "SELECT count(*) FROM antares.segment s JOIN antares.segmentation g ON "
                      "g.id = s.segmentation_id WHERE g.name = 'bef_slic'")[0][0]
    assert n == objects


def test_refusals_in_one_line(settings, be):
    env, tmp, product, *_ = be
    runner = CliRunner()
    fits = [
        (["-p", product, "--sensors", "s2", "--fusion", "pse"], 2, "--fusion pse needs two sensors (--sensors s1,s2); got s2."),
        (["-p", "bef_s2", "--sensors", "s1,s2", "--fusion", "tsa"], 2, "product bef_s2 has no s1 measurement"),
        (["-p", "bef_s2", "-p", product, "--sensors", "s1,s2", "--fusion", "tsa"], 2, "both look like s2 products"),
        (["-p", product, "--sensors", "s1,s2", "--fusion", "tsa", "--sensor-measurements", "s1=vv"], 1,
         "has no measurement vv (--sensor-measurements s1)"),
        (["-p", "bef_s2", "-p", "s1=bef_no_s1", "--sensors", "s1,s2", "--fusion", "tsa"], 1, "bef_no_s1"),
    ]
    for args, code, fragment in fits:
        result = runner.invoke(cli, ["model_fit_timeseries", *args, "-t", "bef_train", "-model", "pse_tae", "--name",
                                     "bef_bad", "-sc", "sync"], env=env)
        assert result.exit_code == code and fragment in result.stderr and result.stderr.count("\n") == 1, \
            (args, result.output)
    assert not db_rows(settings.db_url, "SELECT 1 FROM antares.model WHERE name = 'bef_bad'")
    other = runner.invoke(cli, ["model_predict_object", "-p", "bef_s2", "-m", "bef_pse", "-s", "bef_slic", "--name",
                                "bef_bad_map", "-sc", "sync"], env=env)
    assert other.exit_code == 1 and other.stderr.count("\n") == 1, other.output
    assert "bef_s2" in other.stderr
    steps = runner.invoke(cli, ["model_predict_object", "-p", product, "-m", "bef_pse", "-s", "bef_slic", "--name",
                                "bef_bad_map", "-b", "2021-01-01", "-e", "2021-10-31", "-sc", "sync"], env=env)
    assert steps.exit_code == 1 and steps.stderr.count("\n") == 1, steps.output
    assert "was trained on s2 steps at days" in steps.stderr or "was trained on s1 steps at days" in steps.stderr
    assert not db_rows(settings.db_url, "SELECT 1 FROM antares.classification WHERE name = 'bef_bad_map'")
