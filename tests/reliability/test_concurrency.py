"""Concurrency: four model_predict_object runs with different names in parallel against one database,
and two apply_recipe runs on different areas in parallel; each result equals its sequential run.

Runs with one name: the second of two concurrent runs of a stage with the same name (model_fit,
segment, apply_recipe) is refused at once with one line naming the running run (id, pid, host,
start time) and the first completes untouched; a model cannot be refitted while a prediction
reads it (and the prediction completes).
"""

import os
import re
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from antares.cli.main import cli
from helpers import brandenburg_model, db_rows, invoke_ok as _ok, object_means

NRT = "nrt-romania-s2l2a"


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


@pytest.fixture(scope="module")
def chain(settings, data_dir, tmp_path_factory, env):
    """The Brandenburg bands (conc_b10), the OSM training set (conc_train) and a random forest (conc_rf)."""
    from click.testing import CliRunner

    brandenburg_model(CliRunner(), env, data_dir, tmp_path_factory.mktemp("chain"), "conc")


def test_four_predictions_in_parallel(runner, settings, chain, tmp_path, env):
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


@pytest.fixture(scope="module")
def romania(settings, data_dir, env):
    from click.testing import CliRunner

    _ok(CliRunner(), ["index", "--path", str(data_dir / NRT / "geotiff" / "10m"), "--dataset_name", "s2_bands",
                      "--product", "conc_s2"], env)


def test_two_recipes_on_different_areas_in_parallel(runner, settings, romania, tmp_path, env):
    from antares.config import load_settings
    from antares.pipeline.inspect import load_product

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


# --------------------------------------------------------------------------- runs with one name

REFUSAL = re.compile(r"^antares: error: (\w+) '(\w+)' is running already as run (\d+) \(\1 '\2', pid (\d+) on (\S+), "
                     r"started \d{4}-\d\d-\d\d \d\d:\d\d:\d\d")


