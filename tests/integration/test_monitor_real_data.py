"""``antares monitor`` on the real Romania series (140 dates) equals nrt run directly on the same array.

The nrt package's own 10 m cube (../shared/data/nrt-romania-s2l2a/original) is indexed in place; a
40 x 40 pixel crop is monitored through the CLI, and independently the NetCDF is read with xarray,
NDVI computed with numpy from the same float32 reflectance and SCL classes, and nrt's EWMA / CuSum
fitted and monitored date by date as its documentation does. Break dates must be identical.
"""

from __future__ import annotations

import datetime as dt
import warnings

import numpy as np
import pytest
import xarray as xr

from antares.cli.main import cli
from antares.cube.index import connect

CUBE = "nrt-romania-s2l2a/original/sentinel2_cube_subset_romania_10m.nc"
HISTORY = ("2016-01-01", "2018-12-31")
MONITORING = ("2019-01-01", "2020-12-31")
KEEP = [4, 5, 6, 7]
# 40 x 40 pixels of the 100 x 100 cube, in its CRS (EPSG:3035)
BBOX = ["5272183", "2532405", "5272582", "2532804"]


@pytest.fixture(scope="module")
def cube(settings, data_dir):
    from click.testing import CliRunner

    env = {"ANTARES_DB_URL": settings.db_url}
    result = CliRunner().invoke(cli, ["index", "--dataset_name", "netcdf", "--path", str(data_dir / CUBE),
                                 "--product", "mon_nrt", "--bands", "B04,B08,SCL"], env=env)
    assert result.exit_code == 0, result.output
    return "mon_nrt"


def _monitor(runner, settings, tmp_path, name, *extra):
    args = ["monitor", "-p", "mon_nrt", "--index", "ndvi", "--history", *HISTORY, "--monitor", *MONITORING,
            "-n", name, "--bbox", *BBOX, "--bbox-crs", "EPSG:3035", "-sc", "sync", "--outdir", str(tmp_path / name),
            *extra]
    return runner.invoke(cli, args, env={"ANTARES_DB_URL": settings.db_url})


def _load(settings, name):
    dc = connect(settings.db_url)
    try:
        return dc.load(product=name).isel(time=0)
    finally:
        dc.close()


def _ndvi_from_netcdf(data_dir, x, y):
    """NDVI (time, y, x) float32 of the pixels centred at ``x``, ``y``, NaN unless SCL is kept (numpy only)."""
    with xr.open_dataset(data_dir / CUBE) as ds:
        ds = ds.sel(x=x, y=y, method="nearest", tolerance=1.0).load()
    scale = np.float32(1e-4)  # the DN scale the product declares (reflectance x 10000)
    red, nir = (np.where(ds[b].values == 0, np.nan, ds[b].values.astype(np.float32) * scale).astype(np.float32)
                for b in ("B4", "B8"))
    with np.errstate(divide="ignore", invalid="ignore"):
        ndvi = ((nir - red) / (nir + red)).astype(np.float32)
    ndvi[~np.isin(ds.SCL.values, KEEP)] = np.nan
    return ndvi, ds.time.values


def _nrt_directly(cls, ndvi, times, fit_kwargs, **init):
    """nrt's documented loop: fit on the history, monitor each later date; (mask, detection_date)."""
    days = times.astype("datetime64[D]")
    history = (days >= np.datetime64(HISTORY[0])) & (days <= np.datetime64(HISTORY[1]))
    monitoring = (days >= np.datetime64(MONITORING[0])) & (days <= np.datetime64(MONITORING[1]))
    h, w = ndvi.shape[1:]
    array = xr.DataArray(ndvi[history], dims=("time", "y", "x"),
                         coords={"time": times[history], "y": np.arange(h), "x": np.arange(w)})
    model = cls(**init)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model.fit(array, **fit_kwargs)
        for when, layer in zip(times[monitoring], ndvi[monitoring]):
            model.monitor(layer, dt.datetime.fromisoformat(str(when)[:19]))
    return model.mask, model.detection_date


