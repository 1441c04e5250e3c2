"""The chain on a real multi-process dask.distributed cluster (a scheduler and two workers on 127.0.0.1).

apply_recipe -> segment -> model_predict_object run once in this process (-sc sync) and once on
the cluster (-sc tcp://...); the workers share no memory with this process and reach the
database through the configured URL. The results must be identical: pixel-equal products,
equal segments, equal prediction rows.
"""

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from antares.cli.main import cli
from helpers import db_rows

NRT = "nrt-romania-s2l2a"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    """`dask scheduler` + two `dask worker` processes (1 thread, 2 GB each), stopped at the end."""
    tmp = tmp_path_factory.mktemp("dask")
    port = _free_port()
    dask = str(Path(sys.executable).with_name("dask"))
    env = {**os.environ, "DASK_DISTRIBUTED__WORKER__DAEMON": "False"}
    procs = [subprocess.Popen([dask, "scheduler", "--host", "127.0.0.1", "--port", str(port), "--no-dashboard"],
                              stdout=subprocess.DEVNULL, stderr=open(tmp / "scheduler.log", "w"), env=env)]
    address = f"tcp://127.0.0.1:{port}"
    for i in range(2):
        procs.append(subprocess.Popen([dask, "worker", address, "--nthreads", "1", "--memory-limit", "2GB",
                                       "--no-dashboard", "--name", f"w{i}", "--local-directory", str(tmp / f"w{i}")],
                                      stdout=subprocess.DEVNULL, stderr=open(tmp / f"worker{i}.log", "w"), env=env))
    try:
        from dask.distributed import Client

        deadline = time.monotonic() + 60
        while True:
            try:
                with Client(address, timeout="5s") as client:
                    client.wait_for_workers(2, timeout=60)
                    pids = client.run(os.getpid)
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.5)
        assert len(set(pids.values()) - {os.getpid()}) == 2  # two separate worker processes
        yield address
    finally:
        for proc in reversed(procs):
            proc.terminate()
        for proc in procs:
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()


def _run(runner, args, env):
    result = runner.invoke(cli, args, env=env)
    assert result.exit_code == 0, result.output
    return result


def test_distributed_run_equals_local_run(runner, settings, data_dir, tmp_path, cluster):
    from antares.config import load_settings
    from antares.pipeline.inspect import load_product

    env = {"ANTARES_DB_URL": settings.db_url}
    _run(runner, ["index", "--path", str(data_dir / NRT / "geotiff" / "10m"), "--dataset_name", "s2_bands",
                  "--product", "dist_s2"], env)
    bbox = ["--bbox", "22.14", "45.195", "22.166", "45.215"]
    _run(runner, ["ingest_training_from_raster", str(data_dir / NRT / "labels" / "tree_cover_density_2018_20m.tif"),
                  "--scheme", "dist_tcd", "--dataset", "dist_train", "--bins", "10", "--bins", "50",
                  "--per-class", "40", "--seed", "4"], env)
    for mode, scheduler in (("local", "sync"), ("dist", cluster)):
        _run(runner, ["apply_recipe", "-recipe", "s2_10m_001", "-b", "2018-04-01", "-e", "2018-09-30", *bbox,
                      "-p", "dist_s2", "--name", f"dist_feat_{mode}", "--crs", "EPSG:3035", "--resolution", "10",
                      "--tile-size", "64", "-sc", scheduler, "--outdir", str(tmp_path / f"feat_{mode}")], env)
        _run(runner, ["segment", "--algorithm", "bis", "-p", f"dist_feat_{mode}", "-n", f"dist_bis_{mode}", *bbox,
                      "-b", "red_mean", "-b", "nir_mean", "-b", "ndvi_mean", "--tile-size", "40", "--margin", "8",
                      "-sc", scheduler, "--outdir", str(tmp_path / f"bis_{mode}")], env)
    _run(runner, ["model_fit", "-model", "rf", "-p", "dist_feat_local", "-t", "dist_train", "--name", "dist_rf",
                  "-extra", "n_estimators=40", "-sc", "sync"], env)
    for mode, scheduler in (("local", "sync"), ("dist", cluster)):
        out = _run(runner, ["model_predict_object", "-p", f"dist_feat_{mode}", "-m", "dist_rf", "-s", f"dist_bis_{mode}",
                            "--name", f"dist_map_{mode}", "-sc", scheduler], env)
        assert "crossing tile edges" in out.stdout

    s = load_settings(flags={"db_url": settings.db_url}, environ={})
    local, dist = load_product(s, "dist_feat_local")[0], load_product(s, "dist_feat_dist")[0]
    assert list(local.data_vars) == list(dist.data_vars)
    for name in local.data_vars:
        np.testing.assert_array_equal(local[name].values, dist[name].values)
    labels_local = load_product(s, "dist_bis_local")[0].segment_id.values
    labels_dist = load_product(s, "dist_bis_dist")[0].segment_id.values
    assert np.array_equal(labels_local, labels_dist) and labels_local.max() > 0

    def rows(kind):
        return db_rows(settings.db_url, "SELECT p.segment_id, p.class_code, p.confidence, p.entropy FROM antares.prediction p "
                       "JOIN antares.classification c ON c.id = p.classification_id WHERE c.name = :n ORDER BY 1",
                       n=f"dist_map_{kind}")

    local_rows, dist_rows = rows("local"), rows("dist")
    assert len(local_rows) > 50 and local_rows == dist_rows
    segs = [db_rows(settings.db_url, "SELECT s.segment_id, ST_AsBinary(s.geom), s.pixel_count FROM antares.segment s "
                    "JOIN antares.segmentation g ON g.id = s.segmentation_id WHERE g.name = :n ORDER BY 1", n=f"dist_bis_{m}")
            for m in ("local", "dist")]
    assert [(a, bytes(b), c) for a, b, c in segs[0]] == [(a, bytes(b), c) for a, b, c in segs[1]]
