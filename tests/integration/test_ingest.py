"""`antares ingest`: real Romania L2A onto a UTM 20 m tile grid, against rasterio's reproject."""

import numpy as np
import pytest
import rasterio
import sqlalchemy as sa
from rasterio.warp import Resampling, reproject

from antares.cli.main import cli
from antares.cube.index import connect

ROMANIA = "nrt-romania-s2l2a/geotiff"
# the Romania patch (EPSG:3035 x 5271982-5272982, y 2532004-2533004) in lon/lat, with a margin
BBOX = ["22.140", "45.195", "22.166", "45.215"]
GRID = ["--crs", "EPSG:32634", "--resolution", "20", "--tile-size", "32"]  # 640 m tiles: several over 1 km²


def ingest_args(name, *extra):
    return ["ingest", "-p", "ro_test", "-n", name, *GRID, "--bbox", *BBOX, "-b", "2018-01-01", "-e", "2018-02-28", *extra]


def indexed(settings, product):
    dc = connect(settings.db_url)
    try:
        return {str(ds.id): ds for ds in dc.find_datasets(product=product)}
    finally:
        dc.close()


@pytest.mark.parametrize("resampling", ["nearest", "average"])
def test_ingest_equals_rasterio_reproject(settings, romania, data_dir, runner, tmp_path, resampling):
    name = f"ro_utm_{resampling}"
    result = runner.invoke(cli, ingest_args(name, "--resampling", resampling, "-sc", "sync", "--outdir", str(tmp_path)),
                           env={"ANTARES_DB_URL": settings.db_url})
    assert result.exit_code == 0, result.output
    datasets = indexed(settings, name)
    dates = {"2018-01-07", "2018-01-27", "2018-02-16"} & {p.name for p in (data_dir / ROMANIA / "10m").iterdir()}
    tiles = {ds.metadata_doc["properties"]["odc:region_code"] for ds in datasets.values()}
    assert len(tiles) >= 4  # the 1 km² patch spans several 640 m tiles
    assert len(datasets) == len(tiles) * len([d for d in (data_dir / ROMANIA / "10m").iterdir() if d.name[:7] in ("2018-01", "2018-02")])
    checked = 0
    for ds in datasets.values():
        date = ds.center_time.strftime("%Y-%m-%d")
        if date not in dates:
            continue
        grid = ds.metadata_doc["grids"]["default"]
        dst_transform = rasterio.Affine(*grid["transform"][:6])
        for band, res in (("B02", "10m"), ("B11", "20m"), ("SCL", "10m")):  # SCL: the finer 10 m copy is indexed
            with rasterio.open(data_dir / ROMANIA / res / date / f"{band}.tif") as src:
                expected = np.zeros(grid["shape"], dtype=src.dtypes[0])
                method = Resampling.nearest if band == "SCL" and resampling == "nearest" else Resampling[resampling]
                reproject(rasterio.band(src, 1), expected, dst_transform=dst_transform, dst_crs="EPSG:32634",
                          src_nodata=0, dst_nodata=0, resampling=method)
            with rasterio.open(ds.uri.rsplit("/", 1)[0] + "/" + ds.metadata_doc["measurements"][band]["path"]) as out:
                got = out.read(1)
                assert out.crs.to_epsg() == 32634 and out.transform == dst_transform
                assert out.profile["compress"].lower() == "deflate"
            assert got.dtype == expected.dtype
            assert np.array_equal(got, expected), (date, band, int(np.abs(got.astype(int) - expected).max()))
            checked += 1
        # eo3 lineage to the source dataset: in the document on disk and in the index
        import yaml

        doc = yaml.safe_load(open(ds.uri.removeprefix("file://")))
        dc = connect(settings.db_url)
        try:
            tree = dc.index.lineage.get_source_tree(ds.id)
        finally:
            dc.close()
        sources = {str(child.dataset_id) for children in tree.children.values() for child in children}
        assert sources == set(doc["lineage"]["source"]) and len(sources) == 1
    assert checked >= 3 * 4


