"""`antares dataset archive|restore|purge` and `antares product delete` on real Romania L2A data.

Three dates are indexed as ``rm_ro``, a recipe is computed from them (``rm_feat``, whose lineage
names them) and a segmentation is made of ``rm_ro``'s last date. Removing datasets or the product
is refused while those results depend on them, unless --cascade; --dry-run changes nothing.
"""

from __future__ import annotations

import shutil

import pytest

from antares.cli.main import cli
from antares.cube.index import connect
from helpers import db_state

ROMANIA = "nrt-romania-s2l2a/geotiff"
DATES = ["2018-01-07", "2018-03-13", "2018-06-11"]
BBOX = ["22.146", "45.2", "22.158", "45.209"]


@pytest.fixture(scope="module")
def chain(settings, data_dir, tmp_path_factory):
    from click.testing import CliRunner

    runner, env = CliRunner(), {"ANTARES_DB_URL": settings.db_url}
    tmp = tmp_path_factory.mktemp("remove")
    for res in ("10m", "20m"):
        for date in DATES:
            shutil.copytree(data_dir / ROMANIA / res / date, tmp / "ro" / res / date)

    def ok(*args):
        result = runner.invoke(cli, list(args), env=env)
        assert result.exit_code == 0, result.output
        return result

    ok("index", "--path", str(tmp / "ro"), "--dataset_name", "s2_bands", "--product", "rm_ro")
    ok("apply_recipe", "-recipe", "s2_10m_001", "-b", "2018-03-01", "-e", "2018-12-31", "-p", "rm_ro", "--bbox", *BBOX,
       "--name", "rm_feat", "-sc", "sync", "--outdir", str(tmp / "feat"))
    ok("segment", "-a", "slic", "-p", "rm_ro", "-n", "rm_seg", "--bbox", *BBOX, "--time", DATES[-1], "-b", "B04",
       "-b", "B08", "-sc", "sync", "--outdir", str(tmp / "seg"))
    return runner, env, tmp


def _ids(settings, product, archived=False):
    dc = connect(settings.db_url)
    try:
        return {str(d.id) for d in dc.index.datasets.search(product=product, archived=archived)}
    finally:
        dc.close()


def test_catalog_lookups_and_a_purge_undone_with_its_transaction(settings, chain):
    """antares.cube.catalog answers as the index does; purge_product_datasets empties a product in the caller's transaction."""
    from antares.cube.catalog import (dataset_exists, find_datasets, first_dataset, get_datasets, get_product,
                                      product_exists, solar_day, transaction)
    from antares.cube.remove import purge_product_datasets

    before = _ids(settings, "rm_ro")
    dc = connect(settings.db_url)
    try:
        every = find_datasets(dc, "rm_ro")
        assert {str(d.id) for d in every} == before and len(before) == len(DATES)
        assert sorted(solar_day(d) for d in every) == DATES
        assert [solar_day(d) for d in find_datasets(dc, "rm_ro", time=("2018-03-01", "2018-03-31"))] == ["2018-03-13"]
        ids = sorted(before) + ["00000000-0000-0000-0000-000000000000"]
        assert [str(d.id) for d in get_datasets(dc, ids[::-1])] == sorted(before)[::-1]  # order kept, unknown left out
        assert dataset_exists(dc, ids[0]) and not dataset_exists(dc, ids[-1])
        assert product_exists(dc, "rm_ro") and not product_exists(dc, "rm_nothing") and get_product(dc, "rm_nothing") is None
        assert str(first_dataset(dc, "rm_ro").id) in before
        feat = _ids(settings, "rm_feat")
        assert feat
        with pytest.raises(RuntimeError, match="undo"):
            with transaction(dc):
                purge_product_datasets(dc, "rm_feat")
                assert find_datasets(dc, "rm_feat") == []  # gone inside the transaction
                raise RuntimeError("undo")
        assert _ids(settings, "rm_feat") == feat  # rolled back with it
        purge_product_datasets(dc, "rm_nothing")  # not indexed: nothing to do
    finally:
        dc.close()


