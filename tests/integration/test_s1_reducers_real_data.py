"""S1 in a reducer recipe on WorldCereal's Belgium patch, and the ``s1`` orbit filter.

Belgium: monthly S2 L2A composites and S1 VV/VH sigma0 (dB) on one 10 m grid, 2020-11 .. 2021-10. A reducer recipe
on a 20 m grid (so the declared ``average`` resampling does something) writes the NDVI mean and the S1 mean, median,
p10 and p90 of the year; at sampled pixels they equal numpy on the GeoTIFFs (rasterio): each month's dB values
averaged over the 2 x 2 pixels of an output pixel (the resampling), converted to linear power, reduced over the
months, shown in dB; the ratio and RVI from the reduced powers.

Orbit filter: WorldCereal's monthly composites record no orbit, so a filter is refused naming what is there;
synthetic S1 files on the same grid tagged with their orbit pass or fail ``s1.orbit`` / ``s1.relative_orbit``, in a
reducer recipe and in a ``steps:`` recipe.
"""

import numpy as np
import rasterio
import yaml

from antares.config import load_settings
from antares.pipeline.inspect import load_product
from helpers import db_rows, invoke_ok

BE = "worldcereal-belgium/geotiff"
MONTHS = [f"2020-{m:02d}" for m in (11, 12)] + [f"2021-{m:02d}" for m in range(1, 11)]
BBOX = ["--bbox", "664000", "5611120", "665000", "5612120", "--bbox-crs", "EPSG:32631"]


def _recipe(tmp_path, name, doc):
    path = tmp_path / f"{name}.yaml"
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return str(path)


def _s2(runner, env, data_dir, product):
    invoke_ok(runner, ["index", "--path", str(data_dir / BE / "s2_monthly"), "--dataset_name", "s2_bands",
                       "--product", product, "--pattern", r"(?P<date>\d{4}-\d{2})_S2L2A\.tif$"], env)


def test_s1_statistics_of_the_year_equal_numpy_on_belgium(settings, data_dir, runner, tmp_path):
    env = {"ANTARES_DB_URL": settings.db_url}
    be = data_dir / BE
    _s2(runner, env, data_dir, "s1r_s2")
    invoke_ok(runner, ["index", "--path", str(be / "s1_monthly"), "--dataset_name", "s1_grd", "--product", "s1r_s1"],
              env)
    reducers = ["mean", "median", "p10", "p90"]
    doc = {"description": "NDVI mean and S1 statistics of the year (test recipe)",
           "inputs": {"product": "s1r_s2", "measurements": ["red", "nir"], "resolution": 20},
           "aliases": {"nir": ["B08"]}, "indices": ["NDVI"], "reducers": {"ndvi": ["mean"]},
           "s1": {"product": "s1r_s1", "reducers": reducers, "resampling": "average"}}
    invoke_ok(runner, ["apply_recipe", "-recipe", _recipe(tmp_path, "s1r_recipe", doc), "-b", "2020-11-01",
                       "-e", "2021-10-31", *BBOX, "--tile-size", "32", "--name", "s1r_year", "-sc", "sync",
                       "--outdir", str(tmp_path / "out")], env)
    out = load_product(load_settings(flags={"db_url": settings.db_url}, environ={}), "s1r_year")[0].isel(time=0)
    assert out.x.values[0] == 664010 and out.y.values[0] == 5612110 and out.sizes["x"] >= 50
    out = out.isel(y=slice(0, 50), x=slice(0, 50))

    vv_db, vh_db = [], []
    for month in MONTHS:
        with rasterio.open(be / "s1_monthly" / f"{month}_S1_sigma0_dB.tif") as src:
            vv, vh = src.read().astype(np.float64)
        # average resampling onto the 20 m grid: the valid 10 m values of each 2 x 2 window, as they are stored (dB)
        with np.errstate(invalid="ignore"), np.testing.suppress_warnings() as sup:
            sup.filter(RuntimeWarning)
            vv_db.append(np.nanmean(vv.reshape(50, 2, 50, 2), axis=(1, 3)))
            vh_db.append(np.nanmean(vh.reshape(50, 2, 50, 2), axis=(1, 3)))
    vv_db, vh_db = np.array(vv_db), np.array(vh_db)
    both = ~(np.isnan(vv_db) | np.isnan(vh_db))
    p_vv = np.where(both, 10 ** (vv_db / 10), np.nan)
    p_vh = np.where(both, 10 ** (vh_db / 10), np.nan)
    rng = np.random.default_rng(18)
    rows, cols = rng.integers(0, 50, 300), rng.integers(0, 50, 300)
    statistics = {"mean": lambda a: np.nanmean(a, axis=0), "median": lambda a: np.nanmedian(a, axis=0),
                  "p10": lambda a: np.nanpercentile(a, 10, axis=0), "p90": lambda a: np.nanpercentile(a, 90, axis=0)}
    for name, reduce in statistics.items():
        rv, rh = reduce(p_vv[:, rows, cols]), reduce(p_vh[:, rows, cols])
        expected = {"vv": 10 * np.log10(rv), "vh": 10 * np.log10(rh), "vh_vv": 10 * np.log10(rh / rv),
                    "rvi": 4 * rh / (rv + rh)}
        for feature, values in expected.items():
            got = out[f"s1_{feature}_{name}"].values[rows, cols]
            assert np.isfinite(got).mean() > 0.95, f"s1_{feature}_{name}"
            np.testing.assert_allclose(got, values, atol=2e-4 if feature != "rvi" else 2e-6, equal_nan=True,
                                       err_msg=f"s1_{feature}_{name}")
    # the mean of the months in linear power is above the mean of their dB values (Jensen's inequality)
    mean_of_db = np.nanmean(np.where(both, vv_db, np.nan), axis=0)[rows, cols]
    gap = out["s1_vv_mean"].values[rows, cols] - mean_of_db
    assert (gap[np.isfinite(gap)] > 0).all() and np.nanmean(gap) > 0.1
    # NDVI mean of the 10 S2 months, 20 m from the 2 x 2 average of the bands (nodata 65535 left out)
    with rasterio.open(be / "s2_monthly" / f"{MONTHS[0]}_S2L2A.tif") as src:
        assert src.nodata == 65535
    assert np.isfinite(out["ndvi_mean"].values).mean() > 0.95
    lineage = db_rows(settings.db_url, "select count(*) from odc.dataset_lineage where classifier = 's1'")
    assert lineage[0][0] >= 12


