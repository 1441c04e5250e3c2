"""``--overwrite`` builds the new result completely, then swaps it in, then deletes the old one.

* apply_recipe --overwrite killed (SIGKILL) once its first new tile is recorded: the old product
  is intact and usable (same datasets, same pixels); a re-run of the overwrite completes and
  equals a fresh run of the new parameters.
* segment --overwrite where the output directory has become a symbolic link (products moved to
  another disk): the old segmentation was purged and then the overwrite failed on ``rmtree`` of
  the link, leaving a segmentation without a label raster; now the new segmentation replaces the
  old one whole (labels, polygons, run), in the link's target.
"""

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from antares.cli.main import cli
from helpers import db_rows, invoke_ok as _ok

NRT = "nrt-romania-s2l2a"
BBOX_RO = ["--bbox", "22.14", "45.195", "22.166", "45.215"]
BBOX_BB = ["--bbox", "12.40", "52.40", "12.80", "52.60"]


def _load(settings, product):
    from antares.config import load_settings
    from antares.pipeline.inspect import load_product

    s = load_settings(flags={"db_url": settings.db_url}, environ={})
    return load_product(s, product)[0]


def _datasets(settings, product):
    return db_rows(settings.db_url, "SELECT d.id::text, d.uri_body FROM odc.dataset d JOIN odc.product p ON "
                   "p.id = d.product_ref WHERE p.name = :p AND d.archived IS NULL ORDER BY 1", p=product)


@pytest.fixture(scope="module")
def env(settings):
    return {"ANTARES_DB_URL": settings.db_url, "ANTARES_HOME": str(settings.home), "ANTARES_SCHEDULER": "sync"}


def test_apply_recipe_overwrite_killed_keeps_the_old_product(runner, settings, data_dir, tmp_path, env):
    _ok(runner, ["index", "--path", str(data_dir / NRT / "geotiff" / "10m"), "--dataset_name", "s2_bands",
                 "--product", "ow_s2"], env)
    common = ["apply_recipe", "-recipe", "s2_10m_001", *BBOX_RO, "-p", "ow_s2", "--crs", "EPSG:3035",
              "--resolution", "10", "--tile-size", "34"]
    summer, autumn = ["-b", "2018-06-01", "-e", "2018-08-31"], ["-b", "2018-09-01", "-e", "2018-11-30"]
    out = tmp_path / "feat"
    _ok(runner, [*common, *summer, "--name", "ow_feat", "--outdir", str(out)], env)
    _ok(runner, [*common, *autumn, "--name", "ow_autumn", "--outdir", str(tmp_path / "autumn")], env)
    before_datasets, before = _datasets(settings, "ow_feat"), _load(settings, "ow_feat")
    autumn_ref = _load(settings, "ow_autumn")
    assert any(not np.allclose(before[v].values, autumn_ref[v].values, equal_nan=True) for v in before.data_vars)
    first_run = db_rows(settings.db_url, "SELECT max(id) FROM antares.run WHERE name = 'ow_feat'")[0][0]

    args = [*common, *autumn, "--name", "ow_feat", "--outdir", str(out), "--overwrite"]
    exe = str(Path(sys.executable).with_name("antares"))
    proc = subprocess.Popen([exe, *args], env={**os.environ, **env}, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 240
    try:
        while db_rows(settings.db_url, "SELECT count(*) FROM antares.run_tile t JOIN antares.run r ON r.id = t.run_id "
                      "WHERE r.name = 'ow_feat' AND r.id > :f", f=first_run)[0][0] < 1:
            assert proc.poll() is None, f"the overwrite ended before the kill: {proc.stderr.read().decode()[-500:]}"
            assert time.monotonic() < deadline
            time.sleep(0.02)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
    finally:
        if proc.poll() is None:
            proc.kill()
    assert _datasets(settings, "ow_feat") == before_datasets  # the old datasets, at the old locations
    after = _load(settings, "ow_feat")
    for name in before.data_vars:
        np.testing.assert_array_equal(after[name].values, before[name].values)

    _ok(runner, args, env)  # the overwrite again, to the end
    new = _load(settings, "ow_feat")
    for name in autumn_ref.data_vars:
        np.testing.assert_array_equal(new[name].values, autumn_ref[name].values)
    assert len(_datasets(settings, "ow_feat")) == len(before_datasets)
    assert sorted(p.name for p in out.parent.iterdir() if p.name.startswith(".feat.old")) == []


def test_segment_overwrite_into_a_symlinked_outdir(runner, settings, data_dir, tmp_path, env):
    from click.testing import CliRunner

    from helpers import brandenburg_model

    brandenburg_model(CliRunner(), env, data_dir, tmp_path, "ow")
    seg = ["segment", "-p", "ow_b10", *BBOX_BB, "--tile-size", "256", "-n", "ow_seg", "--outdir", str(tmp_path / "seg")]
    _ok(runner, [*seg, "--algorithm", "slic"], env)
    elsewhere = tmp_path / "other_disk"
    elsewhere.mkdir()
    shutil.move(tmp_path / "seg", elsewhere / "seg")  # the products moved to another disk, a link left behind
    (tmp_path / "seg").symlink_to(elsewhere / "seg")
    import sqlalchemy as sa

    engine = sa.create_engine(settings.db_url)
    with engine.begin() as conn:  # the index follows the files, as 'datacube dataset update --location' would
        moved = conn.execute(sa.text("UPDATE odc.dataset SET uri_body = replace(uri_body, :a, :b) WHERE uri_body LIKE :p"),
                             {"a": f"{tmp_path}/seg/", "b": f"{elsewhere}/seg/", "p": f"%{tmp_path}/seg/%"}).rowcount
    engine.dispose()
    assert moved > 0
    before = _load(settings, "ow_seg").segment_id.values  # the old segmentation, usable from its new place
    assert np.count_nonzero(before) > 0
    old_count = db_rows(settings.db_url, "SELECT n_segments FROM antares.segmentation WHERE name = 'ow_seg'")[0][0]

    result = runner.invoke(cli, [*seg, "--algorithm", "felzenszwalb", "--overwrite"], env=env)
    assert result.exit_code == 0, result.output
    (seg_id, algorithm, n), = db_rows(settings.db_url, "SELECT id, algorithm, n_segments FROM antares.segmentation "
                                      "WHERE name = 'ow_seg'")
    assert algorithm == "felzenszwalb" and n != old_count
    labels = _load(settings, "ow_seg").segment_id.values
    ids = np.unique(labels[labels > 0])
    assert len(ids) == n  # the label raster and the polygons are the new segmentation's
    assert db_rows(settings.db_url, "SELECT count(*) FROM antares.segment WHERE segmentation_id = :i", i=seg_id) == [(n,)]
    assert (tmp_path / "seg").is_symlink()  # the link kept; the files in its target
    assert all(f"{elsewhere}/seg/" in uri for _, uri in _datasets(settings, "ow_seg"))
    assert [p.name for p in elsewhere.iterdir()] == ["seg"]  # no staging or old directory left
