"""`antares detect_change` end to end on real Sentinel-2 L2A (Romania, 2018-08-25 vs 2020-08-29), and its bad input.

The change objects stored in PostGIS are compared with an independent computation: the same change method
fitted directly on the GeoTIFF pixels read with rasterio, the mask labelled with scipy.ndimage and the -mmu
applied by pixel counts; the export is read back with pyogrio.
"""

import shutil

import numpy as np
import pytest
import rasterio

from helpers import db_rows, invoke_ok

ROMANIA = "nrt-romania-s2l2a/geotiff"
DATES = ("2018-08-25", "2020-08-29")
BANDS = ["B02", "B03", "B04", "B08"]
BBOX = ["--bbox", "22.140", "45.195", "22.166", "45.215"]


@pytest.fixture(scope="module")
def chg(settings, data_dir, tmp_path_factory):
    """Two clear dates as product chg_ro (10 m + 20 m), and the 10 m bands only, shifted by half a pixel, as chg_ro_half."""
    from click.testing import CliRunner

    root, half = tmp_path_factory.mktemp("chg_ro"), tmp_path_factory.mktemp("chg_ro_half")
    for day in DATES:
        for res in ("10m", "20m"):
            shutil.copytree(data_dir / ROMANIA / res / day, root / res / day)
        shutil.copytree(data_dir / ROMANIA / "10m" / day, half / "10m" / day)
        for path in (half / "10m" / day).glob("*.tif"):
            with rasterio.open(path, "r+") as dst:
                dst.transform = dst.transform * rasterio.Affine.translation(0.5, 0)
    env = {"ANTARES_DB_URL": settings.db_url}
    for path, product in ((root, "chg_ro"), (half, "chg_ro_half")):
        result = CliRunner().invoke(cli_main(), ["index", "--path", str(path), "--dataset_name", "s2_bands",
                                                 "--product", product, "--no-verify"], env=env)
        assert result.exit_code == 0 and "2 dataset(s) indexed" in result.output, result.output
    return root, env


def cli_main():
    from antares.cli.main import cli

    return cli


def read_pixels(root, day):
    stack = []
    for band in BANDS:
        with rasterio.open(root / "10m" / day / f"{band}.tif") as src:
            values = src.read(1)
        stack.append(np.where(values == 0, np.nan, values.astype(np.float32)))
    return np.stack(stack)


def test_imadmaf_end_to_end(chg, runner, tmp_path):
    import pyogrio
    from scipy import ndimage

    from antares.change import get_change_method

    root, env = chg
    args = ["detect_change", "-a", "imadmaf", "-n", "ro_chg", "-p_pre", "chg_ro", "-p_post", "chg_ro",
            "-y_pre", "2018", "-y_post", "2020", *sum((["-b", b] for b in BANDS), []), *BBOX, "-mmu", "300",
            "-extra", "threshold=kapur", "max_iterations=10"]
    result = invoke_ok(runner, args, env)
    assert "change object(s)" in result.output
    pre, post = read_pixels(root, DATES[0]), read_pixels(root, DATES[1])
    method = get_change_method("imadmaf", threshold="kapur", max_iterations=10).fit(lambda: [(pre, post)])
    score, change = method.detect(pre, post)
    labels, n = ndimage.label(change == 1)
    counts = np.bincount(labels.ravel())[1:]
    kept = counts[counts * 100.0 >= 300]
    rows = db_rows(settings_url(env), "SELECT o.object_id, o.pixel_count, o.area_m2, ST_Area(o.geom), o.score, "
                   "d.statistics FROM antares.change_object o JOIN antares.change_detection d ON d.id = o.change_id "
                   "WHERE d.name = 'ro_chg' ORDER BY o.object_id")
    assert len(rows) == len(kept) > 0
    assert [r[0] for r in rows] == list(range(1, len(rows) + 1))
    np.testing.assert_array_equal([r[1] for r in rows], kept)  # raster order of the first pixel, as ndimage.label
    for _, pixels, area, polygon_area, _, _ in rows:
        assert area == pytest.approx(pixels * 100.0) and polygon_area == pytest.approx(area)
    stats = rows[0][5]
    assert stats["threshold"] == pytest.approx(method.threshold_value, rel=1e-6)
    np.testing.assert_allclose(stats["rho"], method.fit_.rho, atol=1e-6)
    assert f"{len(kept)} change object(s)" in result.output

    # stable ids: the same command again gives the same objects
    invoke_ok(runner, args + ["--overwrite"], env)
    again = db_rows(settings_url(env), "SELECT o.object_id, o.pixel_count, ST_AsBinary(o.geom) FROM antares.change_object o "
                    "JOIN antares.change_detection d ON d.id = o.change_id WHERE d.name = 'ro_chg' ORDER BY 1")
    assert [(r[0], r[1]) for r in again] == [(r[0], r[1]) for r in rows]

    listed = invoke_ok(runner, ["list", "changes"], env).output
    assert "ro_chg" in listed and "imadmaf" in listed and "chg_ro 2018" in listed

    out = tmp_path / "ro_chg.gpkg"
    invoke_ok(runner, ["db_to_vector", "-n", "ro_chg", "-f", str(out)], env)
    meta, _, geometry, fields = pyogrio.raw.read(out)
    assert len(geometry) == len(rows)
    np.testing.assert_allclose(fields[meta["fields"].tolist().index("area_m2")], [r[2] for r in rows])