def _write_s1(path, vv_db, vh_db, tags):
    profile = {"driver": "GTiff", "width": 100, "height": 100, "count": 2, "dtype": "float32", "crs": "EPSG:32631",
               "transform": rasterio.Affine(10, 0, 664000, 0, -10, 5612120), "nodata": float("nan")}
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(np.stack([vv_db, vh_db]).astype(np.float32))
        dst.descriptions = ("VV", "VH")
        dst.update_tags(UNITS="dB", **tags)


def test_orbit_filter(settings, data_dir, runner, tmp_path):
    from antares.cli.main import cli

    env = {"ANTARES_DB_URL": settings.db_url}
    _s2(runner, env, data_dir, "s1o_s2")
    # WorldCereal's monthly composites record no orbit: a filter finds nothing, and says what is there
    invoke_ok(runner, ["index", "--path", str(data_dir / BE / "s1_monthly"), "--dataset_name", "s1_grd",
                       "--product", "s1o_wc"], env)
    doc = {"inputs": {"product": "s1o_s2", "measurements": ["red", "nir"]}, "aliases": {"nir": ["B08"]},
           "indices": ["NDVI"], "reducers": {"ndvi": ["mean"]},
           "s1": {"product": "s1o_wc", "reducers": ["mean"], "orbit": "ascending"}}
    result = runner.invoke(cli, ["apply_recipe", "-recipe", _recipe(tmp_path, "s1o_wc_recipe", doc), "-b", "2021-03-01",
                                 "-e", "2021-03-31", *BBOX, "--name", "s1o_wc_out", "-sc", "sync",
                                 "--outdir", str(tmp_path / "wc")], env=env)
    assert result.exit_code == 1, result.output
    assert ("recipe s1o_wc_recipe: no dataset of s1o_wc in the area and period has orbit: ascending; its 1 "
            "dataset(s) there: direction unknown (relative orbits unknown)") in result.stderr
    assert "Traceback" not in result.output and len(result.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "wc").exists() or not any((tmp_path / "wc").rglob("*.tif"))
    assert not db_rows(settings.db_url, "select 1 from odc.product where name = 's1o_wc_out'")

    # synthetic acquisitions on the same grid, tagged with their orbit
    rng = np.random.default_rng(5)
    s1 = tmp_path / "s1"
    s1.mkdir()
    acquisitions = {"2021-03-03": ("ASCENDING", 88, -8.0), "2021-03-10": ("ASCENDING", 161, -11.0),
                    "2021-03-15": ("DESCENDING", 37, -16.0)}
    values = {}
    for date, (state, relative, level) in acquisitions.items():
        vv, vh = rng.normal(level, 2.0, (2, 100, 100))
        vh -= 7
        values[date] = (vv, vh)
        _write_s1(s1 / f"{date}_s1.tif", vv, vh, {"ORBIT_DIRECTION": state, "RELATIVE_ORBIT": str(relative)})
    invoke_ok(runner, ["index", "--path", str(s1), "--dataset_name", "s1_grd", "--product", "s1o_s1"], env)
    states = db_rows(settings.db_url, "select d.metadata #>> '{properties,sat:orbit_state}', "
                     "d.metadata #>> '{properties,sat:relative_orbit}' from odc.dataset d join odc.product p "
                     "on d.product_ref = p.id where p.name = 's1o_s1' order by 2")
    assert sorted(states) == [("ascending", "161"), ("ascending", "88"), ("descending", "37")]

    def expected(dates):
        vv = np.mean([10 ** (values[d][0] / 10) for d in dates], axis=0)
        vh = np.mean([10 ** (values[d][1] / 10) for d in dates], axis=0)
        return 10 * np.log10(vv), 10 * np.log10(vh)

    cases = {"s1o_asc": ({"orbit": "ascending"}, ["2021-03-03", "2021-03-10"]),
             "s1o_rel": ({"relative_orbit": [161, 37]}, ["2021-03-10", "2021-03-15"]),
             "s1o_all": ({}, list(acquisitions))}
    for name, (orbit, dates) in cases.items():
        doc["s1"] = {"product": "s1o_s1", "reducers": ["mean"], "features": ["vv", "vh"], **orbit}
        invoke_ok(runner, ["apply_recipe", "-recipe", _recipe(tmp_path, name, doc), "-b", "2021-03-01",
                           "-e", "2021-03-31", *BBOX, "--name", name, "-sc", "sync",
                           "--outdir", str(tmp_path / name)], env)
        out = load_product(load_settings(flags={"db_url": settings.db_url}, environ={}), name)[0].isel(time=0)
        out = out.isel(y=slice(0, 100), x=slice(0, 100))
        vv, vh = expected(dates)
        np.testing.assert_allclose(out["s1_vv_mean"].values, vv, atol=2e-4, err_msg=name)
        np.testing.assert_allclose(out["s1_vh_mean"].values, vh, atol=2e-4, err_msg=name)

    doc["s1"] = {"product": "s1o_s1", "reducers": ["mean"], "orbit": "descending", "relative_orbit": [88]}
    result = runner.invoke(cli, ["apply_recipe", "-recipe", _recipe(tmp_path, "s1o_none", doc), "-b", "2021-03-01",
                                 "-e", "2021-03-31", *BBOX, "--name", "s1o_none", "-sc", "sync",
                                 "--outdir", str(tmp_path / "none")], env=env)
    assert result.exit_code == 1 and len(result.stderr.strip().splitlines()) == 1, result.output
    assert ("no dataset of s1o_s1 in the area and period has orbit: descending, relative_orbit: [88]; its 3 "
            "dataset(s) there: ascending (relative orbits 88, 161); descending (relative orbits 37)") in result.stderr

    # the same filter in a steps recipe: the March step from the descending acquisition only
    steps = {"inputs": {"product": "s1o_s2", "measurements": ["red", "nir"]}, "aliases": {"nir": ["B08"]},
             "indices": ["NDVI"], "steps": {"every": "1M", "variables": ["ndvi"], "gapfill": "none"},
             "s1": {"product": "s1o_s1", "features": ["vv"], "orbit": "descending"}}
    invoke_ok(runner, ["apply_recipe", "-recipe", _recipe(tmp_path, "s1o_steps", steps), "-b", "2021-03-01",
                       "-e", "2021-03-31", *BBOX, "--name", "s1o_steps", "-sc", "sync",
                       "--outdir", str(tmp_path / "steps")], env)
    out = load_product(load_settings(flags={"db_url": settings.db_url}, environ={}), "s1o_steps")[0]
    assert out.sizes["time"] == 1
    np.testing.assert_allclose(out["s1_vv"].values[0, :100, :100], expected(["2021-03-15"])[0], atol=2e-4)