@pytest.mark.parametrize("method, extra, cls, fit_kwargs, init", [
    ("ewma", ["-extra", "sensitivity=4"], "nrt.monitor.ewma:EWMA",
     {"method": "OLS", "screen_outliers": "Shewhart", "L": 5}, {"sensitivity": 4.0}),
    ("cusum", ["-extra", "sensitivity=0.1"], "nrt.monitor.cusum:CuSum", {"method": "ROC", "alpha": 0.05},
     {"sensitivity": 0.1}),
])
def test_monitor_equals_nrt_on_the_same_array(settings, runner, data_dir, cube, tmp_path, method, extra, cls,
                                              fit_kwargs, init):
    import importlib

    name = f"mon_{method}"
    result = _monitor(runner, settings, tmp_path, name, "--method", method, *extra)
    assert result.exit_code == 0, result.output
    assert f"1 tile(s) written and indexed into {name}" in result.stdout
    out = _load(settings, name)
    assert out.break_date.shape == (40, 40)
    ndvi, times = _ndvi_from_netcdf(data_dir, out.x.values, out.y.values)
    module, _, attribute = cls.partition(":")
    mask, detection = _nrt_directly(getattr(importlib.import_module(module), attribute), ndvi, times, fit_kwargs, **init)
    history_count = np.isfinite(ndvi[(times >= np.datetime64(HISTORY[0])) & (times < np.datetime64("2019-01-01"))]).sum(0)
    expected_state = np.where(history_count > 0, mask, 0)
    assert np.array_equal(out.state.values, expected_state)
    expected_date = np.where(mask == 3, detection, 0)
    assert np.array_equal(out.break_date.values, expected_date)
    broken = expected_date > 0
    assert 0 < broken.sum() < broken.size  # some breaks, not everywhere: the comparison means something
    assert np.array_equal(out.history_count.values, history_count)
    # year and day of year of the break, by the standard library
    for row, col in zip(*np.nonzero(broken)):
        date = dt.date(1970, 1, 1) + dt.timedelta(days=int(expected_date[row, col]))
        assert (out.break_year.values[row, col], out.break_doy.values[row, col]) == (date.year, date.timetuple().tm_yday)
        assert MONITORING[0] <= date.isoformat() <= MONITORING[1]
    assert np.isfinite(out.magnitude.values[broken]).all() and np.isnan(out.magnitude.values[~broken]).all()
    # a re-run finds the tile done and changes nothing
    again = _monitor(runner, settings, tmp_path, name, "--method", method, *extra)
    assert again.exit_code == 0, again.output
    assert "0 tile(s) written" in again.stdout and "1 already done" in again.stdout


def test_monitor_refuses_bad_input_and_writes_nothing(settings, runner, cube, tmp_path):
    dc = connect(settings.db_url)
    try:
        before = {p.name for p in dc.index.products.get_all()}
    finally:
        dc.close()
    # a history of two months: 4 dates, fewer than the 9 EWMA with trend + 2 harmonics needs
    short = runner.invoke(cli, ["monitor", "-p", "mon_nrt", "--history", "2018-06-01", "2018-07-31", "--monitor",
                                *MONITORING, "-n", "mon_short", "--bbox", *BBOX, "--bbox-crs", "EPSG:3035", "-sc", "sync",
                                "--outdir", str(tmp_path / "short")], env={"ANTARES_DB_URL": settings.db_url})
    assert short.exit_code == 1, short.output
    assert "needs at least 9 clear observations per pixel" in short.output and "Traceback" not in short.output
    unknown = _monitor(runner, settings, tmp_path, "mon_unknown", "--index", "nosuch")
    assert unknown.exit_code == 2 and "unknown index 'NOSUCH'" in unknown.output, unknown.output
    method = _monitor(runner, settings, tmp_path, "mon_method", "--method", "bfast")
    assert method.exit_code == 2 and "valid methods: ewma, cusum, mosum, ccdc, iqr" in method.output, method.output
    late = runner.invoke(cli, ["monitor", "-p", "mon_nrt", "--history", *HISTORY, "--monitor", "2023-01-01",
                               "2023-12-31", "-n", "mon_late", "--bbox", *BBOX, "--bbox-crs", "EPSG:3035", "-sc", "sync",
                               "--outdir", str(tmp_path / "late")], env={"ANTARES_DB_URL": settings.db_url})
    assert late.exit_code == 1 and "no dataset of mon_nrt in the monitoring period" in late.output, late.output
    assert "from 2015-08-01 to 2021-01-01" in late.output
    overlap = runner.invoke(cli, ["monitor", "-p", "mon_nrt", "--history", *HISTORY, "--monitor", "2018-06-01",
                                  "2020-12-31", "-n", "mon_overlap", "--bbox", *BBOX, "--bbox-crs", "EPSG:3035",
                                  "--outdir", str(tmp_path / "overlap")], env={"ANTARES_DB_URL": settings.db_url})
    assert overlap.exit_code == 1 and "must begin after --history" in overlap.output, overlap.output
    dc = connect(settings.db_url)
    try:
        assert {p.name for p in dc.index.products.get_all()} == before
    finally:
        dc.close()
    assert not any((tmp_path / d).exists() and any((tmp_path / d).iterdir())
                   for d in ("short", "mon_unknown", "mon_method", "late", "overlap"))