def settings_url(env):
    return env["ANTARES_DB_URL"]


def test_distance_with_one_band(chg, runner):
    root, env = chg
    result = invoke_ok(runner, ["detect_change", "-a", "distance", "-n", "ro_chg_nir", "-p_pre", "chg_ro",
                                "-p_post", "chg_ro", "-y_pre", "2018", "-y_post", "2020", "-b", "B08", *BBOX,
                                "-extra", "threshold=2000"], env)
    pre, post = read_pixels(root, DATES[0])[3], read_pixels(root, DATES[1])[3]
    from skimage.exposure import match_histograms

    valid = np.isfinite(pre) & np.isfinite(post)
    diff = np.full(pre.shape, np.nan)
    diff[valid] = np.abs(post[valid] - match_histograms(pre[valid], post[valid]))
    assert f"{int((diff > 2000).sum())} change pixel(s) of {int(valid.sum())} valid" in result.output


@pytest.mark.parametrize("args, code, fragment", [
    (["-p_post", "chg_ro_half", "-b", "B04"], 1, "are on different grids"),
    (["-p_post", "chg_ro_half", "-b", "B11"], 1, "-p_post chg_ro_half has no measurement B11"),
    (["-y_pre", "2019"], 1, "-p_pre chg_ro has no dataset in the area in 2019"),
    (["--bbox", "10.0", "45.0", "10.1", "45.1"], 1, "has no dataset in the area"),
    (["-mmu", "50"], 2, "-mmu 50 m² is below one pixel (100 m² at 10 m)"),
    (["-y_post", "2018"], 2, "-p_pre and -p_post are both chg_ro in 2018"),
    (["-extra", "threshold=chi2", "-a", "distance"], 2, "cannot be 'chi2'"),
    (["-lc_pre", "x"], 2, "-lc_pre and -lc_post go together"),
], ids=["grids", "band", "year", "no-overlap", "mmu", "same-image", "chi2-distance", "lc-alone"])
def test_bad_input(chg, runner, args, code, fragment):
    root, env = chg
    base = {"-a": "imadmaf", "-n": "ro_bad", "-p_pre": "chg_ro", "-p_post": "chg_ro", "-y_pre": "2018",
            "-y_post": "2020"}
    given = dict(zip(args[::2], args[1::2]))
    argv = ["detect_change"]
    for flag, value in base.items():
        argv += [flag, given.pop(flag, value)]
    if "--bbox" in args:
        argv += args[args.index("--bbox"):args.index("--bbox") + 5]
        args = args[:args.index("--bbox")] + args[args.index("--bbox") + 5:]
    else:
        argv += BBOX
    argv += [a for pair in zip(args[::2], args[1::2]) if pair[0] not in base for a in pair]
    if "-b" not in argv:
        argv += ["-b", "B04", "-b", "B08"]
    result = runner.invoke(cli_main(), argv, env=env)
    assert result.exit_code == code, result.output
    assert fragment in result.output
    assert "Traceback" not in result.output
    assert not db_rows(env["ANTARES_DB_URL"], "SELECT 1 FROM antares.change_detection WHERE name = 'ro_bad'")


