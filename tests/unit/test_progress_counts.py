"""Progress that moves: the ``progress(done, total)`` calls of the preparers and of model fitting, and the bar drawn."""

import io

import numpy as np
import pytest


def _write_band(path, value: int, corrupt: bool = False):
    import rasterio
    from rasterio.transform import from_origin

    path.parent.mkdir(parents=True, exist_ok=True)
    if corrupt:
        path.write_bytes(b"II*\x00 not a GeoTIFF")
        return
    data = np.full((8, 8), value, np.uint16)
    with rasterio.open(path, "w", driver="GTiff", width=8, height=8, count=1, dtype="uint16", nodata=0,
                       crs="EPSG:32633", transform=from_origin(500000, 5800000, 10, 10)) as dst:
        dst.write(data, 1)


PRODUCT = {"name": "p", "metadata_type": "eo3",
           "measurements": [{"name": "B02", "dtype": "uint16", "nodata": 0, "units": "1"}]}


def test_preparer_reports_every_dataset_found_failed_or_not(tmp_path):
    from antares.prepare import get_preparer

    for day in (1, 2, 3):
        _write_band(tmp_path / f"2018-01-0{day}" / "B02.tif", day)
    _write_band(tmp_path / "2018-01-04" / "B02.tif", 0, corrupt=True)  # found, then refused
    calls = []
    result = get_preparer("s2_bands").run(tmp_path, PRODUCT, "p", progress=lambda d, t: calls.append((d, t)))
    assert len(result.documents) == 3 and len(result.failures) == 1, result.failures
    assert calls == [(1, 4), (2, 4), (3, 4), (4, 4)]  # one call per dataset, the failed one included


def test_fit_model_reports_each_fold_of_each_grid_combination_then_the_final_fit():
    from antares.models.fitting import fit_count, fit_model

    rng = np.random.default_rng(0)
    y = np.repeat([1, 2], 30)
    X = rng.normal(size=(60, 3)) + y[:, None]
    calls = []
    outcome = fit_model("rf", X, y, cv=3, grid={"n_estimators": [5, 10]}, seed=0,
                        progress=lambda d, t: calls.append((d, t)))
    assert len(outcome.grid) == 2 and outcome.cv["k"] == 3
    assert fit_count(3, {"n_estimators": [5, 10]}) == 2 * 3 + 1
    assert calls == [(i, 7) for i in range(1, 8)]
    calls.clear()
    fit_model("rf", X, y, cv=4, params={"n_estimators": 5}, progress=lambda d, t: calls.append((d, t)))
    assert calls == [(i, 5) for i in range(1, 6)]  # 4 folds and the final fit
    calls.clear()
    fit_model("rf", X, y, params={"n_estimators": 5}, progress=lambda d, t: calls.append((d, t)))
    assert calls == [(1, 1)] and fit_count(None, {}) == 1


class _Terminal(io.StringIO):
    def isatty(self):
        return True


def test_the_bar_shows_the_counts_it_is_given(monkeypatch):
    from antares.cli.output import tile_progress

    stream = _Terminal()
    monkeypatch.setattr("sys.stderr", stream)
    with tile_progress(False, "segment s", unit="window") as progress:
        for done in range(1, 10):
            progress(done, 31)
    text = stream.getvalue()
    assert "segment s" in text and "9/31" in text and "window" in text
    quiet = _Terminal()
    monkeypatch.setattr("sys.stderr", quiet)
    with tile_progress(True, "segment s") as progress:
        progress(1, 2)
    assert quiet.getvalue() == ""


@pytest.mark.parametrize("total", [None, 5])
def test_the_bar_accepts_an_unknown_total(monkeypatch, total):
    from antares.cli.output import tile_progress

    stream = _Terminal()
    monkeypatch.setattr("sys.stderr", stream)
    with tile_progress(False, "db_to_vector m", unit="object") as progress:
        progress(3, total)
    last = stream.getvalue().rsplit("\r", 1)[-1]
    assert ("3/5" if total else "3object") in last.replace(" ", "" if total is None else " ")
