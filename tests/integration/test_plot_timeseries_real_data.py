"""``antares plot timeseries`` on 14 real Romania L2A dates (10 m bands + SCL, clear and cloudy ones).

The plotted values are compared with the GeoTIFFs read at the point with rasterio and pyproj,
and the masking with the SCL files' classes.
"""

import numpy as np
import pytest
from click.testing import CliRunner

from helpers import invoke_ok

DATES = ["2018-01-07", "2018-02-16", "2018-03-13", "2018-03-28", "2018-04-12", "2018-04-27", "2018-05-07",
         "2018-05-12", "2018-05-22", "2018-05-27", "2018-06-06", "2018-06-11", "2018-07-01", "2018-07-06"]
POINT = (22.1525, 45.2046)


@pytest.fixture(scope="module")
def ro_dates(settings, data_dir, tmp_path_factory):
    from click.testing import CliRunner

    tmp = tmp_path_factory.mktemp("plot")
    root = tmp / "ro" / "10m"
    root.mkdir(parents=True)
    for day in DATES:  # a layout of its own: 14 of the 140 dates, 10 m only, as links to the real files
        (root / day).mkdir()
        for band in (data_dir / "nrt-romania-s2l2a" / "geotiff" / "10m" / day).iterdir():
            (root / day / band.name).symlink_to(band)
    env = {"ANTARES_DB_URL": settings.db_url, "ANTARES_HOME": str(settings.home)}
    invoke_ok(CliRunner(), ["index", "--path", str(tmp / "ro"), "--dataset_name", "s2_bands", "--product", "plot_ro"], env)
    invoke_ok(CliRunner(), ["segment", "--algorithm", "slic", "-p", "plot_ro", "-b", "B04", "-b", "B08", "-n", "plot_slic",
                            "--time", "2018-07-01", "--bbox", "22.14", "45.19", "22.17", "45.22", "-sc", "sync",
                            "--outdir", str(tmp / "seg")], env)
    return env, tmp, root


def _at_point(path, lon, lat):
    import rasterio
    from pyproj import Transformer

    with rasterio.open(path) as src:
        x, y = Transformer.from_crs(4326, src.crs, always_xy=True).transform(lon, lat)
        row, col = src.index(x, y)
        return src.read(1)[row, col]


def test_plotted_values_equal_the_files_at_the_point(settings, ro_dates):
    from antares.config import load_settings
    from antares.pipeline.plot import plot_timeseries

    _, tmp, root = ro_dates
    s = load_settings(flags={"db_url": settings.db_url, "home": str(settings.home)}, environ={})
    report = plot_timeseries(s, "plot_ro", tmp / "ts.png", POINT, measurements=["B04", "B08"])
    assert (tmp / "ts.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert [str(t)[:10] for t in report.times] == DATES
    scl = np.array([_at_point(root / d / "SCL.tif", *POINT) for d in DATES])
    clear = np.isin(scl, [4, 5, 6, 7])
    assert 3 <= clear.sum() <= len(DATES) - 3  # both kinds at this point
    lines = {line.get_label(): line for ax in report.figure.axes for line in ax.get_lines()}
    for band in ("B04", "B08"):
        expected = np.array([_at_point(root / d / f"{band}.tif", *POINT) for d in DATES], dtype=np.float64)
        got = lines[f"{band} clear"]
        np.testing.assert_array_equal(np.asarray(got.get_ydata(), float), expected[clear])
        assert [str(np.datetime64(t, "D")) for t in got.get_xdata()] == [d for d, c in zip(DATES, clear) if c]
        masked = [line for line in got.axes.get_lines() if line.get_label().startswith("masked: SCL ")]
        assert sorted(v for line in masked for v in line.get_ydata()) == sorted(expected[~clear])
    assert all((r == "") == bool(c) for r, c in zip(report.reasons, clear))
    assert all(r.startswith(f"SCL {code} ") for r, code in zip(report.reasons, scl) if r)


def test_plot_timeseries_cli_and_bad_inputs(settings, ro_dates):
    from antares.cli.main import cli
    from click.testing import CliRunner

    env, tmp, _ = ro_dates
    runner = CliRunner()
    ok = invoke_ok(runner, ["plot", "timeseries", "-p", "plot_ro", "--point", *map(str, POINT), "--measurement", "B08",
                            "-f", str(tmp / "ts.svg")], env)
    assert f"wrote {tmp / 'ts.svg'}: 14 date(s)" in ok.output and "<svg" in (tmp / "ts.svg").read_text()
    outside = runner.invoke(cli, ["plot", "timeseries", "-p", "plot_ro", "--point", "13.0", "52.0",
                                  "-f", str(tmp / "out.png")], env=env)
    assert outside.exit_code == 1 and outside.stderr.count("\n") == 1
    assert "is outside product plot_ro" in outside.stderr and not (tmp / "out.png").exists()
    ext = runner.invoke(cli, ["plot", "timeseries", "-p", "plot_ro", "--point", *map(str, POINT),
                              "-f", str(tmp / "out.xyz")], env=env)
    assert ext.exit_code == 2 and "matplotlib cannot write a .xyz" in ext.stderr and ext.stderr.count("\n") == 1
    assert not list(tmp.glob("out*")) and not list(tmp.glob(".*.tmp"))


def test_object_series_is_the_mean_of_its_clear_pixels(settings, ro_dates):
    import rasterio
    from rasterio.windows import from_bounds

    from antares.cli.main import cli
    from antares.config import load_settings
    from antares.pipeline.plot import plot_timeseries

    env, tmp, root = ro_dates
    label_file = sorted((tmp / "seg").rglob("*.tif"))[0]
    with rasterio.open(label_file) as src:
        labels, bounds = src.read(1), src.bounds
    ids, counts = np.unique(labels[labels > 0], return_counts=True)
    oid = int(ids[np.argmax(counts)])
    s = load_settings(flags={"db_url": settings.db_url, "home": str(settings.home)}, environ={})
    report = plot_timeseries(s, "plot_ro", tmp / "obj.png", segment=("plot_slic", oid), measurements=["B08"])
    expected, clear_days = [], []
    for day in DATES:
        with rasterio.open(root / day / "B08.tif") as b, rasterio.open(root / day / "SCL.tif") as c:
            window = from_bounds(*bounds, transform=b.transform)
            nir = b.read(1, window=window)[labels == oid].astype(np.float64)
            scl = c.read(1, window=from_bounds(*bounds, transform=c.transform))[labels == oid]
        clear = np.isin(scl, [4, 5, 6, 7]) & (nir != 0)
        if clear.any():
            expected.append(nir[clear].mean())
            clear_days.append(day)
    assert 0 < len(clear_days) < len(DATES)
    line = next(ln for ln in report.figure.axes[0].get_lines() if ln.get_label() == "B08 clear")
    np.testing.assert_allclose(np.asarray(line.get_ydata(), float), expected, rtol=1e-12)
    assert [str(np.datetime64(t, "D")) for t in line.get_xdata()] == clear_days
    assert [d for d, r in zip(DATES, report.reasons) if r == ""] == clear_days
    runner = CliRunner()
    missing = runner.invoke(cli, ["plot", "timeseries", "-p", "plot_ro", "-s", "plot_slic", "--object", "999999",
                                  "-f", str(tmp / "none.png")], env=env)
    assert missing.exit_code == 1 and missing.stderr.count("\n") == 1
    assert "object 999999 is not in segmentation plot_slic (its object ids run from 1 to " in missing.stderr
    assert not (tmp / "none.png").exists()
