"""Two sensors on the cube path (issue 19): channel groups of one product or two products, pixel sets drawn at the
same positions in every sensor, a common day origin, minimum-sequence sampling, and the refusals of the request."""

import numpy as np
import pytest

from antares.errors import InvalidInputError, UsageError

S1S2_MONTHLY = ["blue", "green", "red", "re1", "nir", "swir1", "swir2", "ndvi", "ndwi", "ndbi", "s1_vv", "s1_vh",
                "s1_vh_vv", "s1_rvi", "elevation", "slope", "clear_count", "filled"]


def test_channel_groups_of_the_s1_s2_monthly_product():
    from antares.deep.sensors import sensor_channels

    groups = sensor_channels(["s1", "s2"], [("be_monthly", S1S2_MONTHLY)])
    assert [g["sensor"] for g in groups] == ["s1", "s2"] and {g["product"] for g in groups} == {"be_monthly"}
    assert groups[0]["channels"] == ["s1_vv", "s1_vh", "s1_vh_vv", "s1_rvi"]
    assert groups[1]["channels"] == [m for m in S1S2_MONTHLY if not m.startswith("s1_") and m not in ("clear_count", "filled")]
    mapped = sensor_channels(["s2", "s1"], [("p", S1S2_MONTHLY)], (("s1", ("s1_vh", "s1_vv")), ("s2", ("red", "nir"))))
    assert [g["channels"] for g in mapped] == [["red", "nir"], ["s1_vh", "s1_vv"]]


def test_two_products_are_recognised_by_their_measurements_or_named():
    from antares.deep.sensors import sensor_channels

    groups = sensor_channels(["s1", "s2"], [("s2p", ["B02", "B04", "B08"]), ("s1p", ["VV_dB", "VH_dB"])])
    assert [(g["sensor"], g["product"], g["channels"]) for g in groups] == [
        ("s1", "s1p", ["VV_dB", "VH_dB"]), ("s2", "s2p", ["B02", "B04", "B08"])]
    named = sensor_channels(["s1", "s2"], [("s2=a", ["x"]), ("s1=b", ["y"])])
    assert [(g["sensor"], g["product"]) for g in named] == [("s1", "b"), ("s2", "a")]
    with pytest.raises(UsageError, match="both look like s2 products"):
        sensor_channels(["s1", "s2"], [("a", ["red"]), ("b", ["nir"])])


def test_channel_group_refusals_name_the_product_and_its_measurements():
    from antares.deep.sensors import parse_sensor_measurements, sensor_channels

    with pytest.raises(UsageError, match=r"product ndvi_monthly has no s1 measurement .* its measurements: ndvi"):
        sensor_channels(["s1", "s2"], [("ndvi_monthly", ["ndvi"])])
    with pytest.raises(InvalidInputError, match="product p has no measurement vv"):
        sensor_channels(["s1", "s2"], [("p", ["red", "s1_vh"])], (("s1", ("vv",)),))
    assert parse_sensor_measurements("s1=vv, vh; s2=red") == (("s1", ("vv", "vh")), ("s2", ("red",)))
    assert parse_sensor_measurements(None) is None
    for bad in ("s3=a", "s1", "s1=a;s1=b", "s1="):
        with pytest.raises(UsageError, match="--sensor-measurements must read like"):
            parse_sensor_measurements(bad)


def test_sensor_sets_are_drawn_at_the_same_pixels_and_equal_single_draws():
    from antares.deep.pixelsets import draw_pixel_sets, draw_sensor_sets

    rng = np.random.default_rng(1)
    n, size = 6, 4
    index = rng.permutation(np.repeat(np.arange(n), [1, 2, 4, 7, 0, 12]))
    m = len(index)
    s2 = rng.normal(size=(5, 3, m))
    s1 = rng.normal(size=(8, 2, m))
    s2[0, 0] = s1[0, 0] = np.arange(m)  # the pixel's column, to trace the draw
    (a, b), counts = draw_sensor_sets(index, [s2, s1], n, size, seed=9)
    assert a.shape == (n, 5, 3, size) and b.shape == (n, 8, 2, size)
    np.testing.assert_array_equal(counts, np.bincount(index, minlength=n))
    np.testing.assert_array_equal(a[:, 0, 0], b[:, 0, 0])  # the same pixel positions in both sensors
    np.testing.assert_array_equal(a, draw_pixel_sets(index, s2, n, size, 9)[0])  # and the draw of one sensor alone
    np.testing.assert_array_equal(b, draw_pixel_sets(index, s1, n, size, 9)[0])
    assert np.isnan(a[4]).all() and np.isnan(b[4]).all()


