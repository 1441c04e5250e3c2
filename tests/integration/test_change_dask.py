"""``detect_change`` with its tiles on dask: the same objects as the serial run, one tile per task.

A synthetic pair (three bands, a smooth scene, the second date a linear mixture of the first plus noise, two
changed blocks and nodata across tile edges) is indexed as one product at two dates; the 16 tiles of 32 pixels
go through both passes (the fitting tasks' parts merged into one fit, then the detection tasks) in this process
(``-sc sync``) and on a local dask cluster over TLS (two worker processes): the stored objects must be identical
(ids, pixel counts, areas, mean scores and polygons), as must the recorded threshold and canonical correlations.
"""

import pickle

import numpy as np
import pytest
import rasterio

from helpers import db_rows, invoke_ok

DATES = ("2018-08-25", "2020-08-29")
BANDS = ("B02", "B03", "B04")
BBOX = ["--bbox", "22.140", "45.195", "22.166", "45.215"]
ROMANIA = "nrt-romania-s2l2a/geotiff/10m/2018-08-25/B02.tif"  # only its grid (CRS, transform) is used


def _synthetic_pair(shape=(100, 100)):
    from scipy.ndimage import gaussian_filter

    rng = np.random.default_rng(20)
    pre = np.stack([gaussian_filter(rng.normal(size=shape), 3) * 300 + 1500 + rng.normal(0, 20, shape)
                    for _ in BANDS])
    mix = np.eye(len(BANDS)) * 1.1 + 0.05 * rng.normal(size=(len(BANDS),) * 2)
    post = np.einsum("ij,jyx->iyx", mix, pre) + rng.normal(0, 20, pre.shape)
    post[:, 10:30, 20:45] += 400  # across the tile edges at rows 32 and columns 32
    post[:, 60:70, 60:90] -= 350
    pre, post = np.clip(pre, 1, 60000).astype(np.uint16), np.clip(post, 1, 60000).astype(np.uint16)
    pre[:, 31:34, 50:52] = 0  # nodata across a tile edge
    post[1, 80, 5] = 0
    return pre, post


@pytest.fixture(scope="module")
def pair(settings, data_dir, tmp_path_factory):
    from click.testing import CliRunner

    from antares.cli.main import cli

    with rasterio.open(data_dir / ROMANIA) as src:
        profile = dict(src.profile, tiled=False)
    root = tmp_path_factory.mktemp("chg_dask")
    for day, stack in zip(DATES, _synthetic_pair()):
        (root / "10m" / day).mkdir(parents=True)
        for band, values in zip(BANDS, stack):
            with rasterio.open(root / "10m" / day / f"{band}.tif", "w", **profile) as dst:
                dst.write(values, 1)
    env = {"ANTARES_DB_URL": settings.db_url}
    result = CliRunner().invoke(cli, ["index", "--path", str(root), "--dataset_name", "s2_bands", "--product",
                                      "chg_dask", "--no-verify"], env=env)
    assert result.exit_code == 0 and "2 dataset(s) indexed" in result.output, result.output
    return env


def _objects(url, name):
    return db_rows(url, "SELECT o.object_id, o.pixel_count, o.area_m2, o.score, ST_AsBinary(o.geom) "
                        "FROM antares.change_object o JOIN antares.change_detection d ON d.id = o.change_id "
                        "WHERE d.name = :name ORDER BY o.object_id", name=name)


def _statistics(url, name):
    return db_rows(url, "SELECT statistics FROM antares.change_detection WHERE name = :name", name=name)[0][0]


def test_dask_tiles_equal_the_serial_tiles(pair, runner, settings):
    common = ["detect_change", "-a", "imadmaf", "-p_pre", "chg_dask", "-p_post", "chg_dask", "-y_pre", "2018",
              "-y_post", "2020", *BBOX, "--tile-size", "32", "-mmu", "200", "-extra", "threshold=kapur"]
    serial = invoke_ok(runner, common + ["-n", "chg_dask_sync", "-sc", "sync"], pair)
    dask = invoke_ok(runner, common + ["-n", "chg_dask_dask", "--workers", "2"], pair)
    assert serial.output == dask.output.replace("chg_dask_dask", "chg_dask_sync")
    one, two = _objects(settings.db_url, "chg_dask_sync"), _objects(settings.db_url, "chg_dask_dask")
    assert len(one) >= 2  # both changed blocks
    assert [tuple(r[:4]) + (bytes(r[4]),) for r in one] == [tuple(r[:4]) + (bytes(r[4]),) for r in two]
    a, b = _statistics(settings.db_url, "chg_dask_sync"), _statistics(settings.db_url, "chg_dask_dask")
    assert a["threshold"] == b["threshold"] and a["rho"] == b["rho"]
    # the changed blocks are found: the largest objects cover them
    assert sorted(r[1] for r in one)[-2:] == sorted([10 * 30, 20 * 25])


def test_a_tile_task_carries_one_tile():
    """Each task holds its tile's grid and the fitted method, never an array of the area (a worker reads its tile
    and writes its part of the disk-backed arrays)."""
    from odc.geo.geobox import GeoBox

    from antares.change import get_change_method
    from antares.pipeline.change_tiles import ChangeTileJob

    pre, post = (s.astype(np.float32) for s in _synthetic_pair())
    pre[pre == 0], post[post == 0] = np.nan, np.nan
    method = get_change_method("imadmaf", max_samples=1000).fit(lambda: [(pre, post, (0, 0))])
    sizes = []
    for side in (100, 400):  # the same tile in a small and a large area
        geobox = GeoBox((side, side), rasterio.Affine(10, 0, 0, 0, -10, 0), "EPSG:32634")
        job = ChangeTileJob("postgresql+psycopg2://u@127.0.0.1/x", ("a", "b"), BANDS, ((), ()), geobox[:32, :32],
                            (slice(0, 32), slice(0, 32)), method, "/nonexistent", (side, side))
        sizes.append(len(pickle.dumps(job)))
    assert sizes[1] - sizes[0] < 100  # nothing of the area's size
    assert sizes[0] < len(pickle.dumps(method)) + 4096