def test_lineage_rerun_and_failed_tile(settings, romania, runner, tmp_path):
    env = {"ANTARES_DB_URL": settings.db_url}
    outdir = tmp_path / "out"
    outdir.mkdir()
    # make one tile unwritable: a regular file where its directory must go (found by a first dry planning run)
    from antares.config import load_settings
    from antares.cube.grid import make_gridspec
    from antares.pipeline.area import resolve_area
    from antares.pipeline.ingest import plan

    s = load_settings(flags={"db_url": settings.db_url}, environ={})
    area = resolve_area(s, bbox=[float(v) for v in BBOX])
    gridspec = make_gridspec(area, crs="EPSG:32634", resolution=20, tile_size=32)
    dc = connect(settings.db_url)
    try:
        tiles = plan(dc, "ro_test", area, gridspec, ("2018-01-01", "2018-02-28"))
    finally:
        dc.close()
    blocked = sorted(tiles)[0]
    (outdir / f"{blocked[0]}_{blocked[1]}").write_text("in the way")

    first = runner.invoke(cli, ingest_args("ro_fail", "-sc", "sync", "--outdir", str(outdir)), env=env)
    assert first.exit_code == 1
    assert f"tile {blocked[0]},{blocked[1]} failed: " in first.stderr
    assert "1 tile(s) failed" in first.stdout
    written = indexed(settings, "ro_fail")
    assert len({d.metadata_doc["properties"]["odc:region_code"] for d in written.values()}) == len(tiles) - 1
    # the run and its tiles are recorded
    engine = sa.create_engine(settings.db_url)
    with engine.connect() as conn:
        run = conn.execute(sa.text("SELECT id, status, error FROM antares.run WHERE kind='ingest' AND name='ro_fail'")).one()
        statuses = dict(conn.execute(sa.text("SELECT status, count(*) FROM antares.run_tile WHERE run_id=:r GROUP BY status"),
                                     {"r": run.id}).all())
    assert run.status == "failed" and statuses == {"done": len(tiles) - 1, "failed": 1}
    # unblock and re-run: only the missing tile is computed
    (outdir / f"{blocked[0]}_{blocked[1]}").unlink()
    second = runner.invoke(cli, ingest_args("ro_fail", "-sc", "sync", "--outdir", str(outdir)), env=env)
    assert second.exit_code == 0, second.output
    n_days = len(next(iter(tiles.values()))[1])
    assert f"{n_days} dataset(s) written" in second.stdout and f"{(len(tiles) - 1) * n_days} already done" in second.stdout
    assert len(indexed(settings, "ro_fail")) == len(tiles) * n_days
    engine.dispose()


def test_local_cluster_gives_identical_files(settings, romania, runner, tmp_path):
    env = {"ANTARES_DB_URL": settings.db_url}
    a, b = tmp_path / "sync", tmp_path / "dask"
    assert runner.invoke(cli, ingest_args("ro_sync", "-sc", "sync", "--outdir", str(a)), env=env).exit_code == 0
    result = runner.invoke(cli, ingest_args("ro_dask", "--workers", "2", "--outdir", str(b)), env=env)
    assert result.exit_code == 0, result.output
    files_a = sorted(p.relative_to(a) for p in a.rglob("*.tif"))
    assert files_a and [str(p).replace("ro_sync", "ro_dask") for p in files_a] == sorted(str(p.relative_to(b)) for p in b.rglob("*.tif"))
    for rel in files_a:
        with rasterio.open(a / rel) as x, rasterio.open(b / str(rel).replace("ro_sync", "ro_dask")) as y:
            assert np.array_equal(x.read(), y.read())


@pytest.mark.parametrize(
    "extra, code, fragment",
    [
        (["--grid", "utm_7m"], 2, "unknown grid 'utm_7m'; presets: "),
        (["--resampling", "fancy"], 2, "unknown resampling 'fancy'"),
        (["-sc", "tcp://127.0.0.1:9"], 1, "cannot reach the dask scheduler tcp://127.0.0.1:9"),
    ],
)
def test_bad_options(settings, romania, runner, tmp_path, extra, code, fragment):
    args = ingest_args("ro_bad_opt", "--outdir", str(tmp_path))
    if extra[0] == "--grid":
        args = [a for a in args if a not in GRID] + extra
    else:
        args += extra
    result = runner.invoke(cli, args, env={"ANTARES_DB_URL": settings.db_url})
    assert result.exit_code == code, result.output
    assert fragment in result.output
    assert not list(tmp_path.rglob("*.tif"))


def test_no_data_in_period(settings, romania, runner, tmp_path):
    args = ["ingest", "-p", "ro_test", "-n", "ro_none", *GRID, "--bbox", *BBOX, "-b", "2030-01-01", "-e", "2030-12-31"]
    result = runner.invoke(cli, args, env={"ANTARES_DB_URL": settings.db_url})
    assert result.exit_code == 1
    assert "no dataset of ro_test in the area and period asked for; ro_test has 140 datasets from 2015-08-01 to 2021-01-01" in result.output
    dc = connect(settings.db_url)
    assert dc.index.products.get_by_name("ro_none") is None
    dc.close()