def _start(args, env):
    exe = str(Path(sys.executable).with_name("antares"))
    return subprocess.Popen([exe, *args], env={**os.environ, **env}, stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def _running(settings, kind, name):
    """Ids of the runs of kind/name recorded as running."""
    return [i for i, in db_rows(settings.db_url, "SELECT id FROM antares.run WHERE kind = :k AND name = :n AND "
                                "status = 'running'", k=kind, n=name)]


def _wait_running(settings, proc, kind, name):
    """Wait until ``proc`` has taken its name (its run is recorded as running); return the run's id."""
    deadline = time.monotonic() + 120
    while not _running(settings, kind, name):
        assert proc.poll() is None, f"{kind} ended before it was observed running: {proc.stderr.read().decode()[-500:]}"
        assert time.monotonic() < deadline, f"{kind} {name} never started"
        time.sleep(0.02)
    return _running(settings, kind, name)[0]


def _check_refusal(line, kind, name, run_id, pid):
    match = REFUSAL.match(line)
    assert match, line
    assert match.groups()[:4] == (kind, name, str(run_id), str(pid)), line


def test_two_model_fits_with_one_name(settings, chain, env):
    args = ["model_fit", "-model", "rf", "-p", "conc_b10", "-t", "conc_train", "--name", "conc_same_rf",
            "-extra", "n_estimators=40"]
    procs = [_start(args, env), _start(args, env)]
    deadline = time.monotonic() + 300
    while all(p.poll() is None for p in procs):
        assert time.monotonic() < deadline
        time.sleep(0.02)
    first = next(p for p in procs if p.poll() is not None)
    other = procs[1 - procs.index(first)]
    assert other.poll() is None, "the refused run ended only after the other had finished"
    err = [line for line in first.stderr.read().decode().splitlines() if line.strip()]
    assert first.returncode == 1, err
    assert len(err) == 1, err
    (winner_run,) = _running(settings, "model_fit", "conc_same_rf")
    _check_refusal(err[0], "model_fit", "conc_same_rf", winner_run, other.pid)
    out, err = other.communicate(timeout=300)
    assert other.returncode == 0, err.decode()[-800:]
    assert db_rows(settings.db_url, "SELECT status FROM antares.run WHERE kind = 'model_fit' AND name = 'conc_same_rf'") \
        == [("done",)]  # the refused run left no row
    assert db_rows(settings.db_url, "SELECT run_id FROM antares.model WHERE name = 'conc_same_rf'") == [(winner_run,)]


def test_long_and_short_segment_with_one_name(runner, settings, chain, tmp_path, env):
    long = _start(["segment", "--algorithm", "bis", "-p", "conc_b10", "--bbox", "12.40", "52.40", "12.80", "52.60",
                   "--tile-size", "256", "-n", "conc_same_seg", "--outdir", str(tmp_path / "long")], env)
    try:
        run_id = _wait_running(settings, long, "segment", "conc_same_seg")
        short = runner.invoke(cli, ["segment", "--algorithm", "slic", "-p", "conc_b10", "--bbox", "12.50", "52.46",
                                    "12.52", "52.47", "-n", "conc_same_seg", "--outdir", str(tmp_path / "short")], env=env)
        assert long.poll() is None
        _, err = long.communicate(timeout=500)
    finally:
        if long.poll() is None:
            long.kill()
    assert short.exit_code == 1, short.output
    lines = [line for line in short.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, short.stderr
    _check_refusal(lines[0], "segment", "conc_same_seg", run_id, long.pid)
    assert not (tmp_path / "short").exists()
    assert long.returncode == 0, err.decode()[-800:]
    assert db_rows(settings.db_url, "SELECT run_id, algorithm FROM antares.segmentation WHERE name = 'conc_same_seg'") \
        == [(run_id, "bis")]
    assert [s for s, in db_rows(settings.db_url, "SELECT status FROM antares.run WHERE kind = 'segment' AND "
                                 "name = 'conc_same_seg'")] == ["done"]


def test_two_recipes_with_one_name(runner, settings, romania, tmp_path, env):
    common = ["apply_recipe", "-recipe", "s2_10m_001", "-b", "2018-06-01", "-e", "2018-08-31", "-p", "conc_s2",
              "--crs", "EPSG:3035", "--resolution", "10", "--name", "conc_same_rec"]
    first = _start([*common, "--bbox", "22.14", "45.195", "22.166", "45.215", "--tile-size", "34",
                    "--outdir", str(tmp_path / "first")], env)
    try:
        run_id = _wait_running(settings, first, "apply_recipe", "conc_same_rec")
        second = runner.invoke(cli, [*common, "--bbox", "22.14", "45.195", "22.152", "45.215", "--tile-size", "50",
                                     "--outdir", str(tmp_path / "second")], env=env)
        assert first.poll() is None
        _, err = first.communicate(timeout=500)
    finally:
        if first.poll() is None:
            first.kill()
    assert second.exit_code == 1, second.output
    lines = [line for line in second.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, second.stderr
    _check_refusal(lines[0], "apply_recipe", "conc_same_rec", run_id, first.pid)
    assert not (tmp_path / "second").exists()
    assert first.returncode == 0, err.decode()[-800:]
    assert [s for s, in db_rows(settings.db_url, "SELECT status FROM antares.run WHERE kind = 'apply_recipe' AND "
                                 "name = 'conc_same_rec'")] == ["done"]


def test_refit_while_a_prediction_reads_the_model(runner, settings, chain, tmp_path, env):
    from antares.config import load_settings
    from antares.pipeline.predict import model_predict_object

    if not db_rows(settings.db_url, "SELECT count(*) FROM antares.segmentation WHERE name = 'conc_refit_seg'")[0][0]:
        _ok(runner, ["segment", "--algorithm", "slic", "-p", "conc_b10", "--bbox", "12.40", "52.40", "12.80", "52.60",
                     "--tile-size", "256", "-n", "conc_refit_seg", "--outdir", str(tmp_path / "seg")], env)
    model_before = db_rows(settings.db_url, "SELECT id, md5(blob) FROM antares.model WHERE name = 'conc_rf'")
    refit = ["model_fit", "-model", "rf", "-p", "conc_b10", "-t", "conc_train", "--name", "conc_rf",
             "-extra", "n_estimators=10", "--overwrite"]
    during = []

    def refit_once(done, total):  # called in the prediction's process after its first tile
        if not during:
            during.append(runner.invoke(cli, refit, env=env))

    s = load_settings(flags={"db_url": settings.db_url, "home": str(settings.home), "scheduler": "sync"}, environ={})
    report = model_predict_object(s, "conc_b10", "conc_rf", "conc_refit_seg", "conc_refit_map", progress=refit_once)
    (result,) = during
    assert result.exit_code == 1, result.output
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    (map_run,) = [i for i, in db_rows(settings.db_url, "SELECT id FROM antares.run WHERE kind = 'model_predict_object' "
                                       "AND name = 'conc_refit_map'")]
    assert re.match(rf"antares: error: model_fit 'conc_rf' is in use: run {map_run} \(model_predict_object "
                    rf"'conc_refit_map', pid {os.getpid()} on \S+, started .*\) reads it", lines[0]), lines[0]
    assert report.predicted > 100
    assert db_rows(settings.db_url, "SELECT count(*) FROM antares.prediction p JOIN antares.classification c ON "
                   "c.id = p.classification_id WHERE c.name = 'conc_refit_map'") == [(report.predicted,)]
    assert db_rows(settings.db_url, "SELECT id, md5(blob) FROM antares.model WHERE name = 'conc_rf'") == model_before
    _ok(runner, refit, env)  # once the prediction has ended, the refit goes ahead