def test_objects_of_a_segmentation_are_summarised(settings, runner, cube, tmp_path):
    """-s: per object, pixels with a break and the first break date, equal to a pandas group-by of the rasters."""
    import pandas as pd

    env = {"ANTARES_DB_URL": settings.db_url}
    seg = runner.invoke(cli, ["segment", "-a", "slic", "-p", "mon_nrt", "-b", "B04", "-b", "B08", "--time", "2018-07-01", "-extra", "n_segments=25", "-extra", "compactness=10",
                              "-n", "mon_seg", "--bbox", *BBOX, "--bbox-crs", "EPSG:3035", "-sc", "sync",
                              "--outdir", str(tmp_path / "seg")], env=env)
    assert seg.exit_code == 0, seg.output
    table = tmp_path / "objects.csv"
    result = _monitor(runner, settings, tmp_path, "mon_objects", "--method", "ewma", "-extra", "sensitivity=4",
                      "-s", "mon_seg", "--table", str(table))
    assert result.exit_code == 0, result.output
    assert f"with a break; table written to {table}" in result.output
    got = pd.read_csv(table, keep_default_na=False)
    out = _load(settings, "mon_objects")
    dc = connect(settings.db_url)
    try:
        labels = dc.load(product="mon_seg", like=out.odc.geobox).segment_id.isel(time=0).values
    finally:
        dc.close()
    frame = pd.DataFrame({"segment_id": labels.ravel(), "state": out.state.values.ravel(),
                          "day": out.break_date.values.ravel()})
    frame = frame[frame.segment_id > 0]
    frame["broken"] = frame.state == 3
    expected = frame.groupby("segment_id").agg(pixels=("state", "size"), breaks=("broken", "sum"),
                                               monitored=("state", lambda s: int(s.isin([1, 3]).sum())))
    first = frame[frame.broken].groupby("segment_id").day.min()
    assert list(got.segment_id) == list(expected.index) and len(got) > 5
    assert list(got.pixels) == list(expected.pixels) and list(got.breaks) == list(expected.breaks)
    assert list(got.monitored) == list(expected.monitored)
    want_first = [str(np.datetime64("1970-01-01") + np.timedelta64(int(first[i]), "D")) if i in first.index else ""
                  for i in expected.index]
    assert list(got.first_break) == want_first
    assert np.allclose(got.break_share, got.breaks / got.monitored, atol=1e-6)
    assert (got.breaks > 0).any() and (got.break_share < 1).all()  # objects partly broken: counts mean something
    missing = _monitor(runner, settings, tmp_path, "mon_objects2", "-s", "no_such_segmentation")
    assert missing.exit_code == 1 and "segmentation 'no_such_segmentation' has no label product" in missing.output
