"""SIGINT and SIGTERM: apply_recipe, segment, model_predict_object and db_to_raster stopped by a signal mid-run.

Each command runs as a subprocess; the signal is sent as soon as an event of the run is observed
(a tile recorded in the database, the run started, a temporary file appearing), never after a
sleep. SIGINT goes to the whole process group, as a terminal's Ctrl-C does (so a local dask
cluster's workers get it too); SIGTERM to the main process only, as ``kill`` does. Then:

* the exit status is 130 (SIGINT) or 143 (SIGTERM);
* stderr is one line, ``antares: error: interrupted (SIGNAL)...`` — no traceback from the
  process or its workers;
* the run is recorded ``interrupted``;
* no temporary file or work directory is left (segment's work directory and staging directory,
  ``.NAME.*.tmp`` files of the COG writers, db_to_raster's ``.STEM.*.tmp*`` files);
* a re-run of the same command completes and its run is ``done``.
"""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from helpers import db_rows, invoke_ok as _ok

NRT = "nrt-romania-s2l2a"
BBOX_RO = ["--bbox", "22.14", "45.195", "22.166", "45.215"]
BBOX_BB = ["--bbox", "12.40", "52.40", "12.80", "52.60"]


def _signal_when(args, env, ready, signum, timeout=300):
    """Start `antares ARGS` in its own process group, send ``signum`` as soon as ready() is true.

    Returns (exit status, stdout, stderr lines).
    """
    exe = str(Path(sys.executable).with_name("antares"))
    proc = subprocess.Popen([exe, *args], env={**os.environ, **env}, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            start_new_session=True)
    deadline = time.monotonic() + timeout
    try:
        while not ready():
            if proc.poll() is not None:
                out, err = proc.communicate()
                pytest.fail(f"antares {args[0]} ended (exit {proc.returncode}) before the signal: {err.decode()[-800:]}")
            assert time.monotonic() < deadline, f"antares {args[0]} never reached the point to signal it"
            time.sleep(0.02)
        if signum == signal.SIGINT:
            os.killpg(proc.pid, signal.SIGINT)  # as Ctrl-C in a terminal: the whole process group
        else:
            os.kill(proc.pid, signum)
        out, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    time.sleep(0.5)  # worker processes of the group, if any, have printed what they print by now
    return proc.returncode, out.decode(errors="replace"), [line for line in err.decode(errors="replace").splitlines()
                                                           if line.strip()]


def _runs(settings, kind, name):
    return [s for s, in db_rows(settings.db_url, "SELECT status FROM antares.run WHERE kind = :k AND name = :n "
                                "ORDER BY id", k=kind, n=name)]


def _started(settings, kind, name):
    """True once run ``kind``/``name`` is running with its parameters recorded (its work has begun)."""
    return bool(db_rows(settings.db_url, "SELECT count(*) FROM antares.run WHERE kind = :k AND name = :n AND "
                        "status = 'running' AND params <> '{}'::jsonb", k=kind, n=name)[0][0])


def _check_stopped(code, stderr, signum, settings=None, kind=None, name=None):
    assert code == 128 + signum, (code, stderr)
    assert len(stderr) == 1, "\n".join(stderr)
    assert stderr[0].startswith(f"antares: error: interrupted ({signal.Signals(signum).name})"), stderr
    if kind is not None:
        assert _runs(settings, kind, name)[-1] == "interrupted"
        assert f"'{name}' is recorded as interrupted" in stderr[0]


def _temporaries(*folders):
    return sorted(str(p) for folder in folders if folder.exists() for p in folder.rglob("*")
                  if ".tmp" in p.name or p.name.startswith("segment-"))


@pytest.fixture(scope="module")
def env(settings):
    return {"ANTARES_DB_URL": settings.db_url, "ANTARES_HOME": str(settings.home), "ANTARES_SCHEDULER": "sync"}