def test_two_products_share_one_day_origin():
    from antares.deep.pixelsets import series_days

    s1 = np.array(["2020-12-15", "2021-01-15"], "datetime64[ns]")
    assert series_days(s1).tolist() == [349, 380]
    assert series_days(np.array(["2021-01-15"], "datetime64[ns]"), origin=2020).tolist() == [380]


def _labelled(n=36, t=8):
    from antares.deep.data import SensorSeries

    rng = np.random.default_rng(0)
    y = np.repeat([1, 2, 3], n // 3)
    values = rng.normal(size=(n, t, 3, 4)).astype(np.float32) + y[:, None, None, None]
    return {"s2": SensorSeries(values, np.arange(t) * 30 + 15, ["a", "b", "c"])}, y


def test_min_temp_seq_keeps_n_random_dates_per_training_sample(monkeypatch):
    """Every training sample sees N of the T dates (sorted, a subset of the model's), drawn anew per sample (as the
    reference's PixelSetData.__getitem__), with the pixel values of those dates; the validation passes and
    prediction see all T."""
    import torch

    import antares.deep.layers as layers
    from antares.deep.data import SensorSeries
    from antares.models.registry import make_estimator

    seen, inputs = [], []
    original = layers.positional_encoding

    def recording(days, dim, period=1000.0):
        seen.append(days.detach().cpu().numpy().copy())
        return original(days, dim, period)

    monkeypatch.setattr(layers, "positional_encoding", recording)
    sets, y = _labelled()
    all_days = sets["s2"].days
    # channel "a" holds each date's day number (+ a per-sample offset), so the kept values name the kept dates
    values = sets["s2"].values.copy()
    values[:, :, 0, :] = all_days[None, :, None] + np.arange(len(y))[:, None, None] * 1000
    sets = {"s2": SensorSeries(values, all_days, sets["s2"].channels)}
    params = {"epochs": 3, "batch_size": 8, "patience": 5, "min_temp_seq": 3}
    model = make_estimator("pse_tae", params, seed=0)
    hook = layers.PixelSetEncoder.forward

    def keep_input(module, x, extra=None):
        inputs.append(x.detach().cpu().numpy().copy())
        return hook(module, x, extra)

    monkeypatch.setattr(layers.PixelSetEncoder, "forward", keep_input)
    model.fit(sets, y)
    mean, std = model.config["inputs"][0]["mean"][0], model.config["inputs"][0]["std"][0]
    short = [(d, x) for d, x in zip(seen, inputs) if d.ndim == 2]
    full = [d for d in seen if d.ndim == 1]
    assert len(short) + len(full) == len(seen) == len(inputs) and len(full) == 3  # one validation pass per epoch
    assert all(len(d) == len(all_days) for d in full)
    assert len(short) >= 9  # 29 training samples in batches of 8, 3 epochs
    rows = []
    for d, x in short:
        assert d.shape == (len(x), 3) and x.shape[1] == 3
        raw = x[:, :, 0, :] * std + mean  # the kept values of channel a: day + 1000 * sample
        np.testing.assert_allclose(np.mod(raw, 1000), np.broadcast_to(d[:, :, None], raw.shape), atol=0.05)
        for row in d:
            assert np.all(np.diff(row) > 0) and set(row.tolist()) <= set(all_days.tolist())
        rows += [tuple(r) for r in d]
        assert len({tuple(r) for r in d}) > 1 or len(d) < 3  # drawn per sample within a batch
    assert len(set(rows)) > 10  # of the C(8, 3) = 56 possible
    seen.clear()
    with torch.no_grad():
        assert model.predict_proba(sets).shape == (len(y), 3) and seen and all(d.ndim == 1 and len(d) == len(all_days) for d in seen)
    same = make_estimator("pse_tae", params, seed=0).fit(sets, y)
    np.testing.assert_array_equal(same.predict_proba(sets), model.predict_proba(sets))  # seeded


@pytest.mark.parametrize("fields, message", [
    ({"sensors": ("s2",), "fusion": "pse"}, "--fusion pse needs two sensors (--sensors s1,s2); got s2."),
    ({"fusion": "early"}, "--fusion early needs two sensors (--sensors s1,s2); got one product as one input."),
    ({"sensors": ("s1", "s2")}, "two sensors need --fusion early, pse, tsa or decision."),
    ({"sensors": ("s1", "s3"), "fusion": "pse"}, "--sensors must be s2, s1 or s1,s2."),
    ({"products": ("s1p",)}, "a second product (-p) is the other sensor's"),
    ({"kind": "tempcnn", "sensors": ("s1", "s2"), "fusion": "pse"}, "tempcnn has no pixel-set encoder"),
    ({"kind": "tempcnn", "min_temp_seq": 3}, "tempcnn takes a fixed number of dates"),
    ({"min_temp_seq": 0}, "--min-temp-seq must be an int >= 1. Got 0."),
    ({"extra": ("fusion=pse",)}, "not -extra"),
])
def test_fit_request_refusals(fields, message):
    from antares.pipeline.fit_pixelsets import PixelSetFitRequest

    base = {"kind": "pse_tae", "product": "p", "training_set": "t", "name": "m"}
    with pytest.raises(UsageError) as info:
        PixelSetFitRequest(**{**base, **fields})
    assert message in str(info.value) and "\n" not in str(info.value)


def test_fit_request_with_two_sensors_sets_the_fusion_parameters():
    from antares.pipeline.fit_pixelsets import PixelSetFitRequest, _params

    r = PixelSetFitRequest("ltae", "s2p", "t", "m", sensors=("s1", "s2"), fusion="early", interpolate="linear",
                           products=("s1p",), min_temp_seq=4)
    p = _params(r)
    assert (p["fusion"], p["interpolate"], p["min_temp_seq"]) == ("early", "linear", 4)


def test_cover_ratio_equals_pixel_counts_and_shapely():
    """The cover ratio of a polygonized pixel object equals its pixel count over its bounding box's pixel count
    (numpy), and area / envelope area of shapely for drawn shapes; the other columns are shape_features'."""
    import shapely
    from rasterio.features import shapes
    from rasterio.transform import from_origin

    from antares.object_features import GEOMETRY_FEATURES, SHAPE_FEATURES, geometry_features, shape_features

    rng = np.random.default_rng(4)
    transform = from_origin(500000, 4000000, 10, 10)
    geoms, expected = [], []
    for _ in range(12):
        mask = np.zeros((30, 30), np.uint8)
        r0, c0 = rng.integers(0, 10, 2)
        h, w = rng.integers(3, 15, 2)
        mask[r0:r0 + h, c0:c0 + w] = 1
        cut = rng.integers(0, h), rng.integers(0, w)  # an L: a corner taken out
        mask[r0:r0 + cut[0], c0:c0 + cut[1]] = 0
        polys = [shapely.geometry.shape(g) for g, v in shapes(mask, mask=mask.astype(bool), transform=transform)
                 if v == 1]
        assert len(polys) == 1
        rows, cols = np.nonzero(mask)
        expected.append(mask.sum() / ((np.ptp(rows) + 1) * (np.ptp(cols) + 1)))
        geoms.append(polys[0])
    table = geometry_features(np.array(geoms + [None], dtype=object))
    assert table.shape == (13, len(GEOMETRY_FEATURES)) and GEOMETRY_FEATURES[-1] == "cover_ratio"
    np.testing.assert_allclose(table[:12, -1], expected, rtol=1e-12)
    np.testing.assert_array_equal(table[:12, :5], shape_features(np.array(geoms, dtype=object)))
    assert np.isnan(table[12]).all()
    disc = shapely.Point(0, 0).buffer(100, quad_segs=256)
    assert geometry_features([disc], ["cover_ratio"])[0, 0] == pytest.approx(np.pi / 4, rel=1e-4)
    rotated = shapely.affinity.rotate(shapely.box(0, 0, 40, 10), 45)
    assert geometry_features([rotated], ["cover_ratio", "area"])[0].tolist() == pytest.approx(
        [400 / shapely.envelope(rotated).area, 400])
    np.testing.assert_array_equal(geometry_features(geoms, SHAPE_FEATURES), shape_features(np.array(geoms, dtype=object)))
    with pytest.raises(InvalidInputError, match="unknown geometric feature"):
        geometry_features(geoms, ["roundness"])


def test_the_python_request_blocks_validation_by_default_as_the_cli():
    from antares.deep.pixelsets import DEFAULT_VALIDATION_BLOCK
    from antares.pipeline.fit_pixelsets import PixelSetFitRequest

    assert PixelSetFitRequest("ltae", "p", "t", "m").validation_block == DEFAULT_VALIDATION_BLOCK == 1000.0
    assert PixelSetFitRequest("ltae", "p", "t", "m", validation_block=None).validation_block is None