def test_area_adjusted_change_from_a_validation_set(chg, runner, settings):
    """Olofsson et al. (2014) with the change map as strata: the strata of the samples and the mapped areas are
    recomputed here with shapely and rasterio, then given to accuracy.area_adjusted (checked against the paper's
    own example in tests/unit/test_accuracy.py)."""
    import json

    import shapely
    import shapely.wkb

    from antares.accuracy import area_adjusted
    from antares.db.engine import session_scope
    from antares.db.training import create_scheme, replace_sample_set
    from antares.legend import LegendEntry

    root, env = chg
    invoke_ok(runner, ["detect_change", "-a", "distance", "-n", "ro_chg_val", "-p_pre", "chg_ro", "-p_post", "chg_ro",
                       "-y_pre", "2018", "-y_post", "2020", "-b", "B08", "-b", "B11", *BBOX, "-mmu", "200"], env)
    objects = [shapely.wkb.loads(bytes(r[0])) for r in db_rows(
        settings.db_url, "SELECT ST_AsBinary(o.geom) FROM antares.change_object o JOIN antares.change_detection d "
        "ON d.id = o.change_id WHERE d.name = 'ro_chg_val'")]
    assert objects
    rng = np.random.default_rng(42)
    points = [shapely.Point(5271982.5766 + rng.uniform(5, 995), 2533004.2149 - rng.uniform(5, 995)) for _ in range(80)]
    inside = np.array([any(o.intersects(p) for o in objects) for p in points])
    # reference labels: mostly agreeing with the map, some disagreeing (a stand-in for photo-interpretation)
    reference = np.where(rng.random(len(points)) < 0.85, inside, ~inside)
    with session_scope(settings) as session:
        scheme = create_scheme(session, "chg_val_scheme", [LegendEntry(1, "no change", "#cccccc"),
                                                           LegendEntry(2, "change", "#ff0000")])
        replace_sample_set(session, "validation", "ro_chg_points", scheme, "test", 2020, None, [
            {"class_code": 2 if r else 1, "wkb": p.wkb, "srid": 3035, "attributes": {}}
            for p, r in zip(points, reference)])
    result = invoke_ok(runner, ["change_matrix", "-n", "ro_chg_val", "-val", "ro_chg_points", "--json"], env)
    got = json.loads(result.output)["area_estimate"]
    counts = np.zeros((2, 2), int)
    for m, r in zip(inside, reference):
        counts[int(m), int(r)] += 1
    assert got["counts"] == counts.tolist()
    pre, post = read_pixels(root, DATES[0])[[3]], read_pixels(root, DATES[1])[[3]]
    with rasterio.open(root / "20m" / DATES[0] / "B11.tif") as a, rasterio.open(root / "20m" / DATES[1] / "B11.tif") as b:
        swir = (np.repeat(np.repeat(a.read(1), 2, 0), 2, 1) > 0) & (np.repeat(np.repeat(b.read(1), 2, 0), 2, 1) > 0)
    valid_ha = (np.isfinite(pre[0]) & np.isfinite(post[0]) & swir).sum() * 100 / 1e4
    change_ha = sum(o.area for o in objects) / 1e4
    expected = area_adjusted(counts, [valid_ha - change_ha, change_ha], (1, 2), unit="ha")
    assert got["mapped_change_ha"] == pytest.approx(change_ha, rel=1e-9)
    assert got["mapped_no_change_ha"] == pytest.approx(valid_ha - change_ha, rel=1e-9)
    assert got["change_ha"] == pytest.approx(expected.area[1], rel=1e-9)
    assert got["change_ha_ci"] == pytest.approx(expected.area_ci[1], rel=1e-9)
    assert got["users_accuracy"] == pytest.approx(expected.users_accuracy[1], rel=1e-9)
    text = invoke_ok(runner, ["change_matrix", "-n", "ro_chg_val", "-val", "ro_chg_points"], env).output
    assert "area-adjusted change" in text and "95 % CI" in text


def test_a_change_detection_is_renamed_and_deleted_with_its_objects(chg, runner, settings):
    """antares rename/delete change (issue 23): the objects go with it; deleting twice names what exists."""
    _, env = chg
    invoke_ok(runner, ["detect_change", "-a", "distance", "-n", "ro_chg_del", "-p_pre", "chg_ro", "-p_post", "chg_ro",
                       "-y_pre", "2018", "-y_post", "2020", "-b", "B08", *BBOX, "-extra", "threshold=2000"], env)
    from antares import Session

    frame = Session(url=settings.db_url).changes("ro_chg_del")  # the notebook API: the same objects
    stored = db_rows(settings.db_url, "SELECT o.object_id, o.area_m2 FROM antares.change_object o JOIN "
                     "antares.change_detection c ON c.id = o.change_id WHERE c.name = 'ro_chg_del' ORDER BY o.object_id")
    assert list(frame.object_id) == [r[0] for r in stored] and len(stored) > 0
    np.testing.assert_allclose(frame.area_m2, [r[1] for r in stored])
    assert frame.attrs["method"] == "distance" and frame.crs is not None
    invoke_ok(runner, ["rename", "change", "ro_chg_del", "ro_chg_del2"], env)
    n = db_rows(settings.db_url, "SELECT count(*) FROM antares.change_object o JOIN antares.change_detection c "
                "ON c.id = o.change_id WHERE c.name = 'ro_chg_del2'")[0][0]
    assert n > 0
    invoke_ok(runner, ["delete", "change", "ro_chg_del2"], env)
    assert db_rows(settings.db_url, "SELECT count(*) FROM antares.change_detection WHERE name LIKE 'ro_chg_del%'") == [(0,)]
    assert db_rows(settings.db_url, "SELECT count(*) FROM antares.change_object o LEFT JOIN antares.change_detection c "
                   "ON c.id = o.change_id WHERE c.id IS NULL") == [(0,)]
    again = runner.invoke(cli_main(), ["delete", "change", "ro_chg_del2"], env=env)
    assert again.exit_code == 1 and "no change named 'ro_chg_del2'" in again.stderr