def test_apply_recipe_sigterm_then_resumed(runner, settings, data_dir, tmp_path, env):
    _ok(runner, ["index", "--path", str(data_dir / NRT / "geotiff" / "10m"), "--dataset_name", "s2_bands",
                 "--product", "sig_s2"], env)
    args = ["apply_recipe", "-recipe", "s2_10m_001", "-b", "2018-06-01", "-e", "2018-08-31", *BBOX_RO, "-p", "sig_s2",
            "--crs", "EPSG:3035", "--resolution", "10", "--tile-size", "34", "--name", "sig_feat",
            "--outdir", str(tmp_path / "feat")]

    def a_tile_done():
        return db_rows(settings.db_url, "SELECT count(*) FROM antares.run_tile t JOIN antares.run r ON r.id = t.run_id "
                       "WHERE r.kind = 'apply_recipe' AND r.name = 'sig_feat'")[0][0] >= 1

    code, _, stderr = _signal_when(args, env, a_tile_done, signal.SIGTERM)
    _check_stopped(code, stderr, signal.SIGTERM, settings, "apply_recipe", "sig_feat")
    assert _temporaries(tmp_path / "feat") == []
    again = _ok(runner, args, env)
    assert "already done" in again.stdout
    assert _runs(settings, "apply_recipe", "sig_feat") == ["interrupted", "done"]
    tiles = db_rows(settings.db_url, "SELECT count(*) FROM antares.run_tile t JOIN antares.run r ON r.id = t.run_id "
                    "WHERE r.kind = 'apply_recipe' AND r.name = 'sig_feat' AND t.status = 'done'")[0][0]
    indexed = db_rows(settings.db_url, "SELECT count(*) FROM odc.dataset d JOIN odc.product p ON p.id = d.product_ref "
                      "WHERE p.name = 'sig_feat' AND d.archived IS NULL")[0][0]
    assert indexed > 1 and tiles >= indexed  # each tile written once, by one run or the other


@pytest.fixture(scope="module")
def scene(settings, data_dir, tmp_path_factory, env):
    from click.testing import CliRunner

    from helpers import brandenburg_model

    tmp = tmp_path_factory.mktemp("signals")
    brandenburg_model(CliRunner(), env, data_dir, tmp, "sig")
    return tmp


def test_segment_ctrl_c_on_a_local_cluster_then_resumed(runner, settings, scene, env):
    seg = ["segment", "--algorithm", "slic", "-p", "sig_b10", *BBOX_BB, "--tile-size", "256", "--margin", "32",
           "-n", "sig_seg", "--outdir", str(scene / "seg")]
    work = Path(env["ANTARES_HOME"]) / "work"
    local = {k: v for k, v in env.items() if k != "ANTARES_SCHEDULER"}  # a local dask cluster: its workers get Ctrl-C too
    code, _, stderr = _signal_when([*seg, "--workers", "1"], local, lambda: _started(settings, "segment", "sig_seg"),
                                   signal.SIGINT)
    _check_stopped(code, stderr, signal.SIGINT, settings, "segment", "sig_seg")
    assert _temporaries(work, scene) == []
    assert not (scene / "seg").exists()
    assert db_rows(settings.db_url, "SELECT count(*) FROM antares.segmentation WHERE name = 'sig_seg'") == [(0,)]
    _ok(runner, seg, env)
    assert _runs(settings, "segment", "sig_seg") == ["interrupted", "done"]
    assert db_rows(settings.db_url, "SELECT n_segments > 100 FROM antares.segmentation WHERE name = 'sig_seg'") == [(True,)]


def test_predict_sigterm_then_resumed(runner, settings, scene, env):
    if not db_rows(settings.db_url, "SELECT count(*) FROM antares.segmentation WHERE name = 'sig_seg2'")[0][0]:
        _ok(runner, ["segment", "--algorithm", "slic", "-p", "sig_b10", *BBOX_BB, "--tile-size", "256", "-n", "sig_seg2",
                     "--outdir", str(scene / "seg2")], env)
    predict = ["model_predict_object", "-p", "sig_b10", "-m", "sig_rf", "-s", "sig_seg2", "--name", "sig_map"]
    code, _, stderr = _signal_when(predict, env, lambda: _started(settings, "model_predict_object", "sig_map"),
                                   signal.SIGTERM)
    _check_stopped(code, stderr, signal.SIGTERM, settings, "model_predict_object", "sig_map")
    assert db_rows(settings.db_url, "SELECT count(*) FROM antares.classification WHERE name = 'sig_map'") == [(0,)]
    _ok(runner, predict, env)
    assert _runs(settings, "model_predict_object", "sig_map") == ["interrupted", "done"]

    # db_to_raster: Ctrl-C once its temporary raster exists
    out = scene / "maps"
    out.mkdir()
    target = out / "sig_map.tif"
    args = ["db_to_raster", "-n", "sig_map", "-f", str(target), "--resolution", "10", "--confidence"]
    code, _, stderr = _signal_when(args, env, lambda: any(p.name.startswith(".sig_map.") for p in out.iterdir()),
                                   signal.SIGINT)
    _check_stopped(code, stderr, signal.SIGINT)
    assert sorted(p.name for p in out.iterdir()) == []  # neither the temporaries nor a partial map
    _ok(runner, args, env)
    import rasterio

    with rasterio.open(target) as src:
        classes = src.read(1)
    assert np.count_nonzero(classes) > 1000
