"""`antares run show`: a run records the datasets it read (ids) and the command that re-runs it (issue 21).

A recipe is computed on two Romania dates; its run names exactly the two input datasets, and the
recorded command, run again with --overwrite, writes identical pixels.
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import rasterio
import yaml

from antares.cli.main import cli
from antares.cube.index import connect
from helpers import invoke_ok

ROMANIA = "nrt-romania-s2l2a/geotiff"
DATES = ["2018-03-13", "2018-06-11"]
BBOX = ["22.146", "45.2", "22.158", "45.209"]


def _pixels(root):
    out = {}
    for path in sorted(root.rglob("*.tif")):
        with rasterio.open(path) as src:
            out[path.relative_to(root).as_posix()] = src.read()
    return out


def test_run_show_names_the_datasets_and_its_command_reruns_to_identical_pixels(settings, runner, data_dir, tmp_path):
    env = {"ANTARES_DB_URL": settings.db_url, "ANTARES_HOME": str(settings.home)}
    for res in ("10m", "20m"):
        for date in DATES:
            shutil.copytree(data_dir / ROMANIA / res / date, tmp_path / "ro" / res / date)
    invoke_ok(runner, ["index", "--path", str(tmp_path / "ro"), "--dataset_name", "s2_bands", "--product", "rs_ro"], env)
    out = tmp_path / "feat"
    invoke_ok(runner, ["apply_recipe", "-recipe", "s2_10m_001", "-b", "2018-01-01", "-e", "2018-12-31", "-p", "rs_ro",
                       "--bbox", *BBOX, "--name", "rs_feat", "-sc", "sync", "--outdir", str(out)], env)
    runs = json.loads(invoke_ok(runner, ["list", "runs", "--kind", "apply_recipe", "--json"], env).stdout)
    run_id = next(r["id"] for r in runs if r["name"] == "rs_feat")

    shown = json.loads(invoke_ok(runner, ["run", "show", str(run_id), "--json"], env).stdout)
    dc = connect(settings.db_url)
    try:
        sources = sorted(str(d.id) for d in dc.index.datasets.search(product="rs_ro"))
    finally:
        dc.close()
    assert shown["inputs"]["datasets"] == sources and len(sources) == len(DATES)  # ids, not a count
    assert shown["inputs"]["environment"]["antares"]
    command = shown["inputs"]["command"]
    assert command.startswith("antares apply_recipe ") and "rs_feat" in command

    text = invoke_ok(runner, ["run", "show", str(run_id)], env).stdout
    assert f"datasets read: {len(sources)}" in text and all(s in text for s in sources)
    assert f"re-run: {command}" in text

    before = _pixels(out)
    assert before
    again = shlex.split(command)[1:] + ["--overwrite"]
    invoke_ok(runner, again, env)
    after = _pixels(out)
    assert after.keys() == before.keys()
    for key in before:
        np.testing.assert_array_equal(after[key], before[key])

    missing = runner.invoke(cli, ["run", "show", "999999"], env=env)
    assert missing.exit_code == 1 and "no run 999999" in missing.stderr


def test_run_lineage_walks_a_recipe_product_back_to_its_source_datasets(settings, runner, data_dir, tmp_path):
    env = {"ANTARES_DB_URL": settings.db_url, "ANTARES_HOME": str(settings.home)}
    for res in ("10m", "20m"):
        for date in DATES:
            shutil.copytree(data_dir / ROMANIA / res / date, tmp_path / "ro" / res / date)
    invoke_ok(runner, ["index", "--path", str(tmp_path / "ro"), "--dataset_name", "s2_bands", "--product", "rl_ro"], env)
    invoke_ok(runner, ["apply_recipe", "-recipe", "s2_10m_001", "-b", "2018-01-01", "-e", "2018-12-31", "-p", "rl_ro",
                       "--bbox", *BBOX, "--name", "rl_feat", "-sc", "sync", "--outdir", str(tmp_path / "feat")], env)
    dc = connect(settings.db_url)
    try:
        sources = sorted(str(d.id) for d in dc.index.datasets.search(product="rl_ro"))
        outputs = sorted(str(d.id) for d in dc.index.datasets.search(product="rl_feat"))
    finally:
        dc.close()
    rows = json.loads(invoke_ok(runner, ["run", "lineage", "rl_feat", "--json"], env).stdout)
    assert sorted(r["id"] for r in rows) == outputs
    for row in rows:  # each tile's dataset read both dates, directly
        assert sorted(s["id"] for s in row["sources"]) == sources
        assert {(s["product"], s["depth"]) for s in row["sources"]} == {("rl_ro", 1)}
    text = invoke_ok(runner, ["run", "lineage", "rl_feat"], env).stdout
    assert f"product rl_feat: {len(outputs)} dataset(s) from {len(sources)} source dataset(s)" in text
    assert "depth 1: rl_ro: 2 dataset(s)" in text
    files = json.loads(invoke_ok(runner, ["run", "lineage", "rl_ro", "--json"], env).stdout)
    assert all(r["sources"] == [] for r in files)  # indexed from files: no sources
    unknown = runner.invoke(cli, ["run", "lineage", "rl_nothing"], env=env)
    assert unknown.exit_code == 1 and "product 'rl_nothing' is not indexed" in unknown.stderr

    # ODC's own command on antares' database (docs/cli.md, run lineage), through ODC's environment variables (the
    # URL in the environment, not on the command line): it reads the dataset; its --show-sources prints no sources on
    # the postgis index in datacube 1.9 (it prints Dataset.sources, which that driver leaves empty, filling
    # Dataset.source_tree instead: datacube-core PR 1530). When this assertion fails, ODC prints them: update docs/cli.md.
    datacube = Path(sys.executable).with_name("datacube")
    odc_env = {**os.environ, "ODC_DEFAULT_INDEX_DRIVER": "postgis", "ODC_DEFAULT_DB_URL": settings.db_url}
    shown = subprocess.run([str(datacube), "dataset", "info", "--show-sources", outputs[0]], env=odc_env,
                           capture_output=True, text=True, timeout=120)
    assert shown.returncode == 0, shown.stderr
    info = yaml.safe_load(shown.stdout)
    assert str(info["id"]) == outputs[0] and info["product"] == "rl_feat"
    assert "sources" not in info
    # ODC's lineage API on the same database gives the sources antares' run lineage printed
    dc = connect(settings.db_url)
    try:
        tree = dc.index.lineage.get_source_tree(outputs[0], max_depth=1)
        assert sorted(str(child.dataset_id) for children in tree.children.values() for child in children) == sources
    finally:
        dc.close()