@pytest.mark.parametrize("iterations", [1, 10])
def test_imad_equals_the_published_equations_on_real_pixels(data_dir, iterations):
    """Romania 2018-08-25 vs 2020-08-29, four 10 m bands (10,000 pixels): canonical correlations and MAD variates
    equal to 1e-6 to those of the independent implementation; invariance to a linear transform of the post bands."""
    from helpers import reference_imad

    from antares.change.imad import imad

    root = data_dir / ROMANIA
    x = read_pixels(root, DATES[0]).reshape(4, -1).T.astype(np.float64)
    y = read_pixels(root, DATES[1]).reshape(4, -1).T.astype(np.float64)
    fit = imad(x, y, max_iterations=iterations, min_delta=0.0)
    rho, mad, z = reference_imad(x, y, iterations)
    np.testing.assert_allclose(fit.rho, rho, atol=1e-6)
    ours = fit.variates(x, y)
    np.testing.assert_allclose(ours, mad * np.sign((ours * mad).sum(axis=0)), atol=1e-6)
    np.testing.assert_allclose(fit.chi2(x, y), z, rtol=1e-6, atol=1e-6)
    transform = np.array([[0.9, 0.1, 0.0, 0.2], [0.0, 1.1, 0.3, 0.0], [0.2, 0.0, 0.8, 0.1], [0.0, 0.1, 0.0, 1.3]])
    moved = imad(x, y @ transform.T + 250.0, max_iterations=iterations, min_delta=0.0)
    np.testing.assert_allclose(moved.rho, fit.rho, atol=1e-8)
    np.testing.assert_allclose(moved.chi2(x, y @ transform.T + 250.0), fit.chi2(x, y), rtol=1e-6, atol=1e-6)


def test_antares3_command_line_gives_the_objects_of_the_antares_form(chg, runner):
    """antares3's long forms (--product_pre, --year_post, --extra_kwargs k=v k=v, -b B1 B2, -lat/-long) run end to end
    and store the change objects the antares form stores (issue 23)."""
    _, env = chg
    area = ["45.195", "45.215"], ["22.140", "22.166"]
    antares3 = ["detect_change", "-a", "distance", "-n", "ro_chg_a3", "--product_pre", "chg_ro", "--product_post",
                "chg_ro", "--year_pre", "2018", "--year_post", "2020", "-b", "B04", "B08", "-lat", *area[0],
                "-long", *area[1], "-mmu", "300", "--extra_kwargs", "threshold=otsu"]
    antares = ["detect_change", "--algorithm", "distance", "--name", "ro_chg_a4", "-p_pre", "chg_ro", "-p_post",
               "chg_ro", "-y_pre", "2018", "-y_post", "2020", "-b", "B04", "-b", "B08", "--bbox", area[1][0],
               area[0][0], area[1][1], area[0][1], "-mmu", "300", "-extra", "threshold=otsu"]
    invoke_ok(runner, antares3, env)
    invoke_ok(runner, antares, env)
    sql = ("SELECT o.object_id, o.pixel_count, o.area_m2, ST_AsBinary(o.geom) FROM antares.change_object o "
           "JOIN antares.change_detection d ON d.id = o.change_id WHERE d.name = '{}' ORDER BY o.object_id")
    a3, a4 = (db_rows(settings_url(env), sql.format(n)) for n in ("ro_chg_a3", "ro_chg_a4"))
    assert len(a3) > 0 and [(i, n, a, bytes(g)) for i, n, a, g in a3] == [(i, n, a, bytes(g)) for i, n, a, g in a4]