def test_refused_while_results_depend_and_dry_run_changes_nothing(settings, chain):
    runner, env, tmp = chain
    before = db_state(settings.db_url)
    refused = runner.invoke(cli, ["dataset", "archive", "-p", "rm_ro", "--path", "*2018-03-13*"], env=env)
    assert refused.exit_code == 1
    (line,) = refused.stderr.strip().splitlines()
    assert line.startswith("antares: error: cannot archive 1 dataset(s) of rm_ro (1): ")
    # the recipe read March (its lineage says so); the segmentation read June only
    assert "results depend on them: 1 dataset(s) of rm_feat (1)" in line and "--cascade" in line
    dry = runner.invoke(cli, ["dataset", "archive", "-p", "rm_ro", "--path", "*2018-03-13*", "--cascade", "--dry-run"],
                        env=env)
    assert dry.exit_code == 0, dry.output
    assert "--cascade includes 1 dataset(s) of rm_feat (1)" in dry.stderr
    assert dry.stdout.startswith("dry run, nothing changed: would have archived 1 dataset(s) of rm_ro (1)")
    delete = runner.invoke(cli, ["product", "delete", "rm_ro"], env=env)
    assert delete.exit_code == 1 and "segmentation(s) rm_seg" in delete.stderr
    assert db_state(settings.db_url) == before and len(_ids(settings, "rm_ro")) == 3


def test_archive_restore_purge_and_delete(settings, chain):
    runner, env, tmp = chain
    first = sorted(_ids(settings, "rm_ro"))
    # the January date is in no result: archive it alone, by id
    dc = connect(settings.db_url)
    try:
        january = next(str(d.id) for d in dc.find_datasets(product="rm_ro", time=("2018-01-01", "2018-01-31")))
    finally:
        dc.close()
    assert runner.invoke(cli, ["dataset", "archive", "--id", january], env=env).exit_code == 0
    assert _ids(settings, "rm_ro") == set(first) - {january} and _ids(settings, "rm_ro", archived=True) == {january}
    load = runner.invoke(cli, ["load", "-p", "rm_ro", "--json"], env=env)
    assert load.exit_code == 0 and '"2018-01-07' not in load.stdout  # archived: loads skip it
    assert runner.invoke(cli, ["dataset", "restore", "-p", "rm_ro"], env=env).exit_code == 0
    assert _ids(settings, "rm_ro") == set(first)
    # archive with --cascade takes the derived datasets along
    result = runner.invoke(cli, ["dataset", "archive", "-p", "rm_ro", "--path", "*2018-03-13*", "--cascade"], env=env)
    assert result.exit_code == 0, result.output
    assert not _ids(settings, "rm_feat") and len(_ids(settings, "rm_seg")) == 1 and len(_ids(settings, "rm_ro")) == 2
    # purge by path glob: the records go, the files stay
    result = runner.invoke(cli, ["dataset", "purge", "--path", f"{tmp}/ro/*2018-01-07*"], env=env)
    assert result.exit_code == 0 and "purged 1 dataset(s) of rm_ro (1)" in result.stdout, result.output
    assert january not in _ids(settings, "rm_ro", archived=None) and (tmp / "ro" / "10m" / "2018-01-07" / "B02.tif").exists()
    # the product: its segmentation still depends on it; --cascade removes it with the product
    result = runner.invoke(cli, ["product", "delete", "rm_ro", "--cascade"], env=env)
    assert result.exit_code == 0, result.output
    assert "segmentation(s) rm_seg" in result.stderr and "deleted product rm_ro and its 2 dataset(s)" in result.stdout
    assert not _ids(settings, "rm_seg")  # the segmentation's label raster, derived from June, went with it
    dc = connect(settings.db_url)
    try:
        assert dc.index.products.get_by_name("rm_ro") is None
    finally:
        dc.close()
    from helpers import db_rows

    assert db_rows(settings.db_url, "SELECT count(*) FROM antares.segmentation WHERE name = 'rm_seg'")[0][0] == 0
