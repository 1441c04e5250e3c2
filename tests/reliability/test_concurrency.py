"""Concurrency: four model_predict_object runs with different names in parallel against one database,
and two apply_recipe runs on different areas in parallel; each result equals its sequential run."""

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from antares.cli.main import cli
from helpers import brandenburg_model, db_rows, object_means

NRT = "nrt-romania-s2l2a"


def _ok(runner, args, env):
    result = runner.invoke(cli, args, env=env)
    assert result.exit_code == 0, result.output


def _parallel(commands, env):
    exe = str(Path(sys.executable).with_name("antares"))
    procs = [subprocess.Popen([exe, *args], env={**os.environ, **env}, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
             for args in commands]
    outputs = [p.communicate(timeout=500)[0].decode(errors="replace") for p in procs]
    for args, proc, out in zip(commands, procs, outputs):
        assert proc.returncode == 0, f"antares {' '.join(args[:3])} failed: {out[-800:]}"


@pytest.fixture(scope="module")
def env(settings):
    return {"ANTARES_DB_URL": settings.db_url, "ANTARES_HOME": str(settings.home), "ANTARES_SCHEDULER": "sync"}


def test_four_predictions_in_parallel(runner, settings, data_dir, tmp_path, env):
    brandenburg_model(runner, env, data_dir, tmp_path, "conc")
    _ok(runner, ["segment", "--algorithm", "slic", "-p", "conc_b10", "-n", "conc_seg", "--bbox", "12.40", "52.40",
                 "12.80", "52.60", "--tile-size", "384", "--outdir", str(tmp_path / "seg")], env)
    base = ["model_predict_object", "-p", "conc_b10", "-m", "conc_rf", "-s", "conc_seg"]
    sequential_run = runner.invoke(cli, [*base, "--name", "conc_seq"], env=env)
    assert sequential_run.exit_code == 0, sequential_run.output
    # slic's tiled superpixels include objects in unconnected parts over several tiles: predicted once, from all parts
    assert "in unconnected parts over several tiles, predicted once" in sequential_run.stdout
    _check_against_numpy(settings, "conc_seg", "conc_b10", "conc_rf", "conc_seq")
    _parallel([[*base, "--name", f"conc_par{i}"] for i in range(4)], env)
    rows = "SELECT p.segment_id, p.class_code, p.confidence, p.entropy FROM antares.prediction p " \
           "JOIN antares.classification c ON c.id = p.classification_id WHERE c.name = :n ORDER BY 1"
    sequential = db_rows(settings.db_url, rows, n="conc_seq")
    assert len(sequential) > 100
    for i in range(4):
        assert db_rows(settings.db_url, rows, n=f"conc_par{i}") == sequential
    statuses = db_rows(settings.db_url, "SELECT status FROM antares.run WHERE kind = 'model_predict_object' "
                       "AND name LIKE 'conc_par%'")
    assert sorted(s for s, in statuses) == ["done"] * 4


def _check_against_numpy(settings, segmentation, product, model, classification):
    from antares.config import load_settings
    from antares.pipeline.inspect import load_product
    from antares.pipeline.train import load_model

    s = load_settings(flags={"db_url": settings.db_url}, environ={})
    labels = load_product(s, segmentation)[0].segment_id.values[0]
    data = load_product(s, product)[0]
    values = np.stack([data[b].values[0].astype(np.float64) for b in ("B02", "B03", "B04", "B08")])
    values[values == 0] = np.nan
    ids, means = object_means(labels, values)
    estimator, _ = load_model(s, model)
    estimator.set_params(n_jobs=1)
    ok = np.isfinite(means).all(axis=1)
    expected = dict(zip(ids[ok].tolist(), estimator.predict(means[ok]).tolist()))
    got = dict(db_rows(settings.db_url, "SELECT p.segment_id, p.class_code FROM antares.prediction p JOIN "
                       "antares.classification c ON c.id = p.classification_id WHERE c.name = :n", n=classification))
    assert got == expected


def test_two_recipes_on_different_areas_in_parallel(runner, settings, data_dir, tmp_path, env):
    from antares.config import load_settings
    from antares.pipeline.inspect import load_product

    _ok(runner, ["index", "--path", str(data_dir / NRT / "geotiff" / "10m"), "--dataset_name", "s2_bands",
                 "--product", "conc_s2"], env)
    halves = {"west": ["22.14", "45.195", "22.152", "45.215"], "east": ["22.153", "45.195", "22.166", "45.215"]}
    common = ["-recipe", "s2_10m_001", "-b", "2018-06-01", "-e", "2018-08-31", "-p", "conc_s2", "--crs", "EPSG:3035",
              "--resolution", "10", "--tile-size", "50"]
    for side, bbox in halves.items():
        _ok(runner, ["apply_recipe", *common, "--bbox", *bbox, "--name", f"conc_seq_{side}",
                     "--outdir", str(tmp_path / f"seq_{side}")], env)
    _parallel([["apply_recipe", *common, "--bbox", *bbox, "--name", f"conc_par_{side}",
                "--outdir", str(tmp_path / f"par_{side}")] for side, bbox in halves.items()], env)
    s = load_settings(flags={"db_url": settings.db_url}, environ={})
    for side in halves:
        seq, par = load_product(s, f"conc_seq_{side}")[0], load_product(s, f"conc_par_{side}")[0]
        for name in seq.data_vars:
            np.testing.assert_array_equal(seq[name].values, par[name].values)
